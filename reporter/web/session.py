"""Logins for the pages: server-side sessions (reporter.store.accounts) behind a signed cookie (HttpOnly,
SameSite=Lax, Secure when configured) holding only the session's random secret and a CSRF token; every form
POST must echo that token.

A session ends at logout, at a password change or role change, when an administrator ends it, after
REPORTER_SESSION_IDLE_MINUTES without a request, or REPORTER_SESSION_HOURS after login: the server checks
its row on every request, so a copied cookie dies with the session.
"""

from __future__ import annotations

import hmac
import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for

from reporter.store import accounts

CSRF_FIELD = "csrf_token"


def _store():
    return current_app.extensions["reporter.store"]


def csrf_token() -> str:
    """The session's CSRF token (created on first use, so the login form has one too)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse a state-changing request whose form token does not match the session's (400)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD, "")
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        abort(400, description="the form has expired or did not come from this site (CSRF check failed); "
                               "reload the page and try again")


def current_account() -> accounts.SessionUser | None:
    """The logged-in user of this request (looked up once per request)."""
    if "account" in g:
        return g.account
    secret = session.get("sid")
    found = accounts.session_user(_store(), secret) if isinstance(secret, str) else None
    if found is None and secret is not None:
        session.pop("sid", None)
    g.account = found
    return found


def current_user() -> str | None:
    account = current_account()
    return account.name if account else None


def log_in(name: str, secret: str) -> None:
    session.clear()  # a new session (and CSRF token) at each login: no fixation
    session["sid"] = secret
    session["csrf"] = secrets.token_urlsafe(32)
    g.pop("account", None)


def log_out() -> None:
    secret = session.get("sid")
    if isinstance(secret, str):
        accounts.end_session(_store(), secret)
    session.clear()
    g.account = None


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user = current_user()
        if user is None:
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
        g.user = user
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target:
        return url_for("ui.cases")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("ui.cases")
    return target


def configure(app) -> None:
    app.config.update(SESSION_COOKIE_SECURE=bool(app.config.get("SECURE_COOKIES")),
                      SESSION_COOKIE_NAME="reporter_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax")
    app.jinja_env.globals["csrf_token"] = csrf_token
