"""The history page compares versions imported from E2B files as the case form labels them: they went through
the case model, so their Bundles read back into case files whole. A version from the API stays a Bundle."""

from __future__ import annotations

import copy
import re

from click.testing import CliRunner

from reporter.cli import main

from .test_worldwide_case import REGULATOR, _bundle
from .test_worldwide_import import _e2b


def _changes(html: str) -> list[tuple[str, str]]:
    """(item, field) of each row of the diff table."""
    rows = re.findall(r'<tr class="(?:added|removed|changed)"[^>]*>.*?<th scope="row">(.*?)</th>\s*<td>(.*?)</td>',
                      html, re.S)
    return [(item, re.sub(r"<[^>]+>", "", field)) for item, field in rows]


def test_an_e2b_follow_up_is_compared_as_the_form_labels_it(served, db_url, tmp_path, monkeypatch) -> None:
    from tests.service.test_pages_http import _is_page, _login, _site

    monkeypatch.setenv("REPORTER_DATABASE_URL", db_url)
    follow = copy.deepcopy(REGULATOR)
    follow["report"]["most_recent"] = "2023-10-02"
    follow["narrative"]["text"] += " Follow-up: the patient recovered."
    for data, name in ((REGULATOR, "initial.xml"), (follow, "follow-up.xml")):
        result = CliRunner().invoke(main, ["import", "--store", str(_e2b(tmp_path, data, name))])
        assert result.exit_code == 0, result.output
    case_id = re.search(r"of Bundle/([0-9a-f-]+)", result.output).group(1)
    s = _login(served)
    html = _is_page(s.get(f"{_site(served)}/cases/{case_id}/history", timeout=60), 200)
    # was 50-odd rows of FHIR paths (Composition/<uuid>, extension[1].valueDateTime, section[5].text.div in XHTML)
    assert _changes(html) == [("(case)", "Report › Most recent"), ("(case)", "Narrative › Text")]
    assert "compared as case file" in html and "Composition/" not in html and "&lt;div xmlns" not in html
    assert html.count("received E2B(R3) file") == 2 and "FHIR Bundle" not in html

    # a version from the API may hold what the case model does not: compared as a Bundle, nothing left unsaid
    third = copy.deepcopy(follow)
    third["report"]["most_recent"] = "2023-11-05"
    served.store.save(_bundle(third), author="api", reason="PUT")
    html = _is_page(s.get(f"{_site(served)}/cases/{case_id}/history", timeout=60), 200)
    assert "compared as Bundle" in html and "FHIR Bundle (API)" in html


def test_a_changed_choice_reads_as_the_form_offers_it(served, db_url, tmp_path, monkeypatch) -> None:
    """The diff showed the stored keys: 'Outcome: recovered -> not-recovered', 'Action taken: withdrawn'."""
    from tests.service.test_pages_http import _is_page, _login, _site

    monkeypatch.setenv("REPORTER_DATABASE_URL", db_url)
    follow = copy.deepcopy(REGULATOR)
    follow["report"]["most_recent"] = "2023-10-02"
    follow["reactions"][0]["outcome"] = "not-recovered"
    for data, name in ((REGULATOR, "initial.xml"), (follow, "follow-up.xml")):
        result = CliRunner().invoke(main, ["import", "--store", str(_e2b(tmp_path, data, name))])
        assert result.exit_code == 0, result.output
    case_id = re.search(r"of Bundle/([0-9a-f-]+)", result.output).group(1)
    html = _is_page(_login(served).get(f"{_site(served)}/cases/{case_id}/history", timeout=60), 200)
    row = re.search(r'<tr class="changed" data-path="reactions\[0\]\.outcome">(.*?)</tr>', html, re.S).group(1)
    assert "<del>recovered / resolved</del>" in row and "<ins>not recovered / not resolved</ins>" in row, row
