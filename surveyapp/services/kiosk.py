"""Kiosk visits: the staff tablet handed to a citizen for their due questionnaires.

Starting a visit suspends the staff user's login on this tablet only (the server-side session
of this browser, surveyapp.services.staff_sessions: no earlier cookie of it works, while the
user's other devices stay logged in) and gives the browser only a random grant for this
visit. The coordinator first confirms what will be asked (`preview`); the start re-checks it.
The citizen answers the queued questionnaires; on completion, pause or idle timeout the tablet
shows the hand-back screen, and only the staff user's kiosk PIN leads on. Wrong PINs are
counted per visit; after MAX_PIN_FAILURES the visit ends and the full login is required.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from surveyapp.enums import AssignmentStatus, KioskState, Respondent
from surveyapp.models import (
    Assignment,
    Course,
    KioskSession,
    PlanItem,
    Provider,
    Response,
    StaffSession,
    StaffUser,
    utcnow,
)
from surveyapp.security import hash_secret, new_token, token_hash, verify_secret
from surveyapp.services import audit, staff_sessions
from surveyapp.services.auth import KIOSK_PIN_RE
from surveyapp.services.scope import (
    OutOfScope,
    Scope,
    get_citizen,
    require_individual_access,
)

MAX_PIN_FAILURES = 5
# ASCII digits only (\d would take "１２３４", which no tablet keypad types) and no trailing
# newline (which "$" would let through). One rule wherever a PIN is set or typed.
PIN_RE = KIOSK_PIN_RE
DUE_STATUSES = (AssignmentStatus.OPEN, AssignmentStatus.IN_PROGRESS)


class KioskError(ValueError):
    """A kiosk visit cannot start or go on; `code` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code  # nothing_due, queue_changed, no_pin, bad_pin_format, pin_mismatch


def visit_queue(session: Session, scope: Scope, citizen_id: int, today: date) -> list[Assignment]:
    """The citizen's own questionnaires due at this visit, in answering order."""
    rows = session.scalars(
        select(Assignment)
        .join(Course)
        .where(
            Course.citizen_id == citizen_id,
            scope.course_filter(),
            Assignment.respondent == Respondent.CITIZEN,
            Assignment.status.in_(DUE_STATUSES),
        )
    ).all()
    due = [
        a
        for a in rows
        if a.status is AssignmentStatus.IN_PROGRESS
        or (a.window_start is not None and a.window_start <= today)
    ]

    # The plan says in which order a timepoint's questionnaires are given.
    timepoint_ids = {a.timepoint_id for a in due if a.timepoint_id is not None}
    plan_order = {
        (row.timepoint_id, row.instrument_id, row.respondent): row.sort_order
        for row in session.execute(
            select(
                PlanItem.timepoint_id,
                PlanItem.instrument_id,
                PlanItem.respondent,
                PlanItem.sort_order,
            ).where(PlanItem.timepoint_id.in_(timepoint_ids))
        )
    }

    def order(a: Assignment) -> tuple[date, int, int]:
        rank = plan_order.get((a.timepoint_id, a.instrument_id, a.respondent), 999)
        return (a.due_date or date.max, rank, a.id)

    return sorted(due, key=order)


def preview(session: Session, scope: Scope, citizen_id: int, today: date) -> list[Assignment]:
    """What a visit started now would ask, for the coordinator to confirm (writes nothing).

    KioskError("no_pin") when the user has no kiosk PIN yet (set it before confirming)."""
    require_individual_access(scope)
    citizen = get_citizen(session, scope, citizen_id)
    user = session.get(StaffUser, scope.user_id)
    if user is None or not user.kiosk_pin_hash:
        raise KioskError("no_pin")
    return visit_queue(session, scope, citizen.id, today)


