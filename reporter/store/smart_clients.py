"""SMART Backend Services clients (their public keys and allowed scopes) and the client-assertion ids seen
(a replayed assertion is refused). Tables from migration 0006_integration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select

from reporter.errors import InputError, StoreConflict
from reporter.store import audit as audit_trail
from reporter.store.audit import AuditContext
from reporter.store.repository import CaseStore
from reporter.store.schema import SmartClient, SmartJti
from reporter.store.tokens import SCOPES


@dataclass(frozen=True)
class ClientInfo:
    id: str
    jwks: dict
    scopes: frozenset[str]
    label: str | None
    revoked: bool


def check_jwks(jwks: object) -> dict:
    """A JWKS of public RSA or EC P-384 keys; InputError naming the key at fault."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise InputError("the JWKS has no keys", location="keys", hint='a JSON Web Key Set: {"keys": [...]}')
    for i, key in enumerate(keys):
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise InputError("each key is an RSA or EC JSON Web Key", location=f"keys[{i}].kty")
        if "d" in key:
            raise InputError("the JWKS holds a private key; register the public key only", location=f"keys[{i}]")
        if key["kty"] == "EC" and key.get("crv") != "P-384":
            raise InputError("EC keys must be on P-384 (ES384)", location=f"keys[{i}].crv")
    return {"keys": keys}


def register_client(store: CaseStore, client_id: str, jwks: dict, scopes: list[str], label: str | None = None, *,
                    audit: AuditContext | None = None) -> None:
    if not client_id or len(client_id) > 128:
        raise InputError("a client id is 1 to 128 characters", location="client_id")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InputError(f"unknown or missing scope(s): {', '.join(unknown) or '(none)'}", location="--scope",
                         hint=f"choose from: {', '.join(SCOPES)}")
    jwks = check_jwks(jwks)
    now = datetime.now(UTC)
    with store.write_session() as session:
        if session.get(SmartClient, client_id) is not None:
            raise StoreConflict(f"client {client_id!r} is already registered", location="client_id",
                                hint="revoke it first, or choose another id")
        session.add(SmartClient(id=client_id, label=label, jwks=jwks, scopes=" ".join(sorted(set(scopes))),
                                created=now, revoked=False))
        audit = audit or audit_trail.cli_context()
        audit_trail.append(session, recorded=now, subtype="smart-client-create", action="C", outcome="0",
                           agent=audit.agent, kind=audit.kind, source=audit.source, entity=f"client:{client_id}",
                           reason=f"scopes {' '.join(sorted(set(scopes)))}", detail=audit.detail)


def revoke_client(store: CaseStore, client_id: str) -> bool:
    with store.write_session() as session:
        row = session.get(SmartClient, client_id)
        if row is None:
            return False
        row.revoked = True
        audit = audit_trail.cli_context()
        audit_trail.append(session, recorded=datetime.now(UTC), subtype="smart-client-revoke", action="U",
                           outcome="0", agent=audit.agent, kind=audit.kind, source=audit.source,
                           entity=f"client:{client_id}", reason="revoked", detail=audit.detail)
        return True


def get_client(store: CaseStore, client_id: str) -> ClientInfo | None:
    with store.read_session() as session:
        row = session.get(SmartClient, client_id)
        if row is None:
            return None
        return ClientInfo(row.id, row.jwks, frozenset(row.scopes.split()), row.label, row.revoked)


def list_clients(store: CaseStore) -> list[ClientInfo]:
    with store.read_session() as session:
        return [ClientInfo(r.id, r.jwks, frozenset(r.scopes.split()), r.label, r.revoked)
                for r in session.scalars(select(SmartClient).order_by(SmartClient.created))]


def first_use(store: CaseStore, client_id: str, jti: str, expires: datetime) -> bool:
    """Record an assertion id until it expires; False if this client used it before (a replay). Expired ids
    are purged on the way."""
    now = datetime.now(UTC)
    try:
        with store.write_session() as session:
            session.execute(delete(SmartJti).where(SmartJti.expires < now))
            if session.get(SmartJti, (client_id, jti)) is not None:
                return False
            session.add(SmartJti(client_id=client_id, jti=jti, expires=expires))
    except StoreConflict:  # the same id committed by another worker at the same moment
        return False
    return True
