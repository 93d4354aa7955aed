"""Measurement plans and courses: a course's assignments follow from its plan."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyapp.enums import AssignmentStatus, CourseStatus, LegalBasis
from surveyapp.models import (
    Assignment,
    Citizen,
    Course,
    MeasurementPlan,
    PlanItem,
    PlanTimepoint,
    Provider,
    Team,
    utcnow,
)
from surveyapp.plans import DEFAULT_PLAN, PlanSpec, TimepointSpec
from surveyapp.scheduling import TimepointRule, status_on, window_for


def create_plan(
    session: Session,
    spec: PlanSpec,
    *,
    is_default: bool = False,
    municipality_id: int | None = None,
) -> MeasurementPlan:
    """Store a plan template from its specification."""
    plan = MeasurementPlan(name=spec.name, is_default=is_default, municipality_id=municipality_id)
    for order, tp in enumerate(spec.timepoints):
        rule = tp.rule
        timepoint = PlanTimepoint(
            key=rule.key,
            label_da=tp.label_da,
            label_en=tp.label_en,
            anchor=rule.anchor,
            offset_months=rule.offset_months,
            offset_days=rule.offset_days,
            window_before_days=rule.window_before_days,
            window_after_days=rule.window_after_days,
            sort_order=order,
            link_valid_days=tp.link_valid_days,
        )
        timepoint.items = [
            PlanItem(instrument_id=instrument_id, respondent=respondent, sort_order=i)
            for i, (instrument_id, respondent) in enumerate(tp.items)
        ]
        plan.timepoints.append(timepoint)
    session.add(plan)
    session.flush()
    return plan


def spec_of(plan: MeasurementPlan) -> PlanSpec:
    """The plain specification of a stored plan (the inverse of create_plan)."""
    return PlanSpec(
        name=plan.name,
        timepoints=tuple(
            TimepointSpec(
                rule_of(tp),
                tp.label_da,
                tp.label_en,
                tuple((i.instrument_id, i.respondent) for i in tp.items),
                tp.link_valid_days,
            )
            for tp in plan.timepoints
        ),
    )


def default_plan(session: Session) -> MeasurementPlan:
    """The shipped default plan, created on first use."""
    plan = session.scalars(
        select(MeasurementPlan).where(MeasurementPlan.is_default, MeasurementPlan.active)
    ).first()
    return plan or create_plan(session, DEFAULT_PLAN, is_default=True)


def rule_of(timepoint: PlanTimepoint) -> TimepointRule:
    """The scheduling rule of a stored timepoint."""
    return TimepointRule(
        key=timepoint.key,
        anchor=timepoint.anchor,
        offset_months=timepoint.offset_months,
        offset_days=timepoint.offset_days,
        window_before_days=timepoint.window_before_days,
        window_after_days=timepoint.window_after_days,
    )


def create_course(
    session: Session,
    *,
    citizen: Citizen,
    provider: Provider,
    team: Team | None,
    plan: MeasurementPlan,
    start_date: date,
    end_date: date | None = None,
    legal_basis: LegalBasis = LegalBasis.SEL_83A,
    created_by_id: int | None = None,
    today: date,
) -> Course:
    """Register a course and schedule every measurement of its plan."""
    if provider.municipality_id != citizen.municipality_id:
        raise ValueError("the provider belongs to another municipality than the citizen")
    if team is not None and team.provider_id != provider.id:
        raise ValueError("the team belongs to another provider")
    if end_date is not None and end_date < start_date:
        raise ValueError("the course cannot end before it starts")
    course = Course(
        citizen=citizen,
        municipality_id=citizen.municipality_id,
        provider=provider,
        team=team,
        plan=plan,
        start_date=start_date,
        end_date=end_date,
        legal_basis=legal_basis,
        status=CourseStatus.ACTIVE if start_date <= today else CourseStatus.PLANNED,
        created_by_id=created_by_id,
    )
    session.add(course)
    for row in planned_assignments(plan, start_date, end_date, today=today):
        course.assignments.append(Assignment(**row))
    session.flush()
    return course


def planned_assignments(
    plan: MeasurementPlan, start_date: date, end_date: date | None, *, today: date
) -> list[dict[str, Any]]:
    """The column values of the assignments a course with these dates gets from its plan.

    In the plan's order, without the course; `create_course` makes them, bulk loaders
    (the demo) insert them as they are.
    """
    rows = []
    for timepoint in plan.timepoints:
        window = window_for(rule_of(timepoint), start_date, end_date)
        for item in timepoint.items:
            rows.append(
                {
                    "timepoint_id": timepoint.id,
                    "timepoint_key": timepoint.key,
                    "instrument_id": item.instrument_id,
                    "respondent": item.respondent,
                    "due_date": window.due if window else None,
                    "window_start": window.start if window else None,
                    "window_end": window.end if window else None,
                    "status": status_on(AssignmentStatus.SCHEDULED, window, today),
                }
            )
    return rows


def set_end_date(session: Session, course: Course, end_date: date, *, today: date) -> None:
    """Set or move a course's end date; end-anchored open measurements move with it."""
    if end_date < course.start_date:
        raise ValueError("the course cannot end before it starts")
    course.end_date = end_date
    timepoints = {tp.id: tp for tp in course.plan.timepoints}
    for assignment in course.assignments:
        timepoint = timepoints.get(assignment.timepoint_id or -1)
        if timepoint is None:
            continue
        window = window_for(rule_of(timepoint), course.start_date, end_date)
        new_status = status_on(assignment.status, window, today)
        if assignment.status not in (
            AssignmentStatus.SCHEDULED,
            AssignmentStatus.OPEN,
            AssignmentStatus.EXPIRED,
        ):
            continue  # answered or declined: its window is history
        assignment.due_date = window.due if window else None
        assignment.window_start = window.start if window else None
        assignment.window_end = window.end if window else None
        if new_status is not assignment.status:
            assignment.status = new_status
            assignment.status_changed_at = utcnow()
    session.flush()
