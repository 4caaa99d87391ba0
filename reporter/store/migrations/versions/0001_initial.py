"""Initial case store: cases, immutable versions, resource index, tokens, audit trail, users.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON()
_TS = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "case",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("case_system", sa.String(255), nullable=False),
        sa.Column("case_key", sa.String(255), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.Column("updated", _TS, nullable=False),
        sa.UniqueConstraint("case_system", "case_key", name="uq_case_key"),
    )
    op.create_table(
        "case_version",
        sa.Column("case_id", sa.String(64), sa.ForeignKey("case.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bundle", _JSON, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("recorded", _TS, nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_case_version_recorded", "case_version", ["recorded"])
    op.create_table(
        "resource_index",
        sa.Column("id", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Column("last_updated", _TS, nullable=False),
        sa.Column("patient", sa.String(128)),
        sa.Column("date_start", _TS),
        sa.Column("date_end", _TS),
        sa.Column("resource", _JSON, nullable=False),
        sa.ForeignKeyConstraint(["case_id", "version"], ["case_version.case_id", "case_version.version"]),
    )
    op.create_index("ix_resource_current_lu", "resource_index",
                    ["resource_type", "is_current", "last_updated", "id"])
    op.create_index("ix_resource_type_id", "resource_index", ["resource_type", "resource_id", "version"])
    op.create_index("ix_resource_patient", "resource_index", ["resource_type", "patient", "is_current"])
    op.create_index("ix_resource_date", "resource_index", ["resource_type", "date_start"])
    op.create_index("ix_resource_case", "resource_index", ["case_id", "version"])
    op.create_table(
        "resource_token",
        sa.Column("id", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("index_id", _ROWID, sa.ForeignKey("resource_index.id"), nullable=False),
        sa.Column("param", sa.String(32), nullable=False),
        sa.Column("system", sa.String(255), nullable=False),
        sa.Column("code", sa.String(255), nullable=False),
    )
    op.create_index("ix_token_lookup", "resource_token", ["param", "code", "system"])
    op.create_index("ix_token_index", "resource_token", ["index_id"])
    op.create_table(
        "audit_event",
        sa.Column("id", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("recorded", _TS, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("subtype", sa.String(32), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("outcome", sa.String(2), nullable=False),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("source", sa.String(64)),
        sa.Column("entity", sa.String(255)),
        sa.Column("query", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_event_recorded", "audit_event", ["recorded"])
    op.create_table(
        "api_token",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(255), nullable=False),
        sa.Column("label", sa.String(255)),
        sa.Column("created", _TS, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "user_account",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("user_account", "api_token", "audit_event", "resource_token", "resource_index",
                  "case_version", "case"):
        op.drop_table(table)
