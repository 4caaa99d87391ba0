"""A service process freezes its warm heap once, after GC_FREEZE_AFTER requests, and never with 0."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from reporter.store import CaseStore
from reporter.web import create_app


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[CaseStore]:
    store = CaseStore(f"sqlite:///{tmp_path / 'heap.db'}")
    yield store
    store.dispose()


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session keeps a normal heap


def _metadata(client) -> None:
    response = client.get("/fhir/metadata", headers={"Accept": "application/fhir+json"})
    assert response.status_code == 200
    response.close()  # as a server does once the answer is sent: the freeze runs then


def test_the_heap_is_frozen_once_after_the_set_number_of_requests(sqlite_store: CaseStore) -> None:
    client = create_app({"SECRET_KEY": "t", "GC_FREEZE_AFTER": 3}, store=sqlite_store).test_client()
    for _ in range(2):
        _metadata(client)
    assert gc.get_freeze_count() == 0
    _metadata(client)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    gc.unfreeze()
    for _ in range(5):
        _metadata(client)
    assert gc.get_freeze_count() == 0  # once only


def test_zero_never_freezes(sqlite_store: CaseStore) -> None:
    client = create_app({"SECRET_KEY": "t", "GC_FREEZE_AFTER": 0}, store=sqlite_store).test_client()
    for _ in range(5):
        _metadata(client)
    assert gc.get_freeze_count() == 0
