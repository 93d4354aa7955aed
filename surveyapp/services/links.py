"""Links for respondents who answer on their own device: the letter's QR code and its code.

A link belongs to one assignment. Issuing one makes two secrets, shown once and printed in
the letter: a URL token (256 random bits, in the QR code) and a typeable code (≈ 99 bits, see
`surveyapp.linkcodes`). The database keeps only their SHA-256 hashes. Issuing a new link for
an assignment revokes the old one. A link expires `link_valid_days` (set per plan timepoint,
default 14) after it is issued, or after the questionnaire's window opens if that is later.

Unknown, expired and revoked links and codes are all the same `LinkInvalid` to the visitor;
failed attempts are counted per client address in the database (`LinkAttempt`), shared by
every app process, and a client over the limit is refused until its window has passed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import Select, bindparam, delete, select, update
from sqlalchemy.orm import Session, joinedload

from surveyapp.enums import ActorType, AssignmentStatus, Respondent
from surveyapp.linkcodes import code_hash, new_code, normalise_code
from surveyapp.models import (
    Assignment,
    Course,
    LinkAttempt,
    LinkToken,
    PlanTimepoint,
    Provider,
    Response,
    utcnow,
)
from surveyapp.scheduling import DENMARK
from surveyapp.security import new_token, token_hash
from surveyapp.services import audit
from surveyapp.services.audit import Actor

DEFAULT_VALID_DAYS = 14
ISSUABLE = (AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN, AssignmentStatus.IN_PROGRESS)
#: Failed attempts allowed per client address in one window before it is refused.
MAX_FAILURES = 20
ATTEMPT_WINDOW = timedelta(minutes=15)


class LinkInvalid(LookupError):
    """The link or code does not lead to a questionnaire (unknown, revoked or expired)."""


class LinkRefused(ValueError):
    """A link cannot be issued for this assignment; `code` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code  # staff_form, closed


@dataclass(frozen=True)
class IssuedLink:
    """A new link's secrets: shown once (in the letter), never stored."""

    link_id: int
    assignment_id: int
    token: str
    code: str  # grouped for the letter, e.g. K7MQ-X9PA-2BCD-EFGH-JKMN
    expires_at: datetime
    opens_on: datetime | None  # when the questionnaire's window opens, if in the future


def _valid_days(session: Session, assignment: Assignment) -> int:
    if assignment.timepoint_id is None:
        return DEFAULT_VALID_DAYS
    timepoint = session.get(PlanTimepoint, assignment.timepoint_id)
    return timepoint.link_valid_days if timepoint is not None else DEFAULT_VALID_DAYS


def _window_opens(assignment: Assignment) -> datetime | None:
    if assignment.window_start is None:
        return None
    return datetime.combine(assignment.window_start, time(0), DENMARK)


