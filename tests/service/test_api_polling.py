"""What an integration engine polling the API relies on: a conditional read (If-Modified-Since, If-None-Match)
never answers 304 for a version the client has not seen; Subscriptions notify every version that matched, not
only the one current when the notifier looked. Races are made deterministic with an injected clock or with
writes made before the notifier scans, never by sleeping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from reporter.store import repository
from reporter.store.fhirdates import format_instant

from .bundles import demo_bundles, follow_up, renamed

T0 = datetime(2031, 3, 4, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch) -> Iterator[list[datetime]]:
    """The store's clock, set by the test: the next write is stamped clock[0]."""
    now = [T0]
    monkeypatch.setattr(repository, "_now", lambda: now[0])
    yield now


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _get(served, path: str, **headers: str):
    return served.session(served.read_token).get(f"{served.base}/{path}", headers=headers, timeout=60)


def test_if_modified_since_is_not_304_for_a_second_version_stored_in_the_same_second(served, clock) -> None:
    clock[0] = T0 + timedelta(milliseconds=100)
    v1 = served.store.create(renamed(demo_bundles()[0], "ims"), author="test")
    clock[0] = T0 + timedelta(milliseconds=600)  # the follow-up, in the same second: same Last-Modified
    bundle = follow_up({**v1.bundle, "id": v1.case_id}, "v2")
    v2 = served.store.update(v1.case_id, bundle, author="test", if_match=1, reason="follow-up")
    patient = next(e["resource"]["id"] for e in v2.bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    for path in (f"Bundle/{v1.case_id}", f"Patient/{patient}"):
        read = _get(served, path)
        assert read.headers["ETag"] == 'W/"2"' and read.headers["Last-Modified"] == _http_date(T0)
        # a client holding version 1 has the same Last-Modified: it must get version 2, not 304
        again = _get(served, path, **{"If-Modified-Since": _http_date(T0)})
        assert again.status_code == 200 and again.headers["ETag"] == 'W/"2"', path
        later = _get(served, path, **{"If-Modified-Since": _http_date(T0 + timedelta(seconds=1))})
        assert later.status_code == 304, path
        assert _get(served, path, **{"If-None-Match": 'W/"2"'}).status_code == 304
        assert _get(served, path, **{"If-None-Match": 'W/"1"'}).status_code == 200


def test_if_modified_since_is_304_when_only_the_current_version_falls_in_that_second(served, clock) -> None:
    clock[0] = T0 - timedelta(seconds=5)
    v1 = served.store.create(renamed(demo_bundles()[1], "ims-one"), author="test")
    clock[0] = T0 + timedelta(milliseconds=300)
    served.store.update(v1.case_id, follow_up({**v1.bundle, "id": v1.case_id}, "v2"), author="test", if_match=1,
                        reason="follow-up")
    assert _get(served, f"Bundle/{v1.case_id}", **{"If-Modified-Since": _http_date(T0)}).status_code == 304
    earlier = _get(served, f"Bundle/{v1.case_id}", **{"If-Modified-Since": _http_date(T0 - timedelta(seconds=5))})
    assert earlier.status_code == 200 and json.loads(earlier.content)["meta"]["versionId"] == "2"


def _versions_queued(store, subscription_id: str) -> list[tuple[str, int]]:
    from sqlalchemy import select

    from reporter.store.schema import SubscriptionOutbox as Ob

    with store.read_session() as session:
        return list(session.execute(select(Ob.resource_type, Ob.version).where(Ob.subscription_id == subscription_id)
                                    .order_by(Ob.id)).all())


def test_a_subscription_is_told_of_every_version_written_between_two_scans(store) -> None:
    """Two follow-ups stored before the notifier looks: both are notified (the scan matched current rows only,
    so the first was lost, and with it a version that matched when the next one no longer does)."""
    from reporter import subscriptions
    from reporter.store import server_resources
    from reporter.web.server_api import _parse_criteria

    settings = subscriptions.Settings(parse=_parse_criteria, allowed=("http://127.0.0.1:",))
    bundle = renamed(demo_bundles()[0], "sub-versions")
    key = bundle["entry"][0]["resource"]["identifier"]["value"]
    sub = server_resources.create(store, {
        "resourceType": "Subscription", "status": "active", "reason": "mirror",
        "criteria": f"Composition?identifier={key}",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook"}}, checked_until=store.watermark())
    v1 = store.create(bundle, author="test")
    assert subscriptions.scan(store, settings) == 1
    v2 = store.update(v1.case_id, follow_up({**v1.bundle, "id": v1.case_id}, "v2"), author="test", if_match=1,
                      reason="follow-up")
    store.update(v1.case_id, follow_up({**v2.bundle, "id": v1.case_id}, "v3"), author="test", if_match=2,
                 reason="follow-up")
    assert subscriptions.scan(store, settings) == 2
    assert _versions_queued(store, sub.resource_id) == [("Composition", 1), ("Composition", 2), ("Composition", 3)]
    assert subscriptions.scan(store, settings) == 0  # nothing twice


def test_a_nullified_case_shows_in_history_as_the_delete_of_its_resources(served) -> None:
    """A mirror fed by history must learn that a nullified case's resources are gone (they answer 410): their
    entry of the nullification version is a DELETE without a resource; the Bundle's is its readable version."""
    from .test_api_r4 import NULLIFICATION

    other = served.store.create(renamed(demo_bundles()[1], "hist-kept"), author="test")
    v1 = served.store.create(renamed(demo_bundles()[0], "hist-null"), author="test")
    nullified = follow_up({**v1.bundle, "id": v1.case_id}, "nullified")
    nullified["entry"][0]["resource"].setdefault("extension", []).append(NULLIFICATION)
    served.store.update(v1.case_id, nullified, author="test", if_match=1)
    event = next(e["resource"]["id"] for e in v1.bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent")
    assert _get(served, f"AdverseEvent/{event}").status_code == 410
    instance = _get(served, f"AdverseEvent/{event}/_history").json()["entry"]
    assert [e["request"]["method"] for e in instance] == ["DELETE", "POST"]
    assert "resource" not in instance[0] and instance[0]["response"]["etag"] == 'W/"2"'
    assert instance[0]["request"]["url"] == f"AdverseEvent/{event}"
    assert _get(served, f"AdverseEvent/{event}/_history/2").status_code == 410  # the deleted version, as history says
    assert _get(served, f"AdverseEvent/{event}/_history/1").status_code == 200
    for path in ("AdverseEvent/_history", "_history"):
        entries = _get(served, f"{path}?_count=100").json()["entry"]
        of_case = {e["fullUrl"].split("/fhir/")[1]: e for e in entries if e["response"]["etag"] == 'W/"2"'}
        assert of_case and all(e["request"]["method"] == "DELETE" and "resource" not in e
                               for url, e in of_case.items() if not url.startswith("Bundle/")), path
        kept = [e for e in entries if e.get("resource", {}).get("id") in
                {x["resource"]["id"] for x in other.bundle["entry"]}]
        assert kept and all(e["request"]["method"] == "POST" for e in kept)
    bundle = _get(served, "Bundle/_history").json()["entry"][0]
    assert bundle["request"]["method"] == "PUT" and bundle["resource"]["id"] == v1.case_id


@pytest.mark.parametrize("path, since", [("_history", "_since"), ("AdverseEvent/_history", "_since"),
                                         ("AdverseEvent", "_lastUpdated")])
def test_a_poller_taking_the_answers_lastupdated_as_its_next_since_misses_no_write(served, clock, path,
                                                                                     since) -> None:
    """A write stamped before an answer and committed after it (the write lock held while the poll was read) is
    modelled by a clock behind the server's: the answer's meta.lastUpdated was the server's clock, later than
    the write's stamp, and the next poll from it skipped the write."""
    real = datetime.now(UTC)
    clock[0] = real - timedelta(minutes=2)
    served.store.create(renamed(demo_bundles()[0], "poll-a"), author="test")
    first = _get(served, path).json()
    mark = first["meta"]["lastUpdated"]
    newest = max(datetime.fromisoformat(e["resource"]["meta"]["lastUpdated"]) for e in first["entry"])
    step = timedelta(microseconds=1) if since == "_since" else timedelta(0)  # _since includes its instant
    assert mark == format_instant(newest + step)
    clock[0] = real - timedelta(minutes=1)  # stamped before the first answer was made, committed after it
    late = served.store.create(renamed(demo_bundles()[1], "poll-b"), author="test")
    query = f"{since}={mark}" if since == "_since" else f"{since}=gt{mark}"
    after = _get(served, f"{path}?{query}&_count=100").json()
    stamps = {e["resource"]["meta"]["lastUpdated"] for e in after["entry"]}
    assert stamps == {format_instant(late.recorded)}  # the late write, and nothing the first answer held
    assert after["meta"]["lastUpdated"] == format_instant(late.recorded + step)


def test_an_empty_store_answers_with_a_lastupdated_before_any_write(served) -> None:
    assert _get(served, "_history").json()["meta"]["lastUpdated"] == "1970-01-01T00:00:00.000000Z"


def test_a_write_committed_between_the_watermark_and_the_rows_is_not_polled_twice(served, monkeypatch) -> None:
    """The watermark is read before the page's rows; a write committing in between (modelled by a watermark
    that lags) is on the page, so the page's meta.lastUpdated is its stamp, not the older watermark."""
    stored = served.store.create(renamed(demo_bundles()[0], "poll-race"), author="test")
    monkeypatch.setattr(served.store, "watermark", lambda: stored.recorded - timedelta(seconds=1))
    one_us = timedelta(microseconds=1)
    assert _get(served, "_history").json()["meta"]["lastUpdated"] == format_instant(stored.recorded + one_us)
    assert _get(served, "AdverseEvent").json()["meta"]["lastUpdated"] == format_instant(stored.recorded)
    instance = _get(served, f"Bundle/{stored.case_id}/_history").json()
    assert instance["meta"]["lastUpdated"] == format_instant(stored.recorded + one_us)


def _stamped(tag: str, timestamp: str) -> dict:
    bundle = renamed(demo_bundles()[0], tag)
    bundle["timestamp"] = timestamp
    return bundle


def _ids_of(page: dict) -> list[str]:
    return [e["resource"]["id"] for e in page.get("entry", [])]


def _next(page: dict) -> str | None:
    return next((link["url"] for link in page["link"] if link["relation"] == "next"), None)


@pytest.mark.parametrize("sort", ["timestamp", "-timestamp"])
def test_a_next_link_sorted_by_date_neither_repeats_nor_skips_when_a_case_is_written_between_pages(served,
                                                                                                    sort) -> None:
    """Sorted by a date, the next link was an _offset: a case created between two page requests with a date that
    sorts before the offset pushed the last entry of page one onto page two (repeated), and one deleted from
    the searches (nullified) pulled an entry back (skipped). The link names the last row now (keyset)."""
    days = ["2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"]
    cases = [served.store.create(_stamped(f"ks{i}", f"{day}T00:00:00Z"), author="test").case_id
             for i, day in enumerate(days)]
    first = _get(served, f"Bundle?_sort={sort}&_count=2").json()
    link = _next(first)
    assert link and "_offset" not in link
    early = "2019-01-01T00:00:00Z" if sort == "timestamp" else "2021-01-01T00:00:00Z"  # sorts first
    served.store.create(_stamped("ks-early", early), author="test")
    undated = _stamped("ks-undated", early)
    del undated["timestamp"]
    served.store.create(undated, author="test")  # sorts last ascending, first descending
    second = served.session(served.read_token).get(link, timeout=60).json()
    expected = cases if sort == "timestamp" else cases[::-1]
    assert _ids_of(first) == expected[:2] and _ids_of(second) == expected[2:]
    rest = _next(second)
    tail = _ids_of(served.session(served.read_token).get(rest, timeout=60).json()) if rest else []
    assert len(tail) == (1 if sort == "timestamp" else 0)  # the undated case, after the dated ones


def test_a_resource_a_follow_up_leaves_out_answers_410_not_404(served) -> None:
    """It existed (its history shows it): a poller reading it must learn it was removed, not that the id is
    unknown."""
    bundle = next(b for b in demo_bundles() if sum(e["resource"]["resourceType"] == "AdverseEvent"
                                                   for e in b["entry"]) > 1)
    v1 = served.store.create(renamed(bundle, "dropped"), author="test")
    events = [e["resource"]["id"] for e in v1.bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent"]
    later = follow_up({**v1.bundle, "id": v1.case_id}, "one reaction fewer")
    later["entry"] = [e for e in later["entry"] if e["resource"]["id"] != events[1]]
    later = json.loads(json.dumps(later).replace(f"AdverseEvent/{events[1]}", f"AdverseEvent/{events[0]}"))
    served.store.update(v1.case_id, later, author="test", if_match=1, reason="follow-up")
    gone = _get(served, f"AdverseEvent/{events[1]}")
    assert gone.status_code == 410 and gone.json()["issue"][0]["code"] == "deleted"
    assert _get(served, f"AdverseEvent/{events[1]}/_history/1").status_code == 200
    assert _get(served, f"AdverseEvent/{events[0]}").status_code == 200
    assert _get(served, "AdverseEvent/no-such-id").status_code == 404
