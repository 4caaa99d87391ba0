"""Validation layers 1-4: each kind of bad input gets a precise issue; the CLI exit codes; the
OperationOutcome form."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporter.cli import main
from reporter.fhir.build import dumps
from reporter.fhir.issue_location import location_of
from reporter.validation import validate_bundle, validate_file
from reporter.validation.terminology import loinc_problem
from tests.helpers import CASE1, apply_damage, damage_strategy, load_example, mutated, write_case


def codes_for(tmp_path, data) -> list[tuple[str, str, str]]:
    _, report = validate_file(write_case(tmp_path, data))
    return [(i.code, i.location, i.message) for i in report.errors]


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def case():
    return load_example()


def test_demo_cases_have_no_errors(example_files):
    for path in example_files:
        _, report = validate_file(path)
        assert report.ok, report.to_text()


def test_missing_suspect_drug_exits_1_and_names_the_criterion(tmp_path, case):
    data = mutated(case)
    data["drugs"] = [d for d in data["drugs"] if d["role"] != "suspect"]
    path = write_case(tmp_path, data)
    result = run_cli("validate", str(path))
    assert result.exit_code == 1
    assert "ICSR-MIN-SUSPECT" in result.output and "no suspect drug" in result.output
    # The lab days were counted from the removed drug: said too, at their case-file location.
    assert "CASE-REFERENCE" in result.output and "tests[5].date" in result.output


def test_a_time_counted_from_a_drug_not_in_the_case_is_said_once_in_the_case_s_words(tmp_path, case):
    """'day 4 after admission' written with drug: admission: validate said it twice, once as 'reference
    urn:uuid:... does not resolve inside the Bundle' (hint: add the resource to the Bundle), which is all
    `reporter e2b` said. Now validate says it once at the field and line; the Bundle check names the drug."""
    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle
    from reporter.validation.integrity import check_integrity

    data = mutated(case)
    data["reactions"][0]["onset"] = {"value": 4, "unit": "d", "drug": "admission"}
    errors = codes_for(tmp_path, data)
    assert [(c, loc.split(" (line")[0]) for c, loc, _ in errors] == [("CASE-REFERENCE", "reactions[0].onset")]
    assert "(line " in errors[0][1]
    bundle = build_bundle(CaseFile.model_validate(data))
    [issue] = check_integrity(bundle)
    assert issue.message.startswith("a time is counted from a drug that is not in the case")
    assert "drugs" in issue.hint and "add the referenced resource" not in issue.hint


@pytest.mark.parametrize(("change", "code"), [
    (lambda d: d.pop("patient"), "ICSR-MIN-PATIENT"),
    (lambda d: d["patient"].update(sex=None, age_at_onset=None), "ICSR-MIN-PATIENT"),
    (lambda d: (d.pop("primary_sources"), d.pop("literature")), "ICSR-MIN-REPORTER"),
    (lambda d: d.update(reactions=[], drugs=[{**d["drugs"][0], "reactions": []}]), "ICSR-MIN-REACTION"),
])
def test_minimum_criteria(tmp_path, case, change, code):
    data = mutated(case)
    change(data)
    assert code in [c for c, _, _ in codes_for(tmp_path, data)]


def test_no_reaction_hint_says_how_an_error_without_harm_is_reported(tmp_path, case):
    """A medication error, misuse or exposure without harm has no 'reaction', and the refusal said only
    to add one: the hint says the situation itself is the reaction (E2B and GVP convention)."""
    data = mutated(case)
    data.update(reactions=[], drugs=[{**data["drugs"][0], "reactions": [], "additional_info": ["medication-error"]}])
    _, report = validate_file(write_case(tmp_path, data))
    issue = next(i for i in report.errors if i.code == "ICSR-MIN-REACTION")
    assert "medication error" in issue.hint and "No adverse event" in issue.hint


def test_masked_patient_data_still_identifies_the_patient(tmp_path, case):
    data = mutated(case)
    data["patient"] = {"initials": {"absent": "masked"}}
    assert "ICSR-MIN-PATIENT" not in [c for c, _, _ in codes_for(tmp_path, data)]


def test_future_date(tmp_path, case, monkeypatch):
    monkeypatch.setenv("REPORTER_TODAY", "2024-01-01")
    data = mutated(case)
    data["report"]["most_recent"] = "2030-05"
    found = [(c, where) for c, where, _ in codes_for(tmp_path, data) if c == "ICSR-FUTURE-DATE"]
    assert found and "extension" in found[0][1]


def test_bad_date_in_a_case_file(tmp_path, case):
    data = mutated(case)
    data["reactions"][0]["onset"] = "2023-02-29"
    codes = codes_for(tmp_path, data)
    assert codes[0][0] == "CASEFILE" and codes[0][1].startswith("reactions[0].onset")


def test_chronology(tmp_path, case):
    data = mutated(case)
    data["patient"]["birth_date"] = "2015"
    data["reactions"][0]["onset"] = "2012-03"
    assert "ICSR-CHRONOLOGY" in [c for c, _, _ in codes_for(tmp_path, data)]


@pytest.mark.parametrize(("code", "message"), [("1001971", "8 digits"), ("1001971A", "8 digits")])
def test_malformed_meddra_code(tmp_path, case, code, message):
    data = mutated(case)
    data["reactions"][0]["meddra"]["code"] = code
    found = [(c, w, m) for c, w, m in codes_for(tmp_path, data) if c == "TERM-MEDDRA-CODE"]
    assert found and message in found[0][2]
    assert found[0][1].startswith("reactions[0].meddra.code (line ")  # the case file's field, not a FHIRPath


def test_two_meddra_versions(tmp_path, case):
    data = mutated(case)
    data["reactions"][1]["meddra"]["version"] = "26.0"
    found = [m for c, _, m in codes_for(tmp_path, data) if c == "TERM-MEDDRA-ONE-VERSION"]
    assert found and "26.0" in found[0] and "29.1" in found[0]


def test_malformed_loinc(tmp_path, case):
    data = mutated(case)
    data["tests"][6]["loinc"] = "1742-5"
    found = [m for c, _, m in codes_for(tmp_path, data) if c == "TERM-LOINC"]
    assert found and "check digit" in found[0]


def test_loinc_check_digits():
    assert loinc_problem("1742-6") is None and loinc_problem("14804-9") is None and loinc_problem("2324-2") is None
    assert "check digit" in loinc_problem("1920-7")
    assert "not a LOINC code" in loinc_problem("ALT")


def test_non_ucum_unit(tmp_path, case):
    data = mutated(case)
    data["tests"][6]["unit"] = "IU/L"
    data["drugs"][0]["dosages"][0]["dose"]["unit"] = "mg/kg/day"
    found = [m for c, _, m in codes_for(tmp_path, data) if c == "TERM-UCUM"]
    assert any("'IU/L'" in m for m in found) and any("'mg/kg/day'" in m for m in found)


def test_bad_country_and_ich_code(tmp_path, case):
    data = mutated(case)
    data["reactions"][0]["country"] = "UK"
    found = [c for c, _, _ in codes_for(tmp_path, data)]
    assert "TERM-COUNTRY" in found


def _bundle_dict():
    from reporter.casefile import load_case
    from reporter.fhir.build import build_bundle

    return build_bundle(load_case(CASE1))


def test_dangling_reference_in_a_bundle(tmp_path):
    bundle = _bundle_dict()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Medication"]
    path = tmp_path / "bundle.json"
    path.write_text(dumps(bundle), encoding="utf-8")
    _, report = validate_file(path)
    dangling = [i for i in report.errors if i.code == "BUNDLE-REFERENCE"]
    assert dangling and "medicationReference" in dangling[0].location


def test_structure_errors_in_a_bundle():
    bundle = _bundle_dict()
    bundle["entry"][1]["resource"]["gender"] = "boy"
    bundle["entry"][1]["resource"]["shoeSize"] = 3
    report = validate_bundle(bundle)
    structural = [i for i in report.errors if i.layer == "structure"]
    assert any("gender" in i.location for i in structural)
    assert any("shoeSize" in i.location for i in structural)


def test_wrong_resource_is_refused(tmp_path):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps({"resourceType": "Patient"}), encoding="utf-8")
    result = run_cli("validate", str(path))
    assert result.exit_code == 2 and "expected a case file or a Bundle" in result.output  # as render says it


@pytest.mark.parametrize(("text", "words"), [("case_id: [\n", "invalid YAML"), ('{"case_id": ', "invalid JSON"),
                                            ("<?xml version='1.0'?><MCCI_IN200100UV01/>", "reporter import")])
def test_invalid_yaml_or_json_is_an_issue_not_a_traceback(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_cli("validate", str(path))  # unreadable: 2, as every command, with the problem reported
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("validate", str(tmp_path / "missing.yaml")).exit_code == 2
    assert run_cli("validate", "--format", "xml", str(CASE1)).exit_code == 2


def test_fhir_command_on_a_bad_case_exits_2_with_located_problems(tmp_path, case):
    data = mutated(case)
    data["report"]["type"] = "rumour"
    result = run_cli("fhir", str(write_case(tmp_path, data)))
    assert result.exit_code == 2
    assert "report.type" in result.output and "Traceback" not in result.output


def test_operation_outcome_output(tmp_path, case):
    data = mutated(case)
    data["drugs"] = [d for d in data["drugs"] if d["role"] != "suspect"]
    result = run_cli("validate", "--format", "json", str(write_case(tmp_path, data)))
    outcome = json.loads(result.output)
    assert outcome["resourceType"] == "OperationOutcome"
    issue = next(i for i in outcome["issue"] if i["details"]["coding"][0]["code"] == "ICSR-MIN-SUSPECT")
    assert issue["severity"] == "error" and issue["code"] == "business-rule" and location_of(issue)


def test_fhir_command_writes_a_file(tmp_path):
    out = tmp_path / "sub" / "bundle.json"
    result = run_cli("fhir", str(CASE1), "-o", str(out))
    assert result.exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["type"] == "document"
    _, report = validate_file(out)
    assert report.ok


_DEMO = None


def _demo_bundle() -> dict:
    global _DEMO
    if _DEMO is None:
        _DEMO = _bundle_dict()
    return _DEMO


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_bundles_get_a_report_not_a_crash(data):
    bundle = apply_damage(_demo_bundle(), data.draw(damage_strategy(_demo_bundle())))
    report = validate_bundle(bundle)
    assert all(i.location and i.message for i in report.issues)
    report.to_operation_outcome()


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(
                        st.sampled_from(["resourceType", "entry", "resource", "type", "fullUrl", "reference", "x"]),
                        c, max_size=4), max_leaves=12))
def test_arbitrary_json_gets_a_report_not_a_crash(value):
    bundle = value if isinstance(value, dict) else {"resourceType": "Bundle", "entry": value}
    validate_bundle(bundle)


def test_bundles_imported_from_the_shared_e2b_examples_have_no_errors(shared_dir, e2b_schema_dir, monkeypatch):
    """What partners send must be storable: the API refuses Bundles with validation errors."""
    from reporter.e2b.importer import import_file

    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    files = [p for p in sorted((shared_dir / "e2b" / "examples").glob("*/*.xml")) if "negative" not in p.parts]
    assert files
    for path in files:
        for imported in import_file(path).reports:
            assert imported.ok, (path.name, imported.problems)
            report = validate_bundle(imported.bundle)
            assert report.ok, (path.name, report.to_text())


def test_meddra_version_spellings_of_one_release_are_one_version(tmp_path, case):
    data = mutated(case)
    data["reactions"][0]["meddra"]["version"] = "29"
    data["reactions"][1]["meddra"]["version"] = "29.0"
    _, report = validate_file(write_case(tmp_path, data))
    assert "TERM-MEDDRA-ONE-VERSION" not in [i.code for i in report.issues]
    assert "TERM-MEDDRA-VERSION-FORM" in [i.code for i in report.warnings]


def _objects(node, path=()):
    """Every JSON object of a Bundle with its path of keys and indexes (the Bundle itself included)."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _objects(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _objects(item, (*path, i))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_ext1_from_the_shared_walk_finds_what_the_per_resource_pass_finds(case, data) -> None:
    """check_structure with the Bundle's walk skips the per-resource ext-1 pass when the walk holds no bad
    extension: anywhere a bad one is put (a resource, a nested element, a contained resource, the Bundle's
    own elements), both ways give the same issues."""
    import copy

    from reporter.casefile.model import CaseFile
    from reporter.fhir.build import build_bundle
    from reporter.validation.structure import check_structure
    from reporter.validation.walk import walk_bundle

    bundle = build_bundle(CaseFile.model_validate(case))
    bundle["entry"][1]["resource"]["contained"] = [{"resourceType": "Basic", "id": "x", "code": {"text": "x"}}]
    spots = [path for path, _ in _objects(bundle)]
    broken = copy.deepcopy(bundle)
    bad = data.draw(st.lists(st.tuples(st.sampled_from(spots), st.sampled_from([
        {"url": "http://example.org/neither"},
        {"url": "http://example.org/both", "valueString": "x", "extension": [{"url": "a", "valueString": "y"}]},
        {"url": "http://example.org/fine", "valueString": "x"}])), max_size=3))
    for path, extension in bad:
        target = broken
        for key in path:
            target = target[key]
        target.setdefault("extension", []).append(extension)
    expected = check_structure(broken)
    assert check_structure(broken, walk_bundle(broken)) == expected
    if any(e["url"] != "http://example.org/fine" and "contained" not in path for path, e in bad):
        assert expected, "a bad extension went unreported"


