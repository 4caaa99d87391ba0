"""A value sent where no E2B element is (FAERS examples: a country in a dosage's performer) is listed as not
mapped by a name a reader can find; it was listed under '[dosage]', its block, which is no E2B element."""

from __future__ import annotations

from pathlib import Path

from reporter.e2b import importer
from tests.conftest import shared_path


def test_a_dosage_performers_country_is_listed_by_name(shared_dir: Path) -> None:
    source = shared_path() / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml"
    cover = importer.import_file(source).reports[0].coverage
    name = "country in a dosage's performer (FDA)"
    assert cover.not_mapped.get(name) == 1 and cover.examples[name] == "US", dict(cover.not_mapped)
    assert not any(key.startswith("[dosage]") for key in cover.not_mapped)
    assert "G.k.2.4" not in cover.not_mapped  # the drug's own country (G.k.2.4) is read
