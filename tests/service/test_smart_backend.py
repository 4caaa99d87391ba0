"""SMART Backend Services on our own server (issue 13): discovery, the client-credentials grant with a signed JWT
assertion (RS384 and ES384, registered public keys), replay and lifetime limits, scope mapping, and the issued
token used on /fhir by the project's own EHR client (reporter.ehr), which signs such assertions."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from reporter.cli import main
from reporter.ehr.client import FhirClient, SmartBackendAuth
from reporter.errors import InputError
from reporter.store.smart_clients import register_client, revoke_client

from .bundles import demo_bundles, renamed

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _keys(kind: str):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "RSA" \
        else ec.generate_private_key(ec.SECP384R1())
    algorithm = jwt.algorithms.RSAAlgorithm if kind == "RSA" else jwt.algorithms.ECAlgorithm
    public = json.loads(algorithm.to_jwk(private.public_key()))
    public["kid"] = f"{kind.lower()}-1"
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return private, pem, {"keys": [public]}


def _root(served) -> str:
    return served.base.removesuffix("/fhir")


def _assertion(key, client_id: str, aud: str, *, alg: str = "RS384", exp: int = 240, jti: str | None = None,
               kid: str | None = "rsa-1", sub: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": sub or client_id, "aud": aud, "iat": now, "exp": now + exp,
              "jti": jti or str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def _token(served, assertion: str, scope: str = "system/*.read", **form) -> requests.Response:
    data = {"grant_type": "client_credentials", "scope": scope, "client_assertion_type": ASSERTION,
            "client_assertion": assertion, **form}
    return requests.post(f"{_root(served)}/auth/token", data=data, timeout=30)


def test_discovery_and_the_ehr_client_against_our_server(served) -> None:
    config = requests.get(f"{served.base}/.well-known/smart-configuration", timeout=30)
    assert config.status_code == 200
    body = config.json()
    assert body["token_endpoint"] == f"{_root(served)}/auth/token"
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert "client_credentials" in body["grant_types_supported"] and "system/*.read" in body["scopes_supported"]
    assert requests.get(f"{_root(served)}/.well-known/smart-configuration", timeout=30).json() == body
    stored = served.session(served.write_token).post(
        f"{served.base}/Bundle", data=json.dumps(renamed(demo_bundles()[0], "smart")),
        headers={"Content-Type": "application/fhir+json"}, timeout=120)
    assert stored.status_code == 201
    for kind in ("RSA", "EC"):
        _, pem, jwks = _keys(kind)
        register_client(served.store, f"engine-{kind}", jwks, ["read"], "analytics engine")
        auth = SmartBackendAuth(f"engine-{kind}", pem, scope="system/*.read", kid=jwks["keys"][0]["kid"])
        with FhirClient(served.base, auth) as client:
            found = client.search("AdverseEvent", [("_count", "50")])
            assert found.matches and all(r["resourceType"] == "AdverseEvent" for r in found.matches)
            assert auth.alg == ("RS384" if kind == "RSA" else "ES384")


def test_the_grant_is_checked(served) -> None:
    key, _, jwks = _keys("RSA")
    other, _, _ = _keys("RSA")
    register_client(served.store, "reader", jwks, ["read"])
    aud = f"{_root(served)}/auth/token"
    ok = _token(served, _assertion(key, "reader", aud))
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 300 and body["scope"] == "system/*.read"
    assert ok.headers["Cache-Control"] == "no-store"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(f"{served.base}/AdverseEvent", headers=bearer, timeout=30).status_code == 200
    write = {**bearer, "Content-Type": "application/fhir+json"}
    assert requests.post(f"{served.base}/Bundle", data="{}", headers=write, timeout=30).status_code == 403  # read only
    replay = _assertion(key, "reader", aud, jti="same-jti")
    assert _token(served, replay).status_code == 200
    again = _token(served, replay)
    assert again.status_code == 401 and "used before" in again.json()["error_description"]
    refusals = [
        (_assertion(key, "reader", aud, exp=3600), 401, "invalid_client"),  # lives too long
        (_assertion(key, "reader", aud, exp=-120), 401, "invalid_client"),  # expired
        (_assertion(key, "reader", "https://elsewhere.example/token"), 401, "invalid_client"),
        (_assertion(other, "reader", aud), 401, "invalid_client"),  # not the registered key
        (_assertion(key, "nobody", aud), 401, "invalid_client"),
        (_assertion(key, "reader", aud, sub="someone-else"), 401, "invalid_client"),
        (_assertion(key, "reader", aud, kid="unknown-kid"), 401, "invalid_client"),
        (jwt.encode({"iss": "reader", "sub": "reader", "aud": aud, "exp": int(time.time()) + 60, "jti": "h"},
                    "shared-secret-of-32-bytes-or-more!!", algorithm="HS256"), 401, "invalid_client"),
        ("not-a-jwt", 401, "invalid_client"),
    ]
    for assertion, status, error in refusals:
        r = _token(served, assertion)
        assert (r.status_code, r.json()["error"]) == (status, error), r.text
    wide = _token(served, _assertion(key, "reader", aud), scope="system/*.write")
    assert wide.status_code == 400 and wide.json()["error"] == "invalid_scope"
    assert _token(served, _assertion(key, "reader", aud), grant_type="password").json()["error"] == \
        "unsupported_grant_type"
    assert requests.post(f"{_root(served)}/auth/token", json={"grant_type": "client_credentials"},
                         timeout=30).json()["error"] == "invalid_request"
    revoke_client(served.store, "reader")
    assert _token(served, _assertion(key, "reader", aud)).status_code == 401


def test_client_registration(served, tmp_path) -> None:
    _, _, jwks = _keys("EC")
    with pytest.raises(InputError):
        register_client(served.store, "x", {"keys": [{**jwks["keys"][0], "d": "secret"}]}, ["read"])
    with pytest.raises(InputError):
        register_client(served.store, "x", {"keys": []}, ["read"])
    with pytest.raises(InputError):
        register_client(served.store, "x", jwks, ["admin"])
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks), encoding="utf-8")
    url = served.store.url
    result = CliRunner().invoke(main, ["smart-client", "add", "cli-client", "--jwks", str(path), "--scope", "read",
                                       "--database-url", url])
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(main, ["smart-client", "list", "--database-url", url])
    assert "cli-client\tread\tactive" in listed.output
    assert CliRunner().invoke(main, ["smart-client", "revoke", "cli-client", "--database-url", url]).exit_code == 0
