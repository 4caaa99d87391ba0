"""case_reaction: the tabulation projection (one row per case x reaction x suspect drug of each case's
current version), filled here from the stored Bundles and afterwards on every store write.

Revision ID: 0003_case_reaction
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_case_reaction"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = [
    ("case_key", sa.String(100)), ("report_type", sa.String(32)), ("received", sa.String(32)),
    ("received_year", sa.Integer()), ("country", sa.String(8)), ("sex", sa.String(16)),
    ("age_years", sa.Float()), ("age_group_reported", sa.String(16)), ("survival", sa.String(16)),
    ("reaction_key", sa.String(64)), ("reaction_term", sa.String(255)), ("llt_code", sa.String(16)),
    ("meddra_version", sa.String(16)), ("pt_code", sa.String(16)), ("pt_name", sa.String(255)),
    ("pt_term", sa.String(255)),
    ("soc_code", sa.String(16)), ("soc_name", sa.String(255)), ("onset", sa.String(32)),
    ("outcome", sa.String(32)), ("serious", sa.Boolean()), ("sc_death", sa.Boolean()),
    ("sc_life_threatening", sa.Boolean()), ("sc_hospitalisation", sa.Boolean()), ("sc_disabling", sa.Boolean()),
    ("sc_congenital_anomaly", sa.Boolean()), ("sc_other_medically_important", sa.Boolean()),
    ("drug_key", sa.String(64)), ("drug", sa.String(255)), ("route", sa.String(64)),
    ("dosing_mode", sa.String(16)), ("dose", sa.String(255)), ("drug_start", sa.String(64)),
    ("drug_stop", sa.String(64)), ("indication", sa.String(255)), ("action_taken", sa.String(32)),
    ("dechallenge", sa.String(32)), ("rechallenge", sa.String(32)), ("causality", sa.String(255)),
    ("latency_days", sa.Float()),
]


def upgrade() -> None:
    table = op.create_table(
        "case_reaction",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *(sa.Column(name, kind, nullable=True) for name, kind in _COLUMNS),
    )
    op.create_index("ix_case_reaction_case", "case_reaction", ["case_id"])
    op.create_index("ix_case_reaction_soc_outcome", "case_reaction", ["soc_name", "outcome", "case_id"])
    op.create_index("ix_case_reaction_drug_pt", "case_reaction", ["drug", "pt_term", "case_id"])
    op.create_index("ix_case_reaction_drug_soc", "case_reaction", ["drug", "soc_name", "case_id"])
    op.create_index("ix_case_reaction_received", "case_reaction", ["received_year"])
    # Fill it for the cases already stored (current version of every active case).
    from reporter.analysis.projection import projection_rows

    conn = op.get_bind()
    stored = conn.execute(sa.text(
        "SELECT v.case_id, v.version, v.bundle FROM case_version v JOIN \"case\" c "
        "ON c.id = v.case_id AND c.current_version = v.version WHERE c.status = 'active'"))
    batch = []
    for case_id, version, bundle in stored:
        batch += projection_rows(bundle, case_id, version)
        if len(batch) >= 5000:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_table("case_reaction")
