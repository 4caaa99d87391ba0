"""WSGI entry point for production: `gunicorn -w 4 -b 127.0.0.1:8080 wsgi:app`. Settings from REPORTER_*.

Several workers need REPORTER_SECRET_KEY (one key for all); without it this refuses to start."""

from reporter import config
from reporter.web import create_app
from reporter.web.workers import check_secret_key, gunicorn_workers

check_secret_key(config.get("secret_key"), gunicorn_workers())
app = create_app()
