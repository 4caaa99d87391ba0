"""Fault injection against real processes: SIGKILL of `reporter serve` (SQLite) and of gunicorn -w 2 (SQLite and
PostgreSQL) during writes, and a PostgreSQL server stopped and restarted under load. Afterwards every
acknowledged write is stored with its audit row, no case is partial, the audit chain is intact, and the outage
was logged in a line or two."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from reporter.store import CaseStore
from reporter.store.audit import verify
from reporter.store.schema import Case, CaseVersion, ResourceIndex
from reporter.store.tokens import create_token
from reporter.web import create_app

from .bundles import demo_bundles, renamed
from .test_audit import unaudited_versions

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from reporter.cli import main; main()"]
JSON = "application/fhir+json"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _check_store(store: CaseStore, acked: set[str]) -> None:
    """What a crash or outage must never leave: a lost acknowledged write, an unaudited version, a partial case."""
    with store.read_session() as s:
        stored = set(s.scalars(select(Case.id)))
        assert acked <= stored, f"{len(acked - stored)} acknowledged write(s) lost"
        for case in s.scalars(select(Case)):
            versions = sorted(s.scalars(select(CaseVersion.version).where(CaseVersion.case_id == case.id)))
            assert versions == list(range(1, case.current_version + 1)), case.id
            indexed = s.scalar(select(func.count()).select_from(ResourceIndex)
                               .where(ResourceIndex.case_id == case.id, ResourceIndex.is_current.is_(True)))
            assert indexed > 1, f"case {case.id} has no index rows"
        assert verify(s).ok
    assert unaudited_versions(store) == []


class Writers:
    """Threads POSTing new cases until stopped; remembers every case the server acknowledged (201)."""

    def __init__(self, base: str, token: str, n: int = 4) -> None:
        self.base, self.token, self.n = base, token, n
        self.acked: set[str] = set()
        self.statuses: dict[int, int] = {}
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._seq = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def _next(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _run(self) -> None:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {self.token}", "Content-Type": JSON})
        template = demo_bundles()[0]
        while not self.stop.is_set():
            body = json.dumps(renamed(template, f"{self.base[-5:]}-{self._next()}"))
            try:
                r = session.post(f"{self.base}/Bundle", data=body, timeout=30)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            with self._lock:
                self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                if r.status_code == 201:
                    self.acked.add(r.json()["id"])

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def _start_serve(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([*CLI, "serve", "--port", "0"], cwd=cwd, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    return proc, _listening(proc, r"serving on (http://\S+/fhir)")


def _listening(proc: subprocess.Popen, pattern: str) -> str:
    """The address the server's log names (group 1 of `pattern`); the rest of its log is drained."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(pattern, line)
        if match:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain
            return match.group(1)
        if not line and proc.poll() is not None:
            break
    _kill(proc)
    raise AssertionError(f"{proc.args[:4]} did not start")


def _start_gunicorn(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """gunicorn -w 2 in a process group of its own (so that one SIGKILL takes the arbiter and its workers)."""
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "2", "-b", "127.0.0.1:0",
                             "--chdir", str(REPO), "wsgi:app"], cwd=cwd, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    return proc, _listening(proc, r"Listening at: (http://\S+)") + "/fhir"


def _kill(proc: subprocess.Popen) -> None:
    if proc.args[:3] == [sys.executable, "-m", "gunicorn"]:
        os.killpg(proc.pid, signal.SIGKILL)  # the arbiter and every worker at once, mid-write
    else:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _kill_during_writes(start, url: str, tmp_path: Path, rounds: int = 4) -> None:
    """Start the server, let writers get some cases acknowledged, SIGKILL it while they still send; repeat;
    then check that no acknowledged write is lost, unaudited or partial."""
    env = _env(REPORTER_DATABASE_URL=url, REPORTER_SECRET_KEY="kill-test")
    store = CaseStore(url)
    token = create_token(store, ["read", "write"])
    acked: set[str] = set()
    kills = 0
    for _ in range(rounds):
        proc, base = start(tmp_path, env)
        with Writers(base, token) as writers:
            deadline = time.monotonic() + 30
            while len(writers.acked) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            _kill(proc)  # mid-write: the writers are still sending
            kills += 1
        acked |= writers.acked
    assert kills == rounds and len(acked) >= 3 * rounds
    _check_store(store, acked)
    store.dispose()


