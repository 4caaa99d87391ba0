"""`reporter serve` starts on SQLite with no setup; `reporter token create` prints the token last."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from reporter.cli import main; main()"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def test_serve_starts_on_sqlite_with_no_setup(tmp_path: Path) -> None:
    token = subprocess.run([*CLI, "token", "create", "--scope", "read"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=120, check=True).stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"rpt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
    proc = subprocess.Popen([*CLI, "serve", "--port", "0"], cwd=tmp_path, env=_env(),
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        deadline, url = time.monotonic() + 60, None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            match = re.search(r"serving on (http://\S+/fhir)", line)
            url = match.group(1) if match else None
        assert url, "server did not start"
        assert requests.get(f"{url}/metadata", timeout=30).json()["resourceType"] == "CapabilityStatement"
        assert requests.get(f"{url}/Patient", timeout=30).status_code == 401
        ok = requests.get(f"{url}/Patient", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert ok.status_code == 200 and ok.json()["total"] == 0
        assert (tmp_path / "reporter.sqlite3").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_token_create_refuses_unknown_scopes(tmp_path: Path) -> None:
    result = subprocess.run([*CLI, "token", "create", "--scope", "admin"], cwd=tmp_path, env=_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "admin" in result.stderr and "Traceback" not in result.stderr
