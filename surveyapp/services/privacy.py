"""The GDPR duties: access requests, erasure, the retention period, and old IP addresses.

Every function runs in the caller's transaction, within one municipality (the admin's, or
the one named on the command line), and writes an audit event. Tables holding personal data
about a citizen: citizen (CPR HMAC, label, birth year, sex, lives alone), course, assignment
(drop-out reasons), response / answer / score (the answers), link_token (the first name
typed for a letter, when it was opened), kiosk_session (visits), and audit_event (who looked
at the citizen's records, by record id; never the CPR number, the label or the answers).
link_attempt holds only keyed hashes of client addresses and is emptied as windows pass.
"""

from __future__ import annotations

import csv
import io
import secrets
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select
from sqlalchemy.orm import Session

from surveyapp.audit_actions import action_name
from surveyapp.models import (
    Answer,
    Assignment,
    AuditEvent,
    Citizen,
    Course,
    KioskSession,
    LinkToken,
    Measurement,
    MeasurementPlan,
    OfflineItem,
    Provider,
    Response,
    Score,
    StaffUser,
    Team,
    utcnow,
)
from surveyapp.pseudonym import read_cpr
from surveyapp.services import audit
from surveyapp.services.audit import Actor
from surveyapp.services.scope import OutOfScope


def find_citizen(
    session: Session,
    actor: Actor,
    municipality_id: int,
    cpr_text: str,
    *,
    hmac_key: str,
    today: date,
    purpose: str,
) -> Citizen:
    """The municipality's citizen with this CPR number (hashed as the app does).

    Raises InvalidCPR for a malformed number and OutOfScope if there is no such citizen in
    the municipality; both look-ups are audited (never with the number).
    """
    pseudonym = read_cpr(cpr_text, hmac_key, today=today).pseudonym
    del cpr_text
    citizen = session.scalars(
        select(Citizen).where(
            Citizen.municipality_id == municipality_id, Citizen.cpr_hmac == pseudonym
        )
    ).first()
    if citizen is None:
        audit.record(
            session,
            actor,
            "citizen.lookup",
            municipality_id=municipality_id,
            details={"result": "not_found", "purpose": purpose},
        )
        raise OutOfScope("not found")
    return citizen


def citizen_in(session: Session, municipality_id: int, citizen_id: int) -> Citizen:
    """A citizen of the municipality by id, or OutOfScope."""
    citizen = session.get(Citizen, citizen_id)
    if citizen is None or citizen.municipality_id != municipality_id:
        raise OutOfScope("not found")
    return citizen


# --- what is held about one citizen --------------------------------------------------------


@dataclass(frozen=True)
class Holdings:
    """The ids of every record about one citizen."""

    citizen_id: int
    course_ids: tuple[int, ...]
    assignment_ids: tuple[int, ...]
    response_ids: tuple[int, ...]
    link_ids: tuple[int, ...]
    kiosk_ids: tuple[int, ...]

    def counts(self) -> dict[str, int]:
        return {
            "courses": len(self.course_ids),
            "assignments": len(self.assignment_ids),
            "responses": len(self.response_ids),
            "links": len(self.link_ids),
            "kiosk_visits": len(self.kiosk_ids),
        }

    def audit_filter(self) -> ColumnElement[bool]:
        """Audit events about one of these records."""
        pairs: list[tuple[str, Sequence[int]]] = [
            ("citizen", (self.citizen_id,)),
            ("course", self.course_ids),
            ("assignment", self.assignment_ids),
            ("response", self.response_ids),
            ("kiosk_session", self.kiosk_ids),
        ]
        return or_(
            *(
                and_(
                    AuditEvent.object_type == kind, AuditEvent.object_id.in_([str(i) for i in ids])
                )
                for kind, ids in pairs
                if ids
            )
        )


def holdings(session: Session, citizen: Citizen) -> Holdings:
    def ids(stmt: Any) -> tuple[int, ...]:
        return tuple(session.scalars(stmt).all())

    courses = ids(select(Course.id).where(Course.citizen_id == citizen.id).order_by(Course.id))
    assignments = ids(
        select(Assignment.id).where(Assignment.course_id.in_(courses)).order_by(Assignment.id)
    )
    return Holdings(
        citizen_id=citizen.id,
        course_ids=courses,
        assignment_ids=assignments,
        response_ids=ids(
            select(Response.id).where(Response.assignment_id.in_(assignments)).order_by(Response.id)
        ),
        link_ids=ids(
            select(LinkToken.id)
            .where(LinkToken.assignment_id.in_(assignments))
            .order_by(LinkToken.id)
        ),
        kiosk_ids=ids(
            select(KioskSession.id)
            .where(KioskSession.citizen_id == citizen.id)
            .order_by(KioskSession.id)
        ),
    )


