"""Admin editing of measurement plans, with a preview of what changes in open courses.

The shipped default plan is shared by every municipality and is never edited in place: an admin
makes an editable copy for the municipality, and new courses can follow that copy. Changing a
timepoint of a municipality's plan is done in two steps: `preview_timepoint` says, course by
course, which measurements will be added, moved or removed; `apply_timepoint` does exactly that.

What a change touches in the courses that follow the plan (not cancelled ones):
- a measurement not yet answered (scheduled, open or missed) gets the new window;
- a questionnaire added to the timepoint is scheduled, unless its window has already passed;
- a questionnaire taken off the timepoint is removed where it is scheduled or open;
- answered, started and dropped-out measurements are history and never change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from surveyapp.enums import Anchor, AssignmentStatus, CourseStatus, Respondent
from surveyapp.instruments import Registry, RespondentKind
from surveyapp.models import (
    Assignment,
    Course,
    LinkToken,
    MeasurementPlan,
    PlanItem,
    PlanTimepoint,
    utcnow,
)
from surveyapp.scheduling import TimepointRule, Window, status_on, window_for
from surveyapp.services import audit
from surveyapp.services.courses import create_plan, spec_of
from surveyapp.services.scope import (
    OutOfScope,
    Scope,
    get_own_plan,
    get_own_timepoint,
    get_plan,
    require_admin,
)

MOVABLE = (AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN, AssignmentStatus.EXPIRED)
REMOVABLE = (AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN)
LIVE = (CourseStatus.PLANNED, CourseStatus.ACTIVE, CourseStatus.ENDED)

Pair = tuple[str, Respondent]


def item_choices(registry: Registry) -> list[Pair]:
    """Every (instrument, respondent) pair a plan may hold, from the instrument definitions."""
    pairs: list[Pair] = []
    for instrument_id in registry.ids():
        kind = registry.get(instrument_id).respondent
        if kind is RespondentKind.SELF:
            pairs += [(instrument_id, Respondent.CITIZEN), (instrument_id, Respondent.RELATIVE)]
        elif kind is RespondentKind.PROXY:
            pairs.append((instrument_id, Respondent.RELATIVE))
        else:
            pairs.append((instrument_id, Respondent.STAFF))
    return pairs


class PlanError(ValueError):
    def __init__(self, field: str, code: str) -> None:
        super().__init__(code)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class TimepointChange:
    """A timepoint as the admin wants it."""

    key: str
    label_da: str
    label_en: str
    anchor: Anchor
    offset_months: int
    offset_days: int
    window_before_days: int
    window_after_days: int
    items: tuple[Pair, ...]
    link_valid_days: int = 14  # how long a letter's link works (see services.links)

    @property
    def rule(self) -> TimepointRule:
        return TimepointRule(
            self.key,
            self.anchor,
            self.offset_months,
            self.offset_days,
            self.window_before_days,
            self.window_after_days,
        )

    def digest(self) -> str:
        """A fingerprint of the change: "apply" must follow a preview of the same change."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ChangeLine:
    course_id: int
    citizen_label: str
    instrument_id: str
    respondent: Respondent
    old_due: date | None
    new_due: date | None


@dataclass
class Impact:
    courses: int = 0
    added: list[ChangeLine] = field(default_factory=list)
    moved: list[ChangeLine] = field(default_factory=list)
    removed: list[ChangeLine] = field(default_factory=list)
    not_added_past: int = 0
    kept: int = 0  # answered, started or dropped out: unchanged

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.moved) + len(self.removed)


def list_plans(session: Session, scope: Scope) -> list[MeasurementPlan]:
    from surveyapp.services.scope import plans

    require_admin(scope)
    return plans(session, scope, active_only=False)


def plan_detail(session: Session, scope: Scope, plan_id: int) -> MeasurementPlan:
    require_admin(scope)
    return get_plan(session, scope, plan_id)


def copy_plan(session: Session, scope: Scope, plan_id: int, name: str) -> MeasurementPlan:
    """An editable copy of a plan, owned by the admin's municipality."""
    require_admin(scope)
    source = get_plan(session, scope, plan_id)
    copy = create_plan(
        session,
        replace(spec_of(source), name=name.strip()[:120]),
        municipality_id=scope.municipality_id,
    )
    audit.record(
        session,
        scope.actor,
        "plan.copy",
        object_type="measurement_plan",
        object_id=copy.id,
        details={"from_plan_id": source.id},
    )
    return copy


