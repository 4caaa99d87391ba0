"""Freezing a service process's long-lived heap once it is warm (GC_FREEZE_AFTER requests), after the answer
that reaches the count has been sent."""

from __future__ import annotations

import itertools
import threading

from flask import Flask, Response

from reporter.gcpause import freeze_heap


def register(app: Flask) -> None:
    after = int(app.config.get("GC_FREEZE_AFTER") or 0)
    if after <= 0:
        return
    served = itertools.count(1)
    done = threading.Event()

    @app.after_request
    def _count(response: Response) -> Response:
        if not done.is_set() and next(served) >= after:
            done.set()
            response.call_on_close(freeze_heap)  # once the answer is out: the collection takes ~0.1 s
        return response
