"""Alembic migrations of the case store (run by `reporter db upgrade` or automatically on start)."""
