"""Citizens (borgere): found or registered by CPR number, shown with their courses and scores.

The CPR number typed by staff only passes through `surveyapp.pseudonym.read_cpr`: what is kept
is the keyed HMAC, the birth year and the sex. It is never stored, logged, audited or returned.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.orm import Session, joinedload, noload, selectinload

from surveyapp.enums import AssignmentStatus, CourseStatus, LegalBasis, Respondent, Sex
from surveyapp.instruments import Change, Instrument, Item, Registry, ScoreSpec
from surveyapp.models import (
    Assignment,
    Citizen,
    CitizenClaim,
    Course,
    CprHandoff,
    MeasurementPlan,
    Response,
    utcnow,
)
from surveyapp.pseudonym import CPRFacts, InvalidCPR, read_cpr
from surveyapp.scheduling import TimepointRole, timepoint_role
from surveyapp.services import audit, throttle
from surveyapp.services.assignments import course_status_today
from surveyapp.services.courses import create_course, set_end_date
from surveyapp.services.scope import (
    OutOfScope,
    Scope,
    get_citizen,
    get_course,
    get_plan,
    get_provider,
    get_team,
    require_individual_access,
)


class LookupOutcome(StrEnum):
    FOUND = "found"
    CREATED = "created"  # registered now (or, outside one's caseload, claimed: see below)
    NOT_FOUND = "not_found"  # not in the user's caseload, and no label given to register
    INVALID = "invalid"  # not a CPR number
    THROTTLED = "throttled"  # too many look-ups by this user: nothing was looked up


@dataclass(frozen=True)
class LookupResult:
    outcome: LookupOutcome
    citizen_id: int | None = None
    # NOT_FOUND: the opaque handle of the look-up kept for the registration step (see
    # `register_kept`); the caller keeps it in the user's session, nowhere else.
    handle: str | None = field(default=None, repr=False)


#: How long a CPR look-up that found no one is kept for the registration step.
HANDOFF_MINUTES = 10


@dataclass(frozen=True)
class KeptFacts:
    """What a kept look-up holds: what a citizen row keeps, never the number."""

    pseudonym: str
    birth_year: int
    sex: Sex


#: CPR look-ups per user and window (each look-up counts, found or not).
DEFAULT_LOOKUP_LIMIT = throttle.Limit("cpr_lookup", 30, timedelta(minutes=15))


def find_or_register(
    session: Session,
    scope: Scope,
    cpr_text: str,
    *,
    hmac_key: str,
    label: str = "",
    lives_alone: bool | None = None,
    today: date,
    limit: throttle.Limit = DEFAULT_LOOKUP_LIMIT,
    key_secret: str | None = None,
) -> LookupResult:
    """Find a citizen by CPR number in the user's caseload, or register them given a label.

    No oracle: a citizen the municipality has but the user may not see is answered exactly
    like one nobody has registered (NOT_FOUND), with the same single query. Registering such a
    citizen (a label given) makes them visible to this user (`CitizenClaim`, as if the user had
    registered them) and answers CREATED, like a new registration: in both cases the user goes
    on to register a course with their own provider, and sees only their own provider's
    courses. Every look-up is audited (never the number: whether it was found) and counted per
    user (`throttle`, `limit`); over the limit nothing is looked up. Never raises for a bad
    number (INVALID), so that the count and the audit event are kept.
    """
    require_individual_access(scope)
    key = throttle.key_of(key_secret or hmac_key, limit.kind, scope.user_id)
    if throttle.exceeded(session, limit, key):
        audit.record(session, scope.actor, "citizen.lookup_throttled")
        return LookupResult(LookupOutcome.THROTTLED)
    throttle.hit(session, limit, key)
    try:
        facts = read_cpr(cpr_text, hmac_key, today=today)
    except InvalidCPR:
        audit.record(session, scope.actor, "citizen.lookup", details={"result": "invalid"})
        return LookupResult(LookupOutcome.INVALID)
    finally:
        del cpr_text  # nothing below sees the number
    row = _registered(session, scope, facts.pseudonym)
    if row is not None and row[1]:
        audit.record(
            session,
            scope.actor,
            "citizen.lookup",
            object_type="citizen",
            object_id=row[0],
            details={"result": "found"},
        )
        return LookupResult(LookupOutcome.FOUND, row[0])
    # The audit trail (admins only) may tell the two apart; the user's answer never does.
    result = "elsewhere" if row is not None else "not_found"
    label = label.strip()
    if not label:
        audit.record(session, scope.actor, "citizen.lookup", details={"result": result})
        handle = _keep(session, scope, facts.pseudonym, facts.birth_year, facts.sex)
        return LookupResult(LookupOutcome.NOT_FOUND, handle=handle)
    return _register(
        session, scope, row[0] if row is not None else None, result, label, lives_alone, facts
    )


def _registered(session: Session, scope: Scope, pseudonym: str) -> Any:
    """(id, visible to the user) of the municipality's citizen with this pseudonym, or None.

    One statement whether or not the citizen is in the user's caseload, so that a number
    outside it is answered exactly like one nobody has registered."""
    visible = case((scope.citizen_filter(), True), else_=False)
    return session.execute(
        select(Citizen.id, visible).where(
            Citizen.municipality_id == scope.municipality_id,
            Citizen.cpr_hmac == pseudonym,
        )
    ).first()


def _register(
    session: Session,
    scope: Scope,
    existing_id: int | None,
    result: str,
    label: str,
    lives_alone: bool | None,
    facts: CPRFacts | KeptFacts,
) -> LookupResult:
    """Register a citizen not in the user's caseload: claimed if the municipality has them."""
    if existing_id is not None:
        session.add(CitizenClaim(citizen_id=existing_id, user_id=scope.user_id))
        session.flush()
        audit.record(
            session,
            scope.actor,
            "citizen.claim",
            object_type="citizen",
            object_id=existing_id,
            details={"result": result},
        )
        return LookupResult(LookupOutcome.CREATED, existing_id)
    citizen = Citizen(
        municipality_id=scope.municipality_id,
        cpr_hmac=facts.pseudonym,
        label=label[:40],
        birth_year=facts.birth_year,
        sex=facts.sex,
        lives_alone=lives_alone,
        created_by_id=scope.user_id,
    )
    session.add(citizen)
    session.flush()
    audit.record(
        session,
        scope.actor,
        "citizen.create",
        object_type="citizen",
        object_id=citizen.id,
        details={"result": result},
    )
    return LookupResult(LookupOutcome.CREATED, citizen.id)


