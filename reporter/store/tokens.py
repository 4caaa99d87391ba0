"""Bearer tokens for the API, stored only as hashes, with an expiry and the time of last use.

A token reads `rpt_<id>_<secret>`: the id finds the row, the secret is checked against its SHA-256 hash
(the secret is 256 random bits, so a fast hash is enough; nothing to brute-force). Passwords, which people
choose, are reporter.store.accounts' job (argon2id); set_password/check_password are re-exported here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update

from reporter import config
from reporter.errors import InputError
from reporter.store import audit as audit_trail
from reporter.store.accounts import check_password, set_password
from reporter.store.audit import AuditContext
from reporter.store.repository import CaseStore
from reporter.store.schema import ApiToken

__all__ = ["SCOPES", "TokenInfo", "check_password", "create_token", "list_tokens", "revoke_token", "set_password",
           "verify_token"]

SCOPES = ("read", "write", "submit")
_TOUCH_EVERY = timedelta(seconds=60)
_TOKEN_RE = re.compile(r"^rpt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class TokenInfo:
    id: str
    scopes: frozenset[str]
    label: str | None = None
    expires: datetime | None = None
    last_used: datetime | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _audit(session, audit: AuditContext | None, subtype: str, action: str, entity: str, reason: str | None) -> None:
    """Account and token administration is audited in its own transaction, like case writes."""
    audit = audit or audit_trail.cli_context()
    audit_trail.append(session, recorded=datetime.now(UTC), subtype=subtype, action=action, outcome="0",
                       agent=audit.agent, kind=audit.kind, source=audit.source, entity=entity, reason=reason,
                       detail=audit.detail)


def create_token(store: CaseStore, scopes: list[str] | tuple[str, ...], label: str | None = None, *,
                 days: int | None = None, audit: AuditContext | None = None, seconds: int | None = None) -> str:
    """Store a new token and return it (the only time its secret is visible). It expires after `days`
    (default: the token_days setting; 0 = never), or after `seconds` when given (the short-lived access tokens
    of SMART backend services, reporter/smart.py)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InputError(f"unknown or missing scope(s): {', '.join(unknown) or '(none)'}",
                         location="--scope", hint=f"choose from: {', '.join(SCOPES)}")
    days = int(config.get("token_days") or 0) if days is None else days
    if not 0 <= days <= 3650:
        raise InputError(f"{days} is not a number of days from 0 to 3650", location="--days")
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with store.write_session() as session:
        session.add(ApiToken(id=token_id, secret_hash=_digest(secret), scopes=" ".join(sorted(set(scopes))),
                             label=label, created=now, revoked=False,
                             expires=now + timedelta(seconds=seconds) if seconds
                         else now + timedelta(days=days) if days else None))
        _audit(session, audit, "token-create", "C", f"token:{token_id}", f"scopes {' '.join(sorted(set(scopes)))}")
    return f"rpt_{token_id}_{secret}"


def verify_token(store: CaseStore, presented: str) -> TokenInfo | None:
    match = _TOKEN_RE.match(presented.strip())
    if not match:
        return None
    token_id, secret = match.groups()
    now = datetime.now(UTC)
    with store.read_connection() as conn:  # every API request asks: Core, no ORM session
        row = conn.execute(_BY_ID, {"id": token_id}).first()
        if row is None or row.revoked or not hmac.compare_digest(row.secret_hash, _digest(secret)):
            return None
        if row.expires is not None and row.expires <= now:
            return None
        info = TokenInfo(row.id, frozenset(row.scopes.split()), row.label, row.expires, row.last_used)
    if info.last_used is None or now - info.last_used > _TOUCH_EVERY:  # at most one write a minute per token
        with store.side_write_session() as session:
            session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used=now))
    return info


_TOKENS = ApiToken.__table__
_BY_ID = select(_TOKENS.c.id, _TOKENS.c.secret_hash, _TOKENS.c.revoked, _TOKENS.c.expires, _TOKENS.c.scopes,
                _TOKENS.c.label, _TOKENS.c.last_used).where(_TOKENS.c.id == bindparam("id"))


def revoke_token(store: CaseStore, token_id: str, *, audit: AuditContext | None = None) -> bool:
    with store.write_session() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            return False
        row.revoked = True
        _audit(session, audit, "token-revoke", "U", f"token:{token_id}", "revoked")
        return True


def list_tokens(store: CaseStore) -> list[TokenInfo]:
    with store.read_session() as session:
        rows = session.scalars(select(ApiToken).where(ApiToken.revoked.is_(False)).order_by(ApiToken.created))
        return [TokenInfo(r.id, frozenset(r.scopes.split()), r.label, r.expires, r.last_used) for r in rows]
