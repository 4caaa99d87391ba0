"""Export problems in words for the pages (reporter/web/plain.py, mappings/e2b/plain_words.yaml): the command
line and the API keep the checker's messages; a page says the problem in words with the E2B number apart."""

from __future__ import annotations

from reporter.e2b.dictionary import rule_set
from reporter.validation.report import Issue
from reporter.web.plain import reference, words


def test_a_rule_in_the_table_is_said_in_its_words() -> None:
    issue = Issue("error", "R0011", "C.1.7 (case 1)",
                  "nullFlavor NI used for C.1.7 in an initial report: say whether the case is expedited")
    said = words(issue)
    assert said.startswith("Whether the case meets the local criteria for expedited reporting is not given")
    assert "nullFlavor" not in said and "C.1.7" not in said
    assert reference(issue) == "C.1.7"


def test_a_message_not_in_the_table_names_elements_and_null_flavors_in_words() -> None:
    issue = Issue("error", "R0075", "G.k.4.r.1b (case 1, drug 2, dosage 1)",
                  "G.k.4.r.1b must be provided when G.k.4.r.1a is provided")
    assert words(issue) == "“Dose (unit)” must be provided when “Dose (number)” is provided"
    assert reference(issue) == "G.k.4.r.1b (drug 2, dosage 1)"
    flavor = Issue("error", "E2B-NULLFLAVOR", "F.r.1 (case 1, test 1)",
                   "Test Date has no value (nullFlavor NI), and ICH allows no null flavor here")
    assert words(flavor) == "Test Date has no value ('no information'), and ICH allows no null flavor here"


def test_no_rule_says_an_element_number_or_null_flavor_on_the_pages() -> None:
    """Every rule of every receiver, in words: no E2B number, no 'nullFlavor', no '= 1' left in what a page says."""
    import re

    for name in ("ich", "fda", "ema"):
        for rule in rule_set(name)["rules"]:
            said = words(Issue(rule["severity"], rule["id"], f"{rule['element']} (case 1)", rule["message"]))
            assert not re.search(r"(?<![\w.])(FDA\.)?[A-HN]\.[A-Za-z0-9.]+|nullFlavor|= \d", said), (rule["id"], said)


def test_an_import_note_is_said_in_words_with_its_element_named_and_its_place_apart() -> None:
    from reporter.web.plain import note

    said, where = note("G.k.2.1.1a (case 1, drug 2): accepted by US FDA FAERS (postmarket) although the ICH table "
                       "does not allow it (E2B-LENGTH)")
    assert said == ("MPID Version Date / Number: accepted by US FDA FAERS (postmarket) although the ICH table does "
                    "not allow it (longer than ICH allows)")
    assert where == "G.k.2.1.1a (drug 2)"
    assert note("a note that names no element") == ("A note that names no element", None)


def test_the_place_says_whether_it_is_an_e2b_element_or_a_fhir_path() -> None:
    """Readiness lists validation's errors too (the export refuses what validation refuses): their places are
    FHIRPaths, which the page called 'E2B'."""
    from reporter.web.plain import standard

    assert standard(Issue("error", "R0011", "C.1.7 (case 1)", "x")) == "E2B"
    assert standard(Issue("error", "E2B-LENGTH", "FDA.C.5.5a (case 1)", "x")) == "E2B"
    assert standard(Issue("error", "ICSR-MIN-PATIENT", "Bundle.entry[1].resource.ofType(Patient)", "x")) == "FHIR"
    assert standard(Issue("error", "E2B-EXPORT", "case_id", "x")) == ""