class Outcome(StrEnum):
    """What became of one queued questionnaire at a visit."""

    ANSWERED = "answered"  # sent
    PAUSED = "paused"  # begun, not sent: resumes at its first unanswered question
    NOT_STARTED = "not_started"
    DECLINED = "declined"  # drop-out recorded meanwhile


@dataclass(frozen=True)
class SummaryRow:
    assignment: Assignment
    outcome: Outcome
    answered: int  # questions answered (or skipped) so far


@dataclass(frozen=True)
class VisitSummary:
    visit_id: int
    citizen_id: int
    citizen_label: str
    hand_back_reason: str | None  # done, pause, idle
    rows: list[SummaryRow]
    left: list[Assignment]  # still due for the citizen now (a new visit would ask these)


def visit_summary(session: Session, scope: Scope, visit_id: int, today: date) -> VisitSummary:
    """What was answered, paused and left at a kiosk visit (writes nothing)."""
    require_individual_access(scope)
    visit = session.get(KioskSession, visit_id)
    if visit is None or visit.municipality_id != scope.municipality_id:
        raise OutOfScope("no such visit")
    citizen = get_citizen(session, scope, visit.citizen_id)
    rows = []
    for assignment in queue(session, visit):
        response = assignment.response
        answered = len(response.answers) if response is not None else 0
        if response is not None and response.submitted_at is not None:
            outcome = Outcome.ANSWERED
        elif assignment.status is AssignmentStatus.DECLINED:
            outcome = Outcome.DECLINED
        elif response is not None:
            outcome = Outcome.PAUSED
        else:
            outcome = Outcome.NOT_STARTED
        rows.append(SummaryRow(assignment, outcome, answered))
    return VisitSummary(
        visit_id=visit.id,
        citizen_id=citizen.id,
        citizen_label=citizen.label,
        hand_back_reason=visit.hand_back_reason,
        rows=rows,
        left=visit_queue(session, scope, citizen.id, today),
    )


def start_visit(
    session: Session,
    scope: Scope,
    citizen_id: int,
    *,
    login_at: datetime,
    today: date,
    staff_sid: str | None = None,
    expected: Sequence[int] | None = None,
    now: datetime | None = None,
) -> str:
    """Queue the citizen's due questionnaires, suspend this browser's staff session (the
    one of `staff_sid`); return the grant.

    `expected` is the queue the coordinator confirmed (assignment ids in order): if what is
    due has changed since, nothing starts (`queue_changed`); with nothing due, `nothing_due`.
    """
    require_individual_access(scope)
    citizen = get_citizen(session, scope, citizen_id)
    user = session.get(StaffUser, scope.user_id)
    if user is None or not user.kiosk_pin_hash:
        raise KioskError("no_pin")
    queue = visit_queue(session, scope, citizen.id, today)
    if not queue:
        raise KioskError("nothing_due")
    if expected is not None and list(expected) != [a.id for a in queue]:
        raise KioskError("queue_changed")
    staff_session = staff_sessions.find(session, staff_sid)
    if staff_session is not None and staff_session.user_id != user.id:
        staff_session = None
    now = now or utcnow()
    grant = new_token()
    session.add(
        KioskSession(
            grant_hash=token_hash(grant),
            staff_user_id=user.id,
            municipality_id=citizen.municipality_id,
            citizen_id=citizen.id,
            staff_session_id=staff_session.id if staff_session is not None else None,
            assignment_ids=[a.id for a in queue],
            state=KioskState.HANDOVER,
            staff_login_at=login_at,
            started_at=now,
            last_activity_at=now,
        )
    )
    if staff_session is not None:
        # This tablet's staff session is suspended (no earlier cookie of it works); the
        # user's sessions on other devices go on.
        staff_sessions.suspend(staff_session, now=now)
    audit.record(
        session,
        scope.actor,
        "kiosk.start",
        object_type="citizen",
        object_id=citizen.id,
        details={"assignments": [a.id for a in queue]},
    )
    session.flush()
    return grant


