"""Due dates, windows and status of measurements."""

from __future__ import annotations

from datetime import date

import pytest

from surveyapp.enums import Anchor, AssignmentStatus
from surveyapp.scheduling import TimepointRule, Window, status_on, window_for

START, END = date(2026, 1, 31), date(2026, 3, 15)


def test_start_anchored_timepoint() -> None:
    rule = TimepointRule(
        "baseline", Anchor.COURSE_START, window_before_days=3, window_after_days=14
    )
    assert window_for(rule, START, None) == Window(
        date(2026, 1, 31), date(2026, 1, 28), date(2026, 2, 14)
    )


def test_end_anchored_timepoint_waits_for_the_end_date() -> None:
    rule = TimepointRule("fu_3m", Anchor.COURSE_END, offset_months=3)
    assert window_for(rule, START, None) is None
    assert window_for(rule, START, END).due == date(2026, 6, 15)  # type: ignore[union-attr]


def test_month_offsets_clip_to_the_month_end() -> None:
    rule = TimepointRule("fu_1m", Anchor.COURSE_START, offset_months=1)
    assert window_for(rule, START, None).due == date(2026, 2, 28)  # type: ignore[union-attr]


def test_year_offsets() -> None:
    rule = TimepointRule("fu_2y", Anchor.COURSE_END, offset_months=24)
    assert window_for(rule, START, END).due == date(2028, 3, 15)  # type: ignore[union-attr]


WINDOW = Window(due=date(2026, 3, 15), start=date(2026, 3, 8), end=date(2026, 3, 29))


@pytest.mark.parametrize(
    ("current", "today", "expected"),
    [
        (AssignmentStatus.SCHEDULED, date(2026, 3, 7), AssignmentStatus.SCHEDULED),
        (AssignmentStatus.SCHEDULED, date(2026, 3, 8), AssignmentStatus.OPEN),
        (AssignmentStatus.OPEN, date(2026, 3, 29), AssignmentStatus.OPEN),
        (AssignmentStatus.OPEN, date(2026, 3, 30), AssignmentStatus.EXPIRED),
        (AssignmentStatus.EXPIRED, date(2026, 3, 10), AssignmentStatus.OPEN),  # window moved
        (AssignmentStatus.IN_PROGRESS, date(2026, 4, 30), AssignmentStatus.IN_PROGRESS),
        (AssignmentStatus.COMPLETED, date(2026, 4, 30), AssignmentStatus.COMPLETED),
        (AssignmentStatus.DECLINED, date(2026, 3, 10), AssignmentStatus.DECLINED),
    ],
)
def test_status_on(current: AssignmentStatus, today: date, expected: AssignmentStatus) -> None:
    assert status_on(current, WINDOW, today) is expected


def test_unknown_window_stays_scheduled() -> None:
    assert status_on(AssignmentStatus.OPEN, None, date(2030, 1, 1)) is AssignmentStatus.SCHEDULED


def test_today_is_the_danish_calendar_day() -> None:
    from datetime import UTC, datetime

    from surveyapp.scheduling import today_in_denmark

    assert today_in_denmark(datetime(2026, 11, 23, 23, 30, tzinfo=UTC)) == date(2026, 11, 24)
    assert today_in_denmark(datetime(2026, 6, 30, 21, 59, tzinfo=UTC)) == date(2026, 6, 30)
    assert today_in_denmark(datetime(2026, 6, 30, 22, 0, tzinfo=UTC)) == date(2026, 7, 1)
