"""Service fixtures: a fresh database per test on SQLite and on PostgreSQL, and the app on loopback.

PostgreSQL comes from REPORTER_TEST_POSTGRES_URL (`eval "$(bash .ci/start-postgres)"`); without it the
PostgreSQL half skips locally and fails under CI=true."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from reporter.store import CaseStore
from reporter.store.tokens import create_token
from reporter.web import create_app

BACKENDS = ["sqlite", "postgresql"]


def _postgres_url() -> str:
    url = os.environ.get("REPORTER_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must set REPORTER_TEST_POSTGRES_URL (eval \"$(bash .ci/start-postgres)\")")
        pytest.skip("REPORTER_TEST_POSTGRES_URL not set (eval \"$(bash .ci/start-postgres)\" to run these)")
    return url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a PostgreSQL database created for this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    admin_url = _postgres_url()
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[CaseStore]:
    s = CaseStore(db_url)
    yield s
    s.dispose()


@dataclass
class Served:
    base: str  # .../fhir
    store: CaseStore
    read_token: str
    write_token: str  # read + write + submit

    def session(self, token: str | None = None) -> requests.Session:
        s = requests.Session()
        if token:
            s.headers["Authorization"] = f"Bearer {token}"
        return s


@pytest.fixture
def served(store: CaseStore) -> Iterator[Served]:
    """The app served by a real HTTP server on 127.0.0.1 (an ephemeral port), in a thread."""
    shared = Path(os.environ.get("REPORTER_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
    schema_dir = os.environ.get("REPORTER_E2B_SCHEMA_DIR") or str(shared / "e2b" / "schema")
    app = create_app({"SECRET_KEY": "test-secret", "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
                      "E2B_SCHEMA_DIR": schema_dir}, store=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}/fhir", store,
                     create_token(store, ["read"], "test reader"),
                     create_token(store, ["read", "write", "submit"], "test"))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
