"""Audit trail a regulator accepts: the case, the reason and a SHA-256 hash chain on every row, and the
database refusing UPDATE, DELETE (and on PostgreSQL TRUNCATE) of audit rows.

Existing rows are chained in id order before the guard goes on.

Revision ID: 0003
Revises: 0003_case_reaction
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0003_case_reaction"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("case_id", sa.String(64), nullable=True))
    op.add_column("audit_event", sa.Column("reason", sa.Text, nullable=True))
    op.add_column("audit_event", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_event", sa.Column("hash", sa.String(64), nullable=True))
    op.create_index("ix_audit_event_case_id", "audit_event", ["case_id"])
    op.create_index("ix_audit_event_agent", "audit_event", ["agent"])
    _chain_existing_rows()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
                   "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()")
        op.execute("CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                       f"BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: {verb} refused'); END")


def _chain_existing_rows() -> None:
    from reporter.store.audit import row_hash
    from reporter.store.schema import UTCDateTime

    conn = op.get_bind()
    table = sa.table("audit_event", *(sa.column(c) for c in (
        "id", "type", "subtype", "action", "outcome", "agent", "source", "entity", "case_id", "query",
        "reason", "detail", "prev_hash", "hash")), sa.column("recorded", UTCDateTime))
    prev = ""
    for row in conn.execute(sa.select(table).order_by(table.c.id)).mappings().all():
        digest = row_hash(prev, dict(row))
        conn.execute(table.update().where(table.c.id == row["id"]).values(prev_hash=prev, hash=digest))
        prev = digest


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    op.drop_index("ix_audit_event_agent", "audit_event")
    op.drop_index("ix_audit_event_case_id", "audit_event")
    for column in ("hash", "prev_hash", "reason", "case_id"):
        op.drop_column("audit_event", column)