def _located(node, path):
    """Every JSON object below node with its FHIRPath-like location, pre-order: the reference walk."""
    found = [(path, node)]
    for key, value in node.items():
        items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for i, item in enumerate(items):
            where = f"{path}.{key}[{i}]" if isinstance(value, list) else f"{path}.{key}"
            found += _located_item(item, where)
    return found


def _located_item(item, path):
    if isinstance(item, dict):
        return _located(item, path)
    if isinstance(item, list):  # a list inside a list: not FHIR, walked all the same
        return [found for i, inner in enumerate(item) for found in _located_item(inner, f"{path}[{i}]")]
    return []


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3))
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["a", "code", "extension", "resource", "item", "url", "date", "reference"]), inner,
    max_size=3), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(st.one_of(_json, st.fixed_dictionaries({"resource": st.dictionaries(
    st.sampled_from(["resourceType", "a", "contained", "code"]), _json, max_size=4)})), max_size=4))
def test_the_walk_locates_each_object_where_it_is(entries):
    """The walk finds locations only when asked; they must be those of its objects, in its order."""
    from reporter.validation.walk import walk_bundle

    bundle = {"resourceType": "Bundle", "entry": entries}
    walk = walk_bundle(bundle)
    expected = [found for i, entry in enumerate(entries) if isinstance(entry, dict)
                and isinstance(entry.get("resource"), dict)
                for found in _located(entry["resource"], f"Bundle.entry[{i}].resource.ofType("
                                                         f"{entry['resource'].get('resourceType', '?')})")]
    assert [(path, id(node)) for path, node in walk.located()] == [(path, id(node)) for path, node in expected]
    assert [walk.nodes[start] for _, start, end in walk.spans if end > start] == [
        e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    for keys in ({"reference"}, {"url", "date"}, {"date", "start", "end"}, {"code", "url"}, {"a"}):
        assert walk.holding(frozenset(keys)) == [i for i, node in enumerate(walk.nodes) if keys & node.keys()]


def test_a_country_is_checked_in_addresses_only(tmp_path):
    """Terminology looks at `country` only in an address (not, say, in an extension that happens to use
    the name)."""
    from reporter.validation.terminology import check_terminology

    bundle = {"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "Patient", "address": [{"country": "XX"}, {"country": "GB"}],
        "contact": [{"address": {"country": "YY"}}], "extension": [{"url": "u", "country": "ZZ"}]}}]}
    found = [(i.code, i.location) for i in check_terminology(bundle)]
    assert found == [("TERM-COUNTRY", "Bundle.entry[0].resource.ofType(Patient).address[0].country")]


