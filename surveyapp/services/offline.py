"""The kiosk's offline queue on the server: what a tablet answered without network, stored once.

While the network is gone, the kiosk's browser seals every answer, submit and hand-back as an
envelope (surveyapp.offline_keys) and sends it when it can, retrying until the server answers.
`receive` opens one envelope, stores a row for its key FIRST (so a retry, however often and
however concurrent, finds it and changes nothing), and then applies it with the same rules as
the online kiosk (surveyapp.services.responses and kiosk). The tablet also reports how many
items it ever made and still holds (`report_status`), so the server can tell the coordinator
when a browser emptied its storage before everything arrived (`offline_problems`).

The credential inside each plaintext binds the item to its visit: it is signed with the app's
secret key, so an envelope sealed with the public key alone cannot write into a visit.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from surveyapp.enums import ActorType, AnswerState, Channel, KioskState
from surveyapp.instruments import Registry
from surveyapp.models import Assignment, KioskSession, OfflineItem, Response, utcnow
from surveyapp.offline_keys import (
    MAX_ID,
    KeyRing,
    MalformedEnvelope,
    Undecryptable,
    UnknownKey,
    check_envelope,
)
from surveyapp.scheduling import DENMARK
from surveyapp.services import audit, kiosk
from surveyapp.services import responses as answering
from surveyapp.services.scope import Scope, get_citizen, require_individual_access

SALT = "kiosk-offline"
DEFAULT_MAX_DAYS = 14
MAX_CREDENTIAL_CHARS = 200
MAX_ITEM_ID_CHARS = 64
MAX_AT_CHARS = 40
MAX_COUNT = 100_000
KINDS = ("answer", "submit", "handback")
LANGUAGES = ("da", "en")
HANDBACK_REASONS = ("pause", "idle", "done")
_COMMON = {"v", "credential", "kind", "at"}
FIELDS = {
    "answer": _COMMON | {"assignment", "item", "answer", "language"},
    "submit": _COMMON | {"assignment", "language"},
    "handback": _COMMON | {"reason"},
}
STORED = "stored"
#: What `_apply` says when the item is already stored (sent online before the reply was lost).
ALREADY = "already"
#: Refusals before anything is stored (we cannot know or trust the content).
UNSTORED_REFUSALS = ("malformed", "unknown_key", "undecryptable", "bad_credential")
#: Outcomes of stored items the tablet drops as refused.
REFUSED_OUTCOMES = ("too_old", "not_in_visit", "closed", "invalid", "incomplete")
_REJECTION_OUTCOME = {
    "closed": "closed",
    "invalid_value": "invalid",
    "unknown_item": "invalid",
    "unknown_language": "invalid",
}


def credential_for(secret_key: str, visit_id: int) -> str:
    """The credential the runner page gives the tablet for one visit (no expiry)."""
    return str(URLSafeSerializer(secret_key, salt=SALT).dumps(visit_id))


def visit_of(secret_key: str, credential: str) -> int | None:
    """The visit a credential was made for; None for anything we did not sign."""
    if not isinstance(credential, str) or not 0 < len(credential) <= MAX_CREDENTIAL_CHARS:
        return None
    try:
        visit = URLSafeSerializer(secret_key, salt=SALT).loads(credential)
    except BadSignature:
        return None
    if isinstance(visit, bool) or not isinstance(visit, int) or visit < 1:
        return None
    return visit


@dataclass(frozen=True)
class Receipt:
    """What became of one envelope.

    status: stored (applied, or refused for good after it was stored: see `outcome`),
    duplicate (this key arrived before: `outcome` as stored then), conflict (this key arrived
    before with other content), refused (not stored: `reason`).
    """

    status: str
    outcome: str | None = None
    reason: str | None = None

    @property
    def refusal(self) -> str | None:
        """Why the tablet must drop the item (None when it arrived and was used)."""
        if self.status == "refused":
            return self.reason
        if self.status in ("stored", "duplicate") and self.outcome != STORED:
            return self.outcome
        return None


@dataclass(frozen=True)
class _Item:
    kind: str
    visit_id: int
    plain: dict[str, Any] = field(default_factory=dict)


def receive(
    session: Session,
    keyring: KeyRing,
    secret_key: str,
    envelope: object,
    *,
    registry: Registry,
    now: datetime | None = None,
    max_days: int = DEFAULT_MAX_DAYS,
    ip_address: str | None = None,
) -> Receipt:
    """Open, store once and apply one envelope, in the caller's transaction.

    A concurrent request that stored the same key first makes this one raise IntegrityError:
    roll back and call again, which then answers "duplicate" (or "conflict")."""
    now = now or utcnow()
    actor = audit.Actor(ActorType.CITIZEN, ip_address=ip_address)
    try:
        check_envelope(envelope)
    except MalformedEnvelope:
        return _refused(session, actor, "malformed", None)
    assert isinstance(envelope, dict)
    claimed = envelope["visit"]
    try:
        plaintext = keyring.open(envelope)
    except UnknownKey:
        return _refused(session, actor, "unknown_key", None)
    except Undecryptable:
        return _refused(session, actor, "undecryptable", None)
    plain = _parse(plaintext)
    if plain is None:
        return _refused(session, actor, "malformed", None)
    visit = session.get(KioskSession, claimed)
    if visit_of(secret_key, plain["credential"]) != claimed or visit is None:
        return _refused(session, actor, "bad_credential", None)
    actor = audit.Actor(
        ActorType.CITIZEN, municipality_id=visit.municipality_id, ip_address=ip_address
    )
    digest = hashlib.sha256(plaintext).hexdigest()
    assignment_id = plain.get("assignment")
    row = OfflineItem(
        key=envelope["key"],
        visit_id=visit.id,
        seq=envelope["seq"],
        kind=plain["kind"],
        digest=digest,
        assignment_id=assignment_id if assignment_id in visit.assignment_ids else None,
        outcome="pending",
        received_at=now,
    )
    # The row first: a retry sent while this one is still being applied waits for it on the
    # unique key, then fails with IntegrityError; its caller rolls back and calls again
    # (surveyapp.web.run_in_transaction), and then finds this row. (Not a SAVEPOINT: on SQLite
    # a savepoint opened before any write is the transaction itself, and releasing it would
    # commit the row before the item is applied.)
    earlier = _stored(session, envelope["key"])
    if earlier is not None:
        if earlier.digest == digest and earlier.visit_id == visit.id:
            return Receipt("duplicate", outcome=earlier.outcome)
        audit.record(
            session,
            actor,
            "kiosk.offline_conflict",
            object_type="kiosk_session",
            object_id=visit.id,
            details={"seq": envelope["seq"], "kind": plain["kind"]},
        )
        return Receipt("conflict")
    session.add(row)
    session.flush()
    # A refused item changes nothing: what applying it began (a response opened before an
    # answer was found invalid) is undone; only its row stays, saying why.
    applying = session.begin_nested()
    outcome = _apply(session, visit, plain, envelope, registry=registry, now=now, max_days=max_days)
    if outcome == STORED:
        applying.commit()
    else:
        applying.rollback()
    if outcome == ALREADY:  # nothing to change, and nothing refused
        row.outcome = STORED
        session.flush()
        return Receipt(STORED, outcome=STORED)
    row.outcome = outcome
    details: dict[str, Any] = {"visit": visit.id, "seq": row.seq}
    if row.outcome != STORED:
        audit.record(
            session,
            actor,
            "kiosk.offline_refused",
            object_type="kiosk_session",
            object_id=visit.id,
            details={**details, "reason": row.outcome, "kind": row.kind},
        )
    elif row.kind == "submit":
        audit.record(
            session,
            actor,
            "kiosk.offline_received",
            object_type="assignment",
            object_id=row.assignment_id,
            details={**details, "assignment": row.assignment_id},
        )
    session.flush()
    return Receipt(STORED, outcome=row.outcome)


def _stored(session: Session, key: str) -> OfflineItem | None:
    return session.scalars(select(OfflineItem).where(OfflineItem.key == key)).one_or_none()


def _refused(session: Session, actor: audit.Actor, reason: str, visit_id: int | None) -> Receipt:
    audit.record(
        session,
        actor,
        "kiosk.offline_refused",
        object_type="kiosk_session" if visit_id is not None else None,
        object_id=visit_id,
        details={"reason": reason},
    )
    return Receipt("refused", reason=reason)


def _parse(plaintext: bytes) -> dict[str, Any] | None:
    """The plaintext as a dict if it matches the schema exactly, else None."""
    try:
        plain = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(plain, dict):
        return None
    kind = plain.get("kind")
    if kind not in KINDS or set(plain) != FIELDS[kind]:
        return None
    if plain["v"] != 1 or isinstance(plain["v"], bool):
        return None
    if not isinstance(plain["credential"], str) or not isinstance(plain["at"], str):
        return None
    if len(plain["at"]) > MAX_AT_CHARS:
        return None
    if kind == "handback":
        return plain if plain["reason"] in HANDBACK_REASONS else None
    assignment = plain["assignment"]
    if isinstance(assignment, bool) or not isinstance(assignment, int) or assignment < 1:
        return None
    if plain["language"] not in LANGUAGES:
        return None
    if kind == "answer":
        item, answer = plain["item"], plain["answer"]
        if not isinstance(item, str) or not 0 < len(item) <= MAX_ITEM_ID_CHARS:
            return None
        answer_is_value = isinstance(answer, int) and not isinstance(answer, bool)
        if (
            answer is not None
            and answer not in ("dont_know", "not_applicable")
            and not answer_is_value
        ):
            return None
    return plain


def _apply(
    session: Session,
    visit: KioskSession,
    plain: dict[str, Any],
    envelope: dict[str, Any],
    *,
    registry: Registry,
    now: datetime,
    max_days: int,
) -> str:
    """Use a stored item as the online kiosk would; the outcome (stored, or why not)."""
    if now - visit.started_at > timedelta(days=max_days):
        return "too_old"
    if plain["kind"] == "handback":
        if visit.state in (KioskState.HANDOVER, KioskState.ANSWERING):
            kiosk.hand_back(session, visit, plain["reason"], now=now)
        return STORED
    if plain["assignment"] not in visit.assignment_ids:
        return "not_in_visit"
    assignment = session.get(Assignment, plain["assignment"])
    if assignment is None:
        return "not_in_visit"
    if assignment.status in answering.CLOSED_STATUSES and (
        assignment.response is None or assignment.response.submitted_at is None
    ):
        return "closed"  # dropped out meanwhile
    try:
        response = answering.open_response(
            session,
            assignment,
            channel=Channel.KIOSK,
            language=plain["language"],
            registry=registry,
            now=now,
        )
        if plain["kind"] == "answer":
            answer = plain["answer"]
            value = AnswerState(answer) if isinstance(answer, str) else answer
            if response.submitted_at is not None:
                # The form sent online as the connection dropped may have arrived after all
                # (the service worker queued it too): the same answer is already stored.
                return ALREADY if _already(response, plain["item"], value) else "closed"
            if value is not None:
                answering.save_answer(
                    session, response, plain["item"], value, registry=registry, now=now
                )
            return STORED
        if response.submitted_at is not None:
            # Sent online by this visit's tablet (the reply was lost): sent once, as asked.
            sent_here = response.channel is Channel.KIOSK and response.submitted_at >= (
                visit.started_at
            )
            return ALREADY if sent_here else "closed"
        instrument = registry.get(response.instrument_id, response.instrument_version)
        if answering.missing_required(instrument, response):
            return "incomplete"
        answering.submit_response(
            session, response, registry=registry, submission_key=envelope["key"], now=now
        )
    except answering.AnswerRejected as rejected:
        return _REJECTION_OUTCOME.get(rejected.code, "invalid")
    return STORED


def _already(response: Response, item_id: str, value: int | AnswerState | None) -> bool:
    """Whether the sent response holds exactly this answer (None: no answer) to the item."""
    stored = answering.answers_by_item(response).get(item_id)
    if stored is None:
        return value is None
    if isinstance(value, AnswerState):
        return stored.state is value
    return stored.state is AnswerState.ANSWERED and stored.value == value


# --- what the tablet says it holds -----------------------------------------------------------


class BadReport(ValueError):
    """A status report that is not well-formed (`code`: malformed) or not ours (bad_credential)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Tally:
    received: int  # items of the visit the server holds
    lost: int  # items the tablet made that neither arrived nor wait on it


