"""Assignments in daily work: the due list, the status sweep, drop-out and paper entry.

Statuses move with the calendar (see surveyapp.scheduling.status_on): a scheduled measurement
opens when its window starts and becomes "missed" (expired) when the window has passed. Pages
never write: the due list and the citizen page show `status_today` (computed from the stored
status and the dates), and the stored statuses are brought up to date by `refresh_statuses`,
run by `surveyapp sweep` (a periodic job, e.g. nightly), by an admin's POST from the admin
screens, and before letters are made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from surveyapp.enums import (
    AnswerState,
    AssignmentStatus,
    Channel,
    CourseStatus,
    DropoutReason,
    Respondent,
)
from surveyapp.instruments import Registry
from surveyapp.models import (
    Assignment,
    Citizen,
    Course,
    PlanTimepoint,
    Provider,
    Response,
    Team,
    utcnow,
)
from surveyapp.services import audit
from surveyapp.services.responses import record_complete_response
from surveyapp.services.scope import Scope, get_assignment, require_individual_access

UNANSWERED = (AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN, AssignmentStatus.EXPIRED)
DUE_STATUSES = (AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN, AssignmentStatus.IN_PROGRESS)
#: Drop-out may be recorded for these: not answered, or started but not sent.
DROPOUT_POSSIBLE = (*UNANSWERED, AssignmentStatus.IN_PROGRESS)
LIVE_COURSES = (CourseStatus.PLANNED, CourseStatus.ACTIVE, CourseStatus.ENDED)
UPCOMING_DAYS = 28


# --- status sweep ----------------------------------------------------------------------------


def refresh_statuses(session: Session, municipality_id: int, *, today: date) -> int:
    """Open measurements whose window has started, mark passed ones missed; count changes.

    Also starts planned courses whose start date has come and ends active ones whose end date
    has passed. Runs for the whole municipality (it reveals nothing to the caller).
    """
    now = utcnow()
    courses = select(Course.id).where(Course.municipality_id == municipality_id)
    expired = session.execute(
        update(Assignment)
        .where(
            Assignment.course_id.in_(courses),
            Assignment.status.in_([AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN]),
            Assignment.window_end < today,
        )
        .values(status=AssignmentStatus.EXPIRED, status_changed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    opened = session.execute(
        update(Assignment)
        .where(
            Assignment.course_id.in_(courses),
            Assignment.status == AssignmentStatus.SCHEDULED,
            Assignment.window_start <= today,
            Assignment.window_end >= today,
        )
        .values(status=AssignmentStatus.OPEN, status_changed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    started = session.execute(
        update(Course)
        .where(
            Course.municipality_id == municipality_id,
            Course.status == CourseStatus.PLANNED,
            Course.start_date <= today,
        )
        .values(status=CourseStatus.ACTIVE)
        .execution_options(synchronize_session=False)
    ).rowcount
    ended = session.execute(
        update(Course)
        .where(
            Course.municipality_id == municipality_id,
            Course.status == CourseStatus.ACTIVE,
            Course.end_date < today,
        )
        .values(status=CourseStatus.ENDED)
        .execution_options(synchronize_session=False)
    ).rowcount
    changed = (expired or 0) + (opened or 0) + (started or 0) + (ended or 0)
    if changed:
        session.expire_all()
        audit.record(
            session,
            audit.Actor(audit.SYSTEM.type, municipality_id=municipality_id),
            "assignment.sweep",
            municipality_id=municipality_id,
            details={
                "expired": expired,
                "opened": opened,
                "courses_started": started,
                "courses_ended": ended,
                "today": today.isoformat(),
            },
        )
    session.flush()
    return changed


def status_today(assignment: Assignment, today: date) -> AssignmentStatus:
    """The status `refresh_statuses` would store today, computed without writing."""
    status, start, end = assignment.status, assignment.window_start, assignment.window_end
    if status in (AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN) and end and end < today:
        return AssignmentStatus.EXPIRED
    if status is AssignmentStatus.SCHEDULED and start and end and start <= today <= end:
        return AssignmentStatus.OPEN
    return status


def course_status_today(course: Course, today: date) -> CourseStatus:
    """The course status `refresh_statuses` would store today, computed without writing."""
    status = course.status
    if status is CourseStatus.PLANNED and course.start_date <= today:
        status = CourseStatus.ACTIVE
    if status is CourseStatus.ACTIVE and course.end_date is not None and course.end_date < today:
        status = CourseStatus.ENDED
    return status


# --- the due list ----------------------------------------------------------------------------


@dataclass
class DueRow:
    """One respondent's measurements at one timepoint of one course."""

    course_id: int
    citizen_id: int
    citizen_label: str
    provider_name: str
    team_name: str | None
    timepoint_key: str
    timepoint_label_da: str
    timepoint_label_en: str
    respondent: Respondent
    due: date
    window_start: date | None
    window_end: date | None
    assignments: list[Assignment] = field(default_factory=list)
    #: The assignments' ids, in the due list's order (`assignments` holds them once loaded).
    assignment_ids: list[int] = field(default_factory=list)


