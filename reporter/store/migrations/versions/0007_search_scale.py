"""Search at scale (issue 16): indexes for the query shapes that were slow with a million cases.

- ix_case_nullified: the nullified cases (a few), which every search leaves out, without reading the case table;
- ix_token_lookup gains index_id: the rows holding a token are found in the index alone;
- ix_token_index gains param and code: a search walking index rows in page order checks a token in the index;
- PostgreSQL: statistics of param and code together (a code implies its parameter; taken as independent, a
  frequent code looked 15 times rarer than it is and the planner read every row holding it before the page);
- ix_case_reaction_soc_case: SOC x outcome's denominators (distinct SOC, case pairs with an outcome) in order;
- ix_case_reaction_unplaced: the cases with reactions not placed in MedDRA (the note under a SOC/PT tabulation).

Revision ID: 0007_search_scale
Revises: 0006_renditions
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_search_scale"
down_revision = "0006_renditions"
branch_labels = None
depends_on = None

_NULLIFIED = "status = 'nullified'"
_UNPLACED = "pt_code IS NULL"


def upgrade() -> None:
    op.create_index("ix_case_nullified", "case", ["id"], sqlite_where=sa.text(_NULLIFIED),
                    postgresql_where=sa.text(_NULLIFIED))
    op.drop_index("ix_token_lookup", table_name="resource_token")
    op.create_index("ix_token_lookup", "resource_token", ["param", "code", "system", "index_id"])
    op.drop_index("ix_token_index", table_name="resource_token")
    op.create_index("ix_token_index", "resource_token", ["index_id", "param", "code"])
    op.create_index("ix_case_reaction_unplaced", "case_reaction", ["case_id"], sqlite_where=sa.text(_UNPLACED),
                    postgresql_where=sa.text(_UNPLACED))
    op.create_index("ix_case_reaction_soc_case", "case_reaction", ["soc_name", "case_id", "outcome"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE STATISTICS IF NOT EXISTS st_token_param_code (dependencies, mcv) ON param, code "
                    "FROM resource_token")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_token_param_code")
    op.drop_index("ix_case_reaction_soc_case", table_name="case_reaction")
    op.drop_index("ix_case_reaction_unplaced", table_name="case_reaction")
    op.drop_index("ix_token_index", table_name="resource_token")
    op.create_index("ix_token_index", "resource_token", ["index_id"])
    op.drop_index("ix_token_lookup", table_name="resource_token")
    op.create_index("ix_token_lookup", "resource_token", ["param", "code", "system"])
    op.drop_index("ix_case_nullified", table_name="case")
