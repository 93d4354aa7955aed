"""Creating courses schedules every measurement of the plan; the end date moves them."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AssignmentStatus, CourseStatus, ProviderKind, Respondent
from surveyapp.models import Citizen, Municipality, Provider, Team
from surveyapp.plans import DEFAULT_PLAN
from surveyapp.services.courses import create_course, default_plan, set_end_date, spec_of
from tests.support import factories

TODAY = date(2026, 3, 1)


def _setup(session: Session) -> tuple[Citizen, Provider, Team]:
    return factories.organisation(session)


def test_default_plan_is_created_once(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        first = default_plan(session)
        assert default_plan(session).id == first.id
        assert spec_of(first) == DEFAULT_PLAN  # what is stored reads back as it was given
        assert [tp.key for tp in first.timepoints] == ["baseline", "end", "fu_3m", "fu_1y", "fu_2y"]


def test_course_gets_every_assignment_of_its_plan(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        citizen, provider, team = _setup(session)
        course = create_course(
            session,
            citizen=citizen,
            provider=provider,
            team=team,
            plan=default_plan(session),
            start_date=date(2026, 2, 20),
            today=TODAY,
        )
        expected = sum(len(tp.items) for tp in DEFAULT_PLAN.timepoints)
        assert len(course.assignments) == expected
        assert course.status is CourseStatus.ACTIVE
        assert course.municipality_id == citizen.municipality_id
        baseline = [a for a in course.assignments if a.timepoint_key == "baseline"]
        assert Counter(a.respondent for a in baseline) == {
            Respondent.CITIZEN: 3,
            Respondent.RELATIVE: 2,
        }
        assert {a.status for a in baseline} == {AssignmentStatus.OPEN}
        assert {a.due_date for a in baseline} == {date(2026, 2, 20)}
        later = [a for a in course.assignments if a.timepoint_key != "baseline"]
        assert {a.due_date for a in later} == {None}  # no end date yet
        assert {a.status for a in later} == {AssignmentStatus.SCHEDULED}


def test_setting_and_moving_the_end_date_moves_end_anchored_measurements(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        citizen, provider, team = _setup(session)
        course = create_course(
            session,
            citizen=citizen,
            provider=provider,
            team=team,
            plan=default_plan(session),
            start_date=date(2026, 1, 5),
            today=TODAY,
        )
        set_end_date(session, course, date(2026, 3, 2), today=TODAY)
        due = {(a.timepoint_key, a.instrument_id, a.respondent): a for a in course.assignments}
        end_who5 = due[("end", "who5", Respondent.CITIZEN)]
        assert end_who5.due_date == date(2026, 3, 2)
        assert end_who5.status is AssignmentStatus.OPEN  # window opens 7 days before
        assert due[("fu_1y", "who5", Respondent.CITIZEN)].due_date == date(2027, 3, 2)
        end_who5.status = AssignmentStatus.COMPLETED
        set_end_date(session, course, date(2026, 4, 1), today=TODAY)
        assert end_who5.due_date == date(2026, 3, 2)  # answered: stays where it was
        assert due[("end", "whodas12", Respondent.CITIZEN)].due_date == date(2026, 4, 1)
        assert due[("end", "whodas12", Respondent.CITIZEN)].status is AssignmentStatus.SCHEDULED
        assert due[("fu_3m", "who5", Respondent.CITIZEN)].due_date == date(2026, 7, 1)
        assert due[("baseline", "who5", Respondent.CITIZEN)].due_date == date(2026, 1, 5)


def test_past_windows_expire(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        citizen, provider, team = _setup(session)
        course = create_course(
            session,
            citizen=citizen,
            provider=provider,
            team=team,
            plan=default_plan(session),
            start_date=date(2025, 1, 6),
            end_date=date(2025, 3, 14),
            today=TODAY,
        )
        by_key = Counter((a.timepoint_key, a.status) for a in course.assignments)
        assert by_key[("baseline", AssignmentStatus.EXPIRED)] == 5
        assert by_key[("fu_1y", AssignmentStatus.OPEN)] == 3  # due 2026-03-14, opens 30 d before
        assert by_key[("fu_2y", AssignmentStatus.SCHEDULED)] == 3


def test_courses_cannot_cross_organisations(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        citizen, provider, team = _setup(session)
        other = Municipality(code="991", name="Nabolund Kommune")
        foreign = Provider(municipality=other, name="X", kind=ProviderKind.PRIVATE, unit_name="X")
        foreign_team = Team(provider=foreign, name="Y")
        session.add_all([other, foreign, foreign_team])
        session.flush()
        plan = default_plan(session)
        with pytest.raises(ValueError, match="another municipality"):
            create_course(
                session,
                citizen=citizen,
                provider=foreign,
                team=None,
                plan=plan,
                start_date=TODAY,
                today=TODAY,
            )
        with pytest.raises(ValueError, match="another provider"):
            create_course(
                session,
                citizen=citizen,
                provider=provider,
                team=foreign_team,
                plan=plan,
                start_date=TODAY,
                today=TODAY,
            )
        with pytest.raises(ValueError, match="end before it starts"):
            create_course(
                session,
                citizen=citizen,
                provider=provider,
                team=team,
                plan=plan,
                start_date=TODAY,
                end_date=date(2026, 2, 1),
                today=TODAY,
            )
