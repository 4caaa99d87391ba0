"""Tables of published cases as systematic reviews and case series print them: a citation per row, the
dose and route in the drug cell, '62 y.o. male', +/- de/rechallenge marks, text broken over two lines by a
PDF export, a treatment column."""

from __future__ import annotations

import pytest

from reporter.casefile.cells import parse_age, parse_when
from reporter.casefile.listing import import_listing, load_map

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
    # "Author, year" names the reference, not a column of years
    assert result.columns["literature.citation"] == "Author, year"
    assert not any("Author (year)" in note for note in result.notes)


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
                               "3,TMP-SMX 160/800 mg,Rash\n4,Warfarin 5 mg,Bleeding\n"
                               "5,Insulin glargine 100 units/mL,Hypoglycaemia\n6,Hydrocortisone 1%,Rash\n", "names.csv")
    drugs = [r.case.drugs[0] for r in result.rows]
    assert [d.product for d in drugs] == ["Vitamin B12", "5-FU", "TMP-SMX 160/800 mg", "Warfarin",
                                          "Insulin glargine 100 units/mL", "Hydrocortisone 1%"]  # strengths
    assert drugs[0].dosages[0].dose.model_dump() == {"value": 1000.0, "unit": "ug"}


def test_a_dose_range_after_the_name_is_the_dosage_text(tmp_path):
    drug = _import(tmp_path, "Case,Drug,Reaction\n1,Ibuprofen 400-600 mg prn,AKI\n", "range.csv").rows[0].case.drugs[0]
    assert (drug.product, drug.dosages[0].dose, drug.dosages[0].text) == ("Ibuprofen", None, "400-600 mg prn")


def test_a_drug_cell_naming_two_drugs_with_doses_is_not_cut_into_one_product(tmp_path):
    result = _import(tmp_path, "Case,Drug,Reaction\n1,Amiodarone 200 mg + warfarin 5 mg,Bleeding\n", "two.csv")
    drug = result.rows[0].case.drugs[0]
    assert (drug.product, drug.dosages) == ("Amiodarone 200 mg + warfarin 5 mg", [])


def test_a_drug_cell_beside_a_dose_column_stays_as_written(tmp_path):
    result = _import(tmp_path, "Case,Drug,Dose,Reaction\n1,Warfarin 5 mg,5 mg,Bleeding\n"
                               "2,Clozaril 100 mg tablets,,Myocarditis\n", "dose.csv")
    assert [r.case.drugs[0].product for r in result.rows] == ["Warfarin 5 mg", "Clozaril 100 mg tablets"]
    assert result.rows[1].case.drugs[0].dosages == []  # a strength is no dose


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


PDF = """\
No.,Age/Sex,Drug,Reaction,Onset,Outcome
1,68/M,Nivolumab,Myocarditis with,17 d,Died
,,,complete heart block,,
2,72/F,Pembrolizumab +,Myocarditis,25 d,Recovered
,,ipilimumab,,,
3,59/M,Nivolumab,Myositis,6 wk,Improved
,,,Rhabdomyolysis,,
"""

PDF_CITED = """\
Reference,Age/Sex,Drug,Reaction,Latency,Outcome
"Adams et al.,",54/F,Linezolid,Lactic acidosis,6 wk,Recovered
2017 [4],,,,,
"Brown and Chu,",71/M,Linezolid,Optic neuropathy,5 months,Improved
2019 [7],,,and peripheral neuropathy,,
Cole 2020 [9],44/F,Linezolid,Serotonin syndrome,2 d,Recovered
"""


def test_a_cell_broken_over_two_lines_by_a_pdf_export_is_joined_not_a_further_row(tmp_path):
    result = _import(tmp_path, PDF, "pdf.csv")
    assert [r.row for r in result.rows] == [2, 4, 6, 7] and all(r.ok for r in result.rows)
    cases = [r.case for r in result.rows if r.case]
    assert [[x.verbatim for x in c.reactions] for c in cases] == [
        ["Myocarditis with complete heart block"], ["Myocarditis"], ["Myositis", "Rhabdomyolysis"]]
    assert cases[1].drugs[0].product == "Pembrolizumab + ipilimumab"
    assert any("row 3 read as the rest of row 2's text" in note for note in result.notes)
    # the drug cell printed once for patient 3's two reactions (a merged cell) is the drug of both
    assert [d.product for d in cases[2].drugs] == ["Nivolumab"]
    assert [link.reaction for link in cases[2].drugs[0].reactions] == ["r1", "r2"]


