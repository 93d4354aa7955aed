"""Letters with links: which questionnaires need one, issuing them one by one or in bulk,
and what the due list and the citizen page show about links already issued (reminders).

A letter is the only place a link's token and code are ever shown: they exist only while the
letter is being made. Printing a letter again therefore means issuing a new link, which
revokes the old one (see `surveyapp.services.links.issue_link`).

Who gets a letter: the relative's questionnaires (the start-meeting survey, the WHODAS proxy
form), and, when a coordinator asks for it, a citizen's own questionnaire to answer at home.
Never a staff form, and never a questionnaire that is answered, missed, dropped out, or not
yet dated. The batch ("every relative due in the next N days without a live link") runs in
the caller's transaction, so a PDF that cannot be made leaves no link issued.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session, selectinload

from surveyapp.enums import ActorType, AssignmentStatus, CourseStatus, Respondent
from surveyapp.instruments import Registry
from surveyapp.letters import Contact, Letter, build_letter, clean_first_name, last_valid_day
from surveyapp.models import Assignment, Course, LinkToken, Municipality, utcnow
from surveyapp.notify import Notifier, PrintOnly
from surveyapp.scheduling import DENMARK
from surveyapp.services import audit
from surveyapp.services.assignments import AssignmentInfo, describe, refresh_statuses
from surveyapp.services.audit import Actor
from surveyapp.services.links import ISSUABLE, IssuedLink, issue_link, revoke_live_links
from surveyapp.services.scope import (
    Scope,
    get_assignment,
    require_admin,
    require_individual_access,
)

DEFAULT_DUE_WITHIN = 14
LIVE_COURSES = (CourseStatus.PLANNED, CourseStatus.ACTIVE, CourseStatus.ENDED)
AUDIENCE = {Respondent.RELATIVE: "relative", Respondent.CITIZEN: "citizen"}


class LetterRefused(ValueError):
    """No letter can be made for this questionnaire; `code` says why.

    staff_form: staff record it themselves; closed: answered, missed, dropped out or its
    course cancelled; not_dated: its window is not known yet (an end measurement before the
    course end date is set); language: not a letter language; public_url: production has no
    public https address to print.
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class LetterChoice:
    """What the coordinator chose for one letter."""

    language: str = "da"
    first_name: str | None = None


@dataclass(frozen=True)
class LetterContext:
    """What every letter of one request needs besides the assignment."""

    public_url: str
    registry: Registry
    notifier: Notifier = PrintOnly()


# --- who may get a letter ---------------------------------------------------------------------


def refusal(assignment: Assignment) -> str | None:
    """Why no letter can be issued for the assignment, or None if one can."""
    if assignment.respondent is Respondent.STAFF:
        return "staff_form"
    if assignment.status not in ISSUABLE or assignment.course.status not in LIVE_COURSES:
        return "closed"
    if assignment.window_start is None:
        return "not_dated"
    return None


def can_issue(assignment: Assignment) -> bool:
    """True if a coordinator may issue a letter for this assignment (for buttons)."""
    return refusal(assignment) is None


def _live_link_exists(now: datetime) -> ColumnElement[bool]:
    return exists().where(
        LinkToken.assignment_id == Assignment.id,
        LinkToken.revoked_at.is_(None),
        LinkToken.expires_at > now,
    )


def due_for_letters(
    session: Session,
    course_filter: ColumnElement[bool],
    *,
    today: date,
    within_days: int = DEFAULT_DUE_WITHIN,
    reissue: bool = False,
    now: datetime | None = None,
) -> list[Assignment]:
    """Relatives' questionnaires open now or opening within `within_days`, without a live link.

    With `reissue`, those with a live link are included too (their links will be replaced).
    """
    now = now or utcnow()
    stmt = (
        select(Assignment)
        .join(Course, Assignment.course_id == Course.id)
        .where(
            course_filter,
            Course.status.in_(LIVE_COURSES),
            Assignment.respondent == Respondent.RELATIVE,
            Assignment.status.in_(ISSUABLE),
            Assignment.window_start.is_not(None),
            Assignment.window_start <= today + timedelta(days=max(0, within_days)),
            Assignment.window_end >= today,
        )
        .options(selectinload(Assignment.course).selectinload(Course.provider))
        .order_by(Assignment.window_start, Assignment.due_date, Assignment.id)
    )
    if not reissue:
        stmt = stmt.where(~_live_link_exists(now))
    return list(session.scalars(stmt))


