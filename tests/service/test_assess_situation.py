"""The assess page (/cases/<id>/assess) for a case with a situation term ('Off label use') beside a reaction: the
page opens on the reaction's questionnaire, and the situation's page has no questionnaire but the reason, the
causality the case states for it as received and where to record one; a questionnaire posted for it is
refused, and the case is not changed."""

from __future__ import annotations

import html
import re

import requests

from reporter.casefile.model import CaseFile
from reporter.fhir.build import build_bundle
from reporter.store.repository import case_id_for, case_key
from reporter.store.tokens import set_password
from tests.assess.test_situation import off_label_case

PASSWORD = "correct horse battery"


def _login(site: str, served) -> requests.Session:
    set_password(served.store, "clinician", PASSWORD)
    s = requests.Session()
    page = s.get(f"{site}/login", timeout=30)
    r = s.post(f"{site}/login", data={"csrf_token": _csrf(page.text), "username": "clinician",
                                      "password": PASSWORD}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:500]
    return s


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _stored(served) -> tuple[str, str]:
    case = CaseFile.model_validate(off_label_case())
    bundle = build_bundle(case)
    served.store.create(bundle, author="test", reason="situation case",
                        casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    return served.base.removesuffix("/fhir"), case_id_for(*case_key(bundle))


def test_the_situation_term_gets_no_questionnaire_and_says_why(served) -> None:
    site, cid = _stored(served)
    s = _login(site, served)
    first = s.get(f"{site}/cases/{cid}/assess", timeout=60)
    assert first.status_code == 200
    assert 'id="method-naranjo"' in first.text and "Drugex / Rash</h2>" in first.text  # opens on the reaction
    assert ("Off label use</a> <span class=\"muted situation\">(not scored: a situation, not an adverse "
            "reaction)</span>") in first.text
    assert "<strong>Recalculate</strong>" in first.text

    page = s.get(f"{site}/cases/{cid}/assess", params={"drug": "x", "reaction": "offlabel"}, timeout=60)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "fieldset class=\"method\"" not in text and "form method=\"post\" class=\"assess\"" not in text
    assert ("Not assessed: 'Off label use' is a situation (off-label use), not an adverse reaction; assess the "
            "reactions reported with it (Rash).") in text
    assert "<td>Sender</td><td>WHO-UMC</td><td>Possible</td>" in text
    assert "Recalculate" not in text  # the questionnaire's instructions are not said where there is none
    assert "Causality stated in the case (kept as received)" in text
    assert f'href="/cases/{cid}/edit#f-drugs_0__reactions_1__causality">Drugex › Reaction Off label use › Causality' \
        in text  # where on the case form the sender's causality for this pair is entered

    posted = s.post(f"{site}/cases/{cid}/assess", data={
        "csrf_token": _csrf(first.text), "drug": "x", "reaction": "offlabel", "_action": "save",
        "assessor": "Dr A", "_reason": "assessed", "naranjo:after_drug": "yes"}, timeout=60)
    assert posted.status_code == 422
    assert "Not saved: not assessed: 'Off label use' is a situation" in html.unescape(posted.text)
    assert served.store.read(cid).version == 1


def test_a_situation_the_drug_has_no_entry_for_points_to_the_drug_s_reactions(served) -> None:
    data = off_label_case()
    data["drugs"][0]["reactions"] = []  # no drug-reaction entries: every reaction is a pair of the suspect drug
    case = CaseFile.model_validate(data)
    bundle = build_bundle(case)
    served.store.create(bundle, author="test", reason="situation case",
                        casefile=case.model_dump(mode="json", by_alias=True, exclude_none=True))
    site, cid = served.base.removesuffix("/fhir"), case_id_for(*case_key(bundle))
    page = _login(site, served).get(f"{site}/cases/{cid}/assess", params={"drug": "x", "reaction": "offlabel"},
                                    timeout=60)
    assert page.status_code == 200
    assert f'href="/cases/{cid}/edit#f-drugs_0__reactions">Drugex › Reactions</a>' in html.unescape(page.text)
    assert "<p>None stated.</p>" in page.text
