"""Alembic environment: runs on the connection handed over by reporter.store.migrate (online only)."""

from __future__ import annotations

from alembic import context

from reporter.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI, which we do not use
    raise RuntimeError("run migrations through `reporter db upgrade`")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
