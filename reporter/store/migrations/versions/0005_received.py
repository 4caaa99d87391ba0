"""Received E2B messages kept verbatim, and the import report of each version read from one.

- ``received_message``: the bytes of a received file exactly as they arrived, keyed by their SHA-256 (a file
  received twice is stored once). Served as FHIR ``Binary/<sha256>``; never re-emitted piecewise.
- ``version_import``: for a case version that came from a received message, which message and report, and
  the import report (value facts through the case model, what was not mapped by element, warnings).

Revision ID: 0005_received
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_received"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "received_message",
        sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the content, hex
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("received", _TS, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "version_import",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(64), sa.ForeignKey("received_message.id"), nullable=False),
        sa.Column("report_index", sa.Integer, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(["case_id", "version"], ["case_version.case_id", "case_version.version"]),
    )
    op.create_index("ix_version_import_message_id", "version_import", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_version_import_message_id", "version_import")
    op.drop_table("version_import")
    op.drop_table("received_message")