def revoke_live_links(session: Session, assignment_id: int, *, now: datetime) -> int:
    """Revoke every live link of the assignment; return how many."""
    result = session.execute(
        update(LinkToken)
        .where(
            LinkToken.assignment_id == assignment_id,
            LinkToken.revoked_at.is_(None),
            LinkToken.expires_at > now,
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def issue_link(
    session: Session,
    assignment: Assignment,
    *,
    actor: Actor = audit.SYSTEM,
    created_by_id: int | None = None,
    valid_days: int | None = None,
    letter_name: str | None = None,
    language: str = "da",
    source: str = "letter",
    now: datetime | None = None,
) -> IssuedLink:
    """Make a new link (token and code) for the assignment, revoking any live one; audited."""
    if assignment.respondent is Respondent.STAFF:
        raise LinkRefused("staff_form")
    if assignment.status not in ISSUABLE:
        raise LinkRefused("closed")
    now = now or utcnow()
    revoked = revoke_live_links(session, assignment.id, now=now)
    days = valid_days if valid_days is not None else _valid_days(session, assignment)
    opens = _window_opens(assignment)
    start = max(now, opens) if opens is not None else now
    token, code = new_token(), new_code()
    link = LinkToken(
        assignment_id=assignment.id,
        token_hash=token_hash(token),
        code_hash=code_hash(normalise_code(code) or ""),
        expires_at=start + timedelta(days=days),
        created_at=now,
        created_by_id=created_by_id,
        source=source,
        language=language,
        letter_name=(letter_name or "").strip()[:40] or None,
    )
    session.add(link)
    session.flush()
    audit.record(
        session,
        actor,
        "link.issue",
        object_type="assignment",
        object_id=assignment.id,
        details={"link_id": link.id, "source": source, "revoked": revoked, "days": days},
    )
    return IssuedLink(
        link_id=link.id,
        assignment_id=assignment.id,
        token=token,
        code=code,
        expires_at=link.expires_at,
        opens_on=opens if opens is not None and opens > now else None,
    )


def create_link(
    session: Session,
    assignment: Assignment,
    *,
    created_by_id: int | None = None,
    valid_for: timedelta = timedelta(days=DEFAULT_VALID_DAYS),
    now: datetime | None = None,
    source: str = "test",
) -> str:
    """Make a link for the assignment and return only its token (tests, demo links)."""
    now = now or utcnow()
    issued = issue_link(
        session, assignment, created_by_id=created_by_id, valid_days=0, now=now, source=source
    )
    link = session.get(LinkToken, issued.link_id)
    assert link is not None
    link.expires_at = now + valid_for
    session.flush()
    return issued.token


def _live(link: LinkToken | None, now: datetime) -> LinkToken:
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        raise LinkInvalid("invalid")
    return link


def resolve_token(session: Session, token: str, *, now: datetime | None = None) -> LinkToken:
    """The live link of a URL token, or LinkInvalid (one indexed look-up whatever the token)."""
    probe = token if token and len(token) <= 100 else ""
    link = session.scalars(
        select(LinkToken).where(LinkToken.token_hash == token_hash(probe))
    ).one_or_none()
    return _live(link if probe else None, now or utcnow())


def resolve_code(session: Session, typed: str, *, now: datetime | None = None) -> LinkToken:
    """The live link of a typed code (case, spaces and dashes ignored), or LinkInvalid."""
    code = normalise_code(typed or "")
    link = session.scalars(
        select(LinkToken).where(LinkToken.code_hash == code_hash(code or "-"))
    ).one_or_none()
    return _live(link if code else None, now or utcnow())


def resolve_link(session: Session, token: str, *, now: datetime | None = None) -> Assignment:
    """The assignment a valid link token grants access to, or LinkInvalid."""
    return resolve_token(session, token, now=now).assignment


def _live_link_statement() -> Select[tuple[LinkToken]]:
    assignment = joinedload(LinkToken.assignment)
    return (
        select(LinkToken)
        .where(LinkToken.id == bindparam("link_id"))
        .options(
            assignment.joinedload(Assignment.response).joinedload(Response.answers),
            assignment.joinedload(Assignment.course)
            .joinedload(Course.provider)
            .joinedload(Provider.municipality),
        )
    )


#: Built once: the loader options cost more to build than the statement costs to run.
_LIVE_LINK = _live_link_statement()


def live_link(session: Session, link_id: int, *, now: datetime | None = None) -> LinkToken:
    """A link by id (from the respondent's cookie), if still live; else LinkInvalid.

    Every page of the link's questionnaire needs the link, its assignment, the response and
    its answers, and the course's provider and municipality (who asks): one statement loads
    them all, instead of one lazy load each."""
    link = session.scalars(_LIVE_LINK, {"link_id": link_id}).unique().one_or_none()
    return _live(link, now or utcnow())


def mark_opened(link: LinkToken, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    if link.first_opened_at is None:
        link.first_opened_at = now
    link.last_opened_at = now


# --- rate limiting of guesses ----------------------------------------------------------------


def _window(now: datetime) -> datetime:
    seconds = int(ATTEMPT_WINDOW.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)


def too_many_failures(session: Session, client_key: str, *, now: datetime | None = None) -> bool:
    """True if this client has used up its failed attempts in the current window."""
    failures = session.scalar(
        select(LinkAttempt.failures).where(
            LinkAttempt.client_key == client_key,
            LinkAttempt.window_start == _window(now or utcnow()),
        )
    )
    return (failures or 0) >= MAX_FAILURES


def record_failure(session: Session, client_key: str, *, now: datetime | None = None) -> None:
    """Count one failed attempt of this client (and forget windows that have passed)."""
    window = _window(now or utcnow())
    session.execute(delete(LinkAttempt).where(LinkAttempt.window_start < window))
    updated = session.execute(
        update(LinkAttempt)
        .where(LinkAttempt.client_key == client_key, LinkAttempt.window_start == window)
        .values(failures=LinkAttempt.failures + 1)
    )
    if not updated.rowcount:  # type: ignore[attr-defined]
        session.add(LinkAttempt(client_key=client_key, window_start=window, failures=1))
        session.flush()


def client_key(secret: str, address: str | None) -> str:
    """The rate-limit key of a client address: a keyed hash, so no address is stored."""
    message = f"link-attempts:{address or '-'}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


# --- opening a link: the token or code exchanged for the respondent's cookie -------------------


class Refusal(StrEnum):
    """Why a link or code was not opened (the visitor sees the same calm page either way)."""

    INVALID = "invalid"  # unknown, expired or revoked: one failed attempt counted
    TOO_MANY = "too_many"  # this client is over the limit: nothing was looked up


def open_link(
    session: Session,
    client: str,
    *,
    token: str | None = None,
    code: str | None = None,
    now: datetime | None = None,
) -> LinkToken | Refusal:
    """Open a link by its URL token or typed code, on behalf of one client; audited.

    A client over the limit of failed attempts is refused before anything is looked up.
    Otherwise there is exactly one indexed look-up, whatever the token or code, and a failure
    is counted (in the caller's transaction, which must commit it). An opened link has its
    first and last opening recorded and an audit event "link.open" (never the token or code).
    """
    now = now or utcnow()
    if too_many_failures(session, client, now=now):
        return Refusal.TOO_MANY
    try:
        if token is not None:
            link = resolve_token(session, token, now=now)
        else:
            link = resolve_code(session, code or "", now=now)
    except LinkInvalid:
        record_failure(session, client, now=now)
        return Refusal.INVALID
    mark_opened(link, now=now)
    assignment = link.assignment
    municipality_id = session.scalar(
        select(Course.municipality_id).where(Course.id == assignment.course_id)
    )
    actor = ActorType.CITIZEN if assignment.respondent is Respondent.CITIZEN else ActorType.RELATIVE
    audit.record(
        session,
        audit.Actor(actor, municipality_id=municipality_id),
        "link.open",
        object_type="assignment",
        object_id=assignment.id,
        details={"link_id": link.id, "by": "token" if token is not None else "code"},
    )
    return link