#: The order of respondents within a visit on the due list.
RESPONDENT_ORDER = {Respondent.CITIZEN: 0, Respondent.RELATIVE: 1, Respondent.STAFF: 2}


@dataclass
class DueVisit:
    """One citizen's visit: every respondent's measurements at one timepoint of one course.

    The due list shows one row per visit (not one per respondent), so that a citizen with a
    citizen's, a relative's and a staff questionnaire at the same timepoint appears once.
    """

    course_id: int
    citizen_id: int
    citizen_label: str
    provider_name: str
    team_name: str | None
    timepoint_key: str
    timepoint_label_da: str
    timepoint_label_en: str
    due: date
    window_start: date | None
    window_end: date | None
    rows: list[DueRow] = field(default_factory=list)

    @property
    def assignments(self) -> list[Assignment]:
        return [a for row in self.rows for a in row.assignments]

    @property
    def has_citizen(self) -> bool:
        """True if the citizen answers something at this visit (the kiosk can be started)."""
        return any(row.respondent is Respondent.CITIZEN for row in self.rows)

    def add(self, row: DueRow) -> None:
        self.rows.append(row)
        self.due = min(self.due, row.due)
        if row.window_start and (self.window_start is None or row.window_start < self.window_start):
            self.window_start = row.window_start
        if row.window_end and (self.window_end is None or row.window_end > self.window_end):
            self.window_end = row.window_end


@dataclass
class DueList:
    today: date
    overdue: list[DueVisit] = field(default_factory=list)
    due_today: list[DueVisit] = field(default_factory=list)
    this_week: list[DueVisit] = field(default_factory=list)
    upcoming: list[DueVisit] = field(default_factory=list)

    @property
    def sections(self) -> list[tuple[str, list[DueVisit]]]:
        return [
            ("overdue", self.overdue),
            ("today", self.due_today),
            ("this_week", self.this_week),
            ("upcoming", self.upcoming),
        ]

    @property
    def count(self) -> int:
        return sum(len(rows) for _, rows in self.sections)


