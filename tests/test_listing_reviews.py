"""Tables of published cases as systematic reviews and case series print them: a citation per row, the
dose and route in the drug cell, '62 y.o. male', +/- de/rechallenge marks, text broken over two lines by a
PDF export, a treatment column."""

from __future__ import annotations

from reporter.casefile.cells import parse_age
from reporter.casefile.listing import import_listing

REVIEW = """\
Table 2. Summary of published cases of amiodarone-induced pulmonary toxicity,,,,,,,
"Author, year",Age/Sex,Drug (dose/route),Indication,Reaction,Latency,Outcome,Naranjo
"Smith et al. [12], 2015",45/F,Amiodarone 200 mg PO daily,Atrial fibrillation,Pulmonary fibrosis,3 wk,Improved,7
"Garcia et al., 2018","M, 62",Amiodarone 400 mg/day,VT,Interstitial pneumonitis,10 d,Died,6
Lee 2020,62 y.o. male,amiodarone 200 mg daily,AF,ARDS,2 months,Resolved with sequelae,5
"Kim et al.[3], 2021",F/38,Amiodarone IV 150 mg bolus,SVT,Pneumonitis,<24 h,Lost to follow-up,3
Patel 2019,NR/M,Amiodarone,NR,Pulmonary toxicity,NR,Recovered,NR
NR: not reported.,,,,,,,
"""


def _import(tmp_path, text: str, name: str = "review.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return import_listing(path, received="2024-05-01", validate=False)


def test_a_review_of_published_cases_reads_each_citation_age_sex_and_outcome(tmp_path):
    result = _import(tmp_path, REVIEW)
    assert [r.problems for r in result.rows] == [[]] * 5
    cases = [r.case for r in result.rows]
    assert [c.literature[0].citation for c in cases] == [
        "Smith et al. [12], 2015", "Garcia et al., 2018", "Lee 2020", "Kim et al.[3], 2021", "Patel 2019"]
    assert [(c.patient.sex, c.patient.age_at_onset and c.patient.age_at_onset.value) for c in cases] == [
        ("female", 45), ("male", 62), ("male", 62), ("female", 38), ("male", None)]
    assert [c.reactions[0].outcome for c in cases] == [
        "recovering", "fatal", "recovered-with-sequelae", "unknown", "recovered"]
    assert cases[4].reactions[0].onset is None and cases[4].drugs[0].indications == []  # NR is no value


def test_an_age_in_years_old_reads_as_years():
    assert parse_age("62 y.o.") == {"value": 62.0, "unit": "a"}
    assert parse_age("7 yo") == {"value": 7.0, "unit": "a"}


def test_a_drug_cell_with_dose_route_and_frequency_gives_each_and_keeps_the_words(tmp_path):
    cases = [r.case for r in _import(tmp_path, REVIEW).rows]
    assert {c.drugs[0].product.lower() for c in cases} == {"amiodarone"}
    first = cases[0].drugs[0].dosages[0]
    assert (first.dose.value, first.dose.unit, first.every.value, first.every.unit) == (200, "mg", 1, "d")
    assert (first.route.code, first.route.text, first.text) == ("oral", "PO", "200 mg PO daily")
    assert cases[1].drugs[0].dosages[0].dose.model_dump() == {"value": 400.0, "unit": "mg/d"}
    bolus = cases[3].drugs[0].dosages[0]
    assert (bolus.dose.value, bolus.route.code, bolus.text) == (150, "intravenous", "IV 150 mg bolus")
    assert cases[4].drugs[0].dosages == []


def test_a_number_inside_a_drug_name_is_no_dose(tmp_path):
    result = _import(tmp_path, "Case,Drug,Reaction\n1,Vitamin B12 1000 mcg,Acne\n2,5-FU,Mucositis\n"
                               "3,TMP-SMX 160/800 mg,Rash\n4,Warfarin 5 mg,Bleeding\n", "names.csv")
    drugs = [r.case.drugs[0] for r in result.rows]
    assert [d.product for d in drugs] == ["Vitamin B12", "5-FU", "TMP-SMX 160/800 mg", "Warfarin"]
    assert drugs[0].dosages[0].dose.model_dump() == {"value": 1000.0, "unit": "ug"}


def test_a_drug_cell_beside_a_dose_column_stays_as_written(tmp_path):
    result = _import(tmp_path, "Case,Drug,Dose,Reaction\n1,Warfarin 5 mg,5 mg,Bleeding\n", "dose.csv")
    assert result.rows[0].case.drugs[0].product == "Warfarin 5 mg"


def test_plus_and_minus_marks_of_de_and_rechallenge(tmp_path):
    result = _import(tmp_path, "Case,Drug,Reaction,Dechallenge,Rechallenge\n1,Carbamazepine,SJS,+,not done\n"
                               "2,Allopurinol,DRESS,Yes/positive,-\n3,Isoniazid,Hepatitis,-,+\n", "signs.csv")
    links = [r.case.drugs[0].reactions[0] for r in result.rows]
    assert [(x.dechallenge, x.rechallenge) for x in links] == [
        ("positive", "not-done"), ("positive", "did-not-recur"), ("negative", "recurred")]


def test_a_minus_in_a_column_without_plus_marks_stays_not_stated(tmp_path):
    result = _import(tmp_path, "Case,Drug,Reaction,Dechallenge\n1,Carbamazepine,SJS,-\n2,Allopurinol,DRESS,"
                               "positive\n", "dash.csv")
    assert [r.case.drugs[0].reactions[0].dechallenge for r in result.rows] == [None, "positive"]
