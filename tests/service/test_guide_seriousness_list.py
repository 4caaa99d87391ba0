"""The case list's 'serious' filter finds a case whose reaction says serious as HL7's ICSR guide codes it
(adverse-event-seriousness `serious`, lower case, its value set ICSRAESeriousness): it looked for R4's `Serious` only,
so such a case was listed as non-serious."""

from __future__ import annotations

import copy
from pathlib import Path

from reporter.inputs import load_bundle
from reporter.store.caselist import CaseFilter, list_cases

CASE = Path(__file__).resolve().parents[2] / "examples" / "case1-anakinra-hepatitis.yaml"


def test_a_reaction_coded_serious_in_lower_case_is_listed_as_serious(store) -> None:
    bundle = copy.deepcopy(load_bundle(CASE))
    for entry in bundle["entry"]:
        for coding in entry["resource"].get("seriousness", {}).get("coding", []):
            coding["code"] = coding["code"].lower()
    store.create(bundle, author="test")
    serious, _ = list_cases(store, CaseFilter(seriousness="serious"))
    other, _ = list_cases(store, CaseFilter(seriousness="non-serious"))
    assert len(serious) == 1 and not other
