"""When each measurement of a course is due (pure Python).

A timepoint is anchored at the course start or end and offset by months and days; its window
runs from `window_before_days` before the due date to `window_after_days` after it. An
end-anchored timepoint has no date while the course has no end date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from surveyapp.enums import Anchor, AssignmentStatus

DENMARK = ZoneInfo("Europe/Copenhagen")


def today_in_denmark(now: datetime | None = None) -> date:
    """The calendar day in Denmark: windows and due dates are Danish days, not UTC days."""
    return (now or datetime.now(DENMARK)).astimezone(DENMARK).date()


@dataclass(frozen=True)
class TimepointRule:
    """The scheduling part of a plan timepoint."""

    key: str
    anchor: Anchor
    offset_months: int = 0
    offset_days: int = 0
    window_before_days: int = 0
    window_after_days: int = 14


class TimepointRole(StrEnum):
    """What a timepoint is in an evaluation, whatever the plan calls it."""

    BASELINE = "baseline"  # førmåling: at the course start
    DURING = "during"  # after the start, before the end
    END = "end"  # eftermåling: at the course end
    FOLLOW_UP = "follow_up"  # opfølgende måling: after the end


def timepoint_role(anchor: Anchor, offset_months: int = 0, offset_days: int = 0) -> TimepointRole:
    """Classify a timepoint by its anchor and offset (the baseline is start + 0)."""
    ahead = offset_months * 31 + offset_days
    if anchor is Anchor.COURSE_START:
        return TimepointRole.BASELINE if ahead <= 0 else TimepointRole.DURING
    if ahead < 0:
        return TimepointRole.DURING
    return TimepointRole.END if ahead == 0 else TimepointRole.FOLLOW_UP


@dataclass(frozen=True)
class Window:
    """A due date and the window in which an answer counts for the timepoint."""

    due: date
    start: date
    end: date

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def window_for(rule: TimepointRule, start: date, end: date | None) -> Window | None:
    """The timepoint's window for a course, or None while its anchor date is unknown."""
    anchor_date = start if rule.anchor is Anchor.COURSE_START else end
    if anchor_date is None:
        return None
    due = anchor_date + relativedelta(months=rule.offset_months, days=rule.offset_days)
    return Window(
        due=due,
        start=due - timedelta(days=rule.window_before_days),
        end=due + timedelta(days=rule.window_after_days),
    )


OPEN_STATUSES = frozenset({AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN})


def status_on(current: AssignmentStatus, window: Window | None, today: date) -> AssignmentStatus:
    """The status an unanswered assignment should have today.

    Answered (in progress, completed) and declined assignments keep their status; a scheduled
    or open one opens when its window starts and expires ("missed") when it has passed.
    """
    if current not in OPEN_STATUSES and current is not AssignmentStatus.EXPIRED:
        return current
    if window is None or today < window.start:
        return AssignmentStatus.SCHEDULED
    if today > window.end:
        return AssignmentStatus.EXPIRED
    return AssignmentStatus.OPEN
