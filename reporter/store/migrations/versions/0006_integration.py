"""Integration extras (issue 13): server-kept resources (Group, Subscription), the Subscription notification
outbox, SMART Backend Services clients and the client-assertion ids seen (replay protection).

Revision ID: 0006_integration
Revises: 0006_tabulate
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_integration"
down_revision = "0006_tabulate"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "server_resource",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("resource_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_updated", _TS, nullable=False),
        sa.Column("resource", sa.JSON, nullable=False),
        sa.Column("checked_until", _TS, nullable=True),
    )
    op.create_table(
        "subscription_outbox",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_try", _TS, nullable=False),
        sa.Column("created", _TS, nullable=False),
    )
    op.create_index("ix_outbox_due", "subscription_outbox", ["state", "next_try"])
    op.create_index("ix_outbox_subscription", "subscription_outbox", ["subscription_id", "state"])
    op.create_table(
        "smart_client",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("jwks", sa.JSON, nullable=False),
        sa.Column("scopes", sa.String(255), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "smart_jti",
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires", _TS, nullable=False),
    )
    op.create_index("ix_smart_jti_expires", "smart_jti", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_smart_jti_expires", "smart_jti")
    op.drop_table("smart_jti")
    op.drop_table("smart_client")
    op.drop_index("ix_outbox_subscription", "subscription_outbox")
    op.drop_index("ix_outbox_due", "subscription_outbox")
    op.drop_table("subscription_outbox")
    op.drop_table("server_resource")
