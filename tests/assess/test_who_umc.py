"""WHO-UMC: each category from its published definition's criteria, with the criteria that held."""

from __future__ import annotations

import pytest

from reporter.assess import who_umc
from tests.assess.support import case_data, facts

CERTAIN = {"time": "plausible", "alternative": "excluded", "dechallenge": "positive", "definitive": "yes",
           "rechallenge": "positive"}


@pytest.mark.parametrize(("answers", "category", "label"), [
    # Certain: plausible time, not explained by disease/drugs, plausible withdrawal response, definitive
    # phenomenon, satisfactory rechallenge.
    (CERTAIN, "certain", "Certain"),
    # ... when rechallenge is not necessary, still certain
    ({**CERTAIN, "rechallenge": "not-needed"}, "certain", "Certain"),
    # Probable/likely: reasonable time, unlikely due to disease/drugs, reasonable withdrawal; no rechallenge.
    ({**CERTAIN, "alternative": "unlikely", "rechallenge": "not-done", "definitive": "unknown"},
     "probable", "Probable/Likely"),
    # Possible: reasonable time, could also be explained by disease/drugs, withdrawal lacking or unclear.
    ({"time": "plausible", "alternative": "possible", "dechallenge": "unclear"}, "possible", "Possible"),
    # Unlikely: improbable time relationship.
    ({"time": "improbable", "alternative": "plausible"}, "unlikely", "Unlikely"),
    # Unlikely: disease or other drugs plausibly explain it.
    ({"time": "plausible", "alternative": "plausible", "dechallenge": "positive"}, "unlikely", "Unlikely"),
    # Conditional/unclassified: more data needed or under examination.
    ({**CERTAIN, "more_data": "pending"}, "conditional", "Conditional/Unclassified"),
    # Unassessable/unclassifiable: insufficient or contradictory information that cannot be supplemented.
    ({**CERTAIN, "information": "insufficient"}, "unassessable", "Unassessable/Unclassifiable"),
])
def test_categories_from_their_definitions(answers, category, label) -> None:
    result = who_umc.assess(facts(case_data(onset=None, dechallenge=None, rechallenge=None)), answers)
    assert (result.category, result.category_label) == (category, label)
    assert result.score is None and result.result_text == label


def test_explanation_names_the_criteria_that_held_and_what_failed() -> None:
    answers = {"alternative": "unlikely"}
    result = who_umc.assess(facts(case_data()), answers)  # time and dechallenge pre-filled from the case
    assert result.category == "probable"
    assert "Criteria that held: Is the time relationship between drug intake and the event plausible? " \
           "Plausible / reasonable; Can disease or other drugs explain the event? Unlikely to be attributed to " \
           "disease or other drugs; Is the response to withdrawal plausible / clinically reasonable? Yes: the " \
           "event abated on withdrawal." in result.summary
    assert "Not Certain: Can disease or other drugs explain the event? Unlikely" in result.summary
    by_item = {a.item: a for a in result.answers}
    assert by_item["time"].source == "case" and by_item["dechallenge"].source == "case"


def test_unknown_time_is_unassessable_and_dechallenge_moves_the_category() -> None:
    assert who_umc.assess(facts(case_data(onset=None))).category == "unassessable"
    positive = who_umc.assess(facts(case_data(dechallenge="positive")), {"alternative": "excluded"})
    negative = who_umc.assess(facts(case_data(dechallenge="negative")), {"alternative": "excluded"})
    assert (positive.category, negative.category) == ("probable", "possible")
