"""Page accounts: passwords (argon2id), roles, server-side sessions and login throttling.

- Passwords are hashed with argon2-cffi's argon2id at its current defaults (RFC 9106 low-memory profile:
  t=3, m=64 MiB, p=4); hashes from older parameters or the earlier scrypt scheme are upgraded at login.
- A session is a row; the cookie carries only a random secret whose SHA-256 names the row. Logout ends the
  row, a password change or an administrator ends all of a user's rows, and a row expires after an idle
  period and an absolute lifetime. A cookie naming no live row, or a user that no longer exists, is refused.
- Failed logins are counted per account name and per client address in a window; past the limit the name
  (or address) is locked for the window, whatever password comes next.
Every change to an account is audited in its own transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update

from reporter import config
from reporter.errors import InputError, NotFound
from reporter.store import audit as audit_trail
from reporter.store.audit import AuditContext
from reporter.store.repository import CaseStore
from reporter.store.schema import LoginThrottle, UserAccount, UserSession

ROLES = ("reporter", "reviewer", "admin")
_HASHER = PasswordHasher()
_TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most this often per session


def _now() -> datetime:
    return datetime.now(UTC)


def _setting(name: str) -> int:
    return int(config.get(name) or 0)


@dataclass(frozen=True)
class Policy:
    idle: timedelta
    lifetime: timedelta
    max_failures: int
    max_failures_per_address: int
    lockout: timedelta

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(idle=timedelta(minutes=_setting("session_idle_minutes")),
                   lifetime=timedelta(hours=_setting("session_hours")),
                   max_failures=_setting("login_max_failures"),
                   max_failures_per_address=_setting("login_max_failures_per_address"),
                   lockout=timedelta(minutes=_setting("login_lockout_minutes")))


def _audit(session, audit: AuditContext | None, subtype: str, action: str, entity: str, reason: str | None,
           outcome: str = "0") -> None:
    audit = audit or audit_trail.cli_context()
    audit_trail.append(session, recorded=_now(), subtype=subtype, action=action, outcome=outcome,
                       agent=audit.agent, kind=audit.kind, source=audit.source, entity=entity, reason=reason,
                       detail=audit.detail)


# --- passwords ---------------------------------------------------------------------------------------------

def _legacy_scrypt(password: str, encoded: str) -> bool:
    _, salt_hex, digest_hex = encoded.split("$")
    digest = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1, dklen=32)
    return hmac.compare_digest(digest.hex(), digest_hex)


@cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def _matches(password: str, encoded: str | None) -> bool:
    if encoded is None:
        with contextlib.suppress(VerificationError):  # the same work whether or not the user exists
            _HASHER.verify(_dummy_hash(), password)
        return False
    if encoded.startswith("scrypt$"):
        return _legacy_scrypt(password, encoded)
    try:
        return _HASHER.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(store: CaseStore, name: str, password: str, *, role: str | None = None,
                 audit: AuditContext | None = None) -> None:
    """Create the account or set its password (and role). Ends every session of the account."""
    if len(password) < 10:
        raise InputError("password too short", location="password", hint="use at least 10 characters")
    if len(password) > 1024:
        raise InputError("password longer than 1024 characters", location="password")
    if role is not None and role not in ROLES:
        raise InputError(f"unknown role {role!r}", location="--role", hint=f"choose from: {', '.join(ROLES)}")
    encoded = _HASHER.hash(password)
    with store.write_session() as session:
        row = session.get(UserAccount, name)
        if row is None:
            session.add(UserAccount(name=name, password_hash=encoded, created=_now(), role=role or "reporter"))
            _audit(session, audit, "user-create", "C", f"user:{name}", f"account created, role {role or 'reporter'}")
            return
        row.password_hash = encoded
        changes = ["password set"]
        if role is not None and role != row.role:
            changes.append(f"role {row.role} -> {role}")
            row.role = role
        ended = _end_sessions(session, name)
        _audit(session, audit, "user-password", "U", f"user:{name}", f"{', '.join(changes)}; {ended} session(s) ended")


def set_role(store: CaseStore, name: str, role: str, *, audit: AuditContext | None = None) -> None:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}", location="role", hint=f"choose from: {', '.join(ROLES)}")
    with store.write_session() as session:
        row = session.get(UserAccount, name)
        if row is None:
            raise NotFound(f"no user {name!r}", location="user")
        if row.role != role:
            _audit(session, audit, "user-role", "U", f"user:{name}", f"role {row.role} -> {role}")
            row.role = role
            _end_sessions(session, name)  # the new role applies from the next login


def check_password(store: CaseStore, name: str, password: str) -> bool:
    """True when the account exists and the password is right; upgrades an outdated hash."""
    with store.read_session() as session:
        row = session.get(UserAccount, name)
        encoded = row.password_hash if row is not None else None
    ok = _matches(password, encoded)
    if ok and encoded is not None and (encoded.startswith("scrypt$") or _HASHER.check_needs_rehash(encoded)):
        with store.write_session() as session:
            row = session.get(UserAccount, name)
            if row is not None:
                row.password_hash = _HASHER.hash(password)
    return ok


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    created: datetime
    sessions: int
    locked_until: datetime | None


def list_accounts(store: CaseStore) -> list[Account]:
    now = _now()
    with store.read_session() as session:
        users = session.scalars(select(UserAccount).order_by(UserAccount.name)).all()
        live = {}
        for s in session.scalars(select(UserSession).where(UserSession.ended.is_(None))):
            live[s.user_name] = live.get(s.user_name, 0) + 1
        locks = {t.key: t.locked_until for t in session.scalars(select(LoginThrottle))
                 if t.locked_until and t.locked_until > now}
    return [Account(u.name, u.role, u.created, live.get(u.name, 0), locks.get(f"user:{u.name}")) for u in users]


# --- throttling --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lockout:
    scope: str  # "account" | "address"
    until: datetime

    def message(self) -> str:
        minutes = max(1, int((self.until - _now()).total_seconds() // 60) + 1)
        who = "this account" if self.scope == "account" else "your network address"
        return (f"Too many failed logins for {who}: login is locked until {self.until:%H:%M} UTC "
                f"(about {minutes} minute(s)). Ask an administrator to unlock it if you need in sooner.")


def _keys(name: str, address: str | None) -> list[tuple[str, str]]:
    keys = [("account", f"user:{name[:190]}")]
    if address:
        keys.append(("address", f"addr:{address[:190]}"))
    return keys


def lockout(store: CaseStore, name: str, address: str | None, policy: Policy | None = None) -> Lockout | None:
    now = _now()
    with store.read_session() as session:
        for scope, key in _keys(name, address):
            row = session.get(LoginThrottle, key)
            if row is not None and row.locked_until is not None and row.locked_until > now:
                return Lockout(scope, row.locked_until)
    return None


def record_failure(store: CaseStore, name: str, address: str | None, policy: Policy | None = None,
                   *, audit: AuditContext | None = None) -> Lockout | None:
    """Count a failed login; lock the account name or address that reached its limit. Audited."""
    policy = policy or Policy.from_settings()
    now = _now()
    result = None
    with store.write_session() as session:
        for scope, key in _keys(name, address):
            limit = policy.max_failures if scope == "account" else policy.max_failures_per_address
            row = session.get(LoginThrottle, key)
            if row is None or now - row.window_start > policy.lockout:
                if row is None:
                    row = LoginThrottle(key=key, failures=0, window_start=now)
                    session.add(row)
                row.failures, row.window_start = 0, now
            row.failures += 1
            if limit and row.failures >= limit:
                row.locked_until = now + policy.lockout
                row.failures, row.window_start = 0, now
                result = result or Lockout(scope, row.locked_until)
        if audit is not None:
            _audit(session, audit, "login", "E", f"user:{name[:120]}",
                   f"failed login{'; ' + result.scope + ' locked' if result else ''}", outcome="4")
    return result


def clear_failures(store: CaseStore, name: str) -> None:
    """A successful login clears the account's count (not the address's: one good account must not reset
    the count of an address trying many)."""
    with store.write_session() as session:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key == f"user:{name[:190]}"))


def unlock(store: CaseStore, name: str, *, audit: AuditContext | None = None) -> bool:
    with store.write_session() as session:
        gone = session.execute(delete(LoginThrottle).where(LoginThrottle.key == f"user:{name[:190]}")).rowcount
        _audit(session, audit, "user-unlock", "U", f"user:{name}", "login lock lifted")
        return bool(gone)


# --- sessions ----------------------------------------------------------------------------------------------

def _sid(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def start_session(store: CaseStore, name: str, address: str | None, *, audit: AuditContext | None = None) -> str:
    """A new session for `name`; returns the secret for the cookie (only its hash is stored)."""
    secret = secrets.token_urlsafe(32)
    now = _now()
    with store.write_session() as session:
        session.add(UserSession(id=_sid(secret), user_name=name, created=now, last_seen=now,
                                address=(address or "")[:64] or None))
        if audit is not None:
            _audit(session, audit, "login", "E", f"user:{name}", "logged in")
    return secret


@dataclass(frozen=True)
class SessionUser:
    name: str
    role: str


def session_user(store: CaseStore, secret: str, policy: Policy | None = None) -> SessionUser | None:
    """The user of a live session, or None (unknown, ended, idle too long, too old, or user gone)."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        return None
    policy = policy or Policy.from_settings()
    now = _now()
    sid = _sid(secret)
    with store.read_session() as session:
        row = session.get(UserSession, sid)
        if row is None or row.ended is not None:
            return None
        user = session.get(UserAccount, row.user_name)
        expired = now - row.created > policy.lifetime or now - row.last_seen > policy.idle
        stale = now - row.last_seen > _TOUCH_EVERY
        found = SessionUser(user.name, user.role) if user is not None else None
    if found is None or expired:
        if found is not None:
            end_session(store, secret)
        return None
    if stale:
        with store.side_write_session() as session:
            session.execute(update(UserSession).where(UserSession.id == sid).values(last_seen=now))
    return found


def end_session(store: CaseStore, secret: str) -> None:
    with store.write_session() as session:
        session.execute(update(UserSession).where(UserSession.id == _sid(secret), UserSession.ended.is_(None))
                        .values(ended=_now()))


def _end_sessions(session, name: str) -> int:
    return session.execute(update(UserSession).where(UserSession.user_name == name, UserSession.ended.is_(None))
                           .values(ended=_now())).rowcount or 0


def end_sessions(store: CaseStore, name: str, *, audit: AuditContext | None = None) -> int:
    """End every session of `name` (administrator revocation). Returns how many were live."""
    with store.write_session() as session:
        if session.get(UserAccount, name) is None:
            raise NotFound(f"no user {name!r}", location="user")
        ended = _end_sessions(session, name)
        _audit(session, audit, "user-revoke", "U", f"user:{name}", f"{ended} session(s) ended")
        return ended
