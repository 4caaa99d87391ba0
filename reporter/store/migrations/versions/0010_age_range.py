"""Ages given as a range in the tabulation projection.

case_reaction gets `age_qualifier` ("range"; NULL when exact) and `age_high_years` (the range's end, exclusive),
so that an age in decades (6 {decade}: in the sixties, 60 up to 70) is no longer tabulated as 60: `reporter
tabulate --stats` leaves it out of the median age and counts it, an age band or ICH age group takes it only
when the whole range lies in it, and the line listing shows 60-69. The rows of cases with an age are projected
again from their current Bundle.

Revision ID: 0010_age_range
Revises: 0009_latency_qualifier
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reporter.store.migrations.reproject import refill

revision = "0010_age_range"
down_revision = "0009_latency_qualifier"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_reaction", sa.Column("age_qualifier", sa.String(16), nullable=True))
    op.add_column("case_reaction", sa.Column("age_high_years", sa.Float(), nullable=True))
    # --where age_group=X takes a ranged age only when X holds it whole: an index search, not a scan
    op.create_index("ix_case_reaction_age_qualifier", "case_reaction", ["age_qualifier"])
    refill("SELECT DISTINCT case_id FROM case_reaction WHERE age_years IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_case_reaction_age_qualifier", table_name="case_reaction")
    op.drop_column("case_reaction", "age_high_years")
    op.drop_column("case_reaction", "age_qualifier")
