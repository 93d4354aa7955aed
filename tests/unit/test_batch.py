"""Batch scoring of CSV files: the output contract and every rejection."""

from __future__ import annotations

import csv
import io

import pytest

from surveyapp.instruments import Registry
from surveyapp.instruments.batch import BatchError, score_csv

WHO5_HEADER = "id,who5_1,who5_2,who5_3,who5_4,who5_5"
WHO5_SCORES = "who5_raw,who5_percent,who5_poor_wellbeing,who5_likely_depression,who5_low_item"
S_HEADER = ",".join(f"S{n}" for n in range(1, 13))


def run(instrument: str, text: str) -> str:
    out = io.StringIO()
    score_csv(instrument, io.StringIO(text), out)
    return out.getvalue()


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def fails(instrument: str, text: str) -> str:
    out = io.StringIO()
    with pytest.raises(BatchError) as caught:
        score_csv(instrument, io.StringIO(text), out)
    assert out.getvalue() == ""  # nothing is written when anything is wrong
    return str(caught.value)


def test_who5_worked_examples() -> None:
    text = f"{WHO5_HEADER}\nA,0,0,0,0,0\nB,3,3,3,3,3\nC,5,5,5,5,5\nD,4,1,0,2,3\nE,4,1,,2,3\n"
    assert run("who5", text) == (
        f"{WHO5_HEADER},{WHO5_SCORES},who5_note\n"
        "A,0,0,0,0,0,0,0,1,1,1,\n"
        "B,3,3,3,3,3,15,60,0,0,0,\n"
        "C,5,5,5,5,5,25,100,0,0,0,\n"
        "D,4,1,0,2,3,10,40,1,0,1,\n"
        "E,4,1,,2,3,,,,,,not_scorable:missing_items:1; missing:who5_3\n"
    )


def test_whodas_percent_sum_and_imputation() -> None:
    text = f"{S_HEADER},H1\n" + ",".join(["2"] * 12) + ",\n" + ",".join(["3"] * 11) + ",,30\n"
    out = rows(run("whodas12", text))
    assert (out[0]["whodas12_sum"], out[0]["whodas12_percent"]) == ("24", "25")
    assert out[0]["whodas12_cognition"] == "4"
    assert (out[1]["whodas12_sum"], out[1]["whodas12_note"]) == ("36", "imputed:S12")
    assert out[1]["H1"] == "30"


def test_whodas_fractions_are_written_in_full_with_a_decimal_point() -> None:
    text = f"{S_HEADER}\n" + ",".join(["1"] * 11 + ["2"]) + "\n"
    assert rows(run("whodas12", text))[0]["whodas12_percent"] == repr(100 / 48)


def test_whodas_proxy_columns_carry_its_own_prefix() -> None:
    text = f"{S_HEADER},H4\n" + ",".join(["5"] * 12) + ",2\n"
    out = rows(run("whodas12_proxy", text))[0]
    assert (out["whodas12_proxy_sum"], out["whodas12_proxy_percent"]) == ("60", "100")


def test_start_meeting_mean() -> None:
    text = "sm_1,sm_2,sm_3,sm_4\n7,8,,10\n8,8,8,8\n,,,\n"
    out = rows(run("start_meeting", text))
    assert out[0]["start_meeting_mean"] == repr(25 / 3)
    assert out[0]["start_meeting_n"] == "3"
    assert out[0]["start_meeting_note"] == "missing:sm_3"
    assert out[1]["start_meeting_mean"] == "8"
    assert out[2]["start_meeting_mean"] == ""
    assert out[2]["start_meeting_note"].startswith("not_scorable:no_items_answered")


def test_other_columns_pass_through_unchanged() -> None:
    text = f'respondent,date,{WHO5_HEADER},comment\nr1,2026-01-05,A, 3 ,3,3,3,3,"ja, tak"\n'
    out = run("who5", text)
    assert out.startswith(f"respondent,date,{WHO5_HEADER},comment,{WHO5_SCORES},who5_note\n")
    assert 'r1,2026-01-05,A, 3 ,3,3,3,3,"ja, tak",15,60,' in out


def test_semicolons_and_a_byte_order_mark_are_understood() -> None:
    text = "\ufeff" + WHO5_HEADER.replace(",", ";") + "\nA;3;3;3;3;3\n"
    out = run("who5", text)
    assert out.splitlines()[0].startswith("id;who5_1;")
    assert out.splitlines()[1] == "A;3;3;3;3;3;15;60;0;0;0;"