def find_visit(session: Session, grant: str | None) -> KioskSession | None:
    """The running visit a grant belongs to (None for an unknown or ended one)."""
    if not grant:
        return None
    visit = session.scalars(
        select(KioskSession).where(KioskSession.grant_hash == token_hash(grant))
    ).one_or_none()
    return None if visit is None or visit.state is KioskState.ENDED else visit


def _actor(visit: KioskSession) -> audit.Actor:
    return audit.Actor(audit.ActorType.CITIZEN, municipality_id=visit.municipality_id)


def keep_alive(
    session: Session, visit: KioskSession, *, idle: timedelta, now: datetime | None = None
) -> None:
    """Note activity; a visit left idle longer than `idle` is handed back first."""
    now = now or utcnow()
    if visit.state is KioskState.ANSWERING and now - visit.last_activity_at > idle:
        hand_back(session, visit, "idle", now=now)
    visit.last_activity_at = now


def shown_state(
    session: Session, visit: KioskSession, *, idle: timedelta, now: datetime | None = None
) -> tuple[KioskState, str | None]:
    """The screen to show now and why (for a GET: computed, nothing is written).

    A visit left idle longer than `idle`, or whose queue is done, shows the hand-back screen
    at once; the stored state follows with the next POST (`settle`).
    """
    if visit.state is KioskState.ANSWERING:
        if (now or utcnow()) - visit.last_activity_at > idle:
            return KioskState.HANDBACK, "idle"
        if current_place(session, visit) is None:
            return KioskState.HANDBACK, "done"
    return visit.state, visit.hand_back_reason


def settle(
    session: Session, visit: KioskSession, *, idle: timedelta, now: datetime | None = None
) -> None:
    """Store the state `shown_state` shows (run by every POST before it acts)."""
    state, reason = shown_state(session, visit, idle=idle, now=now)
    if state is KioskState.HANDBACK and visit.state is KioskState.ANSWERING:
        hand_back(session, visit, reason or "done", now=now)


def begin(visit: KioskSession) -> None:
    """The citizen has the tablet: answering starts."""
    if visit.state is KioskState.HANDOVER:
        visit.state = KioskState.ANSWERING


def hand_back(
    session: Session, visit: KioskSession, reason: str, *, now: datetime | None = None
) -> None:
    """Show the hand-back screen from now on (done, pause or idle)."""
    if visit.state in (KioskState.HANDBACK, KioskState.ENDED):
        return
    visit.state = KioskState.HANDBACK
    visit.handed_back_at = now or utcnow()
    visit.hand_back_reason = reason
    audit.record(
        session,
        _actor(visit),
        "kiosk.hand_back",
        object_type="kiosk_session",
        object_id=visit.id,
        details={"reason": reason},
    )


@dataclass(frozen=True)
class QueuePlace:
    position: int  # 1-based place in the queue
    assignment: Assignment


_QUEUE = "surveyapp.kiosk_queue"


def queue(session: Session, visit: KioskSession) -> list[Assignment]:
    """The visit's queued assignments in order, read once per transaction.

    One statement loads each with its response, answers, course, provider and municipality
    (every kiosk page needs them); within the same transaction the rows already loaded are
    the current ones (the identity map), so a second call reads nothing.
    """
    wanted = (visit.id, tuple(visit.assignment_ids))
    kept = session.info.get(_QUEUE)
    if kept is not None and kept[0] is session.get_transaction() and kept[1] == wanted:
        return list(kept[2])
    course = joinedload(Assignment.course)
    found = session.scalars(
        select(Assignment)
        .where(Assignment.id.in_(visit.assignment_ids))
        .options(
            joinedload(Assignment.response).joinedload(Response.answers),
            course.joinedload(Course.provider).joinedload(Provider.municipality),
        )
    ).unique()
    rows = {a.id: a for a in found}
    items = [rows[i] for i in visit.assignment_ids if i in rows]
    session.info[_QUEUE] = (session.get_transaction(), wanted, items)
    return list(items)


