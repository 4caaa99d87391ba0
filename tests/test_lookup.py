"""Look-ups for case entry (reporter/lookup.py): MedDRA from a release, LOINC from the project's tables, UCUM
with usual spellings, and an honest note where the project has no dictionary."""

from __future__ import annotations

import pytest

from reporter import lookup
from reporter.validation.terminology import loinc_problem
from reporter.validation.ucum import is_valid_ucum
from tests.meddra_release import VERSION, write_release


def test_meddra_without_a_release_says_so(monkeypatch) -> None:
    monkeypatch.delenv("REPORTER_MEDDRA_DIR", raising=False)
    answer = lookup.meddra("hepatitis")
    assert answer["items"] == [] and "REPORTER_MEDDRA_DIR" in answer["note"]


def test_meddra_finds_terms_by_words_or_code_with_their_pt(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("REPORTER_MEDDRA_DIR", str(write_release(tmp_path / "r")))
    items = lookup.meddra("hepatitis drug")["items"]
    assert [(i["code"], i["label"], i["level"]) for i in items] == [
        ("94000001", "Hepatitis drug-induced (test)", "LLT")]  # the non-current LLT is left out
    assert items[0]["pt"] == "Drug-induced liver injury (test)" and items[0]["version"] == VERSION
    assert [i["code"] for i in lookup.meddra("94000003")["items"]] == ["94000003"]
    assert lookup.meddra("no such words")["items"] == []


def test_loinc_codes_come_from_the_project_tables_and_are_valid() -> None:
    tests = lookup.lab_tests()
    assert {"1742-6", "6768-6", "1975-2", "6301-6", "2324-2"} <= {t["code"] for t in tests}
    assert all(loinc_problem(t["code"]) is None for t in tests)
    assert [i["code"] for i in lookup.loinc("alanine")["items"]] == ["1742-6", "1743-4"]
    assert [i["label"] for i in lookup.loinc("6301")["items"]] == ["INR"]


@pytest.mark.parametrize(("typed", "ucum"), [("IU/L", "[IU]/L"), ("years", "a"), ("mcg", "ug"), ("mcg/kg", "ug/kg"),
                                             ("U/L", "U/L"), ("mg/dL", "mg/dL"), ("INR", "{INR}"),
                                             ("mg per litre", None)])
def test_usual_unit_spellings_map_to_ucum(typed, ucum) -> None:
    assert lookup.to_ucum(typed) == ucum


def test_every_offered_unit_and_spelling_is_ucum() -> None:
    table = lookup._units()
    assert all(is_valid_ucum(u["code"]) for u in table["common"])
    assert all(is_valid_ucum(code) for code in table["spellings"].values())
    assert lookup.ucum("IU/L")["items"][0]["code"] == "[IU]/L"
    assert any(i["code"] == "mg/dL" for i in lookup.ucum("mg")["items"])


def test_drugs_have_no_dictionary_and_say_so() -> None:
    answer = lookup.drugs("amoxicillin")
    assert answer["items"] == [] and "no drug dictionary" in answer["note"]


# --- user-provided dictionaries: the LOINC table and a drug dictionary (reporter/dictionaries.py) --------------

LOINC_HEADER = ('"LOINC_NUM","COMPONENT","PROPERTY","SYSTEM","SCALE_TYP","STATUS","SHORTNAME",'
                '"LONG_COMMON_NAME","EXAMPLE_UCUM_UNITS"')


def _write_loinc(path, rows: list[str]) -> str:
    path.write_text("\n".join([LOINC_HEADER, *rows]) + "\n", encoding="utf-8")
    return str(path)


def test_a_loinc_table_adds_its_codes_after_the_projects_own(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("REPORTER_LOINC_FILE", _write_loinc(tmp_path / "Loinc.csv", [
        '"1742-6","Alanine aminotransferase","CCnc","Ser/Plas","Qn","ACTIVE","ALT SerPl-cCnc",'
        '"Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma","U/L"',
        '"48345-3","Alanine aminotransferase, pyridoxal","CCnc","Ser/Plas","Qn","TRIAL","ALT w P-5\'-P SerPl-cCnc",'
        '"Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma by With P-5\'-P","U/L"',
        '"99999-9","Alanine old test","CCnc","Ser/Plas","Qn","DEPRECATED","old","Alanine old test","U/L"',
        '"2885-2","Protein","MCnc","Ser/Plas","Qn","ACTIVE","Prot SerPl-mCnc","Protein [Mass/volume] in '
        'Serum or Plasma","g/dL"']))
    answer = lookup.loinc("alanine")
    codes = [i["code"] for i in answer["items"]]
    assert codes[:2] == ["1742-6", "1743-4"]  # the project's own tests first, with their own labels
    assert "48345-3" in codes and "99999-9" not in codes and codes.count("1742-6") == 1  # deprecated left out
    assert "note" not in answer
    protein = lookup.loinc("protein serum")["items"]
    assert [(i["code"], i["label"], i["unit"]) for i in protein if i["code"] == "2885-2"] == [
        ("2885-2", "Protein [Mass/volume] in Serum or Plasma", "g/dL")]


@pytest.mark.parametrize(("content", "says"), [
    ('"CODE","NAME"\n"1742-6","ALT"\n', "line 1: the header lacks LOINC_NUM"),
    ('"LOINC_NUM","STATUS"\n"1742-6","ACTIVE"\n', "one of COMPONENT, LONG_COMMON_NAME, SHORTNAME"),
    (LOINC_HEADER + '\n"1742-6","x","","","","ACTIVE","s","l",""\n"ALT","x","","","","ACTIVE","s","l",""\n',
     "line 3: LOINC_NUM 'ALT' is not a LOINC code"),
])
def test_an_unusable_loinc_table_is_named_with_its_line_and_the_own_codes_still_answer(
        monkeypatch, tmp_path, content, says) -> None:
    path = tmp_path / "Loinc.csv"
    path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("REPORTER_LOINC_FILE", str(path))
    answer = lookup.loinc("alanine")
    assert says in answer["note"] and "REPORTER_LOINC_FILE" in answer["note"] and str(path) in answer["note"]
    assert [i["code"] for i in answer["items"]] == ["1742-6", "1743-4"]


def test_a_missing_loinc_file_is_said_not_raised(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("REPORTER_LOINC_FILE", str(tmp_path / "nowhere.csv"))
    assert "cannot read" in lookup.loinc("alanine")["note"]


def test_a_drug_csv_gives_rxnorm_and_atc(monkeypatch, tmp_path) -> None:
    path = tmp_path / "drugs.csv"
    path.write_text("name,rxnorm,atc,substance\n"
                    "Amoxicillin / Clavulanate Oral Tablet,617296,J01CR02,amoxicillin; clavulanate\n"
                    "amoxicillin,723,J01CA04,amoxicillin\n"
                    "Anakinra 100 MG/0.67 ML Prefilled Syringe,349325,L04AC03,anakinra\n", encoding="utf-8")
    monkeypatch.setenv("REPORTER_DRUG_FILE", str(path))
    items = lookup.drugs("amoxi")["items"]
    assert [(i["label"], i["rxnorm"], i["atc"]) for i in items] == [
        ("amoxicillin", "723", "J01CA04"), ("Amoxicillin / Clavulanate Oral Tablet", "617296", "J01CR02")]
    assert [i["rxnorm"] for i in lookup.drugs("clavulanate")["items"]] == ["617296"]  # by substance
    assert [i["label"] for i in lookup.drugs("L04AC03")["items"]] == ["Anakinra 100 MG/0.67 ML Prefilled Syringe"]
    assert lookup.drugs("no such drug")["items"] == []


@pytest.mark.parametrize(("content", "says"), [
    ("product,code\nx,1\n", "the header lacks name, one of atc, rxnorm"),
    ("name,rxnorm,atc\namoxicillin,RX723,J01CA04\n", "line 2: rxnorm 'RX723' is not an RxNorm RxCUI"),
    ("name,rxnorm,atc\namoxicillin,723,J01CA04\nx,1,J1\n", "line 3: atc 'J1' is not an ATC code"),
    ("name,atc\n,J01CA04\n", "line 2: the name is empty"),
])
def test_an_unusable_drug_file_is_named_with_its_line(monkeypatch, tmp_path, content, says) -> None:
    path = tmp_path / "drugs.csv"
    path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("REPORTER_DRUG_FILE", str(path))
    answer = lookup.drugs("amoxicillin")
    assert answer["items"] == [] and says in answer["note"] and "REPORTER_DRUG_FILE" in answer["note"]


def _rrf(rxcui: str, source: str, tty: str, code: str, name: str, suppress: str = "N") -> str:
    fields = [""] * 18
    fields[0], fields[1], fields[11], fields[12], fields[13], fields[14], fields[16] = (
        rxcui, "ENG", source, tty, code, name, suppress)
    return "|".join(fields)


def test_rxnorm_rxnconso_gives_names_with_the_atc_rxnorm_attaches(monkeypatch, tmp_path) -> None:
    path = tmp_path / "RXNCONSO.RRF"
    path.write_text("\n".join([
        _rrf("723", "RXNORM", "IN", "723", "amoxicillin"),
        _rrf("723", "ATC", "IN", "J01CA04", "amoxicillin"),
        _rrf("617296", "RXNORM", "SCD", "617296", "amoxicillin 875 MG / clavulanate 125 MG Oral Tablet"),
        _rrf("617296", "RXNORM", "SY", "617296", "amox-clav 875 synonym"),  # a term type not kept
        _rrf("1000", "RXNORM", "SCD", "1000", "amoxicillin suppressed form", suppress="O"),
        _rrf("723", "MTHSPL", "SU", "x", "AMOXICILLIN"),  # another source: ignored
    ]) + "\n", encoding="utf-8")
    monkeypatch.setenv("REPORTER_DRUG_FILE", str(path))
    items = lookup.drugs("amoxicillin")["items"]
    assert [(i["label"], i["rxnorm"], i["atc"]) for i in items] == [
        ("amoxicillin", "723", "J01CA04"), ("amoxicillin 875 MG / clavulanate 125 MG Oral Tablet", "617296", "")]
    path.write_text("723|ENG|too few fields\n", encoding="utf-8")
    assert "line 1: 3 fields where RXNCONSO.RRF has 18" in lookup.drugs("amoxicillin")["note"]  # re-read on change