def _check(change: TimepointChange, registry: Registry) -> None:
    allowed = set(item_choices(registry))
    if not change.items:
        raise PlanError("items", "no_items")
    if any(pair not in allowed for pair in change.items):
        raise PlanError("items", "invalid_choice")


def _impact(
    session: Session,
    plan: MeasurementPlan,
    key: str,
    change: TimepointChange | None,
    *,
    today: date,
    apply: bool,
    timepoint: PlanTimepoint | None,
) -> Impact:
    courses = session.scalars(
        select(Course)
        .where(Course.plan_id == plan.id, Course.status.in_(LIVE))
        .options(selectinload(Course.assignments), selectinload(Course.citizen))
        .order_by(Course.id)
    ).all()
    impact = Impact(courses=len(courses))
    wanted = list(change.items) if change else []
    now = utcnow()
    removed_ids: list[int] = []
    for course in courses:
        existing = {
            (a.instrument_id, a.respondent): a for a in course.assignments if a.timepoint_key == key
        }
        window = window_for(change.rule, course.start_date, course.end_date) if change else None
        for pair in wanted:
            assignment = existing.get(pair)
            line = ChangeLine(
                course.id,
                course.citizen.label,
                pair[0],
                pair[1],
                assignment.due_date if assignment else None,
                window.due if window else None,
            )
            if assignment is None:
                if window is not None and window.end < today:
                    impact.not_added_past += 1
                    continue
                impact.added.append(line)
                if apply:
                    _add(course, timepoint, key, pair, window, today)
            elif assignment.status in MOVABLE:
                if _window_of(assignment) != window:
                    impact.moved.append(line)
                    if apply:
                        _move(assignment, window, today, now)
            else:
                impact.kept += 1
        for pair, assignment in existing.items():
            if pair in wanted:
                continue
            line = ChangeLine(
                course.id, course.citizen.label, pair[0], pair[1], assignment.due_date, None
            )
            if assignment.status in REMOVABLE and assignment.response is None:
                impact.removed.append(line)
                removed_ids.append(assignment.id)
            else:
                impact.kept += 1
    if apply and removed_ids:
        session.execute(delete(LinkToken).where(LinkToken.assignment_id.in_(removed_ids)))
        for course in courses:
            for assignment in list(course.assignments):
                if assignment.id in removed_ids:
                    course.assignments.remove(assignment)
                    session.delete(assignment)
    return impact


def _window_of(assignment: Assignment) -> Window | None:
    if (
        assignment.due_date is None
        or assignment.window_start is None
        or assignment.window_end is None
    ):
        return None
    return Window(assignment.due_date, assignment.window_start, assignment.window_end)


def _add(
    course: Course,
    timepoint: PlanTimepoint | None,
    key: str,
    pair: Pair,
    window: Window | None,
    today: date,
) -> None:
    course.assignments.append(
        Assignment(
            timepoint_id=timepoint.id if timepoint is not None else None,
            timepoint_key=key,
            instrument_id=pair[0],
            respondent=pair[1],
            due_date=window.due if window else None,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            status=status_on(AssignmentStatus.SCHEDULED, window, today),
        )
    )


def _move(assignment: Assignment, window: Window | None, today: date, now: object) -> None:
    assignment.due_date = window.due if window else None
    assignment.window_start = window.start if window else None
    assignment.window_end = window.end if window else None
    status = status_on(assignment.status, window, today)
    if status is not assignment.status:
        assignment.status = status
        assignment.status_changed_at = now  # type: ignore[assignment]


def _target(
    session: Session, scope: Scope, plan_id: int, timepoint_id: int | None
) -> tuple[MeasurementPlan, PlanTimepoint | None]:
    require_admin(scope)
    plan = get_own_plan(session, scope, plan_id)
    timepoint = get_own_timepoint(session, scope, plan_id, timepoint_id) if timepoint_id else None
    return plan, timepoint


