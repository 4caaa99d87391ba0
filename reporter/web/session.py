"""Logins for the pages: a signed session cookie (HttpOnly, SameSite=Lax, Secure when configured) holding
the user name, the login time and a CSRF token; every form POST must echo that token.

The cookie is Flask's signed (not encrypted) session: it holds no case data. A session ends at logout,
when the browser closes, or `SESSION_HOURS` after login, whichever comes first.
"""

from __future__ import annotations

import hmac
import secrets
import time
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, g, redirect, request, session, url_for

SESSION_HOURS = 12
CSRF_FIELD = "csrf_token"


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


def current_user() -> str | None:
    name = session.get("user")
    started = session.get("since")
    if not name or not isinstance(started, int | float):
        return None
    if time.time() - started > SESSION_HOURS * 3600:
        session.clear()
        return None
    return str(name)


def log_in(name: str) -> None:
    session.clear()  # a new session (and CSRF token) at each login: no fixation
    session["user"] = name
    session["since"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(32)


def log_out() -> None:
    session.clear()


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
