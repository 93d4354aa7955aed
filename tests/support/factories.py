"""Factory functions for test data (real rows through the real services)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import ProviderKind, Respondent, Role, Sex
from surveyapp.models import Assignment, Citizen, Course, Municipality, Provider, StaffUser, Team
from surveyapp.scheduling import today_in_denmark
from surveyapp.services.courses import create_course, default_plan
from surveyapp.services.links import create_link

_codes = iter(range(100, 999))


def organisation(
    session: Session, *, municipality_name: str = "Sølvstrand Kommune", code: str | None = None
) -> tuple[Citizen, Provider, Team]:
    """A new municipality (`code`, else the next free test code) with a provider, a team and
    one citizen."""
    municipality = Municipality(code=code or str(next(_codes)), name=municipality_name)
    provider = Provider(
        municipality=municipality,
        name="Hjemmeplejen",
        kind=ProviderKind.MUNICIPAL,
        unit_name="Hjemmeplejen",
    )
    team = Team(provider=provider, name="Team Nord")
    session.add_all([municipality, provider, team])
    session.flush()
    return citizen(session, municipality.id, f"{municipality.id:064x}", "AB"), provider, team


def citizen(session: Session, municipality_id: int, cpr_hmac: str, label: str) -> Citizen:
    """A citizen of the municipality (`cpr_hmac`: any 64 hex digits, distinct within it)."""
    person = Citizen(
        municipality_id=municipality_id,
        cpr_hmac=cpr_hmac,
        label=label,
        birth_year=1940,
        sex=Sex.FEMALE,
        lives_alone=True,
    )
    session.add(person)
    session.flush()
    return person


def coordinator(
    session: Session,
    municipality_id: int,
    password_hash: str,
    *,
    full_name: str = "Karen Koordinator",
) -> StaffUser:
    """A coordinator `koordinator` of the whole municipality, with this password hash."""
    user = StaffUser(
        username="koordinator",
        full_name=full_name,
        role=Role.COORDINATOR,
        municipality_id=municipality_id,
        password_hash=password_hash,
    )
    session.add(user)
    return user


def course(
    session: Session,
    *,
    start: date | None = None,
    end: date | None = None,
    today: date | None = None,
    municipality_name: str = "Sølvstrand Kommune",
) -> Course:
    """A citizen with one course on the default plan, in a new municipality."""
    citizen, provider, team = organisation(session, municipality_name=municipality_name)
    today = today or today_in_denmark()
    return create_course(
        session,
        citizen=citizen,
        provider=provider,
        team=team,
        plan=default_plan(session),
        start_date=start or today,
        end_date=end,
        today=today,
    )


def assignment(
    course: Course,
    instrument_id: str,
    respondent: Respondent = Respondent.CITIZEN,
    timepoint: str = "baseline",
) -> Assignment:
    return next(
        a
        for a in course.assignments
        if a.instrument_id == instrument_id
        and a.respondent is respondent
        and a.timepoint_key == timepoint
    )


def link(
    factory: sessionmaker[Session], instrument_id: str, respondent: Respondent = Respondent.CITIZEN
) -> tuple[str, int]:
    """A link token to a fresh baseline assignment, and the assignment's id."""
    with factory.begin() as session:
        target = assignment(course(session), instrument_id, respondent)
        return create_link(session, target), target.id
