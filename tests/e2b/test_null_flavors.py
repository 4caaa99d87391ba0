"""Every null flavor the case model holds is sent and read back, element by element.

For each element of the table (mappings/e2b/locations.yaml) that ICH or a region lets carry a null flavor,
and for each flavor it allows, the rich case gets {absent: ...} at the element's case path (on the first
item of a list), is exported for the element's receiver, must be accepted (XSD and rules), and the imported
case must hold the same reason at the same place. A sponsor study number or a date of death withheld were
once dropped or refused by the export while the case held them; the elements the case model does not hold
a reason for are listed with why in test_element_table.NULL_FLAVOR_NOT_HELD.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from reporter import yaml12
from reporter.casefile.model import CaseFile
from reporter.e2b.dictionary import dictionary
from reporter.tables import code_list
from tests.e2b import element_table as et
from tests.e2b.test_element_table import NULL_FLAVOR_NOT_HELD

RICH_CASE = Path(__file__).parent / "data" / "rich-case.yaml"
REASON = {c.e2b: key for key, c in code_list("null_flavor").codes.items()}
# One flavor of an element whose other flavors the case holds: why not this one.
FLAVOR_NOT_HELD = {
    ("FDA.D.11.r.1", "OTH"): "FDA's 'other race' is no absent reason of the case model: the import lists it as "
                             "not mapped",
}


def _base() -> dict[str, Any]:
    """The rich case, with the blocks it lacks that hold null flavors (the parent's history and past drugs,
    FDA's race and ethnicity)."""
    data = yaml12.load(RICH_CASE.read_text(encoding="utf-8"))
    parent = data["patient"]["parent"]
    parent["medical_history"] = [{"term": "asthma", "meddra": {"code": "10003553", "version": "26.1"},
                                  "start": "2001", "end": "2002", "continuing": False}]
    parent["past_drugs"] = [{"name": "Salbutamol", "start": "2001", "end": "2002"}]
    data["patient"]["race"] = [{"code": "C41260"}]
    data["patient"]["ethnicity"] = {"code": "C41222"}
    return data


def _steps(path: str) -> list[str | int]:
    """A case path as keys and list positions: the first item of every list ([*])."""
    return [int(p) if p.isdigit() else p for p in re.split(r"\.", re.sub(r"\[\*\]|\[\]", ".0", path)) if p]


def _at(tree: Any, steps: list[str | int]) -> Any:
    for step in steps:
        tree = tree[step]
    return tree


def _find(tree: Any, steps: list[str | int]) -> Any:
    try:
        return _at(tree, steps)
    except (KeyError, IndexError, TypeError):
        return None


def _cases() -> list[Any]:
    elements = et.table()["elements"]
    out = []
    for number, element in dictionary().elements.items():
        spec = elements.get(number) or {}
        if not element.null_flavors or not spec.get("case") or number in NULL_FLAVOR_NOT_HELD:
            continue
        path = spec["case"] if isinstance(spec["case"], str) else spec["case"][0]
        out += [pytest.param(number, path, flavor, id=f"{number}-{flavor}") for flavor in element.null_flavors
                if (number, flavor) not in FLAVOR_NOT_HELD]
    return out


def _with_reason(data: dict[str, Any], path: str, reason: str) -> CaseFile:
    """The case with the reason at the path's field, or else at the list item or block holding it (FDA's
    race: an item of the list is {absent: ...}, not its code)."""
    steps = _steps(path)
    problems = []
    for cut in range(len(steps), 0, -1):
        changed = copy.deepcopy(data)
        _at(changed, steps[:cut - 1])[steps[cut - 1]] = {"absent": reason}
        try:
            return CaseFile.model_validate(changed)
        except ValueError as exc:
            problems.append(str(exc).splitlines()[0])
    raise AssertionError(f"the case model holds no reason at {path}: {problems}")


@pytest.mark.parametrize(("number", "path", "flavor"), _cases())
def test_a_null_flavor_the_case_holds_is_sent_and_read_back(number: str, path: str, flavor: str,
                                                             e2b_schema_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from reporter.e2b import importer
    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.fhir.to_case import bundle_to_case

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    assert flavor in REASON, f"{flavor} has no case-file reason: hold it, or say why in FLAVOR_NOT_HELD"
    case = _with_reason(_base(), path, REASON[flavor])
    receiver = "fda" if number.startswith("FDA.") else "ich"
    result = export_bundles([build_bundle(case)], receiver_name=receiver)
    assert result.check.xsd == "valid"
    assert not [i for i in result.check.issues if i.severity == "error"], result.check.issues
    assert f'nullFlavor="{flavor}"' in result.xml.decode()
    sent = tmp_path / "sent.xml"
    sent.write_bytes(result.xml)
    [report] = importer.import_file(sent).reports
    sent_case = case.model_dump(mode="json", exclude_none=True, by_alias=True)
    back = bundle_to_case(report.bundle).model_dump(mode="json", exclude_none=True, by_alias=True)
    steps = _steps(path)
    for cut in range(len(steps), 0, -1):  # where _with_reason put it
        if _find(sent_case, steps[:cut]) == {"absent": REASON[flavor]}:
            assert _find(back, steps[:cut]) == {"absent": REASON[flavor]}
            return
    raise AssertionError("the reason is not in the case sent")


def _unsendable() -> list[Any]:
    """(element, case path, case-file reason) for every reason the case can hold where the element takes another
    (or none)."""
    elements = et.table()["elements"]
    base = _base()
    out = []
    for number, element in dictionary().elements.items():
        spec = elements.get(number) or {}
        if not spec.get("case") or number in NULL_FLAVOR_NOT_HELD:
            continue
        path = spec["case"] if isinstance(spec["case"], str) else spec["case"][0]
        for flavor, reason in REASON.items():
            if flavor in element.null_flavors:
                continue
            try:
                _with_reason(base, path, reason)
            except (AssertionError, LookupError):  # the case holds no reason there, or the block is not in it
                continue
            out.append(pytest.param(number, path, reason, id=f"{number}-{flavor}"))
    return out


@pytest.mark.parametrize(("number", "path", "reason"), _unsendable())
def test_validate_of_a_case_file_says_each_reason_the_export_cannot_send(number: str, path: str, reason: str,
                                                                          e2b_schema_dir: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`reporter validate` on a case file names every absent reason E2B does not allow where the case holds it:
    an error when the export refuses it, a warning when the export leaves it out or sends NI instead."""
    import yaml

    from reporter.e2b.export import export_bundles
    from reporter.fhir.build import build_bundle
    from reporter.validation import validate_file

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    case = _with_reason(_base(), path, reason)
    file = tmp_path / "case.yaml"
    file.write_text(yaml.safe_dump(case.model_dump(mode="json", exclude_none=True, by_alias=True),
                                   sort_keys=False, allow_unicode=True), encoding="utf-8")
    said = [i for i in validate_file(file)[1].issues if i.code == "PLAUS-ABSENT-REASON"]
    result = export_bundles([build_bundle(case)], receiver_name="fda" if number.startswith("FDA.") else "ich")
    refused = [i.code for i in result.check.issues if i.severity == "error"]
    # a field several elements share (a record number: D.1.1.1-4) is named by the element its source says
    sharing = [n for n, spec in et.table()["elements"].items() if path in ([spec.get("case")] if isinstance(
        spec.get("case"), str) else spec.get("case") or [])]
    assert [any(f"for {n} " in i.message for n in sharing) for i in said] == [True], said
    assert said[0].severity == ("error" if refused else "warning"), (said[0].message, refused)
