"""Bearer tokens for the API and passwords for the pages, stored only as hashes.

A token reads `rpt_<id>_<secret>`: the id finds the row, the secret is checked against its SHA-256 hash
(the secret is 256 random bits, so a fast hash is enough; nothing to brute-force). Passwords, which people
choose, get scrypt with a per-user salt.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from reporter.errors import InputError
from reporter.store import audit as audit_trail
from reporter.store.audit import AuditContext
from reporter.store.repository import CaseStore
from reporter.store.schema import ApiToken, UserAccount

SCOPES = ("read", "write")
_TOKEN_RE = re.compile(r"^rpt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class TokenInfo:
    id: str
    scopes: frozenset[str]
    label: str | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _audit(session, audit: AuditContext | None, subtype: str, action: str, entity: str, reason: str | None) -> None:
    """Account and token administration is audited in its own transaction, like case writes."""
    audit = audit or audit_trail.cli_context()
    audit_trail.append(session, recorded=datetime.now(UTC), subtype=subtype, action=action, outcome="0",
                       agent=audit.agent, kind=audit.kind, source=audit.source, entity=entity, reason=reason,
                       detail=audit.detail)


def create_token(store: CaseStore, scopes: list[str] | tuple[str, ...], label: str | None = None, *,
                 audit: AuditContext | None = None) -> str:
    """Store a new token and return it (the only time its secret is visible)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InputError(f"unknown or missing scope(s): {', '.join(unknown) or '(none)'}",
                         location="--scope", hint=f"choose from: {', '.join(SCOPES)}")
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with store.write_session() as session:
        session.add(ApiToken(id=token_id, secret_hash=_digest(secret), scopes=" ".join(sorted(set(scopes))),
                             label=label, created=datetime.now(UTC), revoked=False))
        _audit(session, audit, "token-create", "C", f"token:{token_id}", f"scopes {' '.join(sorted(set(scopes)))}")
    return f"rpt_{token_id}_{secret}"


def verify_token(store: CaseStore, presented: str) -> TokenInfo | None:
    match = _TOKEN_RE.match(presented.strip())
    if not match:
        return None
    token_id, secret = match.groups()
    with store.read_session() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.revoked or not hmac.compare_digest(row.secret_hash, _digest(secret)):
            return None
        return TokenInfo(row.id, frozenset(row.scopes.split()), row.label)


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
        return [TokenInfo(r.id, frozenset(r.scopes.split()), r.label) for r in rows]


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1, dklen=32)


def set_password(store: CaseStore, name: str, password: str, *, audit: AuditContext | None = None) -> None:
    if len(password) < 10:
        raise InputError("password too short", location="password", hint="use at least 10 characters")
    salt = secrets.token_bytes(16)
    encoded = f"scrypt${salt.hex()}${_scrypt(password, salt).hex()}"
    with store.write_session() as session:
        row = session.get(UserAccount, name)
        if row is None:
            session.add(UserAccount(name=name, password_hash=encoded, created=datetime.now(UTC)))
        else:
            row.password_hash = encoded
        _audit(session, audit, "user-create" if row is None else "user-password", "C" if row is None else "U",
               f"user:{name}", "account created" if row is None else "password set")


def check_password(store: CaseStore, name: str, password: str) -> bool:
    with store.read_session() as session:
        row = session.get(UserAccount, name)
        encoded = row.password_hash if row is not None else None
    if encoded is None:
        _scrypt(password, b"0" * 16)  # same work whether or not the user exists
        return False
    _, salt_hex, digest_hex = encoded.split("$")
    return hmac.compare_digest(_scrypt(password, bytes.fromhex(salt_hex)).hex(), digest_hex)