def place(session: Session, visit: KioskSession, position: int) -> Assignment | None:
    """The queued assignment at a 1-based position (None outside the queue)."""
    items = queue(session, visit)
    return items[position - 1] if 1 <= position <= len(items) else None


def current_place(session: Session, visit: KioskSession) -> QueuePlace | None:
    """The first queued questionnaire not yet sent (None when all are done)."""
    for position, assignment in enumerate(queue(session, visit), start=1):
        response = assignment.response
        if assignment.status is not AssignmentStatus.DECLINED and (
            response is None or response.submitted_at is None
        ):
            return QueuePlace(position, assignment)
    return None


@dataclass(frozen=True)
class Unlocked:
    visit_id: int
    user: StaffUser
    sid: str  # the staff session's new id (the suspended one resumed, else a new one)
    login_at: datetime  # when that session began (its 12 h limit still holds)


def unlock(
    session: Session,
    visit: KioskSession,
    pin: str,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> Unlocked | None:
    """End the visit with the staff user's PIN and resume the suspended staff session under a
    new id; None for a wrong PIN.

    After MAX_PIN_FAILURES wrong PINs the visit ends without a user and the suspended staff
    session ends with it: full login required.
    """
    now = now or utcnow()
    user = session.get(StaffUser, visit.staff_user_id)
    actor = audit.Actor(
        audit.ActorType.STAFF,
        user_id=visit.staff_user_id,
        municipality_id=visit.municipality_id,
        ip_address=ip_address,
    )
    ok = (
        user is not None
        and user.active
        and user.kiosk_pin_hash is not None
        and PIN_RE.match(pin or "") is not None
        and verify_secret(user.kiosk_pin_hash, pin)
    )
    if ok:
        visit.state, visit.ended_at, visit.end_reason = KioskState.ENDED, now, "pin"
        audit.record(
            session, actor, "kiosk.unlock", object_type="kiosk_session", object_id=visit.id
        )
        assert user is not None
        suspended = _staff_session(session, visit)
        sid = staff_sessions.resume(session, suspended) if suspended is not None else None
        if suspended is not None and sid is not None:
            return Unlocked(visit.id, user, sid, suspended.created_at)
        login_at = visit.staff_login_at
        sid = staff_sessions.open_session(session, user, user_agent=user_agent, created_at=login_at)
        return Unlocked(visit.id, user, sid, login_at)
    visit.pin_failures += 1
    audit.record(
        session,
        actor,
        "kiosk.pin_failed",
        object_type="kiosk_session",
        object_id=visit.id,
        details={"failures": visit.pin_failures},
    )
    if visit.pin_failures >= MAX_PIN_FAILURES:
        visit.state, visit.ended_at, visit.end_reason = KioskState.ENDED, now, "lockout"
        suspended = _staff_session(session, visit)
        if suspended is not None:
            staff_sessions.end(suspended, "kiosk_lockout", now=now)
        audit.record(
            session, actor, "kiosk.lockout", object_type="kiosk_session", object_id=visit.id
        )
    return None


def _staff_session(session: Session, visit: KioskSession) -> StaffSession | None:
    if visit.staff_session_id is None:
        return None
    return session.get(StaffSession, visit.staff_session_id)


def set_pin(session: Session, scope: Scope, pin: str, repeated: str) -> None:
    """Set the user's own kiosk PIN (4–6 digits), argon2id-hashed."""
    if not PIN_RE.match(pin or ""):
        raise KioskError("bad_pin_format")
    if pin != repeated:
        raise KioskError("pin_mismatch")
    user = session.get(StaffUser, scope.user_id)
    if user is None:
        raise KioskError("no_user")
    user.kiosk_pin_hash = hash_secret(pin)
    audit.record(session, scope.actor, "kiosk.pin_set", object_type="staff_user", object_id=user.id)
