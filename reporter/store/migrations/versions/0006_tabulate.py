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

from reporter.store.migrations.reproject import refill

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
    # the cases that state a causality: their rows get the category
    refill("SELECT DISTINCT case_id FROM case_reaction WHERE causality IS NOT NULL")


def downgrade() -> None:
    for column in _LOWER:
        op.drop_index(f"ix_case_reaction_lower_{column}", table_name="case_reaction")
    for name in _PLAIN:
        op.drop_index(name, table_name="case_reaction")
    with op.batch_alter_table("case_reaction") as batch:
        batch.drop_column("causality_category")
