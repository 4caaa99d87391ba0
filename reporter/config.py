"""Settings, declared once: name, default, help. Each can be overridden by REPORTER_<NAME>."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str

    @property
    def env(self) -> str:
        return f"REPORTER_{self.name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("e2b_schema_dir", None,
            "Folder holding the ICH E2B(R3) XSD set (with multicacheschemas/ and coreschemas/). "
            "Without it, XSD validation is skipped and the report says so."),
    Setting("meddra_dir", None,
            "Folder of a licensed MedDRA ASCII release (llt.asc, pt.asc, mdhier.asc...). Without it, MedDRA "
            "codes are checked for form only and tabulations group by the code as reported, not by PT/SOC."),
    Setting("meddra_version", None,
            "The MedDRA version to expect in cases (e.g. 27.1); without it any single version is accepted."),
    Setting("loinc_file", None,
            "The LOINC table of a LOINC release (Loinc.csv, read by its header: LOINC_NUM and LONG_COMMON_NAME, "
            "SHORTNAME or COMPONENT) for the case form's lab-test look-up; without it the look-up offers the "
            "tests the project's own tables name."),
    Setting("drug_file", None,
            "A drug dictionary for the case form's product look-up, which fills RxNorm and ATC: a CSV with the "
            "header name, rxnorm, atc (optionally substance), or RxNorm's RXNCONSO.RRF; without it products are "
            "free text."),
    Setting("database_url", "sqlite:///reporter.sqlite3",
            "SQLAlchemy URL of the case store (SQLite file by default; postgresql+psycopg://... for PostgreSQL)."),
    Setting("secret_key", None, "Flask secret key for sessions and CSRF (required when serving)."),
    Setting("sender_id", "AE-REPORTER",
            "Batch/message sender identifier (N.1.3 / N.2.r.2) used when the case does not name one."),
    Setting("max_upload_bytes", str(20 * 1024 * 1024),
            "Largest accepted request or XML file, in bytes (E2B gateways take about 20 MB)."),
    Setting("today", None,
            "Override today's date (YYYY-MM-DD) for the no-future-date checks; meant for tests."),
    Setting("shared_dir", None,
            "The shared reference material (ICH XSDs, E2B examples, code lists) the tests read; default "
            "../shared next to the project. Tests that need it skip without it (and fail under CI=true)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str | None:
    """The setting's value: the REPORTER_* environment variable if set and non-empty, else the default."""
    setting = _BY_NAME[name]
    value = os.environ.get(setting.env)
    return value if value not in (None, "") else setting.default


def get_path(name: str) -> Path | None:
    value = get(name)
    return Path(value).expanduser() if value else None


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting: used by the README test and `reporter config`."""
    return [(s.env, s.default or "", s.help) for s in SETTINGS]

# --- service settings (appended) --------------------------------------------------------------------------
SETTINGS = (*SETTINGS,
    Setting("base_url", None,
            "Public base URL of the service (e.g. https://safety.example.org) for links and Location headers; "
            "by default taken from each request."),
    Setting("auto_migrate", "1", "Apply database migrations when the service starts (1) or not (0)."),
    Setting("secure_cookies", "0",
            "Mark the pages' session cookie Secure (1) so browsers send it over HTTPS only; set it when the "
            "service is behind HTTPS."),
)
# --- bulk export (issue 13, appended) ---------------------------------------------------------------------
SETTINGS = (*SETTINGS,
    Setting("export_dir", None,
            "Folder for Bulk Data export files ($export); by default reporter-exports in the system temp folder. "
            "Workers answering status and download requests must share it."),
)
_BY_NAME = {s.name: s for s in SETTINGS}

# --- EHR pull and push (issue 14) -------------------------------------------------------------------------
SETTINGS = (*SETTINGS,
    Setting("ehr_ca_bundle", None,
            "CA certificate bundle (PEM file) that signs the EHR's FHIR server certificate, for a private CA; "
            "TLS is always verified."),
    Setting("ehr_timeout", "60", "Seconds to wait for each answer of the EHR's FHIR server."),
    Setting("ehr_retries", "4", "Further attempts after a 429, 5xx or time-out from the FHIR server."),
    Setting("ehr_max_retry_after", "60",
            "Longest Retry-After (seconds) the client waits for; a longer one stops the pull with a message."),
    Setting("ehr_max_pages", "50", "Most pages read per search (a search with more stops the pull)."),
    Setting("ehr_servers", None,
            "FHIR base URLs (space-separated) the page 'Start a case from the EHR' may pull from; the page offers "
            "only these (it never fetches a URL typed by a user)."),
    Setting("ehr_patient_identity", "initials",
            "What a pulled draft keeps of the patient's identity: initials (default), masked (nothing, "
            "recorded as masked) or initials+record (initials and the hospital record number)."),
)
_BY_NAME = {s.name: s for s in SETTINGS}

# --- reliability and security settings (issue 17) ---------------------------------------------------------
SETTINGS = (*SETTINGS,
    Setting("trusted_proxies", None,
            "Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed (e.g. 127.0.0.1); the audit trail then records the client's "
            "address, and HTTPS seen by the proxy turns on HSTS. Unset: the peer address is the client."),
    Setting("session_idle_minutes", "30", "A page session ends after this many minutes without a request."),
    Setting("session_hours", "12", "A page session ends this many hours after login, however active."),
    Setting("login_max_failures", "5",
            "Failed logins for one account name within the lockout period before it is locked for that period."),
    Setting("login_max_failures_per_address", "20",
            "Failed logins from one client address within the lockout period before the address is locked."),
    Setting("login_lockout_minutes", "15", "Length of the failure window and of a login lockout."),
    Setting("token_days", "90", "Days an API token is valid unless `reporter token create --days` says otherwise."),
)
_BY_NAME = {s.name: s for s in SETTINGS}

# --- Subscriptions and SMART backend services (issue 13, appended) -----------------------------------------
SETTINGS = (*SETTINGS,
    Setting("subscription_endpoints", None,
            "Space-separated URL prefixes (e.g. https://engine.example.org/hooks/) a Subscription's rest-hook "
            "endpoint must start with; unset: no Subscription is accepted."),
    Setting("subscription_attempts", "5",
            "Deliveries tried per notification before the Subscription's status becomes error."),
    Setting("subscription_retry_seconds", "2", "Delay before the first retry of a failed notification "
            "(doubled for each further retry, at most 5 minutes)."),
    Setting("subscription_timeout", "10", "Seconds to wait for a Subscription endpoint's answer."),
    Setting("smart_token_seconds", "300",
            "Lifetime in seconds of an access token issued to a SMART backend-services client (at most 3600)."),
)
_BY_NAME = {s.name: s for s in SETTINGS}

# --- API speed (issue 16, appended) ----------------------------------------------------------------------
SETTINGS = (*SETTINGS,
    Setting("db_pool_size", None,
            "Database connections each service process keeps open (PostgreSQL; as many again may open under "
            "load); by default gunicorn's --threads plus 2 (background workers), 10 outside gunicorn."),
    Setting("gzip_min_bytes", "1024",
            "API responses at least this large are gzip-compressed for clients that send Accept-Encoding: gzip; "
            "0 turns compression off."),
    Setting("gc_freeze_after", "50",
            "After this many requests a service process collects its heap once and freezes what is left (the "
            "tables loaded on first use), so later full collections skip it; 0: never."),
)
_BY_NAME = {s.name: s for s in SETTINGS}
