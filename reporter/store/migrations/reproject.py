"""Re-projecting stored cases inside a migration that changes what is derived from them: the tabulation rows
(`refill`), or the search tokens of new search parameters (`retoken`)."""

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


def retoken(params: set[str], batch: int = 500) -> None:
    """Add the tokens of the search parameters `params` (new in mappings/fhir_search.yaml) to every indexed
    resource of the types that have them, of every stored version (a search of history finds them too), from
    the resource as indexed; tokens of other parameters stay as they are."""
    from reporter.store.index import index_resource
    from reporter.store.searchparams import search_table

    types = sorted(t for t, declared in search_table().resources.items() if params & set(declared))
    conn = op.get_bind()
    index = sa.table("resource_index", sa.column("id", sa.BigInteger), sa.column("resource_type", sa.String),
                     sa.column("resource", sa.JSON))
    tokens = sa.table("resource_token", *(sa.column(c) for c in ("index_id", "param", "system", "code")))
    after = 0
    while True:
        rows = conn.execute(sa.select(index.c.id, index.c.resource)
                            .where(index.c.resource_type.in_(types), index.c.id > after)
                            .order_by(index.c.id).limit(batch)).all()
        if not rows:
            return
        found = [{"index_id": row_id, "param": p, "system": s, "code": c} for row_id, resource in rows
                 for p, s, c in index_resource(resource).tokens if p in params]
        if found:
            op.bulk_insert(tokens, found)
        after = rows[-1][0]
