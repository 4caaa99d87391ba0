"""Aggregate analysis over stored cases: tabulations, line listings, disproportionality."""