def test_blank_lines_are_skipped_but_counted_in_file_lines() -> None:
    text = f"{WHO5_HEADER}\n\nA,3,3,3,3,3\n\nB,9,3,3,3,3\n"
    assert fails("who5", text) == "row 2 (line 5), column who5_1: value 9 is outside 0–5"


def test_optional_columns_may_be_absent() -> None:
    text = f"{S_HEADER}\n" + ",".join(["1"] * 12) + "\n"
    assert rows(run("whodas12", text))[0]["whodas12_sum"] == "12"


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("7", "value 7 is outside 0–5"),
        ("-1", "value -1 is outside 0–5"),
        ("2.5", "'2.5' is not a whole number (leave the cell empty if missing)"),
        ("3,0", None),  # a quoted "3,0" in a comma file
        ("NA", "'NA' is not a whole number"),
        ("ved ikke", "'ved ikke' is not a whole number"),
    ],
)
def test_bad_cells_name_row_and_column(cell: str, problem: str | None) -> None:
    text = f'{WHO5_HEADER}\nA,3,3,3,3,3\nB,3,"{cell}",3,3,3\n'
    message = fails("who5", text)
    assert message.startswith("row 2 (line 3), column who5_2: ")
    assert problem is None or problem in message


def test_every_problem_is_reported_at_once() -> None:
    text = f"{WHO5_HEADER}\nA,6,3,3,3,3\nB,3,3,3,3,x\nC,3,3,3\n"
    assert fails("who5", text).splitlines() == [
        "row 1 (line 2), column who5_1: value 6 is outside 0–5",
        "row 2 (line 3), column who5_5: 'x' is not a whole number "
        "(leave the cell empty if missing)",
        "row 3 (line 4): 4 cells, but the header has 6",
    ]


def test_a_long_list_of_problems_is_cut_short() -> None:
    text = WHO5_HEADER + "\n" + "A,9,3,3,3,3\n" * 25
    lines = fails("who5", text).splitlines()
    assert len(lines) == 21 and lines[-1] == "... and 5 more"


def test_unknown_instrument_lists_the_known_ones() -> None:
    message = fails("who6", f"{WHO5_HEADER}\n")
    assert message == (
        "unknown instrument 'who6' "
        "(known: course_outcome, start_meeting, who5, whodas12, whodas12_proxy)"
    )


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("who5_6", "unknown column 'who5_6': not an item of who5; its items are who5_1, "),
        ("H1", "unknown column 'H1': not an item of who5"),
        ("S13", "unknown column 'S13'"),
        ("sm_2", "unknown column 'sm_2'"),
        ("co_help_need", "unknown column 'co_help_need'"),
        ("WHO5_1", "unknown column 'WHO5_1': not an item of who5 (did you mean 'who5_1'?)"),
        ("who5_raw", "column 'who5_raw' is a score column this command adds; remove it"),
        ("who5_note", "column 'who5_note' is a score column"),
        ("who5_1", "column 'who5_1' appears twice"),
    ],
)
def test_unknown_columns_are_rejected(column: str, message: str) -> None:
    assert message in fails("who5", f"{WHO5_HEADER},{column}\n")


def test_a_missing_item_column_is_rejected() -> None:
    message = fails("who5", "id,who5_1,who5_2,who5_3,who5_5\nA,1,1,1,1\n")
    assert message == (
        "missing column 'who5_4' (keep the column and leave a cell empty "
        "where the answer is missing)"
    )


@pytest.mark.parametrize("text", ["", "\n", " , \n1,2\n"])
def test_an_empty_file_is_rejected(text: str) -> None:
    assert fails("who5", text).startswith("the file is empty")


def test_an_explicit_registry_is_used() -> None:
    with pytest.raises(BatchError, match=r"unknown instrument 'who5' \(known: \)"):
        score_csv("who5", io.StringIO(f"{WHO5_HEADER}\n"), io.StringIO(), Registry([]))


def test_an_instrument_without_scores_gets_only_a_note_column() -> None:
    text = "course,co_help_need,co_pre_contact\nk1,2,\n"
    assert run("course_outcome", text) == (
        "course,co_help_need,co_pre_contact,course_outcome_note\nk1,2,,\n"
    )
