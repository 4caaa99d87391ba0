"""Database outages logged once, not once per request.

When the database goes away every request fails the same way; a traceback per request floods the log
(hundreds of lines each, thousands of requests). The monitor logs one line when an outage starts, at most
one summary line per interval while it lasts, and one line when the database answers again.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("reporter.store")


class OutageMonitor:
    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_log = 0.0
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures += 1
            if self._down_since is None:
                self._down_since = self._last_log = now
                self._failures = 1
                log.error("database unavailable (%s); further failures are summarised, not logged one by one",
                          type(getattr(exc, "orig", None) or exc).__name__)
            elif now - self._last_log >= self.interval:
                self._last_log = now
                log.error("database still unavailable after %.0f s (%d failed requests)",
                          now - self._down_since, self._failures)

    def ok(self, started: float) -> None:
        """A database operation that began at `started` (time.monotonic()) succeeded. Only one begun after the
        outage was noticed ends it: one already in flight then may still finish (its answer was on the way),
        which says nothing of the database now (the outage would be logged over again at the next failure)."""
        if self._down_since is None:  # the common case: no lock, no work
            return
        with self._lock:
            if self._down_since is not None and started >= self._down_since:
                log.warning("database available again after %.1f s (%d failed requests)",
                            time.monotonic() - self._down_since, self._failures)
                self._down_since = None
