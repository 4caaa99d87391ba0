"""Re-projecting stored cases' tabulation rows inside a migration that changes what a row holds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def refill(which: str) -> None:
    """Re-project the cases the SQL `which` selects (case ids) from their current Bundle; rows of cases without a
    stored Bundle stay as they are (`reporter db reproject` rebuilds everything)."""
    from reporter.analysis.projection import projection_rows

    conn = op.get_bind()
    columns = [c["name"] for c in sa.inspect(conn).get_columns("case_reaction") if c["name"] != "id"]
    table = sa.table("case_reaction", *(sa.column(c) for c in columns))
    ids = [r[0] for r in conn.execute(sa.text(which))]
    current = sa.text(
        "SELECT v.case_id, v.version, v.bundle FROM case_version v JOIN \"case\" c ON c.id = v.case_id "
        "AND c.current_version = v.version WHERE c.status = 'active' AND c.id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows, done = [], []
        for case_id, version, bundle in conn.execute(current, {"ids": chunk}):
            done.append(case_id)
            rows += [{c: row.get(c) for c in columns} for row in projection_rows(bundle, case_id, version)]
        if done:
            conn.execute(sa.text("DELETE FROM case_reaction WHERE case_id IN :ids")
                         .bindparams(sa.bindparam("ids", expanding=True)), {"ids": done})
            op.bulk_insert(table, rows)
