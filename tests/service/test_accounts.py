"""Accounts over real HTTP, on SQLite and PostgreSQL: login throttling and lockout, server-side sessions that
logout, password change and administrators end, idle and absolute timeouts, forged cookies, roles, token
expiry and last use, argon2id hashes, and gunicorn refusing several workers without a shared secret key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select, text, update

from reporter.cli import main
from reporter.store import accounts
from reporter.store.approvals import approve
from reporter.store.schema import ApiToken, UserAccount, UserSession
from reporter.store.tokens import create_token, set_password
from reporter.web import create_app

from .bundles import demo_bundles

PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTER_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("REPORTER_LOGIN_MAX_FAILURES_PER_ADDRESS", "6")


def _site(served) -> str:
    return served.base.removesuffix("/fhir")


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _try_login(served, name: str, password: str, s: requests.Session | None = None) -> requests.Response:
    s = s or requests.Session()
    page = s.get(f"{_site(served)}/login", timeout=30)
    return s.post(f"{_site(served)}/login", data={"csrf_token": _csrf(page.text), "username": name,
                                                   "password": password}, allow_redirects=False, timeout=30)


def login(served, name: str, role: str = "reporter") -> requests.Session:
    set_password(served.store, name, PASSWORD, role=role)
    s = requests.Session()
    r = _try_login(served, name, PASSWORD, s)
    assert r.status_code == 303, r.text[:300]
    return s


def _logged_in(served, s: requests.Session) -> bool:
    r = s.get(f"{_site(served)}/cases", allow_redirects=False, timeout=30)
    return r.status_code == 200


def _cookie_copy(s: requests.Session) -> requests.Session:
    other = requests.Session()
    other.cookies.update(s.cookies)
    return other


def test_an_account_is_locked_after_failures_and_the_right_password_no_longer_helps(served) -> None:
    set_password(served.store, "ann", PASSWORD)
    for _ in range(2):
        r = _try_login(served, "ann", "wrong password!")
        assert r.status_code == 401 and "wrong password" in r.text
    r = _try_login(served, "ann", "wrong password!")
    assert r.status_code == 429 and "Too many failed logins for this account" in r.text and "UTC" in r.text
    r = _try_login(served, "ann", PASSWORD)  # right password, still locked
    assert r.status_code == 429 and "locked until" in r.text
    assert accounts.list_accounts(served.store)[0].locked_until is not None
    CliRunner().invoke(main, ["user", "unlock", "ann", "--database-url", served.store.url], catch_exceptions=False)
    assert _try_login(served, "ann", PASSWORD).status_code == 303
    refusals = [e for e in served.store.audit_events(20) if e.subtype == "login" and e.outcome == "4"]
    assert len(refusals) >= 4 and all(e.source == "127.0.0.1" for e in refusals)


def test_an_address_trying_many_names_is_locked(served) -> None:
    statuses = [_try_login(served, f"guess{i}", "wrong password!").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]
    set_password(served.store, "bob", PASSWORD)
    r = _try_login(served, "bob", PASSWORD)  # a good account from the same address waits too
    assert r.status_code == 429 and "your network address" in r.text


def test_logout_ends_the_session_even_for_a_copied_cookie(served) -> None:
    s = login(served, "carol")
    stolen = _cookie_copy(s)
    assert _logged_in(served, stolen)
    page = s.get(f"{_site(served)}/cases", timeout=30).text
    s.post(f"{_site(served)}/logout", data={"csrf_token": _csrf(page)}, timeout=30)
    assert not _logged_in(served, stolen) and not _logged_in(served, s)


def test_a_password_change_and_an_administrator_end_sessions(served) -> None:
    s = login(served, "dave")
    set_password(served.store, "dave", "a brand new password")
    assert not _logged_in(served, s)
    s = login(served, "dave")
    admin = login(served, "root", role="admin")
    page = admin.get(f"{_site(served)}/users", timeout=30)
    assert page.status_code == 200 and "dave" in page.text
    r = admin.post(f"{_site(served)}/users/dave", data={"csrf_token": _csrf(page.text), "action": "revoke"},
                   timeout=30)
    assert r.status_code == 200 and "1 session(s) ended" in r.text
    assert not _logged_in(served, s)
    s = login(served, "dave")
    result = CliRunner().invoke(main, ["user", "revoke", "dave", "--database-url", served.store.url])
    assert result.exit_code == 0 and "1 session(s) ended" in result.output
    assert not _logged_in(served, s)


def test_idle_and_absolute_timeouts(served) -> None:
    s = login(served, "erin")
    with served.store.write_session() as db:
        db.execute(update(UserSession).values(last_seen=datetime.now(UTC) - timedelta(minutes=31)))
    assert not _logged_in(served, s)
    s = login(served, "erin")
    with served.store.write_session() as db:
        db.execute(update(UserSession).where(UserSession.ended.is_(None))
                   .values(created=datetime.now(UTC) - timedelta(hours=12, minutes=1)))
    assert not _logged_in(served, s)


def test_forged_cookies_and_deleted_users_are_refused(served) -> None:
    app = create_app({"SECRET_KEY": "test-secret"}, store=served.store)  # the served app's key
    signer = SecureCookieSessionInterface().get_signing_serializer(app)
    for forged in ({"user": "ghost", "since": int(datetime.now(UTC).timestamp())},  # the old cookie format
                   {"sid": "x" * 43}):
        s = requests.Session()
        s.cookies.set("reporter_session", signer.dumps(forged))
        assert not _logged_in(served, s)
    s = login(served, "frank")
    with served.store.write_session() as db:
        db.execute(text("DELETE FROM user_session WHERE user_name = 'frank'"))
        db.execute(text("DELETE FROM user_account WHERE name = 'frank'"))
    assert not _logged_in(served, s)


def test_roles_are_enforced_on_the_pages(served) -> None:
    site = _site(served)
    case_id = served.session(served.write_token).post(
        f"{served.base}/Bundle", json=demo_bundles()[0], headers={"Content-Type": "application/fhir+json"},
        timeout=30).json()["id"]
    approve(served.store, case_id, 1, "vera")  # E2B downloads are of approved versions (test_approval.py)
    reporter = login(served, "rita")
    reviewer = login(served, "vic", role="reviewer")
    admin = login(served, "ada", role="admin")
    expected = {  # path: (reporter, reviewer, admin)
        "/cases": (200, 200, 200),
        "/cases/new": (200, 200, 403),
        f"/cases/{case_id}/edit": (200, 200, 403),
        f"/cases/{case_id}/download/pdf": (200, 200, 200),
        f"/cases/{case_id}/download/e2b-ich": (403, 200, 403),
        "/audit": (403, 200, 200),
        "/audit/export?format=fhir": (403, 200, 200),
        "/users": (403, 403, 200),
    }
    for path, statuses in expected.items():
        got = tuple(s.get(site + path, timeout=120).status_code for s in (reporter, reviewer, admin))
        assert got == statuses, path
    page = reporter.get(f"{site}/cases/{case_id}", timeout=30).text
    assert "e2b-ich" not in page and "Audit trail" not in page and "Edit (new version)" in page
    refused = reporter.get(f"{site}/users", timeout=30)
    assert "admin" in refused.text  # the 403 page names the role needed
    csrf = _csrf(admin.get(f"{site}/users", timeout=30).text)
    r = admin.post(f"{site}/users/rita", data={"csrf_token": csrf, "action": "role", "role": "reviewer"}, timeout=30)
    assert r.status_code == 200 and not _logged_in(served, reporter)  # a new role starts with a new login
    assert served.store.audit_events(1)[0].reason == "role reporter -> reviewer"


def test_api_roles_tokens_expire_and_record_their_last_use(served) -> None:
    store = served.store
    expired = create_token(store, ["read"], days=1)
    with store.write_session() as db:
        db.execute(update(ApiToken).where(ApiToken.id == expired.split("_")[1])
                   .values(expires=datetime.now(UTC) - timedelta(seconds=1)))
    assert requests.get(f"{served.base}/Patient", headers={"Authorization": f"Bearer {expired}"},
                        timeout=30).status_code == 401
    assert served.session(served.read_token).get(f"{served.base}/Patient", timeout=30).status_code == 200
    with store.read_session() as db:
        row = db.get(ApiToken, served.read_token.split("_")[1])
        assert row.last_used is not None and row.expires is not None
        assert row.secret_hash != served.read_token.split("_", 2)[2]  # stored hashed
        assert served.read_token.split("_", 2)[2] not in str(db.execute(text("SELECT * FROM api_token")).all())


def test_passwords_are_argon2id_and_old_hashes_are_upgraded(store) -> None:
    set_password(store, "gail", PASSWORD)
    with store.read_session() as db:
        assert db.get(UserAccount, "gail").password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    import hashlib

    salt = b"0123456789abcdef"
    legacy = f"scrypt${salt.hex()}${hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32).hex()}"
    with store.write_session() as db:
        db.execute(update(UserAccount).where(UserAccount.name == "gail").values(password_hash=legacy))
    assert not accounts.check_password(store, "gail", "wrong password!")
    assert accounts.check_password(store, "gail", PASSWORD)
    with store.read_session() as db:
        assert db.scalar(select(UserAccount.password_hash).where(UserAccount.name == "gail")).startswith("$argon2id$")
    assert not accounts.check_password(store, "nobody", PASSWORD)


def _gunicorn(tmp_path: Path, *options: str, **env: str) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    clean.update(PYTHONPATH=str(REPO), REPORTER_DATABASE_URL=f"sqlite:///{tmp_path / 's.sqlite3'}", **env)
    return subprocess.Popen([sys.executable, "-m", "gunicorn", *(options or ("-w", "2")), "-b", "127.0.0.1:0",
                             "--chdir", str(REPO), "wsgi:app"], env=clean, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def test_gunicorn_refuses_several_workers_without_a_secret_key(tmp_path: Path) -> None:
    proc = _gunicorn(tmp_path)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "refusing to start 2 workers without REPORTER_SECRET_KEY" in err
    proc = _gunicorn(tmp_path, REPORTER_SECRET_KEY="k" * 32)
    try:
        for line in proc.stderr:
            if "Booting worker" in line:
                break
        assert proc.poll() is None, "gunicorn with a secret key must keep running"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_gunicorn_refuses_several_workers_set_in_its_config_file(tmp_path: Path) -> None:
    (tmp_path / "serve.conf.py").write_text("workers = 3\n", encoding="utf-8")
    proc = _gunicorn(tmp_path, "-c", "serve.conf.py")  # relative to where gunicorn starts; --chdir moves on
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "refusing to start 3 workers without REPORTER_SECRET_KEY" in err


def test_worker_count_outside_gunicorn_reads_the_config_file(tmp_path: Path) -> None:
    from reporter.web.workers import gunicorn_workers

    conf = tmp_path / "g.conf.py"
    conf.write_text("import os\nworkers = 2 + 1\n", encoding="utf-8")
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    assert gunicorn_workers([gunicorn, "-c", str(conf), "wsgi:app"], {}) == 3
    assert gunicorn_workers([gunicorn, "-c", str(conf), "-w", "1", "wsgi:app"], {}) == 1  # the flag wins
    assert gunicorn_workers([gunicorn, "wsgi:app"], {"GUNICORN_CMD_ARGS": f"-c {conf}"}) == 3
    assert gunicorn_workers([gunicorn, "-c", str(conf), "wsgi:app"], {"GUNICORN_CMD_ARGS": "-w 4"}) == 4
    assert gunicorn_workers([gunicorn, "wsgi:app"], {"WEB_CONCURRENCY": "5"}) == 5
    assert gunicorn_workers([gunicorn, "-c", str(tmp_path / "missing.py"), "wsgi:app"], {}) == 1
    assert gunicorn_workers(["python", "-m", "pytest"], {}) == 1