def report_status(
    session: Session,
    secret_key: str,
    body: object,
    *,
    now: datetime | None = None,
    ip_address: str | None = None,
) -> Tally:
    """Note what the tablet says it made and holds for a visit; say what is lost."""
    if not isinstance(body, dict) or set(body) != {"visit", "credential", "created", "pending"}:
        raise BadReport("malformed")
    for name, low, high in (
        ("visit", 1, MAX_ID),
        ("created", 0, MAX_COUNT),
        ("pending", 0, MAX_COUNT),
    ):
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadReport("malformed")
    if not isinstance(body["credential"], str):
        raise BadReport("malformed")
    visit = session.get(KioskSession, body["visit"])
    if visit is None or visit_of(secret_key, body["credential"]) != body["visit"]:
        raise BadReport("bad_credential")
    received = _received(session, visit.id)
    lost_before = _lost(visit, received)
    visit.offline_created = max(visit.offline_created or 0, body["created"])
    visit.offline_pending = body["pending"]
    visit.offline_reported_at = now or utcnow()
    lost = _lost(visit, received)
    if lost > 0 and lost_before == 0:
        audit.record(
            session,
            audit.Actor(
                ActorType.CITIZEN, municipality_id=visit.municipality_id, ip_address=ip_address
            ),
            "kiosk.offline_lost",
            object_type="kiosk_session",
            object_id=visit.id,
            details={"visit": visit.id, "lost": lost},
        )
    session.flush()
    return Tally(received=received, lost=lost)


