"""Bearer tokens with scopes for the API. Unauthenticated -> 401, missing scope -> 403 (OperationOutcome)."""

from __future__ import annotations

from flask import current_app, g, request

from reporter.errors import AuthError
from reporter.store.tokens import verify_token


def current_agent() -> str:
    token = g.get("token")
    if token is not None:
        return f"token:{token.id}"
    user = g.get("user")
    return f"user:{user}" if user else "anonymous"


def require_scope(scope: str) -> None:
    """Check the request's bearer token has `scope`; sets g.token. Raises AuthError."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if not header:
        raise AuthError("authentication required", hint="send Authorization: Bearer <token>")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise AuthError("only Bearer tokens are accepted", hint="send Authorization: Bearer <token>")
    info = verify_token(current_app.extensions["reporter.store"], credentials)
    if info is None:
        raise AuthError("the token is not valid (unknown, malformed or revoked)")
    g.token = info
    if scope not in info.scopes:
        raise AuthError(f"the token lacks the {scope!r} scope", status=403,
                        hint=f"create a token with --scope {scope}")


def www_authenticate(exc: AuthError) -> str:
    if exc.status == 403:
        return 'Bearer realm="reporter", error="insufficient_scope"'
    if request.headers.get("Authorization"):
        return 'Bearer realm="reporter", error="invalid_token"'
    return 'Bearer realm="reporter"'
