"""A careful FHIR R4 REST client on `requests.Session`, for pulling from (and pushing to) a hospital's server.

Careful means: every request has a timeout; 429 and 5xx answers are retried with exponential backoff, honouring
`Retry-After` up to a bound; search results are paged through `next` links with a page bound and loop detection,
never leaving the server's origin (the bearer token goes nowhere else); `_include` is used only when the server's
CapabilityStatement lists it; TLS is verified (a private CA bundle can be named); an OperationOutcome becomes one
sentence in the user's terms. The log carries methods, resource types, status codes and timings, never ids,
query values or bodies: those are patient data.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from reporter.errors import ReporterError

log = logging.getLogger("reporter.ehr")

Json = dict[str, Any]
Progress = Callable[[str], None]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FHIR_JSON = "application/fhir+json"


class EHRError(ReporterError):
    """Talking to the FHIR server failed: unreachable, refused, too slow, or answered something unusable."""

    def __init__(self, message: str, *, status: int | None = None, location: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, location=location, hint=hint)
        self.status = status


@dataclass
class ClientSettings:
    """How patient the client is. Defaults suit a hospital server on a LAN; tests shrink them."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4                   # further attempts after the first, for 429/5xx/timeouts
    backoff: float = 0.5               # first wait; doubles per attempt (with a little jitter)
    max_backoff: float = 20.0
    max_retry_after: float = 60.0      # a Retry-After longer than this is not waited for: the pull stops
    page_size: int = 100               # _count
    max_pages: int = 50                # per search
    verify: bool | str = True          # True, or the path of a CA bundle for a private CA
    user_agent: str = "fhir-ae-reporter"


def outcome_text(body: Any) -> str | None:
    """One sentence from an OperationOutcome: its error issues' details or diagnostics, joined."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return None
    parts = []
    issues = body.get("issue")
    issues = [i for i in issues if isinstance(i, dict)] if isinstance(issues, list) else []
    serious = [i for i in issues if i.get("severity") in ("fatal", "error")] or issues
    for issue in serious:
        details = issue.get("details")
        text = (details.get("text") if isinstance(details, dict) else None) or issue.get("diagnostics") \
            or issue.get("code")
        where = issue.get("expression") or issue.get("location") or []
        where = ", ".join(str(w) for w in where) if isinstance(where, list) else str(where)
        if text:
            parts.append(f"{text} (at {where})" if where else str(text))
    return "; ".join(parts) or None


STATUS_WORDS = {
    400: "the server rejected the request as malformed",
    401: "the server did not accept the credentials",
    403: "the credentials do not allow this",
    404: "the server has no such resource",
    405: "the server does not allow this interaction",
    409: "the server reports a conflict with what it holds",
    410: "the resource was deleted on the server",
    412: "the resource changed on the server meanwhile",
    413: "the request is too large for the server",
    415: "the server does not accept FHIR JSON here",
    422: "the server found the content invalid",
    429: "the server is busy (too many requests)",
}


def _status_words(status: int) -> str:
    if status in STATUS_WORDS:
        return STATUS_WORDS[status]
    return "the server failed" if status >= 500 else f"the server answered HTTP {status}"


def _kind(url: str) -> str:
    """The resource type (or operation) of a URL, for logs and messages: never ids or query values."""
    path = urlsplit(url).path.rstrip("/").split("/")
    for segment in reversed(path):
        if segment[:1].isupper() or segment.startswith("$") or segment in ("metadata", "token"):
            return segment
    return "request"


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --------------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------------


class BearerToken:
    """A token the user already has."""

    def __init__(self, token: str) -> None:
        self.token = token.strip()

    def header(self, client: FhirClient, renew: bool = False) -> str:
        if renew:
            raise EHRError("the server did not accept the bearer token", status=401,
                           hint="get a fresh token (it may have expired) or check its scopes")
        return f"Bearer {self.token}"


class SmartBackendAuth:
    """SMART Backend Services: a JWT client assertion signed with our private key (RS384 or ES384), exchanged for
    an access token at the token endpoint named in the server's .well-known/smart-configuration."""

    ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    def __init__(self, client_id: str, private_key_pem: bytes, *, scope: str = "system/*.read",
                 kid: str | None = None, token_url: str | None = None, alg: str | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise EHRError(f"the private key cannot be read ({exc})",
                           hint="give an unencrypted PEM private key (RSA or EC P-384)") from None
        if isinstance(key, rsa.RSAPrivateKey):
            natural = "RS384"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            natural = "ES384"
        else:
            raise EHRError("the private key is neither RSA nor EC", hint="SMART backend services use RS384 or ES384")
        if alg and alg != natural:
            raise EHRError(f"a {natural[:2]} key cannot sign {alg}", hint=f"use --alg {natural}")
        self.key, self.alg = key, natural
        self.client_id, self.scope, self.kid, self.token_url = client_id, scope, kid, token_url
        self._token: str | None = None
        self._expires = 0.0

    def header(self, client: FhirClient, renew: bool = False) -> str:
        if renew and self._token is None:
            raise EHRError("the server did not accept the access token it issued", status=401)
        if renew or self._token is None or time.time() > self._expires - 30:
            self._fetch(client)
        return f"Bearer {self._token}"

    def assertion(self, token_url: str) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": token_url, "iat": now, "exp": now + 300,
                  "jti": str(uuid.uuid4())}
        headers = {"typ": "JWT", **({"kid": self.kid} if self.kid else {})}
        return jwt.encode(claims, self.key, algorithm=self.alg, headers=headers)

    def _fetch(self, client: FhirClient) -> None:
        token_url = self.token_url or client.smart_configuration().get("token_endpoint")
        if not token_url:
            raise EHRError("the server's SMART configuration names no token endpoint",
                           hint="give the token URL explicitly (--token-url)")
        self.token_url = token_url
        form = {"grant_type": "client_credentials", "scope": self.scope,
                "client_assertion_type": self.ASSERTION_TYPE, "client_assertion": self.assertion(token_url)}
        response = client.raw("POST", token_url, data=form, headers={"Accept": "application/json"}, auth=False)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("access_token"):
            reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
            raise EHRError(f"the token endpoint refused the client credentials: {reason}",
                           status=response.status_code, location="token endpoint",
                           hint="check the client id, that the server holds our public key, and the scope")
        self._token = body["access_token"]
        self._expires = time.time() + float(body.get("expires_in") or 300)


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------


