"""A stored imported case edited on the case form keeps where it goes: the form shows the transmission ids it was
received with (report.routing, folded under the report's details) and the saved version still goes back to
that receiver. The form rebuilt the Bundle from the case, which had no place for them, so it went to ICH."""

from __future__ import annotations

import re

from lxml import html

from reporter.e2b import export, importer
from tests.conftest import shared_path

from .test_form_http import _session


def test_an_imported_case_saved_from_the_form_keeps_its_receiver(served) -> None:
    example = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    bundle = importer.import_file(example).reports[0].bundle
    stored = served.store.save(bundle, author="import", reason="imported")  # as `reporter import --store`
    s, site = _session(served)
    page = html.fromstring(s.get(f"{site}/cases/{stored.case_id}/edit", timeout=60).text)
    form = next(f for f in page.forms if f.xpath(".//input[@name='case_id']"))
    values = [(name, value) for name, value in form.form_values() if name != "_action"]
    held = dict(values)
    assert held["report.routing.batch_receiver"] == "ZZFDA" and held["report.routing.message_receiver"] == "CDER"
    values = [(n, v) for n, v in values if n not in ("drugs[0].dosages[0].dose.value", "drugs[0].dosages[0].dose.unit",
                                                   "_reason")]
    values += [("drugs[0].dosages[0].dose.value", "20"), ("drugs[0].dosages[0].dose.unit", "mg"),
               ("_reason", "dose corrected"), ("_action", "save")]
    r = s.post(f"{site}/cases/{stored.case_id}/edit", data=values, allow_redirects=False, timeout=60)
    assert r.status_code == 303, re.findall(r'class="problem[^"]*"[^>]*>([^<]+)', r.text)[:5] or r.text[:2000]
    saved = served.store.read(stored.case_id)
    assert saved.version == 2
    assert export.bundle_receiver(saved.bundle) == "fda"
    assert export.original_ids(saved.bundle, export.receiver("fda"))["batchReceiver"] == "ZZFDA"
