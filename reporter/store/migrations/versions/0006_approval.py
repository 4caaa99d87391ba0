"""Reviewer approval of case versions: one row per approved version (four eyes: not by its author).

A new version starts unapproved; E2B(R3) submission needs the approval of the version sent.

Revision ID: 0006_approval
Revises: 0005_received
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_approval"
down_revision = "0005_received"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_approval",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=False), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.ForeignKeyConstraint(["case_id", "version"], ["case_version.case_id", "case_version.version"],
                                name="fk_case_approval_version"),
    )


def downgrade() -> None:
    op.drop_table("case_approval")