def test_sigkill_during_writes_loses_no_acknowledged_write_and_leaves_none_unaudited(tmp_path: Path) -> None:
    _kill_during_writes(_start_serve, f"sqlite:///{tmp_path / 'store.sqlite3'}", tmp_path)


def test_sigkill_of_gunicorn_during_writes(db_url: str, tmp_path: Path) -> None:
    """The same with gunicorn -w 2 (two processes writing), on SQLite and PostgreSQL."""
    _kill_during_writes(_start_gunicorn, db_url, tmp_path, rounds=3)


# --- PostgreSQL stopped under load -------------------------------------------------------------------------

class PrivateCluster:
    """A PostgreSQL cluster of this test's own (.ci/start-postgres), so it can be stopped and started."""

    def __init__(self) -> None:
        out = subprocess.run(["bash", str(REPO / ".ci" / "start-postgres")], capture_output=True, text=True,
                             timeout=180)
        if out.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"cannot start PostgreSQL: {out.stderr[-500:]}")
            pytest.skip(f"cannot start a private PostgreSQL cluster: {out.stderr[-200:]}")
        values = dict(re.findall(r"export (\w+)=(\S+)", out.stdout))
        self.url, self.dir = values["REPORTER_TEST_POSTGRES_URL"], Path(values["REPORTER_TEST_POSTGRES_DIR"])
        self.port = re.search(r":(\d+)/", self.url).group(1)
        self.bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]

    def _ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        self._ctl("-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o",
                  f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-m", "immediate", "-w", "stop")


@pytest.fixture
def cluster():
    if not sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        if os.environ.get("CI"):
            pytest.fail("CI must provide the PostgreSQL server binaries")
        pytest.skip("PostgreSQL server binaries not installed")
    c = PrivateCluster()
    yield c
    c.close()


def test_postgresql_stopped_under_load(cluster: PrivateCluster, caplog: pytest.LogCaptureFixture) -> None:
    store = CaseStore(cluster.url)
    token = create_token(store, ["read", "write"])
    app = create_app({"SECRET_KEY": "outage"}, store=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/fhir"
    reader = requests.Session()
    reader.headers["Authorization"] = f"Bearer {token}"
    try:
        with Writers(base, token) as writers:
            while len(writers.acked) < 3:
                time.sleep(0.05)
            caplog.clear()
            with caplog.at_level(logging.INFO):
                cluster.stop()
                down = [reader.get(f"{base}/Patient", timeout=30) for _ in range(40)]
                time.sleep(1)
                failed_log = [r for r in caplog.records if r.levelno >= logging.WARNING]
                cluster.start()
                deadline = time.monotonic() + 30
                while reader.get(f"{base}/Patient", timeout=30).status_code != 200 and time.monotonic() < deadline:
                    time.sleep(0.1)
                before = len(writers.acked)
                while len(writers.acked) < before + 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
        assert {r.status_code for r in down} == {503}, {r.status_code for r in down}
        assert all(r.json()["resourceType"] == "OperationOutcome" for r in down)
        assert 500 not in writers.statuses and writers.statuses.get(503, 0) > 0
        # the outage is logged once (plus at most a summary), however many requests failed
        assert 1 <= len(failed_log) <= 3, [r.getMessage() for r in failed_log]
        assert not any(r.exc_info for r in failed_log)
        assert any("available again" in r.getMessage() for r in caplog.records)
        _check_store(store, writers.acked)
    finally:
        server.shutdown()
        server.server_close()
        store.dispose()
