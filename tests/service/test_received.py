"""A received E2B file is kept verbatim as provenance of the version read from it, with its import report;
an imported case edited in the page form re-exports with exactly the edited fact changed.

Runs on SQLite and PostgreSQL, over real HTTP (the API and the pages), with `reporter import --store`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from lxml import html as lxml_html

from reporter.cli import main
from reporter.e2b import coverage, diff, importer, xmlsafe
from reporter.fhir.received import is_received_message
from reporter.store.approvals import approve
from reporter.validation import validate_bundle
from tests.conftest import shared_path
from tests.service.test_pages_http import _is_page, _login, _site


@pytest.fixture
def scenario(e2b_schema_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    return shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"


def _import(path: Path, db_url: str) -> str:
    out = CliRunner().invoke(main, ["import", str(path), "--store"], env={"REPORTER_DATABASE_URL": db_url})
    assert out.exit_code == 0, out.output
    found = re.findall(r"stored as version \d+ \(\w[\w-]*\) of Bundle/([\w.-]+)", out.output)
    assert len(found) == 1, out.output
    return found[0]


def _resources(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _form_controls(page: str) -> list[tuple[str, str]]:
    """What a browser would submit from the case form as it is shown (no change made)."""
    form = next(f for f in lxml_html.fromstring(page).forms if f.get("method", "").lower() == "post"
                and f.xpath(".//*[@name='_action' or @name='_reason']"))
    pairs = []
    for el in form.inputs:
        name = el.get("name")
        if not name or el.tag == "button" or el.get("type") in ("submit", "button", "reset", "file", "image"):
            continue
        if el.get("type") in ("checkbox", "radio"):
            if el.checked:
                pairs.append((name, el.get("value", "on")))
        elif el.tag == "select":
            chosen = [o.get("value", o.text_content()) for o in el.xpath(".//option[@selected]")]
            options = el.xpath(".//option")
            pairs += [(name, v) for v in (chosen or [options[0].get("value", "")] if options else [])]
        else:
            pairs.append((name, el.value or ""))
    return pairs


def test_received_file_is_kept_verbatim_with_its_import_report(served, db_url: str, scenario: Path) -> None:
    content = scenario.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    case_id = _import(scenario, db_url)
    v = served.store.read(case_id)
    docs = [d for d in _resources(v.bundle, "DocumentReference") if is_received_message(d)]
    assert len(docs) == 1
    attachment = docs[0]["content"][0]["attachment"]
    assert attachment["url"] == f"Binary/{digest}" and attachment["size"] == len(content)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(content).digest()).decode()
    (provenance,) = _resources(v.bundle, "Provenance")
    doc_url = next(e["fullUrl"] for e in v.bundle["entry"] if e["resource"] is docs[0])
    comp_url = v.bundle["entry"][0]["fullUrl"]
    assert provenance["target"] == [{"reference": comp_url}]
    assert provenance["entity"] == [{"role": "source", "what": {"reference": doc_url}}]
    assert not validate_bundle(v.bundle).errors, [i.message for i in validate_bundle(v.bundle).errors]

    report = served.store.import_report(case_id, v.version)
    assert report["message_id"] == digest and report["filename"] == scenario.name
    assert report["facts_total"] > 100 and 0 < report["facts_mapped"] <= report["facts_total"]
    assert served.store.received_message(digest).content == content

    api = served.session(served.read_token)
    raw = api.get(f"{served.base}/Binary/{digest}", headers={"Accept": "application/xml"}, timeout=30)
    assert raw.status_code == 200 and raw.content == content
    assert raw.headers["Content-Type"].startswith("application/xml")
    as_fhir = api.get(f"{served.base}/Binary/{digest}", headers={"Accept": "application/fhir+json"}, timeout=30)
    assert as_fhir.status_code == 200 and as_fhir.json()["resourceType"] == "Binary"
    assert base64.b64decode(as_fhir.json()["data"]) == content
    assert api.get(f"{served.base}/Binary/{'0' * 64}", timeout=30).status_code == 404
    assert served.session().get(f"{served.base}/Binary/{digest}", timeout=30).status_code == 401
    doc_id = doc_url.rsplit("/", 1)[-1].removeprefix("urn:uuid:")
    read = api.get(f"{served.base}/DocumentReference", params={"_id": doc_id}, timeout=30)
    assert read.status_code == 200

    s = _login(served)
    page = _is_page(s.get(f"{_site(served)}/cases/{case_id}", timeout=60), 200)
    assert "Imported from a received E2B(R3) file" in page
    assert f"{report['facts_mapped']} of {report['facts_total']}" in page
    # the import's warnings in words, the E2B place apart (the page said 'G.k.2.1.1a (case 1, drug 1): accepted by
    # US FDA FAERS (postmarket) although the ICH table does not allow it (E2B-LENGTH)')
    assert ("<li class=\"warning\">MPID Version Date / Number: accepted by US FDA (FAERS postmarket and IND premarket) "
            "although the ICH "
            "table does not allow it (longer than ICH allows) <small class=\"e2b-ref\" title=\"G.k.2.1.1a (case 1, "
            "drug 1): accepted by") in page
    assert "E2B-LENGTH" not in re.sub(r'title="[^"]*"', "", page)
    download = s.get(f"{_site(served)}/cases/{case_id}/download/received", timeout=30)
    assert download.status_code == 200 and download.content == content

    # the same file again: nothing new, so no new version (it became a follow-up of itself)
    again = CliRunner().invoke(main, ["import", str(scenario), "--store"], env={"REPORTER_DATABASE_URL": db_url})
    assert again.exit_code == 0 and "is stored already, as version 1: not stored again" in again.output, again.output
    assert served.store.import_report(case_id, 2) is None and served.store.read(case_id).version == 1


def test_imported_case_edited_in_the_form_exports_exactly_that_edit(served, db_url: str, scenario: Path) -> None:
    case_id = _import(scenario, db_url)
    site = _site(served)
    s = _login(served)
    page = _is_page(s.get(f"{site}/cases/{case_id}/edit", timeout=60), 200)
    pairs = _form_controls(page)
    sex = [v for k, v in pairs if k == "patient.sex"]
    assert sex and sex[0] in ("male", "female"), sex
    new_sex = "female" if sex[0] == "male" else "male"
    pairs = [(k, new_sex if k == "patient.sex" else v) for k, v in pairs if k not in ("_reason", "_kind", "_action")]
    pairs += [("_reason", "sex corrected by the reporter"), ("_kind", "follow-up"), ("_action", "save")]
    saved = s.post(f"{site}/cases/{case_id}/edit", data=pairs, allow_redirects=False, timeout=60)
    assert saved.status_code == 303, re.findall(r'class="(?:error|message)[^"]*"[^>]*>([^<]+)', saved.text)[:10]

    v2 = served.store.read(case_id)
    assert v2.version == 2 and served.store.import_report(case_id, 2) is None
    assert not [d for d in _resources(v2.bundle, "DocumentReference") if is_received_message(d)]
    assert not _resources(v2.bundle, "Provenance")  # the edit is not what the message said
    assert "Imported from a received" not in _is_page(s.get(f"{site}/cases/{case_id}", timeout=60), 200)

    approve(served.store, case_id, 2, "reviewer-2")  # E2B files go out for approved versions only
    api = served.session(served.write_token)
    out = api.get(f"{served.base}/Bundle/{case_id}/$e2b", params={"receiver": "fda"}, timeout=60)
    assert out.status_code == 200, out.text[:500]
    source = xmlsafe.load(scenario).root
    received = importer.import_file(scenario)
    differences = coverage.unexplained(diff.compare_unordered(source, etree.fromstring(out.content)),
                                       [r.coverage for r in received.reports if r.coverage])
    # C.1.2 is this version's date of creation (the form stamps the save time): new by definition
    changed = sorted({d.element.split(" ")[0] for d in differences})
    assert changed == ["C.1.2", "D.5"], diff.table(differences)
    (created,) = [d for d in differences if d.element.startswith("C.1.2")]
    assert created.actual[:8] > created.expected[:8]
    (sex_change,) = [d for d in differences if d.key.endswith("@code")]
    assert sex_change.actual == {"male": "1", "female": "2"}[new_sex]