def _received(session: Session, visit_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(OfflineItem).where(OfflineItem.visit_id == visit_id)
        )
        or 0
    )


def _lost(visit: KioskSession, received: int) -> int:
    if visit.offline_created is None:
        return 0
    return max(0, visit.offline_created - received - (visit.offline_pending or 0))


# --- the citizen page ------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineProblem:
    """A kiosk visit of the citizen from which tablet items never arrived or were refused."""

    visit_id: int
    visit_date: date  # the day the visit began, in Denmark
    lost: int
    refused: dict[str, int]  # outcome (too_old, not_in_visit, closed, invalid, incomplete) -> n


def offline_problems(session: Session, scope: Scope, citizen_id: int) -> list[OfflineProblem]:
    """The citizen's kiosk visits whose offline items did not all arrive and count, oldest
    first (writes nothing)."""
    require_individual_access(scope)
    citizen = get_citizen(session, scope, citizen_id)
    visits = session.scalars(
        select(KioskSession)
        .where(KioskSession.citizen_id == citizen.id)
        .order_by(KioskSession.started_at, KioskSession.id)
    ).all()
    if not visits:
        return []
    counts: dict[int, Counter[str]] = {v.id: Counter() for v in visits}
    for visit_id, outcome, n in session.execute(
        select(OfflineItem.visit_id, OfflineItem.outcome, func.count())
        .where(OfflineItem.visit_id.in_(counts))
        .group_by(OfflineItem.visit_id, OfflineItem.outcome)
    ):
        counts[visit_id][outcome] += n
    problems = []
    for visit in visits:
        received = sum(counts[visit.id].values())
        refused = {
            outcome: counts[visit.id][outcome]
            for outcome in REFUSED_OUTCOMES
            if counts[visit.id][outcome]
        }
        lost = _lost(visit, received)
        if lost or refused:
            problems.append(
                OfflineProblem(
                    visit_id=visit.id,
                    visit_date=visit.started_at.astimezone(DENMARK).date(),
                    lost=lost,
                    refused=refused,
                )
            )
    return problems
