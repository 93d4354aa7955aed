"""The kiosk visit's server-side state on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import KioskState, Role
from surveyapp.models import StaffUser, utcnow
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret
from surveyapp.services import kiosk
from surveyapp.services.scope import OutOfScope, Scope
from tests.support import factories

PIN = "1357"


def _setup(session: Session) -> tuple[Scope, int, int]:
    course = factories.course(session, start=today_in_denmark())
    user = StaffUser(
        username="kim",
        full_name="Kim",
        role=Role.COORDINATOR,
        municipality_id=course.municipality_id,
        password_hash=hash_secret("x" * 12),
        kiosk_pin_hash=hash_secret(PIN),
    )
    foreign = factories.course(session, start=today_in_denmark(), municipality_name="Andeby")
    session.add(user)
    session.flush()
    scope = Scope(user.id, Role.COORDINATOR, course.municipality_id)
    return scope, course.citizen_id, foreign.citizen_id


def _start(session: Session, scope: Scope, citizen_id: int) -> str:
    return kiosk.start_visit(
        session, scope, citizen_id, login_at=utcnow(), today=today_in_denmark()
    )


def test_start_queues_in_order_and_suspends_the_login(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        scope, citizen_id, foreign_id = _setup(session)
        grant = _start(session, scope, citizen_id)
        visit = kiosk.find_visit(session, grant)
        assert visit is not None and visit.state is KioskState.HANDOVER
        assert [a.instrument_id for a in kiosk.queue(session, visit)] == [
            "who5",
            "whodas12",
            "start_meeting",
        ]
        # Only this tablet's staff session is suspended: the user's version (every session)
        # stays as it was.
        assert session.get(StaffUser, scope.user_id).session_version == 1  # type: ignore[union-attr]
        assert kiosk.find_visit(session, "not-a-grant") is None
        with pytest.raises(OutOfScope):
            _start(session, scope, foreign_id)


def test_idle_hands_back_and_the_pin_counter_locks_after_five(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        scope, citizen_id, _ = _setup(session)
        grant = _start(session, scope, citizen_id)
    with session_factory.begin() as session:
        visit = kiosk.find_visit(session, grant)
        assert visit is not None
        kiosk.begin(visit)
        kiosk.keep_alive(
            session, visit, idle=timedelta(minutes=5), now=utcnow() + timedelta(minutes=6)
        )
        assert visit.state is KioskState.HANDBACK and visit.hand_back_reason == "idle"
        for attempt in range(1, 5):
            assert kiosk.unlock(session, visit, "0000") is None
            assert visit.pin_failures == attempt and visit.state is KioskState.HANDBACK
        assert kiosk.unlock(session, visit, "12ab") is None
        assert visit.state is KioskState.ENDED and visit.end_reason == "lockout"
    with session_factory() as session:
        assert kiosk.find_visit(session, grant) is None  # an ended visit grants nothing


def test_the_right_pin_ends_the_visit_and_returns_the_user(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        scope, citizen_id, _ = _setup(session)
        grant = _start(session, scope, citizen_id)
        visit = kiosk.find_visit(session, grant)
        kiosk.hand_back(session, visit, "pause")  # type: ignore[arg-type]
        unlocked = kiosk.unlock(session, visit, PIN)  # type: ignore[arg-type]
        assert unlocked is not None and unlocked.user.id == scope.user_id
        assert visit.state is KioskState.ENDED and visit.end_reason == "pin"  # type: ignore[union-attr]
