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

from reporter.store.migrations.reproject import refill

revision = "0009_latency_qualifier"
down_revision = "0008_date_covering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_reaction", sa.Column("latency_qualifier", sa.String(16), nullable=True))
    op.add_column("case_reaction", sa.Column("latency_high_days", sa.Float(), nullable=True))
    refill("SELECT DISTINCT case_id FROM case_reaction WHERE latency_days IS NOT NULL OR onset IS NULL")


def downgrade() -> None:
    op.drop_column("case_reaction", "latency_high_days")
    op.drop_column("case_reaction", "latency_qualifier")
