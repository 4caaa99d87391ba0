"""Audit records for web requests: who (token or user), from where (client address, proxies resolved by
reporter.web.proxy), what (interaction, entity, query) and the outcome.

Writes that succeed are audited by the store inside the write's own transaction (pass `context()`);
everything else (reads, refusals, failed writes that changed nothing) is appended after the response is
built. A successful read whose audit row cannot be written is answered 503: no unaudited access to case data.
"""

from __future__ import annotations

from flask import Response, request

from reporter.errors import ReporterError
from reporter.store import CaseStore
from reporter.store.audit import AuditContext


def context(agent: str, kind: str, subtype: str, status: int) -> AuditContext:
    return AuditContext(agent=agent, source=request.remote_addr, kind=kind, subtype=subtype,
                        detail=f"{request.method} {status}", query=_query())


def _query() -> str | None:
    return request.query_string.decode("latin-1")[:2000] or None


def record(store: CaseStore, response: Response, info: dict | None, *, agent: str, kind: str) -> bool:
    """Append the audit row for this request unless the store already did (info["stored"]). False when the
    row could not be written for a successful response: the caller must then not send that response."""
    if info is None or info.get("stored"):
        return True
    status = response.status_code
    try:
        store.audit(subtype=info["subtype"], action=info["action"],
                    outcome="0" if status < 400 else "4" if status < 500 else "8", agent=agent,
                    entity=info.get("entity"), query=_query(), source=request.remote_addr,
                    detail=f"{request.method} {status}", kind=kind, reason=info.get("reason"))
    except ReporterError:  # the store has logged the outage (once); nothing more to log here
        return status >= 400  # an error response carries no data: keep it
    return True