def test_a_merged_drug_cell_of_an_xlsx_is_the_drug_of_the_patients_further_row(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for values in [("Case", "Drug", "Reaction", "Outcome"), (1, "Vancomycin", "DRESS", "Recovered"),
                   (None, None, "Acute kidney injury", "Recovering"), (2, "Cefazolin", "Rash", "Recovered")]:
        sheet.append(values)
    sheet.merge_cells("A2:A3")
    sheet.merge_cells("B2:B3")
    path = tmp_path / "merged.xlsx"
    book.save(path)
    result = import_listing(path, received="2024-05-01", validate=False)
    assert all(r.ok for r in result.rows)
    case = result.rows[0].case
    assert [d.product for d in case.drugs] == ["Vancomycin"]
    assert [(x.verbatim, x.outcome) for x in case.reactions] == [("DRESS", "recovered"),
                                                                ("Acute kidney injury", "recovering")]


def test_a_second_line_in_a_listing_without_case_ids_is_no_patient(tmp_path):
    result = _import(tmp_path, PDF_CITED, "cited.csv")
    assert [r.row for r in result.rows] == [2, 4, 6] and all(r.ok for r in result.rows)
    cases = [r.case for r in result.rows]
    assert [c.literature[0].citation for c in cases] == ["Adams et al., 2017 [4]", "Brown and Chu, 2019 [7]",
                                                         "Cole 2020 [9]"]
    assert cases[1].reactions[0].verbatim == "Optic neuropathy and peripheral neuropathy"


def test_a_treatment_column_beside_the_drug_is_the_reactions_treatment_in_the_narrative(tmp_path):
    result = _import(tmp_path, "Case,Drug,Reaction,Treatment,Outcome\n"
                               "1,Carbamazepine,SJS,\"Steroids, IVIG\",Recovered\n2,Lamotrigine,TEN,NR,Died\n",
                     "treated.csv")
    assert result.columns["treatment"] == "Treatment" and result.columns["drug.product"] == "Drug"
    cases = [r.case for r in result.rows]
    assert [d.product for c in cases for d in c.drugs] == ["Carbamazepine", "Lamotrigine"]
    assert cases[0].narrative.text == "Treatment of the reaction (Treatment): Steroids, IVIG"
    assert cases[1].narrative is None or "Treatment" not in (cases[1].narrative.text or "")


def test_a_treatment_column_without_a_drug_column_is_the_drug(tmp_path):
    result = _import(tmp_path, "Case,Treatment,Reaction\n1,Anakinra,Rash\n", "one-drug.csv")
    assert result.rows[0].case.drugs[0].product == "Anakinra" and "treatment" not in result.columns


LABS = """\
Patient;Age (years);Sex;Drug;Reaction;Peak ALT (U/L);Creatinine;INR;Bilirubin (x ULN)
1;45;F;Amoxicillin-clavulanate;Cholestatic hepatitis;1.250;Cr 1,2 mg/dL;INR 1,3;4,5
2;67;M;Warfarin;Bleeding;> 40;3,2 mg/dL;8,5;NR
"""


def test_lab_columns_give_the_cases_tests_with_units_from_cell_or_header(tmp_path):
    path = tmp_path / "labs.csv"
    path.write_text(LABS, encoding="utf-8")
    listing_map = load_map()
    listing_map.decimal_mark = ","
    result = import_listing(path, listing_map, received="2024-05-01", validate=False)
    assert all(r.ok for r in result.rows) and result.ignored == []
    tests = [[(t.name, t.value, t.unit, t.comparator, t.result_text) for t in r.case.tests] for r in result.rows]
    assert tests == [
        [("ALT", 1250.0, "U/L", None, None), ("Creatinine", 1.2, "mg/dL", None, None), ("INR", 1.3, "1", None, None),
         ("Total bilirubin", None, None, None, "4,5 x ULN")],
        [("ALT", 40.0, "U/L", ">", None), ("Creatinine", 3.2, "mg/dL", None, None), ("INR", 8.5, "1", None, None)]]
    assert result.rows[0].case.tests[3].comments == "column 'Bilirubin (x ULN)' of the listing"


def test_a_lab_value_that_may_be_a_thousand_times_off_is_kept_in_words_with_a_warning_at_its_cell(tmp_path):
    result = _import(tmp_path, LABS, "labs.csv")
    assert result.rows[0].ok
    assert (result.rows[0].case.tests[0].value, result.rows[0].case.tests[0].result_text) == (None, "1.250")
    assert "'1.250' is ambiguous" in dict(result.rows[0].warnings)["row 2, column 'Peak ALT (U/L)'"]


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _word_table(rows: list[list]) -> str:
    """A Word table: None is a cell merged with the one above, (text, n) a cell spanning n columns."""
    def cell(value) -> str:
        if value is None:
            return "<w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p/></w:tc>"
        text, span = value if isinstance(value, tuple) else (value, 1)
        paras = "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in text.split("\n"))
        return f'<w:tc><w:tcPr><w:gridSpan w:val="{span}"/></w:tcPr>{paras}</w:tc>'

    return "<w:tbl>" + "".join("<w:tr>" + "".join(cell(v) for v in row) + "</w:tr>" for row in rows) + "</w:tbl>"


def _docx(path, *tables: str) -> None:
    import zipfile

    body = "<w:p><w:r><w:t>Table 1. Reported cases</w:t></w:r></w:p>" + "".join(tables)
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("word/document.xml", f'<w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>')


def test_a_word_table_reads_like_a_spreadsheet_with_its_merged_cells(tmp_path):
    path = tmp_path / "cases.docx"
    _docx(path, _word_table([
        ["Case", "Age/Sex", "Suspected drug", "Reaction", "Time to onset", "Outcome", "Reference"],
        ["1", "34/F", "Lamotrigine 100 mg daily", "DRESS", "3 weeks", "Recovered", "Ito et al., 2019"],
        [None, None, None, "Hepatitis", "4 weeks", "Improved", None],
        ["2", "M/58", "Carbamazepine", "SJS", "10 d", "Died", "Ng 2020"],
        [("Abbreviations: DRESS, drug reaction with eosinophilia", 7)]]), _word_table([["Characteristic", "n"]]))
    result = import_listing(path, received="2024-05-01", validate=False)
    assert all(r.ok for r in result.rows)
    first, second = result.rows[0].case, result.rows[2].case
    assert [x.verbatim for x in first.reactions] == ["DRESS", "Hepatitis"]
    assert [d.product for d in first.drugs] == ["Lamotrigine"] and first.literature[0].citation == "Ito et al., 2019"
    assert (second.patient.sex, second.reactions[0].outcome) == ("male", "fatal")
    assert result.notes[0].startswith("the document holds 2 tables: the first is read")


def test_a_document_without_a_table_or_in_another_format_is_refused_saying_what_to_give(tmp_path):
    from reporter.errors import InputError

    empty = tmp_path / "empty.docx"
    _docx(empty)
    with pytest.raises(InputError, match="holds no table"):
        import_listing(empty)
    old = tmp_path / "cases.doc"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError) as exc:
        import_listing(old)
    assert ".xlsx or CSV UTF-8" in exc.value.hint


