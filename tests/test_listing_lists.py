"""Line listings from pharmacovigilance databases: several reactions or drugs in one row (list cells, item
templates as EudraVigilance prints them, numbered columns), each read into its own reaction or drug."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from reporter.casefile.listing import import_listing, load_map
from reporter.cli import main
from reporter.errors import MappingError


def map_with(tmp_path, columns: dict, lists: dict | None = None, **changes):
    raw = load_map().model_dump()
    raw["columns"] = {**raw["columns"], **columns}
    raw["lists"] = lists or {}
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump({**raw, **changes}, allow_unicode=True), encoding="utf-8")
    return load_map(path)


FAERS = (
    "Case ID,Suspect Product Names,Suspect Product Active Ingredients,Reason for Use,Reactions,Serious,Outcomes,"
    "Sex,Event Date,Patient Age\n"
    "US-1,Humira;Methotrexate;,Adalimumab;Methotrexate Sodium,Rheumatoid Arthritis;Rheumatoid Arthritis,"
    "Pneumonia;Neutropenia;,Serious,Died;Hospitalized,Male,2023-03-05,71 YR\n"
    "US-2,Lipitor;,Atorvastatin Calcium,Hypercholesterolaemia;,Myalgia;,Serious,Hospitalized;Other Outcomes,"
    "Female,-,67 YR\n"
    "US-3,Keppra;Depakote,Levetiracetam,Epilepsy,Somnolence,Non-Serious,Non-Serious,Male,-,6 YR\n"
)
FAERS_COLUMNS = {"case_id": ["case id"], "drug.product": ["suspect product names"],
                 "drug.substance": ["suspect product active ingredients"], "drug.indication": ["reason for use"],
                 "reaction.term": ["reactions"], "reaction.seriousness": ["outcomes"], "reaction.onset": ["event date"],
                 "patient.age": ["patient age"]}
FAERS_LISTS = {name: {"separators": [";"]} for name in
               ("reaction.term", "drug.product", "drug.substance", "drug.indication")}


def test_list_cells_become_several_reactions_and_drugs_paired_by_position(tmp_path):
    path = tmp_path / "faers.csv"
    path.write_text(FAERS, encoding="utf-8")
    result = import_listing(path, map_with(tmp_path, FAERS_COLUMNS, FAERS_LISTS), received="2024-05-01")
    two_by_two, one, mismatched = result.rows
    case = two_by_two.case
    assert [r.verbatim for r in case.reactions] == ["Pneumonia", "Neutropenia"]
    assert [(d.id, d.product, d.substances[0].name, d.indications[0].text) for d in case.drugs] == [
        ("suspect", "Humira", "Adalimumab", "Rheumatoid Arthritis"),
        ("suspect-2", "Methotrexate", "Methotrexate Sodium", "Rheumatoid Arthritis")]
    # every suspect drug against every reaction, none assessed: the listing assesses none
    assert [[(link.reaction, link.causality) for link in d.reactions] for d in case.drugs] == [
        [("r1", []), ("r2", [])], [("r1", []), ("r2", [])]]
    # the row's single Outcomes (FAERS: seriousness criteria) and Event Date go to each reaction, said once
    assert all(r.seriousness.death and r.seriousness.hospitalisation and r.onset == "2023-03-05"
               for r in case.reactions)
    assert ("row 2, column 'Outcomes'", "note: one 'Outcomes' for the row's reactions: given to each (a list in "
            "the cell gives each its own)") in two_by_two.warnings
    assert [r.verbatim for r in one.case.reactions] == ["Myalgia"] and len(one.case.drugs) == 1
    assert one.case.reactions[0].seriousness.other_medically_important
    # 2 products but 1 ingredient: which drug is it of? refused, not guessed
    assert not mismatched.ok
    assert mismatched.problems == [("row 4", "the drug lists do not pair up ('Suspect Product Names' 2, "
                                             "'Suspect Product Active Ingredients' 1, 'Reason for Use' 1 items): give "
                                             "each drug one item in every list, in the same order")]


EVDAS_HEADER = ("EU Local Number,Patient Sex,Reaction List PT (Duration – Outcome - Seriousness Criteria),"
                "Suspect/interacting Drug List (Drug Char - Indication PT - Action taken - [Duration - Dose - Route])")
EVDAS_COLUMNS = {"case_id": ["eu local number"], "patient.sex": ["patient sex"], "reaction.term": ["reaction list pt"],
                 "drug.product": ["suspect interacting drug list"]}
EVDAS_LISTS = {
    "reaction.term": {"separators": [",<BR><BR>"],
                      "item": "{reaction.term} ({reaction.duration} - {reaction.outcome} - {reaction.seriousness})"},
    "drug.product": {"separators": [",<BR><BR>"],
                     "item": "{drug.product} [{drug.substance}] ({drug.role} - {drug.indication} - {drug.action_taken}"
                             " - [{drug.duration} - {drug.dose} - {drug.route}])"},
}


def test_evdas_items_are_read_by_the_maps_template(tmp_path):
    path = tmp_path / "evdas.csv"
    path.write_text(
        EVDAS_HEADER + "\n"
        'EU-EC-1,Female,"Hepatitis (n/a - Recovering/Resolving - Caused/Prolonged Hospitalisation, Other Medically '
        'Important Condition),<BR><BR>Febrile convulsion (10min - Recovered/Resolved - Life Threatening)",'
        '"ALLOPURINOL [ALLOPURINOL] (S - Gout - Drug withdrawn - [7d - 300mg - Oral use]),<BR><BR>'
        'FUROSEMIDE [FUROSEMIDE] (I - Oedema - Unknown - [n/a - n/a - n/a])"\n'
        'EU-EC-2,Male,Rash (n/a - Fatal - Results in Death),"WARFARIN [WARFARIN] (S - AF - Dose - 5mg)"\n',
        encoding="utf-8")
    good, bad = import_listing(path, map_with(tmp_path, EVDAS_COLUMNS, EVDAS_LISTS), received="2024-05-01").rows
    hepatitis, convulsion = good.case.reactions
    assert (hepatitis.verbatim, hepatitis.outcome, hepatitis.duration) == ("Hepatitis", "recovering", None)
    assert hepatitis.seriousness.hospitalisation and hepatitis.seriousness.other_medically_important
    assert not hepatitis.seriousness.life_threatening
    assert convulsion.duration.model_dump(exclude_none=True) == {"value": 10.0, "unit": "min"}
    assert convulsion.seriousness.life_threatening and convulsion.outcome == "recovered"
    allopurinol, furosemide = good.case.drugs
    assert (allopurinol.role, allopurinol.substances[0].name, allopurinol.indications[0].text,
            allopurinol.action_taken) == ("suspect", "ALLOPURINOL", "Gout", "withdrawn")
    dosage = allopurinol.dosages[0]
    assert (dosage.dose.value, dosage.dose.unit, dosage.duration.value, dosage.route.code) == (300.0, "mg", 7.0, "oral")
    assert furosemide.role == "interacting" and furosemide.dosages == [] and furosemide.action_taken is None
    # an item the template does not fit: its row, column and item number, and the template
    assert not bad.ok
    assert bad.problems[0][0] == ("row 3, column 'Suspect/interacting Drug List (Drug Char - Indication PT - Action "
                                  "taken - [Duration - Dose - Route])', item 1")
    assert "does not read as" in bad.problems[0][1]


def test_numbered_columns_are_one_drug_each(tmp_path):
    path = tmp_path / "ward.csv"
    path.write_text("MRN,Drug 1,Dose 1,Route 1,Drug 2,Dose 2,Route 2,Drug 3,Dose 3,Reactions,Outcome\n"
                    'H-1,warfarin,5 mg daily,PO,clarithromycin,500 mg bid,PO,,,"INR increased\nHaematuria",recovering\n'
                    "H-2,amoxicillin,250 mg,PO,,,,,10 mg,Urticaria,recovered\n", encoding="utf-8")
    columns = {"case_id": ["mrn"], "drug.product": ["drug {n}"], "drug.dose": ["dose {n}"], "drug.route": ["route {n}"],
               "reaction.term": ["reactions"]}
    listing_map = map_with(tmp_path, columns, {"reaction.term": {"separators": [";", "\n"]}})
    result = import_listing(path, listing_map, received="2024-05-01")
    assert result.ignored == []
    first, second = result.rows
    assert [(d.product, d.dosages[0].dose.value, d.dosages[0].every.value, d.dosages[0].route.code)
            for d in first.case.drugs] == [("warfarin", 5.0, 1.0, "oral"), ("clarithromycin", 500.0, 12.0, "oral")]
    assert [r.verbatim for r in first.case.reactions] == ["INR increased", "Haematuria"]
    assert all(r.outcome == "recovering" for r in first.case.reactions)
    # a dose in Dose 3 with no Drug 3: refused at its column, not a nameless drug
    assert second.problems == [("row 4, column 'Drug 3'", "a drug without its name: give the product (or "
                                                          "substance) of every drug the row lists")]


def test_an_assessment_or_a_relative_time_in_a_row_of_several_drugs_is_refused(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Case,Drug,Reaction,Causality,Onset\n"
                    "A-1,warfarin;aspirin,bleeding,probable,2023-01-02\n"
                    "A-2,warfarin;aspirin,bleeding,,day 3\n"
                    "A-3,warfarin,bleeding;bruising,,day 3\n", encoding="utf-8")
    listing_map = map_with(tmp_path, {}, {"drug.product": {"separators": [";"]},
                                          "reaction.term": {"separators": [";"]}})
    assessed, relative, one_drug = import_listing(path, listing_map, received="2024-05-01").rows
    assert assessed.problems == [("row 2, column 'Causality'", "the row names 2 drug(s) and 1 reaction(s): an "
                                  "assessment is of one drug and one reaction; give one row per drug-reaction pair "
                                  "with the case id")]
    assert relative.problems == [("row 3, column 'Onset'", "'day 3' counts from the suspect drug, but the row names "
                                  "several: give a date, or one row per suspect drug with the case id")]
    assert one_drug.ok and [r.onset.value for r in one_drug.case.reactions] == [3.0, 3.0]


def test_rows_of_one_case_merge_with_list_cells(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Case,Drug,Reaction,Onset\n"
                    "A-1,warfarin;aspirin,bleeding,2023-01-02\n"
                    "A-1,aspirin;omeprazole,bleeding;dyspepsia,2023-01-05\n", encoding="utf-8")
    listing_map = map_with(tmp_path, {}, {"drug.product": {"separators": [";"]},
                                          "reaction.term": {"separators": [";"]}})
    first, further = import_listing(path, listing_map, received="2024-05-01").rows
    assert first.ok and further.merged_into == 2
    case = first.case
    assert [r.verbatim for r in case.reactions] == ["bleeding", "dyspepsia"]
    assert [(d.id, d.product, [link.reaction for link in d.reactions]) for d in case.drugs] == [
        ("suspect", "warfarin", ["r1"]), ("suspect-2", "aspirin", ["r1", "r2"]),
        ("suspect-3", "omeprazole", ["r1", "r2"])]


def test_a_reaction_cell_that_may_name_several_reactions_says_so_without_a_list(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Case,Drug,Reaction\nA-1,statin,Myalgia;Rhabdomyolysis\n", encoding="utf-8")
    (row,) = import_listing(path, received="2024-05-01").rows
    assert [r.verbatim for r in row.case.reactions] == ["Myalgia;Rhabdomyolysis"]
    assert any(where == "row 2, column 'Reaction'" and "may name 2 reactions" in message and "lists" in message
               for where, message in row.warnings)


@pytest.mark.parametrize(("lists", "expected"), [
    ({"patient.age": {"separators": [";"]}}, "lists.patient.age: not a field of a reaction or a drug"),
    ({"drug.causality": {"separators": [";"]}}, "lists.drug.causality: not a field of a reaction or a drug"),
    ({"reaction.term": {"separators": [";"], "item": "{reaction.term} ({drug.dose})"}},
     "lists.reaction.term.item: {drug.dose} is not a field of the same reaction"),
    ({"reaction.term": {"separators": [";"], "item": "just text"}},
     "lists.reaction.term.item: name the item's fields in braces"),
    ({"reaction.term": {"separators": []}}, "lists.reaction.term.separators: give at least one"),
])
def test_a_wrong_lists_entry_is_told_when_the_map_loads(tmp_path, lists, expected):
    with pytest.raises(MappingError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{")
                       .replace("}", r"\}").replace(".", r"\.")):
        map_with(tmp_path, {}, lists)


def test_a_map_that_is_not_yaml_is_a_mapping_error_with_its_line(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("format: ae-reporter/listing-map/1\ncolumns:\n  drug.product: [drug {n}]\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML") as caught:
        load_map(path)
    assert caught.value.location.endswith("map.yaml:3:23")
    listing = tmp_path / "l.csv"
    listing.write_text("Drug,Reaction\nx,y\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import-listing", str(listing), "--map", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_finding_is_counted_once_per_case(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Case,Drug,Reaction\nA-1,statin,Myalgia;Rhabdomyolysis\n", encoding="utf-8")
    listing_map = tmp_path / "list.yaml"
    raw = load_map().model_dump()
    raw["lists"] = {"reaction.term": {"separators": [";"]}}
    listing_map.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = CliRunner().invoke(main, ["import-listing", str(path), "--map", str(listing_map), "-j", "1",
                                       "--received", "2024-05-01"])
    assert "  1 case(s): warning: the reaction has no MedDRA code" in result.output


def test_a_concomitant_column_gives_unassessed_drugs_of_their_own(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text(
        "Case ID,Suspect Product Names,Reason for Use,Reactions,Concomitant Product Names,Concomitant/Not Administered "
        "Drug List\n"
        'US-1,Lipitor,Hypercholesterolaemia,Myalgia,Aspirin;Metoprolol,"RAMIPRIL [RAMIPRIL] (C - Hypertension - Dose '
        'not changed - [n/a - 5mg - Oral use])"\n', encoding="utf-8")
    columns = {"case_id": ["case id"], "drug.product": ["suspect product names"],
               "drug.indication": ["reason for use"], "reaction.term": ["reactions"],
               "drug.concomitant": ["concomitant product names"]}
    (row,) = import_listing(path, map_with(tmp_path, columns, {"drug.concomitant": {"separators": [";"]}}),
                            received="2024-05-01").rows
    assert [(d.id, d.role, d.product, d.indications, len(d.reactions)) for d in row.case.drugs] == [
        ("suspect", "suspect", "Lipitor", row.case.drugs[0].indications, 1),
        ("concomitant-1", "concomitant", "Aspirin", [], 0), ("concomitant-2", "concomitant", "Metoprolol", [], 0)]
    # two suspect drugs beside it: the concomitant cell is not theirs to share
    two = tmp_path / "two.csv"
    two.write_text("Suspect Product Names,Reactions,Concomitant Product Names\nHumira;Methotrexate,Pneumonia,Aspirin\n",
                   encoding="utf-8")
    (row_two,) = import_listing(two, map_with(tmp_path, columns, {"drug.product": {"separators": [";"]}}),
                                received="2024-05-01").rows
    assert [(d.product, d.role) for d in row_two.case.drugs] == [
        ("Humira", "suspect"), ("Methotrexate", "suspect"), ("Aspirin", "concomitant")]
    assert not any("Concomitant" in where for where, _message in row_two.warnings)
    # EudraVigilance's concomitant list, read by the drug template: its role from its own Drug Char
    columns["drug.concomitant"] = ["concomitant not administered drug list"]
    lists = {"drug.concomitant": {**EVDAS_LISTS["drug.product"]}}
    (row,) = import_listing(path, map_with(tmp_path, columns, lists), received="2024-05-01").rows
    (ramipril,) = row.case.drugs[1:]
    assert (ramipril.role, ramipril.product, ramipril.indications[0].text, ramipril.action_taken,
            ramipril.dosages[0].dose.value, ramipril.reactions) == (
        "concomitant", "RAMIPRIL", "Hypertension", "dose-not-changed", 5.0, [])


def test_a_listing_of_concomitant_drugs_only_has_no_suspect_drug(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Reaction,Concomitant\nrash,aspirin\n", encoding="utf-8")
    (row,) = import_listing(path, map_with(tmp_path, {"drug.concomitant": ["concomitant"]}),
                            received="2024-05-01").rows
    assert not row.ok and "no suspect drug" in row.problems[0][1]


def test_an_age_group_column_beside_the_age_gives_the_reporters_group(tmp_path):
    path = tmp_path / "evdas.csv"
    path.write_text("EU Local Number,Drug,Reaction,Patient Age Group,Patient Age Group (as per reporter),Weight\n"
                    "EU-1,valproate,jaundice,0-1 Month,Neonate,3.1 kg\n"
                    "EU-2,allopurinol,rash,65-85 Years,Elderly,\n"
                    "EU-3,allopurinol,rash,65-85 Years,Child,210 LB\n", encoding="utf-8")
    columns = {"case_id": ["eu local number"], "patient.age": ["patient age group"]}
    neonate, elderly, wrong = import_listing(path, map_with(tmp_path, columns), received="2024-05-01").rows
    assert neonate.case.patient.age_group == "neonate" and neonate.case.patient.age_at_onset is None
    assert elderly.case.patient.age_group == "elderly"
    assert dict(wrong.problems) == {
        "row 4, column 'Patient Age Group (as per reporter)'": "'Child' is not the age group of the age given "
                                                                "(elderly): which is right?",
        "row 4, column 'Weight'": "'210 LB': give it in kg, as a number alone (95.3)"}


def test_a_report_type_column_sets_each_cases_type(tmp_path):
    path = tmp_path / "faers.csv"
    path.write_text("Case ID,Drug,Reaction,Report Source\nUS-1,statin,myalgia,Spontaneous\nUS-2,statin,myalgia,Study\n"
                    "US-3,statin,myalgia,Literature\n", encoding="utf-8")
    spontaneous, study, literature = import_listing(path, received="2024-05-01").rows
    assert (spontaneous.case.report.type, study.case.report.type) == ("spontaneous", "study")
    # a literature report is spontaneous or from a study (C.1.3): the word does not say which
    assert literature.problems[0][0] == "row 4, column 'Report Source'"
    assert "not a known report_type value" in literature.problems[0][1]


def test_a_csv_with_two_byte_order_marks_names_its_first_column_plainly(tmp_path):
    path = tmp_path / "evdas.csv"
    path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbfEU Local Number,Drug,Reaction\nEU-1,statin,myalgia\n")
    result = import_listing(path, map_with(tmp_path, {"case_id": ["eu local number"]}), received="2024-05-01")
    assert result.columns["case_id"] == "EU Local Number"
    assert result.rows[0].case.case_id == "EU-1"


def test_a_word_for_ages_that_is_no_ich_group_is_kept_in_the_narrative_and_a_typo_still_rejects(tmp_path):
    """'Paediatric' spans neonate to adolescent: it had been read as the ICH group 'child' (in an age cell), and in
    an age group column it rejected the row. Such words (values.age_words) now leave the age absent with a warning
    and the words in the narrative; a word that is no age at all still rejects the row, as a typo would."""
    path = tmp_path / "series.csv"
    path.write_text("Patient,Age,Age group,Drug,Reaction\n"
                    "1,paediatric,,amoxicillin,rash\n"
                    "2,,Young adult,amoxicillin,rash\n"
                    "3,abc,,amoxicillin,rash\n"
                    "4,8,child,amoxicillin,rash\n", encoding="utf-8")
    first, second, typo, fine = import_listing(path, received="2024-05-01").rows
    for row, column, words in ((first, "Age", "paediatric"), (second, "Age group", "Young adult")):
        assert row.case is not None and row.case.patient.age_group is None and row.case.patient.age_at_onset is None
        assert f"Age as given in the listing: {words}" in row.case.narrative.text
        assert any(where.endswith(f"column '{column}'") and "is no ICH age group" in note
                   for where, note in row.warnings), row.warnings
    assert typo.case is None and "'abc' is not an age" in dict(typo.problems)["row 4, column 'Age'"]
    assert fine.case.patient.age_group == "child"
