"""Account administration for administrators (/users): roles, ending sessions, lifting login locks.
Accounts themselves are created with `reporter user create` (the password never passes through a page
other than its owner's login)."""

from __future__ import annotations

import re

from flask import g, redirect, render_template, request, url_for

from reporter.errors import InputError
from reporter.store import accounts
from reporter.web import audit as web_audit
from reporter.web.pages import bp, store
from reporter.web.roles import require

_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,128}$")


@bp.get("/users")
@require("users")
def users():
    return render_template("users.html", accounts=accounts.list_accounts(store()), roles=accounts.ROLES,
                           done=request.args.get("done", "")[:200])


@bp.post("/users/<name>")
@require("users")
def user_action(name: str):
    if not _NAME.match(name):
        raise InputError(f"{name[:40]!r} is not a user name", location="url")
    action = request.form.get("action", "")
    context = web_audit.context(f"user:{g.user}", "user", f"user-{action}"[:32], 303)
    if action == "role":
        accounts.set_role(store(), name, request.form.get("role", ""), audit=context)
        done = f"{name}: role set; their sessions ended"
    elif action == "revoke":
        done = f"{name}: {accounts.end_sessions(store(), name, audit=context)} session(s) ended"
    elif action == "unlock":
        accounts.unlock(store(), name, audit=context)
        done = f"{name}: login lock lifted"
    else:
        raise InputError(f"unknown action {action[:40]!r}", location="action", hint="role, revoke or unlock")
    return redirect(url_for("ui.users", done=done), 303)