def test_non_breaking_spaces_of_a_table_copied_from_a_web_page_are_blanks(tmp_path):
    result = _import(tmp_path, "Author\tAge/Sex\tDrug\tDose\tReaction\nDiaz et al.\t45\u00a0/\u00a0F\tCiprofloxacin"
                               "\u00a0\t500\u00a0mg\u00a0bid\tTendon\u00a0rupture\n", "copied.tsv")
    case = result.rows[0].case
    assert (case.drugs[0].product, case.drugs[0].dosages[0].text) == ("Ciprofloxacin", "500 mg bid")
    assert case.reactions[0].verbatim == "Tendon rupture"


ONE_REACTION = """\
Table 3. Published cases of flucloxacillin-induced liver injury,,,,
"First author, year",Age,Sex,Drug,Daily dose,Latency
Olsson 1992,71,F,Flucloxacillin,4 g,4 weeks
Fairley 1993,64,M,Flucloxacillin,2 g/day,6 wk
"""


def test_a_series_of_one_reaction_named_in_its_title_says_what_to_do_and_the_map_may_name_it(tmp_path):
    path = tmp_path / "dili.csv"
    path.write_text(ONE_REACTION, encoding="utf-8")
    rows = import_listing(path, received="2024-05-01", validate=False).rows
    assert [len(r.problems) for r in rows] == [1, 1]  # said once, not again as the model's finding
    assert rows[0].problems[0][1].startswith("no reaction: the listing needs a reaction (or MedDRA code) column")
    listing_map = load_map()
    listing_map.defaults["reaction"] = {"verbatim": "Drug-induced liver injury"}
    rows = import_listing(path, listing_map, received="2024-05-01", validate=False).rows
    assert [r.case.reactions[0].verbatim for r in rows] == ["Drug-induced liver injury"] * 2