def due_list(
    session: Session,
    scope: Scope,
    *,
    today: date,
    team_id: int | None = None,
    respondent: Respondent | None = None,
    label: str = "",
    load: bool = True,
) -> DueList:
    """What is due: overdue (window still open), today, this week, and the next four weeks.

    One entry per citizen and visit (`DueVisit`: a course's timepoint, every respondent in
    it), optionally only citizens whose label contains `label` (case-insensitive). The list
    is read as plain rows in one statement; the visits' Assignment objects are loaded too,
    or, with `load=False`, only for the visits later given to `load_assignments` (a page
    shows a few of a large municipality's hundreds of visits).
    """
    require_individual_access(scope)
    # Nothing is written: stored statuses may lag (see status_today); the filters below only
    # use statuses that a sweep would not change into or out of the list.
    horizon = today + timedelta(days=UPCOMING_DAYS)
    stmt = (
        select(
            Assignment.id,
            Assignment.course_id,
            Assignment.timepoint_key,
            Assignment.respondent,
            Assignment.due_date,
            Assignment.window_start,
            Assignment.window_end,
            Course.citizen_id,
            Citizen.label,
            Provider.name,
            Team.name,
            PlanTimepoint.label_da,
            PlanTimepoint.label_en,
        )
        .join(Course, Assignment.course_id == Course.id)
        .join(Citizen, Course.citizen_id == Citizen.id)
        .join(Provider, Course.provider_id == Provider.id)
        .outerjoin(Team, Course.team_id == Team.id)
        .outerjoin(
            PlanTimepoint,
            (PlanTimepoint.plan_id == Course.plan_id)
            & (PlanTimepoint.key == Assignment.timepoint_key),
        )
        .where(
            scope.course_filter(),
            Course.status.in_(LIVE_COURSES),
            Assignment.status.in_(DUE_STATUSES),
            Assignment.due_date.is_not(None),
            Assignment.due_date <= horizon,
            or_(Assignment.window_end.is_(None), Assignment.window_end >= today),
        )
        .order_by(Assignment.due_date, Citizen.label, Course.id, Assignment.id)
    )
    if team_id:
        stmt = stmt.where(Course.team_id == team_id)
    if respondent is not None:
        stmt = stmt.where(Assignment.respondent == respondent)
    if label.strip():
        stmt = stmt.where(
            func.lower(Citizen.label).contains(label.strip().lower(), autoescape=True)
        )
    rows: dict[tuple[int, str, Respondent], DueRow] = {}
    for a in session.execute(stmt):
        key = (a.course_id, a.timepoint_key, a.respondent)
        row = rows.get(key)
        if row is None:
            row = rows[key] = DueRow(
                course_id=a.course_id,
                citizen_id=a.citizen_id,
                citizen_label=a.label,
                provider_name=a.name,
                team_name=a[10],
                timepoint_key=a.timepoint_key,
                timepoint_label_da=a.label_da or a.timepoint_key,
                timepoint_label_en=a.label_en or a.timepoint_key,
                respondent=a.respondent,
                due=a.due_date,
                window_start=a.window_start,
                window_end=a.window_end,
            )
        row.assignment_ids.append(a.id)
    visits: dict[tuple[int, str], DueVisit] = {}
    for row in rows.values():
        visit = visits.get((row.course_id, row.timepoint_key))
        if visit is None:
            visit = visits[(row.course_id, row.timepoint_key)] = DueVisit(
                course_id=row.course_id,
                citizen_id=row.citizen_id,
                citizen_label=row.citizen_label,
                provider_name=row.provider_name,
                team_name=row.team_name,
                timepoint_key=row.timepoint_key,
                timepoint_label_da=row.timepoint_label_da,
                timepoint_label_en=row.timepoint_label_en,
                due=row.due,
                window_start=row.window_start,
                window_end=row.window_end,
            )
        visit.add(row)
    week_end = today + timedelta(days=6 - today.weekday())
    result = DueList(today=today)
    for visit in sorted(visits.values(), key=lambda v: (v.due, v.citizen_label, v.course_id)):
        visit.rows.sort(key=lambda r: RESPONDENT_ORDER.get(r.respondent, 9))
        if visit.due < today:
            result.overdue.append(visit)
        elif visit.due == today:
            result.due_today.append(visit)
        elif visit.due <= week_end:
            result.this_week.append(visit)
        else:
            result.upcoming.append(visit)
    if load:
        load_assignments(session, [v for _, section in result.sections for v in section])
    audit.record(
        session,
        scope.actor,
        "due_list.view",
        details={
            "rows": result.count,
            "team_id": team_id,
            "respondent": respondent.value if respondent else None,
            "searched": bool(label.strip()),
        },
    )
    return result


