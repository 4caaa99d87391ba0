"""The case form over real HTTP: the look-up endpoint (JSON for a logged-in user, 401 JSON without a session,
never the login page: its caller is a script; 404 for an unknown kind); the form page alone may run its script;
the edit form marks at its field what a receiver still needs; parts that apply only when other answers say so
carry their condition and are never hidden by the server."""

from __future__ import annotations

import json
import re

import requests
from lxml import html

from reporter.fhir.build import build_bundle
from reporter.store.tokens import set_password
from reporter.web import caseform
from tests.render_support import issue_case_data

PASSWORD = "correct horse battery"


def _session(served) -> tuple[requests.Session, str]:
    set_password(served.store, "clinician", PASSWORD)
    site = served.base.removesuffix("/fhir")
    s = requests.Session()
    page = s.get(f"{site}/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = s.post(f"{site}/login", data={"csrf_token": token, "username": "clinician", "password": PASSWORD},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303
    return s, site


def test_lookups_answer_json_to_a_session_only(served) -> None:
    s, site = _session(served)
    r = requests.get(f"{site}/lookup/loinc", params={"q": "bilirubin"}, allow_redirects=False, timeout=30)
    assert r.status_code == 401 and r.json() == {"error": "not logged in"}
    r = s.get(f"{site}/lookup/loinc", params={"q": "bilirubin"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert "1975-2" in [i["code"] for i in r.json()["items"]]
    assert s.get(f"{site}/lookup/ucum", params={"q": "IU/L"}, timeout=30).json()["items"][0]["code"] == "[IU]/L"
    assert "no drug dictionary" in s.get(f"{site}/lookup/drug", params={"q": "amox"}, timeout=30).json()["note"]
    assert s.get(f"{site}/lookup/loinc", params={"q": "a"}, timeout=30).json() == {"items": []}  # too short
    r = s.get(f"{site}/lookup/snomed", params={"q": "liver"}, timeout=30)
    assert r.status_code == 404 and "meddra" in r.json()["kinds"]
    long = s.get(f"{site}/lookup/meddra", params={"q": "x" * 5000}, timeout=30)
    assert long.status_code == 400 and "Traceback" not in long.text  # the app's query guard refuses it
    assert s.get(f"{site}/lookup/meddra", params={"q": "x" * 300}, timeout=30).status_code == 200


def test_only_the_form_page_may_run_a_script(served) -> None:
    s, site = _session(served)
    form = s.get(f"{site}/cases/new", timeout=30)
    assert "script-src 'self'" in form.headers["Content-Security-Policy"]
    assert '<script src="/static/form.js"' in form.text and "<script>" not in form.text  # no inline script
    cases = s.get(f"{site}/cases", timeout=30)
    assert "script-src" not in cases.headers["Content-Security-Policy"]


def test_the_edit_form_marks_what_a_receiver_still_needs(served) -> None:
    from reporter.casefile.model import CaseFile

    case = CaseFile.model_validate(issue_case_data())
    case.sender.organization = "Example Pharma " * 10  # longer than E2B's 100 characters (C.3.2)
    stored = served.store.create(build_bundle(case), author="test", reason="r",
                                 casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    s, site = _session(served)
    page = s.get(f"{site}/cases/{stored.case_id}/edit", timeout=60).text
    mark = re.search(r'<ul class="warnings" id="f-sender_organization-warn"><li>([^<]*)</li>', page)
    assert mark and mark.group(1).startswith("needed for ICH") and "at most 100" in mark.group(1)
    assert 'class="count-problems">1 to check' in page  # the outline points at the section


def test_the_new_case_page_marks_the_parts_and_never_hides_them_itself(served) -> None:
    """The page says when each part applies (a data attribute the script reads); the server hides nothing, so
    without scripts every part shows."""
    s, site = _session(served)
    page = html.fromstring(s.get(f"{site}/cases/new", timeout=30).text)
    form = page.xpath("//form[@class='caseform']")[0]
    wrappers = form.xpath(".//*[@data-show-when]")
    assert wrappers and all(w.tag == "div" and w.get("class") == "show-when" for w in wrappers)
    assert all(w.get("hidden") is None for w in wrappers)  # only the script hides
    by_part = {w.xpath(".//*[@id]")[0].get("id"): json.loads(w.get("data-show-when")) for w in wrappers}
    assert by_part["f-patient_death"] == caseform.show_when("patient.death")
    assert by_part["f-study-h"] == [{"field": "report.type", "values": ["study"]}]  # its heading goes with it
    assert form.xpath(".//*[@id='f-study-h']/following-sibling::details[@id='f-study']")
    assert {"f-patient_parent", "f-patient_last_menstrual_period", "f-drugs_0__gestation_at_exposure",
            "f-drugs_0__dosages_0__parent_route"} <= set(by_part)
    death = form.xpath(".//*[@id='f-patient_death']")[0]
    assert death.xpath(".//*[@name='patient.death.date']")  # the fields are in the page, in the part
    buttons = form.xpath(".//button[@data-reveal]")  # shows a part by hand: the script's control, hidden without it
    assert {b.text for b in buttons} == {caseform.reveal_label(p) for p in ("patient.death", "patient.parent")}
    assert all(b.get("type") == "button" and b.getparent().get("hidden") is not None for b in buttons)
    assert {json.dumps(json.loads(b.get("data-reveal"))) for b in buttons} <= {
        json.dumps(json.loads(w.get("data-show-when"))) for w in wrappers}
    templates = page.xpath("//div[@id='row-templates']//*[@data-show-when]")  # an added drug row has them too
    assert templates, "the row templates carry the conditions"


def test_the_case_list_gives_ages_as_the_report_does(served) -> None:
    """'64 years', '60s', not the UCUM codes '64 a', '6 {decade}'."""
    from reporter.casefile.model import CaseFile

    data = issue_case_data()
    data["case_id"] = "XX-AGE-DECADES-1"
    data["patient"]["age_at_onset"] = {"value": 6, "unit": "{decade}"}
    case = CaseFile.model_validate(data)
    served.store.create(build_bundle(case), author="test", reason="r")
    s, site = _session(served)
    page = html.fromstring(s.get(f"{site}/cases", params={"q": "XX-AGE-DECADES-1"}, timeout=30).text)
    rows = [r.text_content() for r in page.xpath("//table[contains(@class, 'cases')]//tbody/tr")]
    row = next(r for r in rows if "XX-AGE-DECADES-1" in r)
    assert "60s" in row and "{decade}" not in row


def test_the_case_list_names_a_patient_known_by_age_alone_without_a_stray_comma(served) -> None:
    """A listing-imported case (no initials, no sex) read ', 50 years' in the Patient column."""
    from reporter.casefile.model import CaseFile

    data = issue_case_data()
    data["case_id"] = "XX-AGE-ONLY-1"
    data["patient"] = {"initials": {"absent": "unknown"}, "age_at_onset": {"value": 50, "unit": "a"}}
    served.store.create(build_bundle(CaseFile.model_validate(data)), author="test", reason="r")
    s, site = _session(served)
    page = html.fromstring(s.get(f"{site}/cases", params={"q": "XX-AGE-ONLY-1"}, timeout=30).text)
    row = page.xpath("//table[contains(@class, 'cases')]//tbody/tr[contains(., 'XX-AGE-ONLY-1')]")[0]
    assert row.xpath("td")[0].text_content().strip() == "50\u00a0years"


def test_a_save_on_a_version_another_save_overtook_keeps_the_entries_and_marks_what_that_save_changed(
        served) -> None:
    """Two tabs edit version 1; the second save was refused with 'Bundle/<uuid> is at version 2, not 1' and the
    form silently rebased on version 2, so pressing Save again undid the other save's change unseen."""
    from reporter.casefile.model import CaseFile

    case = CaseFile.model_validate(issue_case_data())
    case.patient.weight_kg = 70
    dump = lambda c: c.model_dump(mode="json", by_alias=True, exclude_none=True)  # noqa: E731
    first = served.store.create(build_bundle(case), author="test", reason="r", casefile=dump(case))
    s, site = _session(served)
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(f"{site}/cases/{first.case_id}/edit",
                                                                   timeout=60).text).group(1)
    other = case.model_copy(deep=True)
    other.patient.weight_kg = 72  # the other tab's save
    served.store.update(first.case_id, build_bundle(other), author="user:colleague", casefile=dump(other),
                        if_match=1, reason="weight corrected")
    values = caseform.flatten(case)
    values.setlist("narrative.text", [case.narrative.text + " Recovered."])
    post = [*values.items(multi=True), ("csrf_token", token), ("_reason", "narrative"), ("_kind", "follow-up")]
    r = s.post(f"{site}/cases/{first.case_id}/edit", data=[*post, ("_base_version", "1")], timeout=60)
    assert r.status_code == 409
    page = html.fromstring(r.text)
    message = page.get_element_by_id("problems-h").text_content()
    assert "version 2 of this case was saved (user:colleague" in message and "Bundle/" not in message
    mark = page.get_element_by_id("f-patient_weight_kg-warn").text_content()
    assert "changed this: 70 → 72" in mark
    assert page.xpath('string(//input[@name="_base_version"]/@value)') == "2"
    assert page.xpath('string(//textarea[@name="narrative.text"])').endswith("Recovered.")  # the entries stay
    r = s.post(f"{site}/cases/{first.case_id}/edit", data=[*post, ("_base_version", "2")], allow_redirects=False,
               timeout=60)
    assert r.status_code == 303 and served.store.read(first.case_id).version == 3
