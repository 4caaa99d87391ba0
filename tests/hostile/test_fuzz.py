"""Fuzzing in CI, bounded: structure-aware mutations of real E2B(R3) files, case files and ICSR Bundles, and
drawn API/page queries, against the importer, the case-file pipeline and the running app (SQLite). No input may
end in an exception other than a ReporterError, or in an HTTP 5xx. Hypothesis draws the seeds (so it shrinks
and replays them); the mutators (tests/hostile/mutators.py) do the structure. The long run: bench/fuzz.py.

REPORTER_FUZZ_EXAMPLES sets the number of inputs per target (default 25)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import targets

EXAMPLES = int(os.environ.get("REPORTER_FUZZ_EXAMPLES") or 25)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.fixture(scope="module")
def shared() -> str:
    from tests.conftest import shared_path

    path = shared_path()
    if not (path / "e2b" / "examples").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the shared reference material at {path}")
        pytest.skip(f"shared reference material not found at {path}")
    return str(path)


@FUZZ
@given(seed=SEEDS)
def test_e2b_import_without_xsd(seed: int, shared: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPORTER_E2B_SCHEMA_DIR", raising=False)
    assert targets.e2b_import(seed, shared) in ("ok", "refused")


@FUZZ
@given(seed=SEEDS)
def test_e2b_import_with_xsd(seed: int, shared: str, e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    assert targets.e2b_import(seed, shared) in ("ok", "refused")


@FUZZ
@given(seed=SEEDS)
def test_case_files(seed: int) -> None:
    assert targets.case_file(seed) in ("ok", "refused")


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    """The app on a fresh SQLite store, a bearer token, a logged-in reviewer and one stored, approved case."""
    store, client, headers, case_id = targets.fuzz_app(tmp_path_factory.mktemp("fuzz") / "store.sqlite3")
    yield client, headers, case_id
    store.dispose()


@FUZZ
@given(seed=SEEDS)
def test_api_bundles(seed: int, app_client) -> None:
    client, headers, _ = app_client
    assert targets.api_bundle(seed, client, headers) in ("ok", "refused")


@FUZZ
@given(seed=SEEDS)
def test_api_and_page_queries(seed: int, app_client) -> None:
    client, headers, case_id = app_client
    assert targets.api_query(seed, client, headers, case_id) in ("ok", "refused")