# --- making letters ---------------------------------------------------------------------------


def contact_of(municipality: Municipality) -> Contact:
    """The municipality's letter settings: sender, phone, e-mail and opening hours."""
    return Contact(
        municipality=municipality.name,
        sender=municipality.letter_sender or None,
        phone=municipality.contact_phone or None,
        email=municipality.contact_email or None,
        hours=municipality.contact_hours or None,
    )


def _letter(
    session: Session,
    assignment: Assignment,
    issued: IssuedLink,
    choice: LetterChoice,
    context: LetterContext,
    now: datetime,
) -> Letter:
    municipality = session.get(Municipality, assignment.course.municipality_id)
    assert municipality is not None
    instrument = context.registry.get(assignment.instrument_id)
    language = choice.language if choice.language in instrument.languages else "da"
    title = instrument.title.get(language) or instrument.title[instrument.default_language]
    letter = build_letter(
        assignment_id=assignment.id,
        public_url=context.public_url,
        token=issued.token,
        code=issued.code,
        expires_at=issued.expires_at,
        opens_at=issued.opens_on,
        issued_at=now,
        language=choice.language,
        audience=AUDIENCE[assignment.respondent],
        first_name=choice.first_name,
        questionnaire=title,
        questions=len(instrument.items),
        contact=contact_of(municipality),
    )
    context.notifier.link_issued(letter)
    return letter


def _issue(
    session: Session,
    assignment: Assignment,
    choice: LetterChoice,
    context: LetterContext,
    *,
    actor: Actor,
    created_by_id: int | None,
    now: datetime,
    source: str = "letter",
) -> Letter:
    reason = refusal(assignment)
    if reason is not None:
        raise LetterRefused(reason)
    if choice.language not in ("da", "en"):
        raise LetterRefused("language")
    issued = issue_link(
        session,
        assignment,
        actor=actor,
        created_by_id=created_by_id,
        letter_name=clean_first_name(choice.first_name),
        language=choice.language,
        source=source,
        now=now,
    )
    return _letter(session, assignment, issued, choice, context, now)


def issue_letter(
    session: Session,
    scope: Scope,
    assignment_id: int,
    choice: LetterChoice,
    context: LetterContext,
    *,
    now: datetime | None = None,
) -> Letter:
    """Issue a new link for one questionnaire in scope and return its letter (audited).

    Any live link of the questionnaire is revoked. OutOfScope for another municipality's or
    provider's assignment; LetterRefused for a staff form or a closed questionnaire.
    """
    assignment = get_assignment(session, scope, assignment_id)
    return _issue(
        session,
        assignment,
        choice,
        context,
        actor=scope.actor,
        created_by_id=scope.user_id,
        now=now or utcnow(),
    )


def last_choice(session: Session, assignment_id: int) -> LetterChoice:
    """The language and first name of the assignment's latest letter (for a re-issue)."""
    link = session.scalars(
        select(LinkToken)
        .where(LinkToken.assignment_id == assignment_id)
        .order_by(LinkToken.created_at.desc(), LinkToken.id.desc())
    ).first()
    if link is None:
        return LetterChoice()
    return LetterChoice(language=link.language or "da", first_name=link.letter_name)


def reissue_letter(
    session: Session,
    scope: Scope,
    assignment_id: int,
    context: LetterContext,
    *,
    now: datetime | None = None,
) -> Letter:
    """Issue a new letter like the last one (same language and first name), revoking the old."""
    assignment = get_assignment(session, scope, assignment_id)
    return _issue(
        session,
        assignment,
        last_choice(session, assignment.id),
        context,
        actor=scope.actor,
        created_by_id=scope.user_id,
        now=now or utcnow(),
    )


