"""Flask app factory: `create_app(overrides)` wires settings, the case store, blueprints, errors, security."""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from typing import Any

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from reporter import config
from reporter.errors import AuthError, ReporterError
from reporter.store import CaseStore
from reporter.web.negotiation import fhir_response
from reporter.web.outcome import UnprocessableBundle, error_outcome, status_for

log = logging.getLogger("reporter.web")


def settings_from_env() -> dict[str, Any]:
    """App config from REPORTER_* settings (reporter.config)."""
    return {
        "DATABASE_URL": config.get("database_url"),
        "SECRET_KEY": config.get("secret_key"),
        "MAX_CONTENT_LENGTH": int(config.get("max_upload_bytes") or 20 * 1024 * 1024),
        "E2B_SCHEMA_DIR": config.get("e2b_schema_dir"),
        "BASE_URL": config.get("base_url"),
        "AUTO_MIGRATE": config.get("auto_migrate") not in ("0", "false", "no"),
        "SECURE_COOKIES": config.get("secure_cookies") in ("1", "true", "yes"),
        "EXPORT_DIR": config.get("export_dir"),
        "TRUSTED_PROXIES": config.get("trusted_proxies"),
        "DB_POOL_SIZE": _pool_size(),
        "GZIP_MIN_BYTES": int(config.get("gzip_min_bytes") or 0),
        "GC_FREEZE_AFTER": int(config.get("gc_freeze_after") or 0),
    }


def _pool_size() -> int | None:
    """REPORTER_DB_POOL_SIZE, else one connection per gunicorn thread plus two for the background workers."""
    given = config.get("db_pool_size")
    if given:
        return max(1, int(given))
    from reporter.web.workers import gunicorn_threads

    threads = gunicorn_threads()
    return threads + 2 if threads else None


def create_app(overrides: dict[str, Any] | None = None, *, store: CaseStore | None = None) -> Flask:
    """The WSGI app. `overrides` win over REPORTER_* settings (keys as in settings_from_env)."""
    app = Flask(__name__, static_folder=None)
    app.config.update(settings_from_env())
    app.config.update(overrides or {})
    if not app.config.get("SECRET_KEY"):
        log.warning("REPORTER_SECRET_KEY is not set: using a random key (sessions end when the process does)")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config.update(JSON_SORT_KEYS=False)
    app.extensions["reporter.store"] = store or CaseStore(app.config["DATABASE_URL"],
                                                          migrate=bool(app.config.get("AUTO_MIGRATE", True)),
                                                          pool_size=app.config.get("DB_POOL_SIZE"))

    from reporter.web import session as page_session
    from reporter.web.fhir_api import bp as fhir_bp
    from reporter.web.pages import bp as ui_bp

    page_session.configure(app)
    from reporter.web.proxy import TrustedProxies, parse_networks

    networks = parse_networks(app.config.get("TRUSTED_PROXIES"))
    if networks:
        app.wsgi_app = TrustedProxies(app.wsgi_app, networks)  # type: ignore[method-assign]
    app.register_blueprint(fhir_bp)
    from reporter.web.server_api import start_notifier

    start_notifier(app)
    from reporter.web.smart_auth import bp as smart_bp

    app.register_blueprint(smart_bp)
    app.register_blueprint(ui_bp)
    _register_errors(app)
    from reporter.web import compression

    compression.register(app)  # registered before the security headers: runs after them, on the final body
    from reporter.web import heap

    heap.register(app)
    _register_security(app)
    return app


def _register_errors(app: Flask) -> None:
    """Every error becomes an OperationOutcome with its HTTP status; never a bare 500 page."""

    @app.errorhandler(ReporterError)
    def _reporter_error(exc: ReporterError):
        if _is_page():
            from reporter.web.pages import reporter_error_page

            return reporter_error_page(exc, status_for(exc))
        if isinstance(exc, UnprocessableBundle):
            return fhir_response(exc.report, 422)
        status = status_for(exc)
        response = fhir_response(error_outcome(status, exc.message, exc.location, exc.hint), status)
        if isinstance(exc, AuthError):
            from reporter.web.auth import www_authenticate

            response.headers["WWW-Authenticate"] = www_authenticate(exc)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = f"the request is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        if _is_page():
            from reporter.web.pages import error_page

            hint = None
            if status == 413:  # a person's form: say it in MB, and how to get the entries back
                message = f"the form sent is larger than the {_megabytes(app.config['MAX_CONTENT_LENGTH'])} " \
                          "the service takes (REPORTER_MAX_UPLOAD_BYTES): nothing was saved"
                hint = "go back in the browser to your entries and shorten the longest text"
            response = error_page(status, message, hint)
            if status == 405 and getattr(exc, "valid_methods", None):
                response.headers["Allow"] = ", ".join(exc.valid_methods)
            return response
        response = fhir_response(error_outcome(status, message), status, fmt="json" if status == 406 else None)
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Log where it happened, not what it said: exception messages can carry case data.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("unhandled %s in %s %s\n%s", type(exc).__name__, request.method, request.path, frames)
        if _is_page():
            from reporter.web.pages import error_page

            return error_page(500, "internal error; nothing was changed", "try again; if it persists, tell "
                                                                           "the administrator the time it happened")
        return fhir_response(error_outcome(500, "internal error; the request was not applied"), 500, fmt="json")


def _is_page() -> bool:
    """Requests outside the FHIR API get HTML error pages; the API gets OperationOutcomes."""
    return not (request.path == "/fhir" or request.path.startswith("/fhir/"))


def _register_security(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()
        from reporter.web.queryguard import check_query

        check_query(request.args)

    @app.after_request
    def _headers(response):
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                     "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        h.setdefault("Cache-Control", "no-store")
        if request.is_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # Access log without query strings (search values can be patient data) or bodies.
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed)
        return response


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.3g} MB"
