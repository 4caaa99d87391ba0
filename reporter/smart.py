"""SMART Backend Services on this server: the client-credentials grant with a signed JWT client assertion
(private_key_jwt, RS384 or ES384) exchanged for a short-lived bearer token with the API's scopes.

Checks, in order (each failure is an OAuth error with a reason that names no key material): grant type and
assertion type; the assertion's client (iss = sub) is registered and not revoked; the signing key is one of its
registered public keys (by kid, else any of the right type); the signature, `aud` = our token endpoint, `exp` in
the future and at most 5 minutes ahead (SMART's limit), `jti` present and never seen before for the client. The
scopes asked for (mappings/smart_scopes.yaml) are granted where the client was registered with them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import jwt

from reporter import config
from reporter.errors import MappingError
from reporter.paths import mappings_dir
from reporter.store.audit import AuditContext
from reporter.store.repository import CaseStore
from reporter.store.smart_clients import first_use, get_client
from reporter.store.tokens import SCOPES, create_token

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_SECONDS = 300
LEEWAY_SECONDS = 30


@dataclass
class SmartError(Exception):
    error: str  # OAuth error code: invalid_request, invalid_client, invalid_grant, invalid_scope...
    description: str
    status: int = 400


@cache
def scope_table() -> dict[str, frozenset[str]]:
    import yaml

    data = yaml.safe_load((mappings_dir() / "smart_scopes.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, list) and set(v) <= set(SCOPES) for v in data.values()):
        raise MappingError("mappings/smart_scopes.yaml maps SMART scopes to lists of " + ", ".join(SCOPES))
    return {k: frozenset(v) for k, v in data.items()}


def token_seconds() -> int:
    return max(60, min(int(config.get("smart_token_seconds") or 300), 3600))


def configuration(token_url: str) -> dict:
    """The .well-known/smart-configuration document."""
    return {"token_endpoint": token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": sorted(scope_table()),
            "capabilities": ["client-confidential-asymmetric"]}


def grant(store: CaseStore, form: Mapping[str, str], token_url: str, *, audit: AuditContext | None = None) -> dict:
    """The token response for a client-credentials request, or SmartError."""
    if form.get("grant_type") != "client_credentials":
        raise SmartError("unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise SmartError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion") or ""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise SmartError("invalid_client", f"the client assertion is not a JWT ({type(exc).__name__})", 401) from exc
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise SmartError("invalid_client", f"the assertion is signed with {alg!r}; use RS384 or ES384", 401)
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or unverified.get("sub") != client_id:
        raise SmartError("invalid_client", "the assertion's iss and sub must both be the client id", 401)
    client = get_client(store, client_id)
    if client is None or client.revoked:
        raise SmartError("invalid_client", "the client is not registered here (or was revoked)", 401)
    claims = _verified(assertion, alg, header.get("kid"), client.jwks, client_id, token_url)
    now = time.time()
    if claims["exp"] - now > MAX_ASSERTION_SECONDS + LEEWAY_SECONDS:
        raise SmartError("invalid_client", f"the assertion expires more than {MAX_ASSERTION_SECONDS} s ahead", 401)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 255:
        raise SmartError("invalid_client", "the assertion needs a jti of 1 to 255 characters", 401)
    if not first_use(store, client_id, jti, datetime.fromtimestamp(claims["exp"] + LEEWAY_SECONDS, UTC)):
        raise SmartError("invalid_client", "this assertion (jti) was used before: make a new one for each request",
                         401)
    asked = (form.get("scope") or "").split()
    if not asked:
        raise SmartError("invalid_scope", "ask for a scope, e.g. system/*.read")
    table = scope_table()
    granted = [s for s in asked if s in table and table[s] <= client.scopes]
    if not granted:
        raise SmartError("invalid_scope", "none of the scopes asked for is offered to this client; offered: "
                         + ", ".join(s for s, ours in table.items() if ours <= client.scopes))
    ours = sorted({o for s in granted for o in table[s]})
    seconds = token_seconds()
    token = create_token(store, ours, f"smart:{client_id}", seconds=seconds, audit=audit)
    return {"access_token": token, "token_type": "bearer", "expires_in": seconds, "scope": " ".join(granted)}


def _verified(assertion: str, alg: str, kid: object, jwks: dict, client_id: str, token_url: str) -> dict:
    kty = "RSA" if alg.startswith("RS") else "EC"
    keys = [k for k in jwks.get("keys", []) if k.get("kty") == kty and (kid is None or k.get("kid") == kid)]
    if not keys:
        raise SmartError("invalid_client", f"no registered {kty} key" + (f" with kid {kid!r}" if kid else ""), 401)
    last: Exception | None = None
    for key in keys:
        try:
            public = jwt.PyJWK(key, algorithm=alg).key
            return jwt.decode(assertion, public, algorithms=[alg], audience=token_url, issuer=client_id,
                              leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "sub", "aud", "jti"]})
        except jwt.InvalidSignatureError as exc:
            last = exc
            continue
        except jwt.ExpiredSignatureError as exc:
            raise SmartError("invalid_client", "the assertion has expired", 401) from exc
        except jwt.InvalidAudienceError as exc:
            raise SmartError("invalid_client", f"the assertion's aud must be the token endpoint {token_url}",
                             401) from exc
        except jwt.PyJWTError as exc:
            raise SmartError("invalid_client", f"the assertion was refused ({type(exc).__name__})", 401) from exc
    raise SmartError("invalid_client", "the assertion's signature matches no registered key", 401) from last
