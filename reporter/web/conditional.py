"""Conditional create (R4 http.html#ccreate): `If-None-Exist` on POST Bundle, `request.ifNoneExist` on a transaction
or batch entry. Integration engines send it so that a retried post (a lost answer, a resent message) does not
store the case twice: the search finds the case already stored and nothing is written."""

from __future__ import annotations

from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from reporter.errors import InputError, VersionConflict
from reporter.store import CaseStore
from reporter.store.repository import StoredVersion
from reporter.web.search import CONTROL, parse_search


def existing_case(store: CaseStore, condition: str, where: str) -> StoredVersion | None:
    """The current version of the one stored case the search `condition` (`identifier=sys|value`, also written
    `Bundle?identifier=...`) finds; None when it finds none. Several matches are 412 (which case was meant is
    not known), a condition that is no Bundle search 400, each naming `where` (the header or the entry)."""
    query = condition.strip()
    if "?" in query:
        target, query = query.split("?", 1)
        if target.strip("/") not in ("", "Bundle"):
            raise InputError(f"{where} {condition!r} searches {target}, not Bundle", location=where,
                             hint="cases are found by a Bundle search, e.g. identifier=<system>|<value> or "
                                  "composition.identifier=<C.1.1>")
    args = MultiDict(parse_qsl(query, keep_blank_values=True))
    if not [name for name in args if name not in CONTROL]:
        raise InputError(f"{where} {condition!r} names no search criteria", location=where,
                         hint="e.g. identifier=<system>|<value> (Bundle.identifier) or composition.identifier=<C.1.1>")
    try:
        parsed = parse_search("Bundle", args, strict=True)
    except InputError as exc:
        raise InputError(f"{where}: {exc.message}", location=f"{where} {exc.location or ''}".strip(),
                         hint=exc.hint) from None
    parsed.criteria.count = 2  # one match is the case; a second says the condition names no single case
    parsed.criteria.with_total, parsed.criteria.total = False, "page"
    found = store.search("Bundle", parsed.criteria).resources
    if len(found) > 1:
        raise VersionConflict(f"{where} {condition!r} matches more than one stored case "
                              f"(Bundle/{found[0].resource_id}, Bundle/{found[1].resource_id})", location=where,
                              hint="name one case: its Bundle.identifier or its C.1.1 (composition.identifier)")
    return store.read(found[0].resource_id) if found else None
