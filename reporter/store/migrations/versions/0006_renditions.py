"""Renditions: each version's CIOMS I PDF and report HTML, rendered once and served from the database (a
download no longer waits for WeasyPrint).

Revision ID: 0006_renditions
Revises: 0006_integration
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_renditions"
down_revision = "0006_integration"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rendition",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("renderer", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=False), nullable=False),
        sa.ForeignKeyConstraint(["case_id", "version"], ["case_version.case_id", "case_version.version"],
                                name="fk_rendition_version"),
    )


def downgrade() -> None:
    op.drop_table("rendition")