def revoke_letter(
    session: Session, scope: Scope, assignment_id: int, *, now: datetime | None = None
) -> int:
    """Revoke the questionnaire's live link (the letter stops working); audited; how many."""
    assignment = get_assignment(session, scope, assignment_id)
    revoked = revoke_live_links(session, assignment.id, now=now or utcnow())
    audit.record(
        session,
        scope.actor,
        "link.revoke",
        object_type="assignment",
        object_id=assignment.id,
        municipality_id=assignment.course.municipality_id,
        details={"revoked": revoked},
    )
    return revoked


def _batch(
    session: Session,
    assignments: Sequence[Assignment],
    context: LetterContext,
    *,
    actor: Actor,
    created_by_id: int | None,
    now: datetime,
    details: dict[str, object],
) -> list[Letter]:
    had_live = set(
        session.scalars(
            select(LinkToken.assignment_id).where(
                LinkToken.assignment_id.in_([a.id for a in assignments]),
                LinkToken.revoked_at.is_(None),
                LinkToken.expires_at > now,
            )
        )
    )
    letters = [
        _issue(
            session,
            assignment,
            last_choice(session, assignment.id),
            context,
            actor=actor,
            created_by_id=created_by_id,
            now=now,
        )
        for assignment in assignments
    ]
    audit.record(
        session,
        actor,
        "letters.batch",
        details={**details, "letters": len(letters), "reissued": len(had_live)},
    )
    return letters


def letters_for_selection(
    session: Session,
    scope: Scope,
    assignment_ids: Iterable[int],
    context: LetterContext,
    *,
    now: datetime | None = None,
) -> list[Letter]:
    """One letter per chosen questionnaire (rows ticked on the due list), in one transaction.

    Every id must be in scope (else OutOfScope) and may have a letter (else LetterRefused):
    nothing is issued unless all are.
    """
    wanted = list(dict.fromkeys(assignment_ids))
    assignments = [get_assignment(session, scope, i) for i in wanted]
    for assignment in assignments:
        reason = refusal(assignment)
        if reason is not None:
            raise LetterRefused(reason)
    return _batch(
        session,
        assignments,
        context,
        actor=scope.actor,
        created_by_id=scope.user_id,
        now=now or utcnow(),
        details={"mode": "selected"},
    )


def letters_for_due(
    session: Session,
    scope: Scope,
    context: LetterContext,
    *,
    today: date,
    within_days: int = DEFAULT_DUE_WITHIN,
    now: datetime | None = None,
) -> list[Letter]:
    """A letter for every relative's questionnaire due within N days that has no live link."""
    require_individual_access(scope)
    now = now or utcnow()
    refresh_statuses(session, scope.municipality_id, today=today)
    assignments = due_for_letters(
        session, scope.course_filter(), today=today, within_days=within_days, now=now
    )
    return _batch(
        session,
        assignments,
        context,
        actor=scope.actor,
        created_by_id=scope.user_id,
        now=now,
        details={"mode": "due", "days": within_days},
    )


def letters_for_batch_job(
    session: Session,
    context: LetterContext,
    *,
    today: date,
    municipality: str | None = None,
    within_days: int = DEFAULT_DUE_WITHIN,
    reissue: bool = False,
    now: datetime | None = None,
) -> list[Letter]:
    """The command line's batch: every municipality (or one, by name or code), as the system.

    LookupError if the named municipality does not exist.
    """
    now = now or utcnow()
    stmt = select(Municipality).order_by(Municipality.name)
    if municipality:
        wanted = municipality.strip().casefold()
        found = [
            m
            for m in session.scalars(stmt)
            if m.name.casefold() == wanted or m.code == municipality.strip()
        ]
        if not found:
            raise LookupError(f"no municipality named {municipality!r}")
    else:
        found = list(session.scalars(stmt))
    letters: list[Letter] = []
    for m in found:
        refresh_statuses(session, m.id, today=today)
        actor = Actor(ActorType.SYSTEM, municipality_id=m.id)
        assignments = due_for_letters(
            session,
            Course.municipality_id == m.id,
            today=today,
            within_days=within_days,
            reissue=reissue,
            now=now,
        )
        letters += _batch(
            session,
            assignments,
            context,
            actor=actor,
            created_by_id=None,
            now=now,
            details={"mode": "command", "days": within_days, "reissue": reissue},
        )
    return letters


# --- the issue page and the municipality's letter settings ----------------------------------


