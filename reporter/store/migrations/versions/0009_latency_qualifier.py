"""Qualified latencies in the tabulation projection.

case_reaction gets `latency_qualifier` (at-least, within, about, range; NULL when exact) and `latency_high_days`
(a range's end), so that `reporter tabulate --stats` leaves a bound ('>2 mo', 'within 48 h') out of the median
and IQR instead of counting it as a value, and the line listing shows it as the author qualified it. The rows
of cases with a latency are projected again from their current Bundle.

Revision ID: 0009_latency_qualifier
Revises: 0008_date_covering
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_latency_qualifier"
down_revision = "0008_date_covering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_reaction", sa.Column("latency_qualifier", sa.String(16), nullable=True))
    op.add_column("case_reaction", sa.Column("latency_high_days", sa.Float(), nullable=True))
    _refill("SELECT DISTINCT case_id FROM case_reaction WHERE latency_days IS NOT NULL OR onset IS NULL")


def _refill(which: str) -> None:
    """Re-project the cases `which` selects from their current Bundle (`reporter db reproject` rebuilds all)."""
    from reporter.analysis.projection import projection_rows

    conn = op.get_bind()
    columns = [c["name"] for c in sa.inspect(conn).get_columns("case_reaction") if c["name"] != "id"]
    table = sa.table("case_reaction", *(sa.column(c) for c in columns))
    ids = [r[0] for r in conn.execute(sa.text(which))]
    current = sa.text(
        "SELECT v.case_id, v.version, v.bundle FROM case_version v JOIN \"case\" c ON c.id = v.case_id "
        "AND c.current_version = v.version WHERE c.status = 'active' AND c.id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows, done = [], []
        for case_id, version, bundle in conn.execute(current, {"ids": chunk}):
            done.append(case_id)
            rows += [{c: row.get(c) for c in columns} for row in projection_rows(bundle, case_id, version)]
        if done:
            conn.execute(sa.text("DELETE FROM case_reaction WHERE case_id IN :ids")
                         .bindparams(sa.bindparam("ids", expanding=True)), {"ids": done})
            op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_column("case_reaction", "latency_high_days")
    op.drop_column("case_reaction", "latency_qualifier")