def _handle_hash(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


def _keep(session: Session, scope: Scope, pseudonym: str, birth_year: int, sex: Sex) -> str:
    """Keep a look-up that found no one for `HANDOFF_MINUTES`; its new opaque handle.

    The same statements run whether or not the municipality has the citizen (no oracle): the
    user's earlier kept look-ups and every expired one are deleted, then one row is added.
    """
    now = utcnow()
    session.execute(
        delete(CprHandoff).where(
            or_(CprHandoff.user_id == scope.user_id, CprHandoff.expires_at <= now)
        )
    )
    handle = secrets.token_urlsafe(32)
    session.add(
        CprHandoff(
            handle_hash=_handle_hash(handle),
            user_id=scope.user_id,
            cpr_hmac=pseudonym,
            birth_year=birth_year,
            sex=sex,
            created_at=now,
            expires_at=now + timedelta(minutes=HANDOFF_MINUTES),
        )
    )
    session.flush()
    return handle


def register_kept(
    session: Session,
    scope: Scope,
    handle: str | None,
    *,
    label: str,
    lives_alone: bool | None = None,
) -> LookupResult:
    """Register the citizen of a kept look-up (the CPR number need not be typed again).

    The kept row must be this user's, unexpired and unused; it is deleted here whatever
    happens next (single use). NOT_FOUND when there is no such row (the user types the number
    again). Otherwise as `find_or_register` with a label: FOUND if the citizen has come into
    the user's caseload meanwhile, else CREATED (registered, or claimed).
    """
    require_individual_access(scope)
    if not handle:
        return LookupResult(LookupOutcome.NOT_FOUND)
    kept = session.scalars(
        select(CprHandoff).where(
            CprHandoff.handle_hash == _handle_hash(handle),
            CprHandoff.user_id == scope.user_id,
        )
    ).first()
    if kept is None:
        return LookupResult(LookupOutcome.NOT_FOUND)
    facts = KeptFacts(kept.cpr_hmac, kept.birth_year, kept.sex)
    expired = kept.expires_at <= utcnow()
    session.delete(kept)
    session.flush()
    if expired or not label.strip():
        return LookupResult(LookupOutcome.NOT_FOUND)
    row = _registered(session, scope, facts.pseudonym)
    if row is not None and row[1]:
        return LookupResult(LookupOutcome.FOUND, row[0])
    result = "elsewhere" if row is not None else "not_found"
    return _register(
        session,
        scope,
        row[0] if row is not None else None,
        result,
        label.strip(),
        lives_alone,
        facts,
    )


def sweep_handoffs(session: Session) -> int:
    """Delete every expired kept look-up (run by `surveyapp sweep`); how many."""
    deleted = session.execute(delete(CprHandoff).where(CprHandoff.expires_at <= utcnow()))
    return deleted.rowcount or 0


@dataclass(frozen=True)
class CitizenRow:
    id: int
    label: str
    birth_year: int
    courses: int
    active_courses: int


def list_citizens(
    session: Session, scope: Scope, *, label: str = "", limit: int = 200
) -> list[CitizenRow]:
    """Citizens in the user's caseload, optionally by label, newest first."""
    require_individual_access(scope)
    course_count = (
        select(func.count(Course.id))
        .where(Course.citizen_id == Citizen.id, scope.course_filter())
        .correlate(Citizen)
        .scalar_subquery()
    )
    active_count = (
        select(func.count(Course.id))
        .where(
            Course.citizen_id == Citizen.id,
            scope.course_filter(),
            Course.status.in_([CourseStatus.PLANNED, CourseStatus.ACTIVE]),
        )
        .correlate(Citizen)
        .scalar_subquery()
    )
    stmt = select(Citizen.id, Citizen.label, Citizen.birth_year, course_count, active_count).where(
        scope.citizen_filter()
    )
    if label.strip():
        stmt = stmt.where(
            func.lower(Citizen.label).contains(label.strip().lower(), autoescape=True)
        )
    rows = session.execute(stmt.order_by(Citizen.id.desc()).limit(limit)).all()
    audit.record(session, scope.actor, "citizen.list", details={"shown": len(rows)})
    return [CitizenRow(*row) for row in rows]


# --- the citizen page --------------------------------------------------------------------------


@dataclass
class TimepointView:
    key: str
    label_da: str
    label_en: str
    due: date | None
    window_start: date | None
    window_end: date | None
    role: TimepointRole | None = None
    assignments: list[Assignment] = field(default_factory=list)


@dataclass(frozen=True)
class ScoreColumn:
    """A column of the score table: one declared score (or reported item) of one respondent."""

    instrument: Instrument
    respondent: Respondent
    spec: ScoreSpec | None = None  # a score declared in the definition file ...
    item: Item | None = None  # ... or a reported categorical item (staff forms)
    beside: ScoreSpec | None = None  # a score shown beside it (e.g. the raw sum), as declared

    @property
    def key(self) -> tuple[str, str]:
        name = self.spec.name if self.spec else f"{self.instrument.id}.{self.item.id}"  # type: ignore[union-attr]
        return (name, self.respondent.value)


@dataclass
class ScoreRow:
    """One timepoint's scores of a course: values and changes by column key."""

    key: str
    label_da: str
    label_en: str
    date: date | None
    values: dict[tuple[str, str], float | None] = field(default_factory=dict)
    changes: dict[tuple[str, str], Change] = field(default_factory=dict)  # vs the baseline
    beside: dict[tuple[str, str], float] = field(default_factory=dict)  # column.beside's values


@dataclass
class ScoreTable:
    columns: list[ScoreColumn]
    rows: list[ScoreRow]

    def __bool__(self) -> bool:
        return bool(self.rows)


@dataclass
class CourseView:
    course: Course
    timepoints: list[TimepointView]
    scores: ScoreTable


@dataclass
class CitizenView:
    citizen: Citizen
    courses: list[CourseView]


def course_view(course: Course, registry: Registry) -> CourseView:
    """A course's assignments grouped by timepoint, and its score table."""
    plan_timepoints = {tp.key: tp for tp in course.plan.timepoints}
    order = {tp.key: tp.sort_order for tp in course.plan.timepoints}
    grouped: dict[str, TimepointView] = {}
    for assignment in sorted(
        course.assignments, key=lambda a: (order.get(a.timepoint_key, 999), a.id)
    ):
        tp = plan_timepoints.get(assignment.timepoint_key)
        view = grouped.get(assignment.timepoint_key)
        if view is None:
            view = grouped[assignment.timepoint_key] = TimepointView(
                key=assignment.timepoint_key,
                label_da=tp.label_da if tp else assignment.timepoint_key,
                label_en=tp.label_en if tp else assignment.timepoint_key,
                due=assignment.due_date,
                window_start=assignment.window_start,
                window_end=assignment.window_end,
                role=timepoint_role(tp.anchor, tp.offset_months, tp.offset_days) if tp else None,
            )
        view.assignments.append(assignment)
    timepoints = list(grouped.values())
    return CourseView(
        course=course, timepoints=timepoints, scores=score_table(timepoints, registry)
    )


def completed_responses(tp: TimepointView) -> list[tuple[Assignment, Response]]:
    """The timepoint's submitted responses with their assignments."""
    return [
        (a, a.response)
        for a in tp.assignments
        if a.status is AssignmentStatus.COMPLETED
        and a.response is not None
        and a.response.submitted_at is not None
    ]


def _instrument_of(registry: Registry, response: Response) -> Instrument | None:
    try:
        return registry.get(response.instrument_id, response.instrument_version)
    except KeyError:
        return None


def score_table(timepoints: list[TimepointView], registry: Registry) -> ScoreTable:
    """Every reported score and reported item with an answer, by timepoint.

    A score the file declares `shown_beside` a reported one (e.g. WHO-5's raw 0–25 beside its
    percentage) is given with it, in the same column.

    Columns follow the order the questionnaires are given in; a citizen's own answers and a
    relative's are separate columns. Changes are classified against the baseline timepoint
    (the plan's start-anchored one, whatever it is called) by each score's own threshold.
    """
    columns: dict[tuple[str, str], ScoreColumn] = {}
    rows: list[ScoreRow] = []
    baseline: dict[tuple[str, str], float] = {}
    for tp in timepoints:
        row = ScoreRow(tp.key, tp.label_da, tp.label_en, None)
        for a, response in completed_responses(tp):
            instrument = _instrument_of(registry, response)
            if instrument is None:
                continue
            if a.respondent is not Respondent.STAFF and response.submitted_at is not None:
                day = response.submitted_at.date()
                row.date = day if row.date is None else min(row.date, day)
            stored = {sc.name: sc.value for sc in response.scores}
            for spec in instrument.reported_scores:
                if stored.get(spec.name) is not None:
                    beside = instrument.shown_beside(spec.name)
                    column = ScoreColumn(instrument, a.respondent, spec=spec, beside=beside)
                    columns.setdefault(column.key, column)
                    row.values[column.key] = stored[spec.name]
                    if beside is not None and stored.get(beside.name) is not None:
                        row.beside[column.key] = stored[beside.name]  # type: ignore[assignment]
            answers = {x.item_id: x.value for x in response.answers}
            for item in instrument.items:
                if item.reported and answers.get(item.id) is not None:
                    column = ScoreColumn(instrument, a.respondent, item=item)
                    columns.setdefault(column.key, column)
                    row.values[column.key] = answers[item.id]
        for key, value in row.values.items():
            spec = columns[key].spec
            if spec is None or value is None:
                continue
            if tp.role is TimepointRole.BASELINE:
                baseline.setdefault(key, value)
            elif key in baseline and (change := spec.classify(baseline[key], value)):
                row.changes[key] = change
        if row.values:
            rows.append(row)
    return ScoreTable(list(columns.values()), rows)


def _courses_in_scope(session: Session, scope: Scope, citizen_id: int) -> list[Course]:
    return list(
        session.scalars(
            select(Course)
            .where(Course.citizen_id == citizen_id, scope.course_filter())
            .options(
                selectinload(Course.assignments)
                .selectinload(Assignment.response)
                .selectinload(Response.scores),
                selectinload(Course.assignments)
                .selectinload(Assignment.response)
                .selectinload(Response.answers),
                selectinload(Course.plan),
                selectinload(Course.provider),
                selectinload(Course.team),
            )
            .order_by(Course.start_date.desc(), Course.id.desc())
        )
    )


def citizen_page(
    session: Session, scope: Scope, citizen_id: int, registry: Registry
) -> CitizenView:
    """A citizen with every course the user may see, its timeline and scores; audited."""
    citizen = get_citizen(session, scope, citizen_id)
    courses = [course_view(c, registry) for c in _courses_in_scope(session, scope, citizen_id)]
    audit.record(session, scope.actor, "citizen.view", object_type="citizen", object_id=citizen.id)
    return CitizenView(citizen=citizen, courses=courses)


def course_chart_data(
    session: Session, scope: Scope, course_id: int, registry: Registry
) -> CourseView:
    """One course's timeline and scores (for its chart); audited as a view of the citizen.

    Four statements whatever the course holds: the course with its plan, the plan's
    timepoints, the assignments with their responses, their scores (no lazy load in
    course_view or the chart). The answers are not read: the chart draws scores only, so this
    view's table has no reported-item columns (the citizen page's view has them)."""
    course = get_course(
        session,
        scope,
        course_id,
        joinedload(Course.plan).selectinload(MeasurementPlan.timepoints),
        selectinload(Course.assignments)
        .joinedload(Assignment.response)
        .options(selectinload(Response.scores), noload(Response.answers)),
    )
    audit.record(
        session,
        scope.actor,
        "citizen.chart",
        object_type="course",
        object_id=course.id,
        details={"citizen_id": course.citizen_id},
    )
    return course_view(course, registry)


# --- courses ---------------------------------------------------------------------------------


class CourseError(ValueError):
    """A course cannot be registered or changed as asked; `field` names the form field."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(code)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class NewCourse:
    provider_id: int
    team_id: int | None
    plan_id: int
    legal_basis: LegalBasis
    start_date: date
    end_date: date | None
    confirm_overlap: bool = False  # the user saw the warning about an overlapping course


#: Courses that are still running or about to: a new one beside them is a likely mistake.
OPEN_COURSES = (CourseStatus.PLANNED, CourseStatus.ACTIVE)


def _overlaps(course: Course, start: date, end: date | None) -> bool:
    """Whether a course's period and [start, end] (open-ended when None) share a day."""
    starts_before_other_ends = course.end_date is None or start <= course.end_date
    ends_after_other_starts = end is None or end >= course.start_date
    return starts_before_other_ends and ends_after_other_starts


def _check_overlap(
    session: Session, scope: Scope, citizen: Citizen, provider_id: int, new: NewCourse, today: date
) -> bool:
    """Refuse a second open course at one provider; warn of any other overlapping course.

    Two open courses of one citizen at one provider in the same period make no sense (the
    baseline would be asked twice): refused, whatever the user confirms. An overlapping open
    course at another provider may be right (e.g. home care and a private trainer), so it
    needs `confirm_overlap`. Only courses in the user's scope are considered: a provider's
    user is never told of another provider's courses. True when an overlap was confirmed.
    """
    courses = session.scalars(
        select(Course).where(Course.citizen_id == citizen.id, scope.course_filter())
    )
    overlapping = [
        c
        for c in courses
        if course_status_today(c, today) in OPEN_COURSES
        and _overlaps(c, new.start_date, new.end_date)
    ]
    if any(c.provider_id == provider_id for c in overlapping):
        raise CourseError("start_date", "open_course_at_provider")
    if overlapping and not new.confirm_overlap:
        raise CourseError("confirm_overlap", "overlap_unconfirmed")
    return bool(overlapping)


def register_course(
    session: Session, scope: Scope, citizen_id: int, new: NewCourse, *, today: date
) -> Course:
    """Register a course for a citizen in scope and schedule its measurements.

    A second open course in the same period is refused at the same provider and needs the
    user's confirmation elsewhere (see `_check_overlap`).
    """
    citizen = get_citizen(session, scope, citizen_id)
    try:
        provider = get_provider(session, scope, new.provider_id)
    except OutOfScope:
        raise CourseError("provider_id", "invalid_choice") from None
    team = None
    if new.team_id:
        try:
            team = get_team(session, scope, new.team_id)
        except OutOfScope:
            raise CourseError("team_id", "invalid_choice") from None
        if team.provider_id != provider.id:
            raise CourseError("team_id", "team_not_of_provider")
    try:
        plan = get_plan(session, scope, new.plan_id)
    except OutOfScope:
        raise CourseError("plan_id", "invalid_choice") from None
    if not plan.active:
        raise CourseError("plan_id", "invalid_choice")
    if new.end_date is not None and new.end_date < new.start_date:
        raise CourseError("end_date", "ends_before_start")
    overlap = _check_overlap(session, scope, citizen, provider.id, new, today)
    course = create_course(
        session,
        citizen=citizen,
        provider=provider,
        team=team,
        plan=plan,
        start_date=new.start_date,
        end_date=new.end_date,
        legal_basis=new.legal_basis,
        created_by_id=scope.user_id,
        today=today,
    )
    audit.record(
        session,
        scope.actor,
        "course.create",
        object_type="course",
        object_id=course.id,
        details={
            "citizen_id": citizen.id,
            "provider_id": provider.id,
            "plan_id": plan.id,
            "overlap_confirmed": overlap,
        },
    )
    return course


def update_course(
    session: Session,
    scope: Scope,
    course_id: int,
    *,
    end_date: date | None,
    status: CourseStatus,
    today: date,
) -> Course:
    """Set or move the end date (end-anchored measurements move with it) and the status."""
    course = get_course(session, scope, course_id)
    changes: dict[str, str | None] = {}
    if end_date is not None and end_date != course.end_date:
        if end_date < course.start_date:
            raise CourseError("end_date", "ends_before_start")
        changes["end_date"] = end_date.isoformat()
        set_end_date(session, course, end_date, today=today)
    elif end_date is None and course.end_date is not None:
        raise CourseError("end_date", "end_date_required")
    if status is not course.status:
        changes["status"] = status.value
        course.status = status
    if changes:
        audit.record(
            session,
            scope.actor,
            "course.update",
            object_type="course",
            object_id=course.id,
            details=changes,
        )
    session.flush()
    return course
