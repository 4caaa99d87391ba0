"""The outage monitor: one line when the database goes away, one when it answers again, and an answer that was
already on its way when the outage was noticed does not end it (it would be logged over again)."""

from __future__ import annotations

import logging
import time

import pytest

from reporter.store.outage import OutageMonitor


class _Refused(Exception):
    pass


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().split(" (")[0].split(" after")[0] for r in caplog.records]


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    monitor = OutageMonitor()
    with caplog.at_level(logging.INFO, logger="reporter.store"):
        monitor.ok(time.monotonic())  # nothing to say while the database answers
        for _ in range(5):
            monitor.failed(_Refused())
        assert monitor.down
        monitor.ok(time.monotonic())
    assert not monitor.down
    assert _lines(caplog) == ["database unavailable", "database available again"]
    assert "5 failed requests" in caplog.records[-1].getMessage()


def test_an_answer_begun_before_the_outage_does_not_end_it(caplog: pytest.LogCaptureFixture) -> None:
    monitor = OutageMonitor()
    in_flight = time.monotonic()  # a request that began while the database still answered
    with caplog.at_level(logging.INFO, logger="reporter.store"):
        monitor.failed(_Refused())
        monitor.ok(in_flight)  # ... and got its answer just after another request found the database gone
        assert monitor.down
        monitor.failed(_Refused())
        monitor.ok(time.monotonic())
    assert _lines(caplog) == ["database unavailable", "database available again"]


def test_a_long_outage_is_summarised_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    monitor = OutageMonitor(interval=0.0)
    with caplog.at_level(logging.INFO, logger="reporter.store"):
        monitor.failed(_Refused())
        monitor.failed(_Refused())
    assert _lines(caplog) == ["database unavailable", "database still unavailable"]
