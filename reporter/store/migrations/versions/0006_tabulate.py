"""Tabulation filters that use indexes, and causality as categories.

case_reaction gets `causality_category` ("Naranjo: Probable", "WHO-UMC: Possible", ... or "other/unmapped"),
refilled for the stored cases that state a causality; and the indexes the --where filters use: outcome, age,
and lower(column) expression indexes on the free-text fields (reporter/analysis/tabulate.py compares
lower(column) = value there, and stored keys as they are).

Revision ID: 0006_tabulate
Revises: 0006_approval
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_tabulate"
down_revision = "0006_approval"
branch_labels = None
depends_on = None

_LOWER = ("soc_name", "pt_term", "reaction_term", "indication", "country", "causality_category")
_PLAIN = {"ix_case_reaction_outcome": "outcome", "ix_case_reaction_age": "age_years"}


def upgrade() -> None:
    op.add_column("case_reaction", sa.Column("causality_category", sa.String(64), nullable=True))
    for name, column in _PLAIN.items():
        op.create_index(name, "case_reaction", [column])
    for column in _LOWER:
        op.create_index(f"ix_case_reaction_lower_{column}", "case_reaction", [sa.text(f"lower({column})")])
    _refill_causality()


def _refill_causality() -> None:
    """Re-project the cases that state a causality, from their current Bundle (rows without a stored Bundle
    keep a NULL category: `reporter db reproject` rebuilds everything)."""
    from reporter.analysis.projection import projection_rows

    conn = op.get_bind()
    columns = [c["name"] for c in sa.inspect(conn).get_columns("case_reaction") if c["name"] != "id"]
    table = sa.table("case_reaction", *(sa.column(c) for c in columns))
    ids = [r[0] for r in conn.execute(sa.text(
        "SELECT DISTINCT case_id FROM case_reaction WHERE causality IS NOT NULL"))]
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
    for column in _LOWER:
        op.drop_index(f"ix_case_reaction_lower_{column}", table_name="case_reaction")
    for name in _PLAIN:
        op.drop_index(name, table_name="case_reaction")
    with op.batch_alter_table("case_reaction") as batch:
        batch.drop_column("causality_category")
