"""MedDRA hierarchy from the user's licensed ASCII release (the project ships no MedDRA content)."""

from reporter.meddra.hierarchy import (
    Hierarchy,
    Resolved,
    SocLink,
    Term,
    hierarchy,
    load_release,
    read_asc,
)

__all__ = ["Hierarchy", "Resolved", "SocLink", "Term", "hierarchy", "load_release", "read_asc"]