def load_assignments(session: Session, visits: list[DueVisit]) -> None:
    """Load the Assignment objects of these visits of a due list (with their courses, the
    courses' citizens, providers, teams and plans) in a few statements."""
    ids = [i for visit in visits for row in visit.rows for i in row.assignment_ids]
    if not ids:
        return
    loaded = {
        a.id: a
        for a in session.scalars(
            select(Assignment)
            .where(Assignment.id.in_(ids))
            .options(
                selectinload(Assignment.course).selectinload(Course.citizen),
                selectinload(Assignment.course).selectinload(Course.provider),
                selectinload(Assignment.course).selectinload(Course.team),
                selectinload(Assignment.course).selectinload(Course.plan),
            )
        )
    }
    for visit in visits:
        for row in visit.rows:
            row.assignments = [loaded[i] for i in row.assignment_ids if i in loaded]


# --- drop-out --------------------------------------------------------------------------------


class AssignmentClosed(ValueError):
    """The measurement is already answered or closed."""


def record_dropout(
    session: Session,
    scope: Scope,
    assignment_id: int,
    reason: DropoutReason,
    *,
    later_too: bool = False,
) -> list[Assignment]:
    """Record drop-out with a reason for a respondent's measurements at this timepoint.

    Every unanswered questionnaire of the same respondent at the same timepoint is declined;
    with `later_too`, so is every later unanswered one of that respondent in the course (for
    example after a move or a death). Answered measurements are never changed. A questionnaire
    started on the kiosk or through a link but not sent (in progress) is closed as a drop-out
    too: the answers given are kept, unsent and unscored, and come back if the drop-out is
    undone (`undo_dropout`).
    """
    assignment = get_assignment(session, scope, assignment_id)
    if assignment.status not in DROPOUT_POSSIBLE:
        raise AssignmentClosed("this measurement is already answered or closed")
    course = assignment.course
    targets = []
    for other in course.assignments:
        if other.respondent is not assignment.respondent or other.status not in DROPOUT_POSSIBLE:
            continue
        same_time = other.timepoint_key == assignment.timepoint_key
        later = later_too and (
            other.due_date is None
            or (assignment.due_date is not None and other.due_date > assignment.due_date)
        )
        if same_time or later:
            targets.append(other)
    now = utcnow()
    for target in targets:
        target.status = AssignmentStatus.DECLINED
        target.dropout_reason = reason
        target.status_changed_at = now
    audit.record(
        session,
        scope.actor,
        "assignment.dropout",
        object_type="assignment",
        object_id=assignment.id,
        municipality_id=course.municipality_id,
        details={
            "reason": reason.value,
            "assignments": [t.id for t in targets],
            "in_progress": [t.id for t in targets if t.response is not None],
            "course_id": course.id,
        },
    )
    session.flush()
    return targets


class DropoutNotUndoable(ValueError):
    """A drop-out cannot be undone: `code` is "not_dropped_out" or "window_closed"."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def window_still_open(assignment: Assignment, today: date) -> bool:
    """Whether the measurement's window has not passed (it may not have opened yet)."""
    return assignment.window_end is None or assignment.window_end >= today


def can_undo_dropout(assignment: Assignment, today: date) -> bool:
    """Whether staff may undo this measurement's drop-out today."""
    return (
        assignment.status is AssignmentStatus.DECLINED
        and window_still_open(assignment, today)
        and assignment.course.status is not CourseStatus.CANCELLED
    )