def test_terminology_reports_in_document_order():
    """The layer looks at codings, extensions and addresses in separate passes; its issues still come in the
    order of the objects they are on, as one pass gave them."""
    from reporter.tables import ext
    from reporter.validation.terminology import check_terminology

    country_url = ext("reaction_country")
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "AdverseEvent", "extension": [{"url": country_url, "valueCode": "UK"}]}},
        {"resource": {"resourceType": "Observation", "code": {"coding": [
            {"system": "http://loinc.org", "code": "1742-5"}, {"system": "http://unitsofmeasure.org", "code": "mcg"}]},
            "extension": [{"url": country_url, "valueCode": "XX"}]}},
        {"resource": {"resourceType": "Patient", "address": [{"country": "YY"}]}}]}
    found = [(i.code, i.location) for i in check_terminology(bundle)]
    assert found == [
        ("TERM-COUNTRY", "Bundle.entry[0].resource.ofType(AdverseEvent).extension[0].valueCode"),
        ("TERM-LOINC", "Bundle.entry[1].resource.ofType(Observation).code.coding[0].code"),
        ("TERM-UCUM", "Bundle.entry[1].resource.ofType(Observation).code.coding[1].code"),
        ("TERM-COUNTRY", "Bundle.entry[1].resource.ofType(Observation).extension[0].valueCode"),
        ("TERM-COUNTRY", "Bundle.entry[2].resource.ofType(Patient).address[0].country")]


def test_plain_validate_says_the_e2b_output_was_not_checked(tmp_path, case, e2b_schema_dir, monkeypatch):
    """A case without a narrative passes the FHIR layers, and `reporter e2b` refuses it (ICH requires H.1): the
    plain command says that the E2B checks were not run and how to run them; with --receiver it names the field
    and says a value is needed (it said 'nullFlavor NI is not allowed', a null flavor the user never wrote)."""
    monkeypatch.setenv("REPORTER_E2B_SCHEMA_DIR", str(e2b_schema_dir))
    data = mutated(case)
    data.pop("narrative")
    path = write_case(tmp_path, data)
    plain = run_cli("validate", str(path))
    assert plain.exit_code == 0 and "E2B output not checked: --receiver" in plain.stderr
    checked = run_cli("validate", "--receiver", "ich", str(path))
    assert checked.exit_code == 1 and "--receiver" not in checked.stderr
    line = next(line for line in checked.stdout.splitlines() if "E2B-NULLFLAVOR" in line and "H.1" in line)
    assert "<- narrative" in line and "has no value" in line and "give it a value" in line
