"""Accounts that resist attack: user roles, server-side page sessions, login throttling, token expiry and
last use.

Existing users become reporters (drafting only): give roles with `reporter user create NAME --role ...`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.add_column("user_account", sa.Column("role", sa.String(16), nullable=False, server_default="reporter"))
    op.add_column("api_token", sa.Column("expires", _TS, nullable=True))
    op.add_column("api_token", sa.Column("last_used", _TS, nullable=True))
    op.create_table(
        "user_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(128), sa.ForeignKey("user_account.name", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.Column("ended", _TS, nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
    )
    op.create_index("ix_user_session_user_name", "user_session", ["user_name"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_index("ix_user_session_user_name", "user_session")
    op.drop_table("user_session")
    op.drop_column("api_token", "last_used")
    op.drop_column("api_token", "expires")
    op.drop_column("user_account", "role")
