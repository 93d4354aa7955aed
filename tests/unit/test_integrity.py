"""The pure integrity rules (surveyapp.integrity): what each breaks on, and what it prints."""

from __future__ import annotations

import pytest

from surveyapp import integrity
from surveyapp.instruments import default_registry
from surveyapp.integrity import AnswerGroup, CheckResult, ResponseRow, ScoreNameGroup

REGISTRY = default_registry()


def _responses(*rows: ResponseRow, groups: tuple[ScoreNameGroup, ...] = ()) -> CheckResult:
    result, strange = integrity.check_responses(rows, groups, REGISTRY)
    for group in strange:
        integrity.unknown_score_name(result, group, [])
    return result


def test_a_scored_response_passes_and_each_fault_is_named() -> None:
    good = ResponseRow(1, "who5", "1", "who5/1", True, "completed", 5)
    assert _responses(good).ok
    assert _responses(good).examined == 1
    faults = {
        "is not known": good._replace(instrument_version="7"),
        "not scored": good._replace(scoring_version=None),
        "is not one of who5's": good._replace(scoring_version="whodas12_simple/1"),
        "4 score rows, 5 expected": good._replace(score_rows=4),
        "its assignment is open": good._replace(assignment_status="open"),
        "not submitted but has 5 score rows": good._replace(
            submitted=False, scoring_version=None, assignment_status="in_progress"
        ),
    }
    for words, row in faults.items():
        result = _responses(row)
        assert not result.ok, words
        assert any(words in detail for detail in result.details), (words, result.details)
        assert all(detail.startswith("response 1") for detail in result.details)


def test_a_score_name_the_instrument_does_not_produce_is_a_problem() -> None:
    good = ResponseRow(1, "who5", "1", "who5/1", True, "completed", 5)
    assert _responses(good, groups=(ScoreNameGroup("who5", "1", "who5_percent", 1),)).ok
    result = _responses(good, groups=(ScoreNameGroup("who5", "1", "whodas12_sum", 2),))
    assert result.problems == 2


@pytest.mark.parametrize(
    ("group", "problem"),
    [
        (AnswerGroup("who5", "1", "who5_1", "answered", 5, 9), None),
        (AnswerGroup("who5", "1", "who5_1", "answered", 6, 1), "does not allow"),
        (AnswerGroup("who5", "1", "who5_1", "answered", None, 1), "does not allow"),
        (AnswerGroup("who5", "1", "who5_9", "answered", 1, 1), "has no item who5_9"),
        (AnswerGroup("who5", "1", "who5_1", "dont_know", None, 1), "not offered"),
        (AnswerGroup("start_meeting", "1", "sm_1", "dont_know", None, 1), None),
        (AnswerGroup("start_meeting", "1", "sm_1", "dont_know", 3, 1), "with a value"),
        (AnswerGroup("who5", "0.9", "who5_1", "answered", 1, 1), "is not known"),
    ],
)
def test_answer_rules(group: AnswerGroup, problem: str | None) -> None:
    examined, bad = integrity.bad_answer_groups([group], REGISTRY)
    assert examined == group.rows
    if problem is None:
        assert bad == []
    else:
        assert len(bad) == 1 and problem in bad[0][1]


def _row(response_id: int, *values: float | None) -> tuple[object, ...]:
    padded = (*values, *([None] * (12 - len(values))))
    return (response_id, "who5", 7, "citizen", 3, *padded)


def test_measurements_are_merged_by_response_id() -> None:
    result = CheckResult("measurements")
    expected = [_row(1, 60.0, 15.0), _row(2, 40.0, 10.0), _row(4, 80.0, 20.0)]
    stored = [_row(1, 60.0, 15.0), _row(2, 44.0, 10.0), _row(3, 1.0)]
    integrity.compare_measurements(result, expected, stored)
    assert result.examined == 4
    assert result.details == [
        "response 2: measurement v0 differ from scores",
        "response 3: a measurement row without a scored response",
        "response 4: no measurement row",
    ]
    same = CheckResult("measurements")
    integrity.compare_measurements(same, expected, list(expected))
    assert same.ok and same.examined == 3
    moved = CheckResult("measurements")
    other = (1, "who5", 8, "citizen", 3, 60.0, 15.0, *([None] * 10))
    integrity.compare_measurements(moved, [_row(1, 60.0, 15.0)], [other])
    assert moved.details == ["response 1: measurement course_id differs"]


def test_lines_count_every_problem_and_show_the_first_few() -> None:
    result = CheckResult("orphan-rows", examined=500)
    assert result.lines() == ["ok     orphan-rows: 500 rows examined, 0 problems"]
    for n in range(integrity.MAX_DETAILS + 5):
        result.add(f"answer {n}: response 9 has no response row")
    lines = result.lines()
    assert (
        lines[0] == f"FAILED orphan-rows: 500 rows examined, {integrity.MAX_DETAILS + 5} problems"
    )
    assert len(lines) == 1 + integrity.MAX_DETAILS + 1
    assert lines[-1].strip() == "... and 5 more"
    assert integrity.summary([result, CheckResult("audit-chain")]) == (
        "1 of 2 checks FAILED: orphan-rows"
    )
    assert integrity.summary([CheckResult("audit-chain")]) == "all 1 checks hold"


def test_reported_scores_without_a_measurement_column_are_listed() -> None:
    assert integrity.missing_positions(REGISTRY, "who5", ["who5_percent", "who5_raw"]) == []
    assert integrity.missing_positions(REGISTRY, "who5", ["who5_raw"]) == ["who5_percent"]
