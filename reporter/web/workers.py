"""How many gunicorn workers this process belongs to, so that wsgi.py can refuse to start several workers
without a shared REPORTER_SECRET_KEY: each would invent its own key and refuse the others' session cookies.

Inside gunicorn the answer is gunicorn's own resolved settings (command line, GUNICORN_CMD_ARGS, a `-c`
config file or ./gunicorn.conf.py, WEB_CONCURRENCY): the worker (or, with --preload, the arbiter's
application) importing wsgi.py holds them. Elsewhere the command line and the `-c` file are read."""

from __future__ import annotations

import os
import shlex
import sys


def gunicorn_workers(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    """Workers gunicorn was asked for; 1 outside gunicorn."""
    if argv is None and environ is None:
        running = _running_settings()
        if running is not None:
            return int(running.workers)
    argv = sys.argv if argv is None else argv
    environ = dict(os.environ) if environ is None else environ
    if not argv or ("gunicorn" not in os.path.basename(argv[0]) and "gunicorn" not in " ".join(argv[:2])):
        return 1
    from gunicorn.config import Config

    parser = Config().parser()
    parsed = []
    for args in (shlex.split(environ.get("GUNICORN_CMD_ARGS", "")), argv[1:]):
        try:
            parsed.append(parser.parse_known_args(args)[0])
        except SystemExit:  # gunicorn itself will say what is wrong with its arguments
            continue
    # gunicorn's order: its default (WEB_CONCURRENCY), the config file (-c on the command line, else in
    # GUNICORN_CMD_ARGS), GUNICORN_CMD_ARGS, the command line; each later one wins.
    count = int(environ.get("WEB_CONCURRENCY") or 1)
    location = next((known.config for known in reversed(parsed) if getattr(known, "config", None)), None)
    count = (_config_file_workers(location, environ) if location else None) or count
    for known in parsed:
        if getattr(known, "workers", None):
            count = int(known.workers)
    return count


def gunicorn_threads() -> int | None:
    """Threads per worker of the running gunicorn (its resolved --threads); None outside gunicorn."""
    running = _running_settings()
    return int(running.threads) if running is not None else None


def _running_settings():
    """gunicorn's resolved Config, from the gunicorn object (worker or application) importing this module."""
    try:
        from gunicorn.config import Config
    except ImportError:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        settings = getattr(frame.f_locals.get("self"), "cfg", None)
        if isinstance(settings, Config):
            return settings
        frame = frame.f_back
    return None


def _config_file_workers(location: str, environ: dict[str, str]) -> int | None:
    """`workers` of a gunicorn config file (a path, relative to where gunicorn started, or python:module)."""
    import importlib
    import runpy

    try:
        if location.startswith("python:"):
            values = vars(importlib.import_module(location[len("python:"):]))
        else:
            path = location if os.path.isabs(location) else os.path.join(environ.get("PWD") or os.getcwd(), location)
            values = runpy.run_path(path)
        workers = values.get("workers")
        return int(workers) if workers else None
    except Exception:  # gunicorn reads the same file first and stops on its errors
        return None


APP_LOAD_ERROR = 4  # gunicorn stops the whole server (not just the worker) on this exit code


def check_secret_key(secret_key: str | None, workers: int) -> None:
    if workers > 1 and not secret_key:
        print(f"error: refusing to start {workers} workers without REPORTER_SECRET_KEY: each worker would "
                         "sign sessions with its own random key and log users out at random. Set "
                         "REPORTER_SECRET_KEY to a long random value (e.g. python -c 'import secrets; "
                         "print(secrets.token_hex(32))').", file=sys.stderr, flush=True)
        raise SystemExit(APP_LOAD_ERROR)