# --- access request (GDPR art. 15) ---------------------------------------------------------

README = """\
Indsigt: alt hvad surveyapp har registreret om én borger / Access request: everything
surveyapp holds about one citizen.

citizen.csv       borgeren (CPR-nummeret gemmes aldrig, kun et nøglet HMAC) / the citizen
courses.csv       forløb / courses
measurements.csv  planlagte målinger og frafald / planned measurements and drop-out
responses.csv     besvarelser / responses
answers.csv       svarene, spørgsmål for spørgsmål / the answers, item by item
scores.csv        beregnede scorer / computed scores
letters.csv       breve med link til pårørende (aldrig selve linket) / letters with links
kiosk_visits.csv  besøg med tablet / kiosk visits
access_log.csv    hvem har set eller ændret oplysningerne og hvornår / who looked at or
                  changed the data and when (from the audit trail)
"""


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _text(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel reads it as UTF-8


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, int | float | str):
        return str(value.value)
    return str(value)


def access_request(session: Session, actor: Actor, municipality_id: int, citizen_id: int) -> bytes:
    """A zip of CSV files with everything held about the citizen, including who looked."""
    citizen = citizen_in(session, municipality_id, citizen_id)
    held = holdings(session, citizen)
    staff = {u.id: u for u in session.scalars(select(StaffUser))}

    def who(user_id: int | None) -> str:
        user = staff.get(user_id) if user_id is not None else None
        return f"{user.full_name} ({user.username})" if user else ""

    files: dict[str, bytes] = {"README.txt": README.encode("utf-8")}
    files["citizen.csv"] = _csv(
        [
            "id",
            "label",
            "birth_year",
            "sex",
            "lives_alone",
            "cpr_pseudonym",
            "registered_at",
            "registered_by",
            "anonymised_at",
        ],
        [
            [
                citizen.id,
                citizen.label,
                citizen.birth_year,
                citizen.sex,
                citizen.lives_alone,
                citizen.cpr_hmac,
                citizen.created_at,
                who(citizen.created_by_id),
                citizen.anonymised_at,
            ]
        ],
    )
    courses = session.execute(
        select(Course, Provider.name, Team.name, MeasurementPlan.name)
        .join(Provider, Course.provider_id == Provider.id)
        .outerjoin(Team, Course.team_id == Team.id)
        .join(MeasurementPlan, Course.plan_id == MeasurementPlan.id)
        .where(Course.id.in_(held.course_ids))
        .order_by(Course.id)
    ).all()
    files["courses.csv"] = _csv(
        [
            "id",
            "provider",
            "team",
            "plan",
            "legal_basis",
            "start_date",
            "end_date",
            "status",
            "registered_at",
            "registered_by",
        ],
        [
            [
                c.id,
                provider,
                team,
                plan,
                c.legal_basis,
                c.start_date,
                c.end_date,
                c.status,
                c.created_at,
                who(c.created_by_id),
            ]
            for c, provider, team, plan in courses
        ],
    )
    assignments = session.scalars(
        select(Assignment).where(Assignment.id.in_(held.assignment_ids)).order_by(Assignment.id)
    ).all()
    files["measurements.csv"] = _csv(
        [
            "id",
            "course_id",
            "timepoint",
            "questionnaire",
            "respondent",
            "channel",
            "due_date",
            "window_start",
            "window_end",
            "status",
            "dropout_reason",
            "status_changed_at",
        ],
        [
            [
                a.id,
                a.course_id,
                a.timepoint_key,
                a.instrument_id,
                a.respondent,
                a.channel,
                a.due_date,
                a.window_start,
                a.window_end,
                a.status,
                a.dropout_reason,
                a.status_changed_at,
            ]
            for a in assignments
        ],
    )
    responses = session.scalars(
        select(Response).where(Response.id.in_(held.response_ids)).order_by(Response.id)
    ).all()
    files["responses.csv"] = _csv(
        [
            "id",
            "assignment_id",
            "questionnaire",
            "version",
            "language",
            "text_version",
            "channel",
            "respondent",
            "entered_by",
            "started_at",
            "last_answer_at",
            "submitted_at",
            "scoring_version",
            "score_notes",
        ],
        [
            [
                r.id,
                r.assignment_id,
                r.instrument_id,
                r.instrument_version,
                r.language,
                r.text_version,
                r.channel,
                r.respondent,
                who(r.entered_by_id),
                r.started_at,
                r.last_answer_at,
                r.submitted_at,
                r.scoring_version,
                "; ".join(r.score_notes or []),
            ]
            for r in responses
        ],
    )
    answers = session.scalars(
        select(Answer).where(Answer.response_id.in_(held.response_ids)).order_by(Answer.id)
    ).all()
    files["answers.csv"] = _csv(
        ["response_id", "item", "state", "value", "answered_at"],
        [[a.response_id, a.item_id, a.state, a.value, a.answered_at] for a in answers],
    )
    scores = session.scalars(
        select(Score).where(Score.response_id.in_(held.response_ids)).order_by(Score.id)
    ).all()
    files["scores.csv"] = _csv(
        ["response_id", "score", "value"], [[s.response_id, s.name, s.value] for s in scores]
    )
    links = session.scalars(
        select(LinkToken).where(LinkToken.id.in_(held.link_ids)).order_by(LinkToken.id)
    ).all()
    files["letters.csv"] = _csv(
        [
            "id",
            "assignment_id",
            "source",
            "language",
            "first_name_in_letter",
            "issued_at",
            "issued_by",
            "expires_at",
            "revoked_at",
            "first_opened_at",
            "last_opened_at",
        ],
        [
            [
                t.id,
                t.assignment_id,
                t.source,
                t.language,
                t.letter_name,
                t.created_at,
                who(t.created_by_id),
                t.expires_at,
                t.revoked_at,
                t.first_opened_at,
                t.last_opened_at,
            ]
            for t in links
        ],
    )
    visits = session.scalars(
        select(KioskSession).where(KioskSession.id.in_(held.kiosk_ids)).order_by(KioskSession.id)
    ).all()
    files["kiosk_visits.csv"] = _csv(
        [
            "id",
            "staff",
            "started_at",
            "handed_back_at",
            "hand_back_reason",
            "ended_at",
            "end_reason",
            "measurement_ids",
        ],
        [
            [
                v.id,
                who(v.staff_user_id),
                v.started_at,
                v.handed_back_at,
                v.hand_back_reason,
                v.ended_at,
                v.end_reason,
                " ".join(str(i) for i in v.assignment_ids),
            ]
            for v in visits
        ],
    )
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.municipality_id == municipality_id, held.audit_filter())
        .order_by(AuditEvent.seq)
    ).all()
    files["access_log.csv"] = _csv(
        ["when", "who", "actor_type", "action", "action_code", "record", "record_id"],
        [
            [
                e.occurred_at,
                who(e.actor_user_id),
                e.actor_type,
                action_name(e.action),
                e.action,
                e.object_type,
                e.object_id,
            ]
            for e in events
        ],
    )
    audit.record(
        session,
        actor,
        "citizen.access_request",
        object_type="citizen",
        object_id=citizen.id,
        municipality_id=municipality_id,
        details={**held.counts(), "access_log": len(events)},
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- erasure (GDPR art. 17) ----------------------------------------------------------------


def _delete_records(session: Session, held: Holdings) -> None:
    session.execute(delete(Measurement).where(Measurement.response_id.in_(held.response_ids)))
    session.execute(delete(Score).where(Score.response_id.in_(held.response_ids)))
    session.execute(delete(Answer).where(Answer.response_id.in_(held.response_ids)))
    session.execute(delete(Response).where(Response.id.in_(held.response_ids)))
    session.execute(delete(LinkToken).where(LinkToken.id.in_(held.link_ids)))
    session.execute(delete(OfflineItem).where(OfflineItem.visit_id.in_(held.kiosk_ids)))
    session.execute(delete(KioskSession).where(KioskSession.id.in_(held.kiosk_ids)))
    session.execute(delete(Assignment).where(Assignment.id.in_(held.assignment_ids)))
    session.execute(delete(Course).where(Course.id.in_(held.course_ids)))


def erasure_preview(session: Session, municipality_id: int, citizen_id: int) -> dict[str, int]:
    """What erasing the citizen would delete (for the confirmation step; writes nothing)."""
    return holdings(session, citizen_in(session, municipality_id, citizen_id)).counts()


def erase_citizen(
    session: Session, actor: Actor, municipality_id: int, citizen_id: int
) -> dict[str, int]:
    """Delete the citizen and everything about them; the audit trail keeps its events.

    The events stay (the chain cannot lose them, and they document who processed what); they
    name only record ids and the staff who acted, never the CPR number, label or answers, and
    after the erasure those ids lead nowhere. The erasure itself is an event.
    """
    citizen = citizen_in(session, municipality_id, citizen_id)
    held = holdings(session, citizen)
    _delete_records(session, held)
    session.delete(citizen)
    session.flush()
    counts = held.counts()
    audit.record(
        session,
        actor,
        "citizen.erase",
        object_type="citizen",
        object_id=citizen_id,
        municipality_id=municipality_id,
        details=counts,
    )
    return counts


# --- retention -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionSummary:
    cutoff: date
    citizens_anonymised: int
    courses: int
    links_deleted: int
    kiosk_visits_deleted: int
    citizens_deleted: int


def retention_cutoff(today: date, months: int) -> date:
    """Courses that ended before this day are past the retention period."""
    return today - relativedelta(months=months)


def apply_retention(
    session: Session,
    actor: Actor,
    *,
    today: date,
    months: int,
    municipality_id: int | None = None,
) -> RetentionSummary:
    """Anonymise every citizen whose courses all ended more than `months` ago.

    The citizen's CPR HMAC is replaced by a random value (nobody can find them by CPR again)
    and the label is cleared; the letters' links (with the first name typed for a letter) and
    the kiosk visits are deleted. Courses, measurements, answers and scores stay, with birth
    year, sex and living alone, so the reports and exports keep counting them. A citizen
    registered that long ago who never got a course is deleted. A course without an end date
    is never past the period. Meant for a nightly job (`surveyapp retention`).
    """
    cutoff = retention_cutoff(today, months)
    scope: ColumnElement[bool] = Citizen.anonymised_at.is_(None)
    if municipality_id is not None:
        scope = and_(scope, Citizen.municipality_id == municipality_id)
    has_course = exists().where(Course.citizen_id == Citizen.id)
    course_not_over = exists().where(
        Course.citizen_id == Citizen.id, or_(Course.end_date.is_(None), Course.end_date >= cutoff)
    )
    due = session.scalars(
        select(Citizen).where(scope, has_course, ~course_not_over).order_by(Citizen.id)
    ).all()
    now = utcnow()
    links = visits = courses = 0
    for citizen in due:
        held = holdings(session, citizen)
        courses += len(held.course_ids)
        links += len(held.link_ids)
        visits += len(held.kiosk_ids)
        session.execute(delete(LinkToken).where(LinkToken.id.in_(held.link_ids)))
        session.execute(delete(OfflineItem).where(OfflineItem.visit_id.in_(held.kiosk_ids)))
        session.execute(delete(KioskSession).where(KioskSession.id.in_(held.kiosk_ids)))
        citizen.cpr_hmac = secrets.token_hex(32)
        citizen.label = ""
        citizen.created_by_id = None
        citizen.anonymised_at = now
    start_of_cutoff = datetime.combine(cutoff, datetime.min.time(), tzinfo=now.tzinfo)
    unused = session.scalars(
        select(Citizen.id).where(scope, ~has_course, Citizen.created_at < start_of_cutoff)
    ).all()
    if unused:
        session.execute(delete(KioskSession).where(KioskSession.citizen_id.in_(unused)))
        session.execute(delete(Citizen).where(Citizen.id.in_(unused)))
    session.flush()
    summary = RetentionSummary(cutoff, len(due), courses, links, visits, len(unused))
    audit.record(
        session,
        actor,
        "retention.run",
        municipality_id=municipality_id,
        details={
            "cutoff": cutoff.isoformat(),
            "months": months,
            "citizens_anonymised": summary.citizens_anonymised,
            "courses": courses,
            "links_deleted": links,
            "kiosk_visits_deleted": visits,
            "citizens_deleted": summary.citizens_deleted,
        },
    )
    return summary


def forget_old_ip_addresses(session: Session, actor: Actor, *, now: datetime, days: int) -> int:
    """Remove the IP address of every audit event older than `days` (the chain stays intact)."""
    before = now - timedelta(days=days)
    removed = audit.forget_ip_addresses(session, before)
    audit.record(
        session,
        actor,
        "retention.audit_ips",
        details={"before": before.isoformat(timespec="seconds"), "days": days, "removed": removed},
    )
    return removed


__all__ = [
    "Holdings",
    "RetentionSummary",
    "access_request",
    "apply_retention",
    "citizen_in",
    "erase_citizen",
    "erasure_preview",
    "find_citizen",
    "forget_old_ip_addresses",
    "holdings",
    "retention_cutoff",
]