def undo_dropout(
    session: Session, scope: Scope, assignment_id: int, *, today: date
) -> list[Assignment]:
    """Undo a recorded drop-out while the measurement's window is open; audited.

    Like recording, it applies to every dropped-out questionnaire of the same respondent at the
    same timepoint whose window is still open. Each goes back to what it was before: in
    progress if answers were started (they are kept), otherwise open or scheduled by its
    window. Raises `DropoutNotUndoable` when the measurement is not a drop-out or its window
    has passed.
    """
    assignment = get_assignment(session, scope, assignment_id)
    if assignment.status is not AssignmentStatus.DECLINED:
        raise DropoutNotUndoable("not_dropped_out")
    if not can_undo_dropout(assignment, today):
        raise DropoutNotUndoable("window_closed")
    course = assignment.course
    targets = [
        other
        for other in course.assignments
        if other.respondent is assignment.respondent
        and other.timepoint_key == assignment.timepoint_key
        and can_undo_dropout(other, today)
    ]
    now = utcnow()
    reasons = sorted({t.dropout_reason.value for t in targets if t.dropout_reason})
    for target in targets:
        if target.response is not None and target.response.submitted_at is None:
            target.status = AssignmentStatus.IN_PROGRESS
        elif target.window_start is not None and target.window_start <= today:
            target.status = AssignmentStatus.OPEN
        else:
            target.status = AssignmentStatus.SCHEDULED
        target.dropout_reason = None
        target.status_changed_at = now
    audit.record(
        session,
        scope.actor,
        "assignment.dropout_undo",
        object_type="assignment",
        object_id=assignment.id,
        municipality_id=course.municipality_id,
        details={
            "assignments": [t.id for t in targets],
            "reasons": reasons,
            "course_id": course.id,
        },
    )
    session.flush()
    return targets


@dataclass(frozen=True)
class AssignmentInfo:
    """What a form about one measurement shows: whose, when, what, and its state."""

    id: int
    citizen_id: int
    citizen_label: str
    course_id: int
    timepoint_key: str
    label_da: str
    label_en: str
    instrument_id: str
    respondent: Respondent
    due: date | None
    window_start: date | None
    window_end: date | None
    status: AssignmentStatus
    siblings: tuple[str, ...]  # other unanswered questionnaires of this respondent here
    unit_name: str = ""  # fills {unit} in instrument texts
    municipality_name: str = ""  # fills {municipality}
    # A questionnaire started on the kiosk or by link but not sent: answers given, items, when.
    started_answers: int = 0
    started_items: int = 0
    started_last: datetime | None = None

    @property
    def closed(self) -> bool:
        """Nothing can be recorded any more: neither paper answers nor a drop-out."""
        return self.status not in DROPOUT_POSSIBLE

    @property
    def in_progress(self) -> bool:
        return self.status is AssignmentStatus.IN_PROGRESS

    @property
    def answered(self) -> bool:
        return self.status in (AssignmentStatus.COMPLETED, AssignmentStatus.DECLINED)

    @property
    def text_params(self) -> dict[str, str]:
        return {"unit": self.unit_name, "municipality": self.municipality_name}


def describe(
    session: Session, scope: Scope, assignment_id: int, registry: Registry | None = None
) -> AssignmentInfo:
    """One measurement in scope, for the drop-out and entry forms; audited as a view.

    With a registry, a started but unsent response is described too (answers given of how
    many questions, and when the last was given).
    """
    a = get_assignment(session, scope, assignment_id)
    course = a.course
    started: dict[str, object] = {}
    response = a.response
    if registry is not None and response is not None and response.submitted_at is None:
        try:
            items = len(registry.get(response.instrument_id, response.instrument_version).items)
        except KeyError:
            items = 0
        started = {
            "started_answers": len(response.answers),
            "started_items": items,
            "started_last": response.last_answer_at or response.started_at,
        }
    tp = next((t for t in course.plan.timepoints if t.key == a.timepoint_key), None)
    siblings = tuple(
        o.instrument_id
        for o in course.assignments
        if o.id != a.id
        and o.timepoint_key == a.timepoint_key
        and o.respondent is a.respondent
        and o.status in DROPOUT_POSSIBLE
    )
    audit.record(
        session,
        scope.actor,
        "assignment.view",
        object_type="assignment",
        object_id=a.id,
        municipality_id=course.municipality_id,
    )
    return AssignmentInfo(
        id=a.id,
        citizen_id=course.citizen_id,
        citizen_label=course.citizen.label,
        course_id=course.id,
        timepoint_key=a.timepoint_key,
        label_da=tp.label_da if tp else a.timepoint_key,
        label_en=tp.label_en if tp else a.timepoint_key,
        instrument_id=a.instrument_id,
        respondent=a.respondent,
        due=a.due_date,
        window_start=a.window_start,
        window_end=a.window_end,
        status=a.status,
        siblings=siblings,
        unit_name=course.provider.unit_name,
        municipality_name=course.provider.municipality.name,
        **started,  # type: ignore[arg-type]
    )


