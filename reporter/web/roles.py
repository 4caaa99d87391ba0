"""Page roles (mappings/roles.yaml): which permission each role has, checked by `require(permission)`."""

from __future__ import annotations

from functools import cache, wraps

import yaml
from flask import g

from reporter.errors import AuthError, MappingError
from reporter.paths import mappings_dir
from reporter.web.session import current_account, login_required


@cache
def permissions() -> dict[str, frozenset[str]]:
    data = yaml.safe_load((mappings_dir() / "roles.yaml").read_text(encoding="utf-8"))
    roles = data.get("roles") if isinstance(data, dict) else None
    known = set((data or {}).get("permissions") or {})
    if not isinstance(roles, dict) or any(set(p) - known for p in roles.values()):
        raise MappingError("roles.yaml: every role lists known permissions", location="mappings/roles.yaml")
    return {role: frozenset(perms) for role, perms in roles.items()}


def can(permission: str) -> bool:
    account = current_account()
    return account is not None and permission in permissions().get(account.role, frozenset())


def require(permission: str):
    """Login, then the permission: 403 page naming the role needed."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not can(permission):
                having = sorted(r for r, p in permissions().items() if permission in p)
                raise AuthError(f"your role ({current_account().role}) may not {permission} here", status=403,
                                hint=f"ask an administrator for the role {' or '.join(having)}")
            g.user = current_account().name
            return view(*args, **kwargs)

        return wrapper

    return decorate
