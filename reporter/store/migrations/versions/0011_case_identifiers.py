"""Cases found by their worldwide unique case id (C.1.8.1) and the other case ids they list (C.1.9.1.r.2).

The same worldwide case reaches a safety team from several senders, each report with its own C.1.1 (a case of
its own in the store) but one C.1.8.1. Bundle and Composition get the search parameters `case-identifier`
(C.1.8.1) and `other-case-identifier` (C.1.9.1.r.2) in mappings/fhir_search.yaml, indexed as tokens like the
others (resource_token, whose ix_token_lookup finds a code): `reporter import --store` names the stored cases
of the same worldwide case, and the API finds them (`Bundle?case-identifier=`). The tokens of every stored
version's Bundle and Composition are added from the resources as indexed.

Revision ID: 0011_case_identifiers
Revises: 0010_age_range
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reporter.store.migrations.reproject import retoken

revision = "0011_case_identifiers"
down_revision = "0010_age_range"
branch_labels = None
depends_on = None

PARAMS = {"case-identifier", "other-case-identifier"}


def upgrade() -> None:
    retoken(PARAMS)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM resource_token WHERE param IN ('case-identifier', 'other-case-identifier')"))
