"""R4 Subscriptions, rest-hook channel (issue 13), against a real HTTP receiver on loopback: a `requested`
Subscription becomes `active`; each created or updated resource matching its criteria is notified once, off the
request thread (an empty POST, or with payload application/fhir+json a PUT of the resource to <endpoint>/<Type>/<id>);
a failing endpoint is retried a bounded number of times and the Subscription then goes to `error` with the reason;
endpoints outside the allow-list are refused; logs carry no patient data."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .bundles import demo_bundles, follow_up, renamed

JSON = "application/fhir+json"


class Receiver:
    """A loopback HTTP server recording (method, path, headers, body) of each request; answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.append((self.command, self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _any

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, seconds: float = 30) -> list:
        deadline = time.monotonic() + seconds
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def subscription_env(monkeypatch) -> None:
    """Loopback endpoints allowed, three attempts, fast retries (set before the app is made)."""
    monkeypatch.setenv("REPORTER_SUBSCRIPTION_ENDPOINTS", "http://127.0.0.1:")
    monkeypatch.setenv("REPORTER_SUBSCRIPTION_ATTEMPTS", "3")
    monkeypatch.setenv("REPORTER_SUBSCRIPTION_RETRY_SECONDS", "0.1")


@pytest.fixture
def hook(subscription_env, served):
    receiver = Receiver()
    yield served, receiver
    receiver.close()


def _post(served, path: str, body: dict, token: str | None = None):
    return served.session(token or served.write_token).post(f"{served.base}/{path}", data=json.dumps(body),
                                                             headers={"Content-Type": JSON}, timeout=120)


def _subscription(criteria: str, endpoint: str, payload: str | None = None, **channel) -> dict:
    body = {"resourceType": "Subscription", "status": "requested", "reason": "sync the safety database",
            "criteria": criteria, "channel": {"type": "rest-hook", "endpoint": endpoint, **channel}}
    if payload:
        body["channel"]["payload"] = payload
    return body


def test_rest_hook_notifies_matching_creates_and_updates(hook) -> None:
    served, receiver = hook
    bundles = [renamed(b, f"sub{i}") for i, b in enumerate(demo_bundles()[:2])]
    key = bundles[1]["entry"][0]["resource"]["identifier"]["value"]
    r = _post(served, "Subscription", _subscription(f"Composition?identifier={key}", receiver.url,
                                                    header=["Authorization: Bearer engine-secret"]))
    assert r.status_code == 201, r.text[:1000]
    sub = r.json()
    assert sub["status"] == "active" and sub["meta"]["versionId"] == "1"
    assert _post(served, "Bundle", bundles[0]).status_code == 201  # does not match
    stored = _post(served, "Bundle", bundles[1])
    assert stored.status_code == 201
    got = receiver.wait_for(1)
    time.sleep(1.5)  # a further scan finds nothing more
    assert len(got) == 1
    method, path, headers, body = got[0]
    assert (method, path, body) == ("POST", "/hook", b"") and headers["Authorization"] == "Bearer engine-secret"
    # an update of the matching case is notified again; a write made outside the API is seen too
    case = stored.json()
    update = served.session(served.write_token).put(
        f"{served.base}/Bundle/{case['id']}", data=json.dumps(follow_up(case, "v2")),
        headers={"Content-Type": JSON, "If-Match": 'W/"1"', "X-Reporter-Reason": "follow-up"}, timeout=120)
    assert update.status_code == 200
    assert len(receiver.wait_for(2)) == 2
    direct = renamed(demo_bundles()[2], "sub-direct")
    direct["entry"][0]["resource"]["identifier"]["value"] = key + "-other"
    served.store.create(direct, author="cli:test")  # not matching: no notification
    time.sleep(1.5)
    assert len(receiver.requests) == 2
    listed = served.session(served.read_token).get(f"{served.base}/Subscription", params={"status": "active"},
                                                   timeout=30).json()
    assert listed["total"] == 1 and listed["entry"][0]["resource"]["id"] == sub["id"]


def test_full_resource_payload_is_put_to_the_endpoint_as_a_fhir_base(hook) -> None:
    served, receiver = hook
    assert _post(served, "Subscription", _subscription("Patient?gender=male", receiver.url + "/fhir",
                                                       payload=JSON)).status_code == 201
    stored = _post(served, "Bundle", renamed(demo_bundles()[0], "sub-full")).json()
    patient = next(e["resource"]["id"] for e in stored["entry"] if e["resource"]["resourceType"] == "Patient")
    got = receiver.wait_for(1)
    assert len(got) == 1
    method, path, headers, body = got[0]
    assert (method, path) == ("PUT", f"/hook/fhir/Patient/{patient}")
    assert headers["Content-Type"] == JSON
    resource = json.loads(body)
    assert resource["resourceType"] == "Patient" and resource["id"] == patient and resource["meta"]["versionId"]


def test_a_failing_endpoint_puts_the_subscription_in_error_after_bounded_retries(hook, caplog) -> None:
    served, receiver = hook
    receiver.status = 500
    caplog.set_level(logging.INFO)
    sub = _post(served, "Subscription", _subscription("Patient?gender=male", receiver.url, payload=JSON)).json()
    bundle = renamed(demo_bundles()[0], "sub-fail")
    assert _post(served, "Bundle", bundle).status_code == 201
    got = receiver.wait_for(3)
    deadline = time.monotonic() + 30
    while True:
        current = served.session(served.read_token).get(f"{served.base}/Subscription/{sub['id']}", timeout=30).json()
        if current["status"] == "error" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert current["status"] == "error" and "HTTP 500" in current["error"] and "3 attempts" in current["error"]
    time.sleep(1.5)
    assert len(got) == 3, "three attempts, then no more"
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "subscription" in logged
    for fact in (patient.get("birthDate"), json.dumps(patient.get("name")), "gender"):
        if fact:
            assert fact not in logged, "patient data in the log"
    # set back to requested: active again, and later changes are delivered
    receiver.status = 200
    resumed = served.session(served.write_token).put(
        f"{served.base}/Subscription/{sub['id']}", data=json.dumps({**current, "status": "requested"}),
        headers={"Content-Type": JSON, "If-Match": f'W/"{current["meta"]["versionId"]}"'}, timeout=30)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active" and "error" not in resumed.json()
    assert _post(served, "Bundle", renamed(demo_bundles()[1], "sub-after")).status_code == 201
    assert len(receiver.wait_for(4)) == 4


def test_subscriptions_are_checked(hook) -> None:
    served, receiver = hook
    bad = [
        (_subscription("Patient?gender=male", "http://10.1.2.3/hook"), "Subscription.channel.endpoint"),
        (_subscription("Patient?gender=male", "ftp://127.0.0.1:21/x"), "Subscription.channel.endpoint"),
        (_subscription("Patient?colour=blue", receiver.url), "Subscription.criteria"),
        (_subscription("Patient?gender=male&_count=5", receiver.url), "Subscription.criteria"),
        (_subscription("Library?name=x", receiver.url), "Subscription.criteria"),
        (_subscription("Patient?gender=male", receiver.url, payload="application/fhir+xml"),
         "Subscription.channel.payload"),
        (_subscription("Patient?gender=male", receiver.url, header=["no colon here"]), "Subscription.channel.header"),
        ({**_subscription("Patient", receiver.url), "status": "active"}, "Subscription.status"),
        ({**_subscription("Patient", receiver.url), "channel": {"type": "email", "endpoint": "mailto:a@b.c"}},
         "Subscription.channel.type"),
    ]
    for body, where in bad:
        r = _post(served, "Subscription", body)
        assert r.status_code == 400 and where in json.dumps(r.json()), (body, r.text[:300])
    assert _post(served, "Subscription", _subscription("Patient", receiver.url), served.read_token).status_code == 403
    assert served.session(served.read_token).get(f"{served.base}/Subscription", timeout=30).json()["total"] == 0


def test_capability_statement_announces_the_integration_extras(served) -> None:
    statement = served.session().get(f"{served.base}/metadata", timeout=30).json()
    rest = statement["rest"][0]
    declared = {r["type"]: r for r in rest["resource"]}
    assert {"code": "history-system"} in rest["interaction"]
    assert {"code": "history-type"} in declared["AdverseEvent"]["interaction"]
    assert declared["Subscription"]["interaction"] and declared["Group"]["operation"][0]["name"] == "export"
    assert any(o["name"] == "export" and o["definition"].endswith("patient-export")
               for o in declared["Patient"]["operation"])
    assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    token = rest["security"]["extension"][0]["extension"][0]["valueUri"]
    assert token == served.base.removesuffix("/fhir") + "/auth/token"
    assert ":iterate" in rest["documentation"]