@dataclass(frozen=True)
class LetterPage:
    """What the issue form shows: the questionnaire, its latest link, whether it may have one."""

    info: AssignmentInfo
    refusal: str | None
    status: LinkStatus | None
    last: LetterChoice | None  # the latest letter's language and first name, if any


def letter_page(
    session: Session, scope: Scope, assignment_id: int, *, now: datetime | None = None
) -> LetterPage:
    """The questionnaire in scope (audited as a view), its link status and any refusal."""
    info = describe(session, scope, assignment_id)
    assignment = get_assignment(session, scope, assignment_id)
    status = link_statuses(session, [assignment.id], now=now).get(assignment.id)
    return LetterPage(
        info=info,
        refusal=refusal(assignment),
        status=status,
        last=last_choice(session, assignment.id) if status is not None else None,
    )


SETTINGS_FIELDS = ("letter_sender", "contact_phone", "contact_hours", "contact_email")


def letter_settings(session: Session, scope: Scope) -> dict[str, str | None]:
    """The admin's municipality's sender and contact line."""
    require_admin(scope)
    municipality = session.get(Municipality, scope.municipality_id)
    assert municipality is not None
    return {name: getattr(municipality, name) for name in SETTINGS_FIELDS}


def save_letter_settings(
    session: Session, scope: Scope, values: dict[str, str | None]
) -> Municipality:
    """Save the sender and contact line (empty means not printed); audited."""
    require_admin(scope)
    municipality = session.get(Municipality, scope.municipality_id)
    assert municipality is not None
    changed = []
    for name in SETTINGS_FIELDS:
        value = " ".join((values.get(name) or "").split()) or None
        if getattr(municipality, name) != value:
            setattr(municipality, name, value)
            changed.append(name)
    audit.record(
        session,
        scope.actor,
        "municipality.letter_settings",
        object_type="municipality",
        object_id=municipality.id,
        details={"changed": changed},
    )
    session.flush()
    return municipality


# --- reminders: what became of the links issued ------------------------------------------------


@dataclass(frozen=True)
class LinkStatus:
    """The latest link of one questionnaire, as the due list and the citizen page show it."""

    issued_at: datetime
    valid_until: date
    days_left: int  # whole days it still works, today included; 0 if it no longer does
    opened_at: datetime | None
    answered: bool
    live: bool
    revoked: bool
    source: str

    @property
    def opened(self) -> bool:
        return self.opened_at is not None


def link_statuses(
    session: Session, assignment_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, LinkStatus]:
    """Per assignment id (already in the caller's scope), its latest link's status, if any."""
    ids = sorted(set(assignment_ids))
    if not ids:
        return {}
    now = now or utcnow()
    today = now.astimezone(DENMARK).date()
    rows = session.execute(
        select(LinkToken, Assignment.status)
        .join(Assignment, LinkToken.assignment_id == Assignment.id)
        .where(LinkToken.assignment_id.in_(ids))
        .order_by(LinkToken.assignment_id, LinkToken.created_at.desc(), LinkToken.id.desc())
    ).all()
    found: dict[int, LinkStatus] = {}
    for link, status in rows:
        if link.assignment_id in found:
            continue
        expires = link.expires_at
        live = link.revoked_at is None and expires > now
        valid_until = last_valid_day(expires)
        found[link.assignment_id] = LinkStatus(
            issued_at=link.created_at,
            valid_until=valid_until,
            days_left=max(0, (valid_until - today).days + 1) if live else 0,
            opened_at=link.first_opened_at,
            answered=status is AssignmentStatus.COMPLETED,
            live=live,
            revoked=link.revoked_at is not None,
            source=link.source,
        )
    return found


__all__ = [
    "DEFAULT_DUE_WITHIN",
    "LetterChoice",
    "LetterContext",
    "LetterPage",
    "LetterRefused",
    "LinkStatus",
    "can_issue",
    "contact_of",
    "due_for_letters",
    "issue_letter",
    "last_choice",
    "letter_page",
    "letter_settings",
    "letters_for_batch_job",
    "letters_for_due",
    "letters_for_selection",
    "link_statuses",
    "reissue_letter",
    "refusal",
    "revoke_letter",
    "save_letter_settings",
]