@dataclass
class SearchResult:
    matches: list[Json] = field(default_factory=list)
    included: list[Json] = field(default_factory=list)
    pages: int = 0


class FhirClient:
    def __init__(self, base_url: str, auth: BearerToken | SmartBackendAuth | None = None,
                 settings: ClientSettings | None = None, progress: Progress | None = None,
                 session: requests.Session | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EHRError(f"{base_url!r} is not a FHIR server base URL", location="--server",
                           hint="give the base URL, e.g. https://ehr.example.org/fhir")
        self.base = base_url.rstrip("/")
        self.origin = (parts.scheme, parts.netloc)
        self.auth = auth
        self.settings = settings or ClientSettings()
        self.progress = progress or (lambda _message: None)
        self.session = session or requests.Session()
        self.session.verify = self.settings.verify
        self.session.headers.update({"Accept": FHIR_JSON, "Accept-Encoding": "gzip, deflate",
                                     "User-Agent": self.settings.user_agent})
        # urllib3 logs every request line (ids and search values: patient data) at DEBUG: keep it quiet.
        logging.getLogger("urllib3.connectionpool").setLevel(max(logging.INFO,
                                                                  logging.getLogger("urllib3").getEffectiveLevel()))
        self._capabilities: Json | None = None
        self._smart: Json | None = None
        self.requests_made = 0
        self.last_response: requests.Response | None = None

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base}/{path.lstrip('/')}"

    def raw(self, method: str, url: str, *, auth: bool = True, **kwargs: Any) -> requests.Response:
        """One HTTP exchange with retries on 429/5xx/timeouts; returns the last response (any status)."""
        s = self.settings
        kind = _kind(url)
        idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        renewed = False
        attempt = 0
        while True:
            headers = dict(kwargs.pop("headers", None) or {})
            if auth and self.auth is not None:
                headers["Authorization"] = self.auth.header(self)
            started = time.monotonic()
            self.requests_made += 1
            try:
                # verify passed per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify
                response = self.session.request(method, url, headers=headers, verify=s.verify,
                                                timeout=(s.connect_timeout, s.read_timeout), **kwargs)
                # Read the body here so that a body cut short surfaces as a retryable transport error.
                _ = response.content
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                what = _transport_words(exc, s)
                log.info("%s %s failed after %.2fs: %s", method, kind, time.monotonic() - started,
                         type(exc).__name__)
                kwargs["headers"] = headers
                retryable = not isinstance(exc, requests.exceptions.SSLError) and (
                    idempotent or isinstance(exc, requests.exceptions.ConnectTimeout))
                if retryable and attempt < s.retries:
                    attempt += 1
                    self._sleep(self._backoff(attempt), f"{kind}: {what}; retrying ({attempt}/{s.retries})")
                    continue
                raise EHRError(f"{what} ({method} {kind}, after {attempt + 1} attempt(s))", location=self.base,
                               hint=_transport_hint(exc)) from None
            except requests.RequestException as exc:
                raise EHRError(f"the request could not be made: {type(exc).__name__}", location=self.base) from None
            log.info("%s %s -> %s in %.2fs", method, kind, response.status_code, time.monotonic() - started)
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if response.status_code == 401 and auth and self.auth is not None and not renewed:
                renewed = True
                self.auth.header(self, renew=True)
                continue
            if response.status_code in RETRY_STATUSES and (idempotent or response.status_code in (429, 503)):
                if attempt >= s.retries:
                    return response
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > s.max_retry_after:
                    raise EHRError(f"{_status_words(response.status_code)} and asked to wait {wait:.0f}s, longer "
                                   f"than the {s.max_retry_after:.0f}s this client waits ({method} {kind})",
                                   status=response.status_code, location=self.base,
                                   hint="try again later, or raise the retry-after limit")
                attempt += 1
                self._sleep(wait if wait is not None else self._backoff(attempt),
                            f"{kind}: HTTP {response.status_code}; retrying ({attempt}/{s.retries})")
                continue
            return response

    def _backoff(self, attempt: int) -> float:
        s = self.settings
        return min(s.max_backoff, s.backoff * 2 ** (attempt - 1)) * (1 + random.random() * 0.1)

    def _sleep(self, seconds: float, why: str) -> None:
        self.progress(f"{why} in {seconds:.1f}s")
        time.sleep(seconds)

    def request(self, method: str, path: str, *, body: Json | None = None,
                params: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None) -> Json:
        """A FHIR interaction: JSON in, JSON out; a non-2xx answer raises EHRError in the user's terms."""
        url = self.url(path)
        kwargs: dict[str, Any] = {"params": params, "headers": dict(headers or {})}
        if body is not None:
            kwargs["data"] = json.dumps(body, ensure_ascii=False).encode("utf-8")
            kwargs["headers"]["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
        response = self.raw(method, url, **kwargs)
        parsed = self._json(response, method, url)
        if response.status_code >= 400:
            raise self.error(response, parsed, method, url)
        self.last_response = response
        return parsed

    def _json(self, response: requests.Response, method: str, url: str) -> Json:
        if not response.content.strip():
            return {}
        try:
            parsed = response.json()
        except ValueError:
            if response.status_code >= 400:
                return {}
            raise EHRError(f"the server's answer to {method} {_kind(url)} is not JSON (cut short or not FHIR)",
                           status=response.status_code, location=self.base,
                           hint="check the base URL; if it is right, the server or a proxy broke the answer") from None
        if not isinstance(parsed, dict):
            raise EHRError(f"the server's answer to {method} {_kind(url)} is not a FHIR resource",
                           location=self.base)
        return parsed

    def error(self, response: requests.Response, body: Json, method: str, url: str) -> EHRError:
        status = response.status_code
        detail = outcome_text(body)
        message = f"{_status_words(status)} ({method} {_kind(url)}, HTTP {status})"
        if detail:
            message += f": {detail}"
        hint = None
        if status == 401:
            hint = "check the token or client credentials"
        elif status == 403:
            hint = "ask the EHR team for read access (scopes) to this resource type"
        elif status in RETRY_STATUSES:
            hint = f"gave up after {self.settings.retries + 1} attempts; try again later"
        return EHRError(message, status=status, location=self.base, hint=hint)

    # -- discovery -----------------------------------------------------------------------------------

    def capabilities(self) -> Json:
        """The server's CapabilityStatement (read once)."""
        if self._capabilities is None:
            body = self.request("GET", "metadata")
            if body.get("resourceType") != "CapabilityStatement":
                raise EHRError("the server's /metadata is not a CapabilityStatement", location=self.base,
                               hint="check that the base URL points at a FHIR server")
            version = str(body.get("fhirVersion") or "")
            if version and not version.startswith("4.0"):
                raise EHRError(f"the server speaks FHIR {version}, this client FHIR R4 (4.0.x)", location=self.base)
            self._capabilities = body
        return self._capabilities

    def smart_configuration(self) -> Json:
        if self._smart is None:
            response = self.raw("GET", self.url(".well-known/smart-configuration"), auth=False,
                                headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise EHRError("the server publishes no SMART configuration (.well-known/smart-configuration)",
                               status=response.status_code, location=self.base,
                               hint="give the token endpoint explicitly, or use a bearer token")
            self._smart = self._json(response, "GET", response.url)
        return self._smart

    def _resource_capability(self, resource_type: str) -> Json:
        for rest in self.capabilities().get("rest") or []:
            if rest.get("mode") == "server":
                for resource in rest.get("resource") or []:
                    if resource.get("type") == resource_type:
                        return resource
        return {}

    def supports_include(self, resource_type: str, include: str) -> bool:
        listed = self._resource_capability(resource_type).get("searchInclude") or []
        return include in listed or "*" in listed

    def supports_search(self, resource_type: str, param: str) -> bool:
        res = self._resource_capability(resource_type)
        return any(p.get("name") == param for p in res.get("searchParam") or [])

    def supports_type(self, resource_type: str, interaction: str = "search-type") -> bool:
        res = self._resource_capability(resource_type)
        return any(i.get("code") == interaction for i in res.get("interaction") or [])

    def supports_operation(self, name: str) -> bool:
        """A system-level operation ($process-message) listed in rest.operation or messaging endpoints."""
        name = name.lstrip("$")
        caps = self.capabilities()
        for rest in caps.get("rest") or []:
            if any((op.get("name") or "").lstrip("$") == name for op in rest.get("operation") or []):
                return True
        if name == "process-message":
            return any(ep.get("address", "").rstrip("/").endswith("$process-message")
                       for m in caps.get("messaging") or [] for ep in m.get("endpoint") or [])
        return False

    # -- interactions ----------------------------------------------------------------------------------

    def read(self, resource_type: str, rid: str) -> Json:
        return self.request("GET", f"{resource_type}/{rid}")

    def search(self, resource_type: str, params: list[tuple[str, str]]) -> SearchResult:
        """Every page of a search (bounded), split into matches and _include'd resources."""
        result = SearchResult()
        for page in self.pages(resource_type, params):
            result.pages += 1
            for entry in page.get("entry") or []:
                resource = entry.get("resource")
                if not isinstance(resource, dict):
                    continue
                mode = (entry.get("search") or {}).get("mode", "match")
                (result.included if mode == "include" else result.matches).append(resource)
            self.progress(f"{resource_type}: {len(result.matches)} found ({result.pages} page(s))")
        return result

    def pages(self, resource_type: str, params: list[tuple[str, str]]) -> Iterator[Json]:
        s = self.settings
        query = [*params, ("_count", str(s.page_size))]
        url: str | None = self.url(resource_type)
        seen: set[str] = set()
        first = True
        while url:
            if len(seen) >= s.max_pages:
                raise EHRError(f"the {resource_type} search has more than {s.max_pages} pages; stopped there "
                               "rather than pull an incomplete case", location=self.base,
                               hint="narrow the time window, or raise the page limit")
            bundle = self.request("GET", url, params=query if first else None)
            seen.add(url if not first else f"{url}?{query}")
            first = False
            if bundle.get("resourceType") != "Bundle":
                raise EHRError(f"the {resource_type} search did not answer with a Bundle", location=self.base)
            yield bundle
            nxt = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"),
                       None)
            if not nxt:
                return
            nxt = urljoin(self.base + "/", nxt)
            parts = urlsplit(nxt)
            if (parts.scheme, parts.netloc) != self.origin:
                raise EHRError(f"the {resource_type} search's next page is on another server; not followed "
                               "(the credentials stay with this server)", location=self.base)
            if nxt in seen:
                raise EHRError(f"the {resource_type} search's pages loop (a next link points back to a page "
                               "already read)", location=self.base, hint="a server fault: tell the EHR team")
            url = nxt

    def create(self, resource_type: str, resource: Json) -> tuple[Json, str | None]:
        """POST a resource; returns the stored resource (or the server's answer) and its Location."""
        body = self.request("POST", resource_type, body=resource, headers={"Prefer": "return=representation"})
        headers = self.last_response.headers if self.last_response is not None else {}
        return body, headers.get("Location") or headers.get("Content-Location")

    def operation(self, name: str, body: Json) -> Json:
        return self.request("POST", f"${name.lstrip('$')}", body=body)


def _transport_words(exc: Exception, s: ClientSettings) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "the server's TLS certificate could not be verified"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"the server did not accept a connection within {s.connect_timeout:g}s"
    if isinstance(exc, requests.Timeout):
        return f"the server did not answer within {s.read_timeout:g}s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the server's answer was cut short"
    return "the server could not be reached"


def _transport_hint(exc: Exception) -> str | None:
    if isinstance(exc, requests.exceptions.SSLError):
        return "for a private CA, set REPORTER_EHR_CA_BUNDLE to its certificate file (never turn checks off)"
    if isinstance(exc, requests.Timeout):
        return "try again later, or raise REPORTER_EHR_TIMEOUT"
    return "check the URL and the network"


def settings_from_config() -> ClientSettings:
    """ClientSettings from the REPORTER_EHR_* settings (see `reporter config`)."""
    from reporter import config

    def number(name: str) -> float:
        value = config.get(name) or ""
        try:
            return float(value)
        except ValueError:
            raise EHRError(f"REPORTER_{name.upper()}={value!r} is not a number") from None

    ca = config.get("ehr_ca_bundle")
    return ClientSettings(read_timeout=number("ehr_timeout"), retries=int(number("ehr_retries")),
                          max_retry_after=number("ehr_max_retry_after"), max_pages=int(number("ehr_max_pages")),
                          verify=ca if ca else True)