# --- paper entry and staff-recorded outcome ------------------------------------------------


class NothingAnswered(ValueError):
    """A staff-entered form has not a single answer: it would be shown as answered."""


def assignment_for_entry(session: Session, scope: Scope, assignment_id: int) -> Assignment:
    """An assignment in scope that may still be answered (paper or staff form)."""
    assignment = get_assignment(session, scope, assignment_id)
    if assignment.status not in (*UNANSWERED, AssignmentStatus.IN_PROGRESS):
        raise AssignmentClosed("this measurement is already answered or closed")
    if assignment.response is not None and assignment.response.submitted_at is not None:
        raise AssignmentClosed("this measurement is already answered")
    return assignment


def enter_answers(
    session: Session,
    scope: Scope,
    assignment_id: int,
    answers: Mapping[str, int | AnswerState],
    *,
    registry: Registry,
    language: str,
    answered_on: date | None = None,
    now: datetime | None = None,
) -> Response:
    """Store a whole response entered by staff: a paper form, or the staff-recorded outcome.

    The channel follows the respondent: staff-completed instruments are channel "staff",
    everything else typed in from paper is channel "paper". A form with not a single answer
    (not even "don't know") is refused (`NothingAnswered`) and nothing is changed, as in the
    import (importing.py, "no_answers"): a questionnaire that was not answered at all is a
    drop-out, not an empty response shown as answered.
    """
    assignment = assignment_for_entry(session, scope, assignment_id)
    if not answers:
        raise NothingAnswered("not a single question is answered")
    if assignment.response is not None:
        # A kiosk or link session was started but not sent: the paper form replaces it.
        session.delete(assignment.response)
        session.flush()
        session.refresh(assignment)
    channel = Channel.STAFF if assignment.respondent is Respondent.STAFF else Channel.PAPER
    if assignment.status is AssignmentStatus.EXPIRED:
        assignment.status = AssignmentStatus.OPEN  # a late paper form still counts as answered
    now = now or utcnow()
    given = datetime.combine(answered_on, time(12, 0), tzinfo=UTC) if answered_on else now
    response = record_complete_response(
        session,
        assignment,
        answers,
        channel=channel,
        language=language,
        registry=registry,
        started_at=min(given, now),
        submitted_at=min(given, now),
        entered_by_id=scope.user_id,
    )
    audit.record(
        session,
        scope.actor,
        f"response.{channel.value}_entry",
        object_type="response",
        object_id=response.id,
        municipality_id=assignment.course.municipality_id,
        details={
            "assignment_id": assignment.id,
            "instrument": assignment.instrument_id,
            "answered_on": answered_on.isoformat() if answered_on else None,
        },
    )
    return response


__all__ = [
    "AssignmentClosed",
    "DropoutNotUndoable",
    "DueList",
    "DueRow",
    "DueVisit",
    "AssignmentInfo",
    "NothingAnswered",
    "assignment_for_entry",
    "describe",
    "due_list",
    "load_assignments",
    "enter_answers",
    "can_undo_dropout",
    "record_dropout",
    "undo_dropout",
    "refresh_statuses",
]
