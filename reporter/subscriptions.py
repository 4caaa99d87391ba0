"""R4 Subscriptions with the rest-hook channel: checking a Subscription, matching new and updated resources
against its criteria, and delivering the notifications.

- A Subscription names `criteria` (a search on a searchable type: `AdverseEvent?seriousness=...`, checked by
  the same parser as the search API) and a rest-hook `channel` whose endpoint is http(s) and starts with one of
  the allowed prefixes (setting `subscription_endpoints`; nothing is allowed by default). The server accepts a
  `requested` Subscription and makes it `active`.
- Matching is done on the store, not on the request thread: the notifier scans the resource index for rows
  written after the subscription's `checked_until` and puts one outbox row per matching resource (the scan and
  the outbox write are one transaction under the store's write lock, so with several workers each change is
  queued once). Any write path (API, pages, CLI, other workers) is seen.
- Delivery (R4 channel semantics): without `channel.payload` an empty POST to the endpoint; with
  `payload = application/fhir+json` the endpoint is a FHIR base and the resource is PUT to `<endpoint>/<Type>/<id>`.
  `channel.header` lines are sent as headers. Failed deliveries are retried with growing delays, a bounded number
  of times; then the Subscription's status becomes `error` with the reason (HTTP status or transport error,
  never resource content), and it gets no more notifications until a client sets it back to `requested`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import requests
from sqlalchemy import and_, or_, select, update

from reporter import config
from reporter.errors import InputError
from reporter.store.repository import CaseStore, Criteria
from reporter.store.schema import CaseVersion, ResourceIndex, ServerResource, SubscriptionOutbox
from reporter.store.searchparams import searchable_types

log = logging.getLogger("reporter.subscriptions")

PAYLOAD_JSON = "application/fhir+json"
_HEADER_RE = re.compile(r"^([A-Za-z0-9\-]{1,64}):\s?(.{0,1000})$")
_CONTROL_PARAMS = {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_format",
                   "_cursor", "_offset"}
_FORBIDDEN_HEADERS = {"host", "content-length", "content-type", "transfer-encoding", "connection"}


def _no_parser(resource_type: str, query: list[tuple[str, str]]) -> Criteria:
    raise InputError("no search parser configured", location="Subscription.criteria")


@dataclass(frozen=True)
class Settings:
    # the search API's parser: (type, query pairs) -> Criteria, InputError on anything it does not support
    parse: Callable[[str, list[tuple[str, str]]], Criteria] = _no_parser
    allowed: tuple[str, ...] = ()  # endpoint URL prefixes
    attempts: int = 5  # deliveries tried per notification before the subscription goes to error
    retry_seconds: float = 2.0  # first retry delay; doubled each time, at most 5 minutes
    timeout: float = 10.0
    poll_seconds: float = 1.0

    @classmethod
    def from_config(cls, parse: Callable[[str, list[tuple[str, str]]], Criteria],
                    overrides: dict | None = None) -> Settings:
        o = overrides or {}

        def pick(key: str, name: str) -> str | None:
            return o.get(key) if o.get(key) is not None else config.get(name)

        return cls(parse=parse, allowed=tuple((pick("SUBSCRIPTION_ENDPOINTS", "subscription_endpoints") or "").split()),
                   attempts=int(pick("SUBSCRIPTION_ATTEMPTS", "subscription_attempts") or 5),
                   retry_seconds=float(pick("SUBSCRIPTION_RETRY_SECONDS", "subscription_retry_seconds") or 2),
                   timeout=float(pick("SUBSCRIPTION_TIMEOUT", "subscription_timeout") or 10),
                   poll_seconds=float(o.get("SUBSCRIPTION_POLL_SECONDS") or 1.0))


# --- checking a Subscription -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    resource_type: str
    query: list[tuple[str, str]]
    endpoint: str
    payload: str | None
    headers: dict[str, str]


def endpoint_allowed(endpoint: str, settings: Settings) -> bool:
    parts = urlsplit(endpoint)
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username
            and any(endpoint.startswith(prefix) for prefix in settings.allowed))


def check(resource: dict, settings: Settings) -> Rule:
    """The delivery rule of a Subscription, or InputError naming the element at fault."""
    criteria = resource.get("criteria")
    if not isinstance(criteria, str) or not criteria.strip():
        raise InputError("a Subscription needs criteria", location="Subscription.criteria",
                         hint="a search such as AdverseEvent?seriousness=serious")
    rtype, _, query = criteria.strip().partition("?")
    if rtype not in searchable_types():
        raise InputError(f"criteria on {rtype!r}: only searchable types can be subscribed to",
                         location="Subscription.criteria", hint="types: " + ", ".join(searchable_types()))
    pairs = parse_qsl(query, keep_blank_values=True)
    control = sorted({k for k, _ in pairs} & _CONTROL_PARAMS)
    if control:
        raise InputError(f"criteria cannot use {control[0]}", location="Subscription.criteria",
                         hint="criteria select resources; paging and shaping parameters have no meaning here")
    try:
        settings.parse(rtype, pairs)
    except InputError as exc:
        raise InputError(f"criteria: {exc.message}", location="Subscription.criteria", hint=exc.hint) from exc
    channel = resource.get("channel")
    if not isinstance(channel, dict):
        raise InputError("a Subscription needs a channel", location="Subscription.channel")
    if channel.get("type") != "rest-hook":
        raise InputError(f"channel type {channel.get('type')!r} is not supported", location="Subscription.channel.type",
                         hint="this server delivers rest-hook notifications")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint_allowed(endpoint, settings):
        raise InputError(f"endpoint {endpoint!r} is not an allowed http(s) URL",
                         location="Subscription.channel.endpoint",
                         hint="the administrator lists allowed endpoint prefixes in REPORTER_SUBSCRIPTION_ENDPOINTS")
    payload = channel.get("payload")
    if payload is not None and payload.split(";")[0].strip() != PAYLOAD_JSON:
        raise InputError(f"payload {payload!r} is not supported", location="Subscription.channel.payload",
                         hint=f"leave it out (an empty notification) or use {PAYLOAD_JSON}")
    headers = {}
    for i, line in enumerate(channel.get("header") or []):
        match = _HEADER_RE.match(line) if isinstance(line, str) else None
        if not match or match.group(1).lower() in _FORBIDDEN_HEADERS:
            raise InputError(f"header {line!r} is not 'Name: value' (or names a header the server sets)",
                             location=f"Subscription.channel.header[{i}]")
        headers[match.group(1)] = match.group(2)
    return Rule(rtype, pairs, endpoint, PAYLOAD_JSON if payload else None, headers)


# --- scanning: matches -> outbox ----------------------------------------------------------------------------

def _active(store: CaseStore) -> list[ServerResource]:
    with store.read_session() as session:
        return list(session.scalars(select(ServerResource).where(ServerResource.resource_type == "Subscription")))


def scan(store: CaseStore, settings: Settings) -> int:
    """Queue a notification for every resource written since each active subscription last looked and matching
    its criteria. Returns the number queued. Cheap when nothing changed (no write lock taken)."""
    watermark = store.watermark()
    subs = [s for s in _active(store) if s.resource.get("status") == "active"]
    if watermark is None or not any(s.checked_until is None or s.checked_until < watermark for s in subs):
        return 0
    queued = 0
    now = datetime.now(UTC)
    with store.write_session() as session:
        watermark = session.scalar(select(CaseVersion.recorded).order_by(CaseVersion.recorded.desc()).limit(1))
        for row in session.scalars(select(ServerResource).where(ServerResource.resource_type == "Subscription")):
            if row.resource.get("status") != "active" or (row.checked_until and row.checked_until >= watermark):
                continue
            try:
                rule = check(row.resource, settings)
            except InputError as exc:  # e.g. the allow-list changed since it was accepted
                _set_error(row, f"the subscription no longer passes the server's checks: {exc.message}")
                continue
            criteria = settings.parse(rule.resource_type, rule.query)
            ri = ResourceIndex
            # every version written since, not only the current ones: a resource updated twice between two
            # scans is notified twice, and a version that matched is notified though the next one does not match
            conditions = store._conditions(ri, rule.resource_type, criteria, current_only=False)
            conditions.append(ri.last_updated <= watermark)
            if row.checked_until is not None:
                conditions.append(ri.last_updated > row.checked_until)
            matches = session.execute(select(ri.resource_type, ri.resource_id, ri.version).where(*conditions)
                                      .order_by(ri.id)).all()
            for rtype, rid, version in matches:
                session.add(SubscriptionOutbox(subscription_id=row.resource_id, resource_type=rtype,
                                               resource_id=rid, version=version, state="pending", attempts=0,
                                               next_try=now, created=now))
            queued += len(matches)
            row.checked_until = watermark
    return queued


def _set_error(row: ServerResource, reason: str) -> None:
    body = dict(row.resource)
    body["status"] = "error"
    body["error"] = reason
    row.resource = body
    row.version += 1
    row.last_updated = datetime.now(UTC)


# --- delivery ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    outbox_id: int
    subscription_id: str
    resource_type: str
    resource_id: str
    attempts: int
    resource: dict  # the subscription


def claim(store: CaseStore, limit: int = 20, lease_seconds: float = 60) -> list[Claimed]:
    """Take due notifications for delivery (a lease: a worker that dies leaves them due again later)."""
    now = datetime.now(UTC)
    out = []
    with store.write_session() as session:
        ob = SubscriptionOutbox
        rows = session.scalars(select(ob).where(or_(ob.state == "pending", ob.state == "sending"),
                                                ob.next_try <= now).order_by(ob.id).limit(limit)).all()
        for row in rows:
            sub = session.get(ServerResource, ("Subscription", row.subscription_id))
            if sub is None or sub.resource.get("status") != "active":
                row.state = "dropped"
                continue
            row.state, row.attempts = "sending", row.attempts + 1
            row.next_try = now + timedelta(seconds=lease_seconds)
            out.append(Claimed(row.id, row.subscription_id, row.resource_type, row.resource_id, row.attempts,
                               sub.resource))
    return out


def deliver(store: CaseStore, item: Claimed, settings: Settings) -> str | None:
    """Send one notification; None when the endpoint took it, else the reason it failed."""
    try:
        rule = check(item.resource, settings)
    except InputError as exc:
        return f"the subscription no longer passes the server's checks: {exc.message}"
    headers = dict(rule.headers)
    try:
        if rule.payload:
            try:
                body = store.read_resource(item.resource_type, item.resource_id).with_meta()
            except Exception as exc:  # nullified or gone since: nothing to send
                log.info("subscription %s: %s/%s no longer readable (%s)", item.subscription_id,
                         item.resource_type, item.resource_id, type(exc).__name__)
                return None
            import json

            headers["Content-Type"] = PAYLOAD_JSON
            url = f"{rule.endpoint.rstrip('/')}/{item.resource_type}/{item.resource_id}"
            response = requests.put(url, data=json.dumps(body), headers=headers, timeout=settings.timeout,
                                    allow_redirects=False)
        else:
            response = requests.post(rule.endpoint, data=b"", headers=headers, timeout=settings.timeout,
                                     allow_redirects=False)
    except requests.RequestException as exc:
        return f"delivery to the endpoint failed: {type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return None
    return f"the endpoint answered HTTP {response.status_code}"


def settle(store: CaseStore, item: Claimed, failure: str | None, settings: Settings) -> None:
    """Record a delivery's outcome: done, retry later, or (after the last attempt) the subscription in error."""
    now = datetime.now(UTC)
    with store.write_session() as session:
        row = session.get(SubscriptionOutbox, item.outbox_id)
        if row is None:
            return
        if failure is None:
            session.delete(row)
            return
        if item.attempts < settings.attempts:
            row.state = "pending"
            row.next_try = now + timedelta(seconds=min(settings.retry_seconds * 2 ** (item.attempts - 1), 300))
            return
        row.state = "failed"
        sub = session.get(ServerResource, ("Subscription", item.subscription_id))
        if sub is not None and sub.resource.get("status") == "active":
            _set_error(sub, f"{failure} ({item.attempts} attempts); set status to requested to resume")
            session.execute(update(SubscriptionOutbox).where(and_(
                SubscriptionOutbox.subscription_id == item.subscription_id, SubscriptionOutbox.state == "pending"))
                .values(state="dropped"))
    log.warning("subscription %s: notification %s failed (attempt %s): %s", item.subscription_id, item.outbox_id,
                item.attempts, failure)


def run_once(store: CaseStore, settings: Settings) -> int:
    """One scan and one round of deliveries; returns the notifications delivered or settled."""
    scan(store, settings)
    done = 0
    for item in claim(store):
        settle(store, item, deliver(store, item, settings), settings)
        done += 1
    return done


class Notifier:
    """A daemon thread per process running scan + delivery every poll interval (and at once when woken after a
    write). It stops when the store is disposed."""

    def __init__(self, store: CaseStore, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="subscription-notifier", daemon=True)

    def start(self) -> Notifier:
        self.thread.start()
        return self

    def _loop(self) -> None:
        failures = 0
        while not self.store.closed:
            self.wake.wait(self.settings.poll_seconds if not failures else min(30, 2 ** failures))
            self.wake.clear()
            if self.store.closed:
                return
            try:
                while run_once(self.store, self.settings):
                    pass
                failures = 0
            except Exception as exc:  # the store is unavailable: try again later, say so once per outage
                if not failures:
                    log.warning("subscription notifier: %s; retrying", type(exc).__name__)
                failures = min(failures + 1, 5)
