"""The page "Start a case from the EHR": pull a draft from a configured FHIR server into the case form.

Thin: it reads the form, calls reporter.ehr.pull and shows the draft in the case form. Nothing is stored by the
pull; the case is stored when the person who reviewed it saves the form (that save is the confirmation). The page
pulls only from servers named in REPORTER_EHR_SERVERS, never from a URL typed in, and the token is used for
this one pull and kept nowhere.
"""

from __future__ import annotations

import datetime as dt

from flask import Response, render_template
from werkzeug.datastructures import MultiDict

from reporter import config
from reporter.errors import ReporterError


def servers() -> list[str]:
    return [s.rstrip("/") for s in (config.get("ehr_servers") or "").split() if s]


def pull_form(values: dict, message: str | None = None, hint: str | None = None, status: int = 200) -> Response:
    return Response(render_template("ehr.html", servers=servers(), values=values, message=message, hint=hint),
                    status)


def read_request(form: MultiDict):
    """(PullRequest, server, token) from the page's form; raises ReporterError with the field's name."""
    from reporter.ehr.pull import PullRequest
    from reporter.errors import InputError

    server = form.get("server", "")
    if server not in servers():
        raise InputError("choose one of the configured EHR servers", location="server")
    patient = form.get("patient", "").strip()
    identifier = form.get("identifier", "").strip()
    if bool(patient) == bool(identifier):
        raise InputError("give the patient's id on the server or an identifier (one of them)", location="patient")
    if identifier and "|" not in identifier:
        raise InputError("write the identifier as SYSTEM|VALUE", location="identifier")
    suspects = [s.strip() for s in form.get("suspects", "").split(",") if s.strip()]
    if not suspects:
        raise InputError("name at least one suspect drug", location="suspects")
    try:
        reaction_date = dt.date.fromisoformat(form.get("reaction_date", ""))
    except ValueError:
        raise InputError("give the reaction date as YYYY-MM-DD", location="reaction_date") from None
    token = form.get("token", "").strip()
    if not token:
        raise InputError("give a bearer token for the EHR server", location="token")
    ident = tuple(identifier.split("|", 1)) if identifier else None
    req = PullRequest(reaction_date=reaction_date, suspects=suspects, patient_id=patient or None,
                      identifier=ident, reaction=form.get("reaction", "").strip() or None,
                      identity=config.get("ehr_patient_identity") or "initials")
    return req, server, token


def run_pull(form: MultiDict):
    """The draft, or a page saying what went wrong (nothing stored either way)."""
    from reporter.ehr.client import BearerToken, EHRError, FhirClient, settings_from_config
    from reporter.ehr.pull import pull

    values = {k: v for k, v in form.items() if k != "token"}
    try:
        req, server, token = read_request(form)
        with FhirClient(server, BearerToken(token), settings_from_config()) as client:
            return pull(client, req), None
    except ReporterError as exc:
        status = 502 if isinstance(exc, EHRError) else 422
        where = f"{exc.location}: " if exc.location and exc.location not in servers() else ""
        return None, pull_form(values, f"Nothing pulled: {where}{exc.message}", exc.hint, status)


def draft_note(draft) -> str:
    lines = [f"Draft pulled from {draft.server} ({draft.patient}) on {draft.pulled_at}: {len(draft.sources)} "
             "fact(s), each with its source resource. Nothing is stored until you review the case and save it."]
    lines += [f"Hint: {h}" for h in draft.hints]
    lines += [f"Still needed: {n['path']}: {n['message']}" + (f" ({n['hint']})" if n.get("hint") else "")
              for n in draft.still_needed]
    return "\n".join(lines)
