"""How many gunicorn workers this process belongs to, read the way gunicorn reads it (command line,
GUNICORN_CMD_ARGS, WEB_CONCURRENCY), so that wsgi.py can refuse to start several workers without a shared
REPORTER_SECRET_KEY: each would invent its own key and refuse the others' session cookies."""

from __future__ import annotations

import os
import shlex
import sys


def gunicorn_workers(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    """Workers gunicorn was asked for; 1 outside gunicorn. A config file (-c) is not read: use the flag."""
    argv = sys.argv if argv is None else argv
    environ = dict(os.environ) if environ is None else environ
    if not argv or ("gunicorn" not in os.path.basename(argv[0]) and "gunicorn" not in " ".join(argv[:2])):
        return 1
    from gunicorn.config import Config

    parser = Config().parser()
    count = int(environ.get("WEB_CONCURRENCY") or 1)
    for args in (shlex.split(environ.get("GUNICORN_CMD_ARGS", "")), argv[1:]):
        try:
            known, _ = parser.parse_known_args(args)
        except SystemExit:  # gunicorn itself will say what is wrong with its arguments
            continue
        if getattr(known, "workers", None):
            count = int(known.workers)
    return count


APP_LOAD_ERROR = 4  # gunicorn stops the whole server (not just the worker) on this exit code


def check_secret_key(secret_key: str | None, workers: int) -> None:
    if workers > 1 and not secret_key:
        print(f"error: refusing to start {workers} workers without REPORTER_SECRET_KEY: each worker would "
                         "sign sessions with its own random key and log users out at random. Set "
                         "REPORTER_SECRET_KEY to a long random value (e.g. python -c 'import secrets; "
                         "print(secrets.token_hex(32))').", file=sys.stderr, flush=True)
        raise SystemExit(APP_LOAD_ERROR)