def test_a_daily_dose_column_gives_the_interval_of_a_dose_that_is_no_rate(tmp_path):
    listing_map = load_map()
    listing_map.defaults["reaction"] = {"verbatim": "Drug-induced liver injury"}
    path = tmp_path / "dili.csv"
    path.write_text(ONE_REACTION, encoding="utf-8")
    first, second = (r.case.drugs[0].dosages[0] for r in import_listing(path, listing_map, validate=False).rows)
    assert (first.dose.value, first.dose.unit, first.every.value, first.every.unit) == (4, "g", 1, "d")
    assert first.text == "4 g (Daily dose)"
    assert (second.dose.value, second.dose.unit, second.every) == (2, "g/d", None)


@pytest.mark.parametrize(("text", "value", "anchor"), [
    ("Day 3 of therapy", 3.0, "first-dose"), ("2 days after initiation", 2.0, "first-dose"),
    ("5 days after the start of treatment", 5.0, "first-dose"), ("3 d after discontinuation", 3.0, "last-dose"),
    ("10 d after withdrawal", 10.0, "last-dose"),
])
def test_latencies_naming_the_first_or_last_dose_in_other_words(text, value, anchor):
    found = parse_when(text, "d1")
    assert (found["value"], found["anchor"], found["as_stated"]) == (value, anchor, text)


@pytest.mark.parametrize("text", ["12 h post-dose", "2 h after infusion"])
def test_a_latency_after_a_dose_without_saying_which_asks_which(text):
    with pytest.raises(ValueError, match="counts from a dose without saying which"):
        parse_when(text, "d1")


def test_words_reviews_use_for_not_reported_give_no_value(tmp_path):
    result = _import(tmp_path, "Author,Age/Sex,Drug,Reaction,Latency,Outcome,Causality\n"
                               "Ng 2020,NM/F,Clozapine,Myocarditis,Not mentioned,Not mentioned,no data\n", "nm.csv")
    assert result.rows[0].problems == []
    case = result.rows[0].case
    assert (case.patient.age_at_onset, case.reactions[0].onset, case.reactions[0].outcome) == (None, None, None)
    assert case.drugs[0].reactions[0].causality == []


def test_a_patient_label_in_the_case_id_column_is_the_patients_number_not_a_full_id(tmp_path):
    result = _import(tmp_path, "Case,Drug,Reaction\nCase 1,Vancomycin,DRESS\nPt 2,Cefazolin,Rash\n"
                               "#3,Linezolid,Lactic acidosis\nP4,Linezolid,Rash\nGB-ACME-2024-7,Linezolid,Rash\n",
                     "labels.csv")
    assert [(r.row, r.case_id, r.id_given) for r in result.rows] == [
        (2, "LISTING-labels-1", False), (3, "LISTING-labels-2", False), (4, "LISTING-labels-3", False),
        (5, "LISTING-labels-4", False), (6, "GB-ACME-2024-7", True)]


def test_a_note_under_the_table_in_another_column_is_still_a_footnote(tmp_path):
    result = _import(tmp_path, "Case,Drug,Reaction\n1,Vancomycin,DRESS\n,,\"Abbreviations: DRESS, drug reaction "
                               "with eosinophilia\"\n", "note.csv")
    assert [r.row for r in result.rows] == [2] and result.rows[0].ok
    assert any(note.startswith("row 3 under the table skipped as a footnote") for note in result.notes)


def test_a_header_broken_over_two_lines_by_a_pdf_export_is_one_header(tmp_path):
    result = _import(tmp_path, "Case,Age/,Suspected,Adverse,Time to,Outcome\n,sex,drug,reaction,onset (days),\n"
                               "1,45/F,Amiodarone,Hepatitis,21,Recovered\n", "header2.csv")
    assert result.columns == {"case_id": "Case", "patient.age_sex": "Age/sex", "drug.product": "Suspected drug",
                              "reaction.term": "Adverse reaction", "reaction.onset": "Time to onset (days)",
                              "reaction.outcome": "Outcome"}
    case = result.rows[0].case
    assert (case.case_id, case.patient.sex, case.reactions[0].onset.value) == ("LISTING-header2-1", "female", 21)
