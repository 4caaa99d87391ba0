"""Case-series tables as papers print them: transposed (one column per patient), unit rows under the header,
summary rows, footnote marks and "not done" cells."""

from __future__ import annotations

import openpyxl
import pytest

from reporter.casefile.listing import import_listing, load_map

TRANSPOSED = [
    ["Table 1. Patients with vancomycin-induced DRESS", "", "", ""],
    ["Characteristic", "Patient 1", "Patient 2", "Patient 3"],
    ["Age (years)", "54", "67", "38"],
    ["Sex", "F", "M", "F"],
    ["Drug", "Vancomycin", "Vancomycin", "Vancomycin"],
    ["Onset (days)", "21", "28", "18"],
    ["Reaction", "DRESS", "DRESS", "DRESS"],
    ["Outcome", "Recovered", "Recovered", "Fatal"],
    ["a RegiSCAR score", "", "", ""],
]


def _summary(result) -> list[tuple]:
    out = []
    for r in result.rows:
        case = r.case
        out.append((r.row, case.case_id, case.patient.sex, case.patient.age_at_onset.value, case.drugs[0].product,
                    case.reactions[0].verbatim, case.reactions[0].onset.value, case.reactions[0].outcome))
    return out


EXPECTED = [(2, "LISTING-series-1", "female", 54.0, "Vancomycin", "DRESS", 21.0, "recovered"),
            (3, "LISTING-series-2", "male", 67.0, "Vancomycin", "DRESS", 28.0, "recovered"),
            (4, "LISTING-series-3", "female", 38.0, "Vancomycin", "DRESS", 18.0, "fatal")]


def test_a_table_of_one_column_per_patient_is_read_as_one_case_per_column(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("\n".join(",".join(cells) for cells in TRANSPOSED) + "\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert all(r.ok for r in result.rows)
    assert _summary(result) == EXPECTED
    assert result.notes[0].startswith("read as one column per patient (row headers in column A, patients in "
                                      "columns B, C, D)")
    assert "row 1 skipped (a title or footnote): Table 1. Patients with vancomycin-induced DRESS" in result.notes
    assert "row 9 skipped (a title or footnote): a RegiSCAR score" in result.notes


def test_a_transposed_xlsx_table_reads_the_same(tmp_path):
    book = openpyxl.Workbook()
    for cells in TRANSPOSED:
        book.active.append([int(c) if c.isdigit() else (c or None) for c in cells])
    book.active.merge_cells("A1:D1")
    path = tmp_path / "series.xlsx"
    book.save(path)
    result = import_listing(path, received="2024-05-01")
    assert _summary(result) == EXPECTED


def test_a_problem_in_a_transposed_table_names_the_patient_column_and_characteristic_row(tmp_path):
    path = tmp_path / "series.csv"
    rows = [r if r[0] != "Sex" else ["Sex", "F", "x", "F"] for r in TRANSPOSED]
    path.write_text("\n".join(",".join(cells) for cells in rows) + "\n", encoding="utf-8")
    result = import_listing(path, received="2024-05-01")
    assert [r.ok for r in result.rows] == [True, False, True]
    assert dict(result.rows[1].problems)["row 3, column 'Sex'"].startswith("'x' is not a known sex value")


def test_the_map_layout_forces_rows(tmp_path):
    listing_map = load_map().model_copy(update={"layout": "rows"})
    path = tmp_path / "series.csv"
    path.write_text("\n".join(",".join(cells) for cells in TRANSPOSED) + "\n", encoding="utf-8")
    result = import_listing(path, listing_map, received="2024-05-01")
    assert not any(n.startswith("read as one column per patient") for n in result.notes)
    assert not any(r.ok for r in result.rows)


@pytest.mark.parametrize("label,number", [("Patient 3", "3"), ("Case #12", "12"), ("Pt. 4", "4"), ("J.K.", "J.K.")])
def test_a_patient_column_label_gives_the_patient_number(label, number):
    from reporter.casefile.listing import _patient_number

    assert _patient_number(label, load_map()) == number
