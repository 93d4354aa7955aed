"""A made-up instrument (tests/fixtures/instruments) on a plan of its own, with answers.

Used to prove that adding an instrument is a data file and nothing else: the citizen page,
the chart, the reports and the exports show it with no code change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.demo import DEMO_MUNICIPALITY
from surveyapp.enums import Anchor, Channel, Respondent
from surveyapp.instruments import Registry
from surveyapp.models import Citizen, Course, Municipality, Provider
from surveyapp.plans import PlanSpec, TimepointSpec
from surveyapp.scheduling import TimepointRule
from surveyapp.services.courses import create_course, create_plan
from surveyapp.services.responses import record_complete_response

MADE_UP_DIR = Path(__file__).parent.parent / "fixtures" / "instruments"
INSTRUMENT = "pain_nrs"
# (baseline, end) pain per course: every course improves by 3 points (threshold 2).
PAIRS = ((8, 5), (7, 4), (6, 3), (9, 6))

PLAN = PlanSpec(
    name="Smerteplan (test)",
    timepoints=(
        TimepointSpec(
            TimepointRule("start", Anchor.COURSE_START, window_after_days=14),
            "Ved start",
            "At the start",
            ((INSTRUMENT, Respondent.CITIZEN),),
        ),
        TimepointSpec(
            TimepointRule("slut", Anchor.COURSE_END, window_before_days=7, window_after_days=14),
            "Ved slut",
            "At the end",
            ((INSTRUMENT, Respondent.CITIZEN),),
        ),
    ),
)


@dataclass(frozen=True)
class MadeUp:
    citizen_ids: list[int]
    course_ids: list[int]


def made_up_courses(factory: sessionmaker[Session], registry: Registry, *, today: date) -> MadeUp:
    """Courses of demo citizens in the demo municipality on the made-up plan, both ends answered.

    The plan's timepoints are deliberately not called baseline/end: roles come from anchors.
    """
    start, end = today - timedelta(days=70), today - timedelta(days=10)
    citizens, courses = [], []
    with factory.begin() as session:
        municipality = session.scalars(
            select(Municipality).where(Municipality.code == DEMO_MUNICIPALITY[0])
        ).one()
        plan = create_plan(session, PLAN, municipality_id=municipality.id)
        provider = session.scalars(
            select(Provider)
            .where(Provider.municipality_id == municipality.id)
            .order_by(Provider.id)
        ).first()
        people = session.scalars(
            select(Citizen).where(Citizen.municipality_id == municipality.id).order_by(Citizen.id)
        ).all()[: len(PAIRS)]
        assert provider is not None and len(people) == len(PAIRS)
        for citizen, (before, after) in zip(people, PAIRS, strict=True):
            course: Course = create_course(
                session,
                citizen=citizen,
                provider=provider,
                team=None,
                plan=plan,
                start_date=start,
                end_date=end,
                today=today,
            )
            for assignment in course.assignments:
                value, day = (
                    (before, start) if assignment.timepoint_key == "start" else (after, end)
                )
                at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
                record_complete_response(
                    session,
                    assignment,
                    {"pain_1": value},
                    channel=Channel.PAPER,
                    language="da",
                    registry=registry,
                    started_at=at,
                    submitted_at=at,
                )
            citizens.append(citizen.id)
            courses.append(course.id)
    return MadeUp(citizens, courses)
