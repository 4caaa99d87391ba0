"""Case-file JSON beside each version that came from a case file or the case form (nullable: Bundles
sent to the API or imported from E2B have none), so the form can edit exactly what was entered.

Revision ID: 0002
Revises: 0001
Create Date: 2024-06-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_version", sa.Column("casefile", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of the table would trip the
    # resource_index foreign key.
    op.drop_column("case_version", "casefile")