def _checked_key(
    plan: MeasurementPlan, timepoint: PlanTimepoint | None, change: TimepointChange
) -> str:
    if timepoint is not None:
        return timepoint.key  # the key of an existing timepoint never changes
    if any(tp.key == change.key for tp in plan.timepoints):
        raise PlanError("key", "key_taken")
    return change.key


def _prepared(
    session: Session,
    scope: Scope,
    plan_id: int,
    timepoint_id: int | None,
    change: TimepointChange,
    registry: Registry,
) -> tuple[MeasurementPlan, PlanTimepoint | None, str]:
    """The plan and timepoint a change is for, with the change checked and its key."""
    plan, timepoint = _target(session, scope, plan_id, timepoint_id)
    _check(change, registry)
    return plan, timepoint, _checked_key(plan, timepoint, change)


def preview_timepoint(
    session: Session,
    scope: Scope,
    plan_id: int,
    timepoint_id: int | None,
    change: TimepointChange,
    *,
    registry: Registry,
    today: date,
) -> Impact:
    """What saving this timepoint would change in the plan's open courses (changes nothing)."""
    plan, timepoint, key = _prepared(session, scope, plan_id, timepoint_id, change, registry)
    return _impact(session, plan, key, change, today=today, apply=False, timepoint=timepoint)


def apply_timepoint(
    session: Session,
    scope: Scope,
    plan_id: int,
    timepoint_id: int | None,
    change: TimepointChange,
    *,
    registry: Registry,
    today: date,
) -> Impact:
    """Save the timepoint (new or changed) and apply the previewed changes to open courses."""
    plan, timepoint, key = _prepared(session, scope, plan_id, timepoint_id, change, registry)
    if timepoint is None:
        timepoint = PlanTimepoint(
            key=key, sort_order=max((t.sort_order for t in plan.timepoints), default=-1) + 1
        )
        plan.timepoints.append(timepoint)
    timepoint.label_da = change.label_da
    timepoint.label_en = change.label_en
    timepoint.anchor = change.anchor
    timepoint.offset_months = change.offset_months
    timepoint.offset_days = change.offset_days
    timepoint.window_before_days = change.window_before_days
    timepoint.window_after_days = change.window_after_days
    timepoint.link_valid_days = change.link_valid_days
    current = {(i.instrument_id, i.respondent): i for i in timepoint.items}
    timepoint.items = [
        current.get(pair) or PlanItem(instrument_id=pair[0], respondent=pair[1])
        for pair in change.items
    ]
    for order, item in enumerate(timepoint.items):
        item.sort_order = order
    session.flush()
    impact = _impact(session, plan, key, change, today=today, apply=True, timepoint=timepoint)
    session.flush()
    audit.record(
        session,
        scope.actor,
        "plan.timepoint_save",
        object_type="measurement_plan",
        object_id=plan.id,
        details={
            "timepoint": key,
            "added": len(impact.added),
            "moved": len(impact.moved),
            "removed": len(impact.removed),
        },
    )
    return impact


def preview_delete(
    session: Session, scope: Scope, plan_id: int, timepoint_id: int, *, today: date
) -> Impact:
    plan, timepoint = _target(session, scope, plan_id, timepoint_id)
    if timepoint is None:
        raise OutOfScope("not found")
    return _impact(
        session, plan, timepoint.key, None, today=today, apply=False, timepoint=timepoint
    )


def delete_timepoint(
    session: Session, scope: Scope, plan_id: int, timepoint_id: int, *, today: date
) -> Impact:
    """Take a timepoint off a plan; its unanswered measurements in open courses go too."""
    plan, timepoint = _target(session, scope, plan_id, timepoint_id)
    if timepoint is None:
        raise OutOfScope("not found")
    if len(plan.timepoints) <= 1:
        raise PlanError("timepoint", "last_timepoint")
    key = timepoint.key
    impact = _impact(session, plan, key, None, today=today, apply=True, timepoint=timepoint)
    plan.timepoints.remove(timepoint)
    session.flush()
    audit.record(
        session,
        scope.actor,
        "plan.timepoint_delete",
        object_type="measurement_plan",
        object_id=plan.id,
        details={"timepoint": key, "removed": len(impact.removed)},
    )
    return impact
