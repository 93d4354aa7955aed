"""The kiosk's offline queue through the test client: real sealed envelopes, stored once.

Envelopes are sealed with tests/support/offline.py, the browser's algorithm, under the session's
key (tests/conftest.py `offline_key_dir`). The retry storm on both databases is in
tests/db/test_offline_storm.py.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from surveyapp.enums import AssignmentStatus, Channel, Respondent, Role
from surveyapp.models import (
    Answer,
    Assignment,
    AuditEvent,
    KioskSession,
    OfflineItem,
    Response,
    Score,
    StaffUser,
)
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret
from surveyapp.services import responses
from surveyapp.services.offline import credential_for
from tests.conftest import TEST_SECRET_KEY
from tests.support import factories
from tests.support.offline import seal
from tests.support.staff import login, start_kiosk_visit

PASSWORD = "offline-test-password"  # noqa: S105
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
WHO5_ITEMS = [f"who5_{n}" for n in range(1, 6)]


@pytest.fixture
def app(settings) -> Flask:  # type: ignore[no-untyped-def]
    from surveyapp.app import create_app

    app = create_app(settings, WTF_CSRF_ENABLED=True)  # the sync endpoints need no token
    yield app
    app.extensions["surveyapp.engine"].dispose()


@pytest.fixture
def factory(app: Flask) -> sessionmaker[Session]:
    return app.extensions["surveyapp.sessions"]  # type: ignore[no-any-return]


class Visit:
    """A running kiosk visit of a citizen whose baseline is due today, started for real."""

    def __init__(self, app: Flask, factory: sessionmaker[Session]) -> None:
        with factory.begin() as session:
            course = factories.course(session, start=today_in_denmark())
            user = StaffUser(
                username="kim",
                full_name="Kim K",
                role=Role.COORDINATOR,
                municipality_id=course.municipality_id,
                password_hash=hash_secret(PASSWORD),
                kiosk_pin_hash=hash_secret("2468"),
            )
            session.add(user)
            session.flush()
            self.citizen_id = course.citizen_id
            self.who5 = factories.assignment(course, "who5").id
            self.start_meeting = factories.assignment(course, "start_meeting").id
            self.relative_whodas = factories.assignment(
                course, "whodas12_proxy", Respondent.RELATIVE
            ).id
        self.app, self.factory = app, factory
        self.staff = app.test_client()
        assert login(self.staff, "kim", PASSWORD).status_code == 302
        assert start_kiosk_visit(self.staff, self.citizen_id) == "/kiosk/"
        with factory() as session:
            row = session.scalars(select(KioskSession)).one()
            self.id = row.id
        self.credential = credential_for(TEST_SECRET_KEY, self.id)
        ring = app.extensions["surveyapp.offline_keys"]
        self.spki, self.kid = ring.public_spki_b64, ring.current_kid
        self.seq = 0

    def plain(self, kind: str = "answer", **fields: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "v": 1,
            "credential": self.credential,
            "kind": kind,
            "at": "2026-12-03T10:00:00+01:00",
        }
        if kind == "answer":
            base.update(assignment=self.who5, item="who5_1", answer=3, language="da")
        elif kind == "submit":
            base.update(assignment=self.who5, language="da")
        else:
            base.update(reason="pause")
        base.update(fields)
        return base

    def envelope(self, plaintext: dict[str, Any], **fields: Any) -> dict[str, Any]:
        self.seq += 1
        options = {"visit": self.id, "seq": self.seq, **fields}
        return seal(self.spki, self.kid, plaintext=plaintext, **options)


@pytest.fixture
def visit(app: Flask, factory: sessionmaker[Session]) -> Visit:
    return Visit(app, factory)


def sync(
    client: FlaskClient, envelope: object, headers: dict[str, str] | None = None
) -> TestResponse:
    return client.post(
        "/kiosk/sync", json=envelope, headers=SAME_ORIGIN if headers is None else headers
    )


def _count(factory: sessionmaker[Session], model: type, *where: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _answers(factory: sessionmaker[Session]) -> list[tuple[str, int | None]]:
    with factory() as session:
        return [(a.item_id, a.value) for a in session.scalars(select(Answer).order_by(Answer.id))]


def _actions(factory: sessionmaker[Session], prefix: str = "kiosk.offline") -> list[str]:
    with factory() as session:
        return [
            e.action
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action.startswith(prefix)
        ]


def test_an_answer_is_stored_once(client: FlaskClient, visit: Visit) -> None:
    response = sync(client, visit.envelope(visit.plain()))
    assert response.status_code == 200
    assert response.json == {"status": "stored", "outcome": "stored"}
    assert response.headers["Cache-Control"] == "no-store"
    assert _answers(visit.factory) == [("who5_1", 3)]
    with visit.factory() as session:
        row = session.scalars(select(OfflineItem)).one()
        assert (row.visit_id, row.seq, row.kind, row.assignment_id, row.outcome) == (
            visit.id,
            1,
            "answer",
            visit.who5,
            "stored",
        )
        assert len(row.digest) == 64
        response_row = session.scalars(select(Response)).one()
        assert response_row.channel is Channel.KIOSK and response_row.language == "da"


def test_the_same_key_twice_is_a_duplicate_with_one_answer(
    client: FlaskClient, visit: Visit
) -> None:
    envelope = visit.envelope(visit.plain())
    assert sync(client, envelope).json == {"status": "stored", "outcome": "stored"}
    again = sync(client, envelope)
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "outcome": "stored"}
    assert _answers(visit.factory) == [("who5_1", 3)]
    assert _count(visit.factory, OfflineItem) == 1


def test_the_same_key_with_other_content_is_a_conflict_and_changes_nothing(
    client: FlaskClient, visit: Visit
) -> None:
    first = visit.envelope(visit.plain(answer=3))
    assert sync(client, first).status_code == 200
    other = visit.envelope(visit.plain(answer=5), key=first["key"], seq=first["seq"])
    response = sync(client, other)
    assert response.status_code == 409 and response.json == {"status": "conflict"}
    assert _answers(visit.factory) == [("who5_1", 3)]
    assert _count(visit.factory, OfflineItem) == 1
    assert _actions(visit.factory) == ["kiosk.offline_conflict"]


def test_a_whole_questionnaire_sent_from_the_queue_is_scored(
    client: FlaskClient, visit: Visit
) -> None:
    for item in WHO5_ITEMS:
        response = sync(client, visit.envelope(visit.plain(item=item, answer=4)))
        assert response.status_code == 200, response.json
    submit = visit.envelope(visit.plain("submit"))
    response = sync(client, submit)
    assert response.status_code == 200 and response.json["outcome"] == "stored"
    with visit.factory() as session:
        assignment = session.get(Assignment, visit.who5)
        assert assignment is not None and assignment.status is AssignmentStatus.COMPLETED
        stored = assignment.response
        assert stored is not None and stored.submitted_at is not None
        assert stored.submission_key == submit["key"]
        scores = {s.name: s.value for s in session.scalars(select(Score))}
        assert scores["who5_raw"] == 20.0 and scores["who5_percent"] == 80.0
    assert _actions(visit.factory) == ["kiosk.offline_received"]
    with visit.factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "kiosk.offline_received")
        ).one()
        assert event.details == {"visit": visit.id, "assignment": visit.who5, "seq": 6}
    # The submit retried: nothing changes, it still says stored.
    assert sync(client, submit).json == {"status": "duplicate", "outcome": "stored"}
    assert _count(visit.factory, Score) == len(scores)


def test_a_skipped_optional_question_only_opens_the_response(
    client: FlaskClient, visit: Visit
) -> None:
    plain = visit.plain(assignment=visit.start_meeting, item="sm_1", answer=None)
    assert sync(client, visit.envelope(plain)).status_code == 200
    with visit.factory() as session:
        assignment = session.get(Assignment, visit.start_meeting)
        assert assignment is not None and assignment.status is AssignmentStatus.IN_PROGRESS
        assert assignment.response is not None and assignment.response.answers == []


def test_dont_know_is_stored_as_such(client: FlaskClient, visit: Visit) -> None:
    plain = visit.plain(assignment=visit.start_meeting, item="sm_1", answer="dont_know")
    assert sync(client, visit.envelope(plain)).status_code == 200
    with visit.factory() as session:
        answer = session.scalars(select(Answer)).one()
        assert (answer.item_id, answer.state.value, answer.value) == ("sm_1", "dont_know", None)


def test_a_hand_back_from_the_queue_shows_the_hand_back_screen(
    client: FlaskClient, visit: Visit
) -> None:
    assert sync(client, visit.envelope(visit.plain("handback", reason="idle"))).status_code == 200
    with visit.factory() as session:
        row = session.get(KioskSession, visit.id)
        assert row is not None and row.state.value == "handback"
        assert row.hand_back_reason == "idle"


def _sent_already(visit: Visit, channel: Channel, value: int = 2) -> None:
    with visit.factory.begin() as session:
        assignment = session.get(Assignment, visit.who5)
        assert assignment is not None
        responses.record_complete_response(
            session,
            assignment,
            dict.fromkeys(WHO5_ITEMS, value),
            channel=channel,
            language="da",
            registry=visit.app.extensions["surveyapp.registry"],
            started_at=assignment.status_changed_at or _now(),
            submitted_at=_now(),
        )


def test_what_the_tablet_sent_online_as_the_connection_dropped_is_not_refused(
    client: FlaskClient, visit: Visit
) -> None:
    """The last answer's form reached the server (and sent the questionnaire) but its reply
    was lost, so the service worker queued the answer and the "send" too: both are stored
    already, so they are taken as stored, not reported as refused."""
    _sent_already(visit, Channel.KIOSK, value=4)
    before = _answers(visit.factory)
    assert sync(client, visit.envelope(visit.plain(item="who5_5", answer=4))).json == {
        "status": "stored",
        "outcome": "stored",
    }
    assert sync(client, visit.envelope(visit.plain("submit"))).json["outcome"] == "stored"
    assert _answers(visit.factory) == before
    assert _actions(visit.factory) == []
    # Another answer than the one sent is refused: the questionnaire is closed.
    refused = sync(client, visit.envelope(visit.plain(item="who5_5", answer=1)))
    assert refused.status_code == 422 and refused.json["reason"] == "closed"


def test_a_questionnaire_already_sent_another_way_is_closed(
    client: FlaskClient, visit: Visit
) -> None:
    _sent_already(visit, Channel.PAPER)
    before = _answers(visit.factory)
    answer = visit.envelope(visit.plain(answer=5))
    response = sync(client, answer)
    assert response.status_code == 422
    assert response.json == {"status": "refused", "reason": "closed"}
    assert _answers(visit.factory) == before
    assert sync(client, visit.envelope(visit.plain("submit"))).json["reason"] == "closed"
    # A refused item that was stored answers the same when the tablet retries it.
    again = sync(client, answer)
    assert again.status_code == 422 and again.json == {"status": "refused", "reason": "closed"}
    assert _actions(visit.factory) == ["kiosk.offline_refused", "kiosk.offline_refused"]


def _now():  # type: ignore[no-untyped-def]
    from surveyapp.models import utcnow

    return utcnow()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"answer": 9}, "invalid"),
        ({"item": "who5_99"}, "invalid"),
        ({"answer": "not_applicable"}, "invalid"),  # WHO-5 offers no such answer
        ({"language": "en", "assignment": 0}, "malformed"),
        ({"answer": True}, "malformed"),
        ({"answer": 2.5}, "malformed"),
        ({"language": "de"}, "malformed"),
        ({"v": 2}, "malformed"),
        ({"extra": "x"}, "malformed"),
        ({"credential": "forged"}, "bad_credential"),
    ],
)
def test_a_bad_answer_is_refused_and_changes_nothing(
    client: FlaskClient, visit: Visit, fields: dict[str, Any], reason: str
) -> None:
    response = sync(client, visit.envelope(visit.plain(**fields)))
    assert response.status_code == 422
    assert response.json == {"status": "refused", "reason": reason}
    assert _answers(visit.factory) == []
    assert _count(visit.factory, Response) == 0
    stored = _count(visit.factory, OfflineItem)
    assert stored == (1 if reason == "invalid" else 0)
    with visit.factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "kiosk.offline_refused")
        ).one()
        assert event.details is not None and event.details["reason"] == reason


def test_a_credential_of_another_visit_is_refused(client: FlaskClient, visit: Visit) -> None:
    plain = visit.plain(credential=credential_for(TEST_SECRET_KEY, visit.id + 1))
    response = sync(client, visit.envelope(plain))
    assert response.status_code == 422 and response.json["reason"] == "bad_credential"
    # The envelope's visit changed instead of the credential: also refused.
    response = sync(client, visit.envelope(visit.plain(), visit=visit.id + 1))
    assert response.status_code == 422 and response.json["reason"] == "bad_credential"
    assert _count(visit.factory, OfflineItem) == 0 and _answers(visit.factory) == []


def test_a_questionnaire_outside_the_visit_is_refused(client: FlaskClient, visit: Visit) -> None:
    plain = visit.plain(assignment=visit.relative_whodas, item="S1", answer=1)
    response = sync(client, visit.envelope(plain))
    assert response.status_code == 422
    assert response.json == {"status": "refused", "reason": "not_in_visit"}
    assert _count(visit.factory, Response) == 0
    with visit.factory() as session:
        row = session.scalars(select(OfflineItem)).one()
        assert row.outcome == "not_in_visit" and row.assignment_id is None


def test_a_submit_with_required_questions_unanswered_is_incomplete(
    client: FlaskClient, visit: Visit
) -> None:
    assert sync(client, visit.envelope(visit.plain(item="who5_1", answer=1))).status_code == 200
    response = sync(client, visit.envelope(visit.plain("submit")))
    assert response.status_code == 422 and response.json["reason"] == "incomplete"
    with visit.factory() as session:
        assignment = session.get(Assignment, visit.who5)
        assert assignment is not None and assignment.status is AssignmentStatus.IN_PROGRESS
        assert _count(visit.factory, Score) == 0


def test_items_from_a_visit_older_than_the_limit_are_too_old(
    client: FlaskClient, visit: Visit
) -> None:
    with visit.factory.begin() as session:
        row = session.get(KioskSession, visit.id)
        assert row is not None
        row.started_at = row.started_at - timedelta(days=14, minutes=1)
    response = sync(client, visit.envelope(visit.plain()))
    assert response.status_code == 422 and response.json["reason"] == "too_old"
    assert _answers(visit.factory) == [] and _count(visit.factory, OfflineItem) == 1


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[3] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: {**e, "kid": "0123456789abcdef"}, "unknown_key"),
        (lambda e: {**e, "data": _flip(e["data"])}, "undecryptable"),
        (lambda e: {**e, "seq": e["seq"] + 1}, "undecryptable"),
        (lambda e: {**e, "visit": str(e["visit"])}, "malformed"),
        (lambda e: {k: v for k, v in e.items() if k != "iv"}, "malformed"),
        (lambda e: [e], "malformed"),
    ],
)
def test_an_envelope_that_does_not_open_is_refused_and_not_stored(
    client: FlaskClient, visit: Visit, change: Any, reason: str
) -> None:
    response = sync(client, change(visit.envelope(visit.plain())))
    assert response.status_code == 422
    assert response.json == {"status": "refused", "reason": reason}
    assert _count(visit.factory, OfflineItem) == 0 and _answers(visit.factory) == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"key": 1}', "text/plain"),
        (json.dumps({"pad": "x" * (64 * 1024)}).encode(), "application/json"),
    ],
)
def test_a_body_that_is_not_an_envelope_is_malformed(
    client: FlaskClient, visit: Visit, body: bytes, content_type: str
) -> None:
    response = client.post("/kiosk/sync", data=body, content_type=content_type, headers=SAME_ORIGIN)
    assert response.status_code == 422 and response.json["reason"] == "malformed"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "https://elsewhere.example"},
        {},  # no word from the browser at all
    ],
)
def test_a_post_not_from_our_own_pages_is_refused(
    client: FlaskClient, visit: Visit, headers: dict[str, str]
) -> None:
    assert sync(client, visit.envelope(visit.plain()), headers=headers).status_code == 400
    status = client.post(
        "/kiosk/sync/status",
        json={"visit": visit.id, "credential": visit.credential, "created": 1, "pending": 0},
        headers=headers,
    )
    assert status.status_code == 400
    assert _count(visit.factory, OfflineItem) == 0 and _answers(visit.factory) == []


def test_the_same_origin_header_alone_is_enough(client: FlaskClient, visit: Visit) -> None:
    origin = {"Origin": "http://localhost"}
    assert sync(client, visit.envelope(visit.plain()), headers=origin).status_code == 200


def test_the_tablet_holding_the_kiosk_grant_reaches_the_sync_endpoints(visit: Visit) -> None:
    # visit.staff is the tablet: its browser holds the grant, so the kiosk confines it.
    response = sync(visit.staff, visit.envelope(visit.plain()))
    assert response.status_code == 200, response.location
    status = visit.staff.post(
        "/kiosk/sync/status",
        json={"visit": visit.id, "credential": visit.credential, "created": 1, "pending": 0},
        headers=SAME_ORIGIN,
    )
    assert status.status_code == 200 and status.json == {"received": 1, "lost": 0}


def test_without_offline_keys_the_sync_is_unavailable(settings) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from surveyapp.app import create_app

    app = create_app(replace(settings, offline_key_dir=None))
    try:
        assert app.extensions["surveyapp.offline_keys"] is None
        response = app.test_client().post("/kiosk/sync", json={}, headers=SAME_ORIGIN)
        assert response.status_code == 503 and response.json == {"status": "unavailable"}
    finally:
        app.extensions["surveyapp.engine"].dispose()


# --- the status report and the citizen page ----------------------------------------------------


def status(client: FlaskClient, of: Visit, **fields: Any) -> TestResponse:
    body = {"visit": of.id, "credential": of.credential, "created": 0, "pending": 0}
    return client.post("/kiosk/sync/status", json={**body, **fields}, headers=SAME_ORIGIN)


def test_the_status_report_counts_what_never_arrived(client: FlaskClient, visit: Visit) -> None:
    for item in WHO5_ITEMS[:3]:
        assert sync(client, visit.envelope(visit.plain(item=item))).status_code == 200
    assert status(client, visit, created=5, pending=2).json == {"received": 3, "lost": 0}
    assert _actions(visit.factory) == []
    # The browser emptied its storage: two items it made are neither here nor on it.
    assert status(client, visit, created=5, pending=0).json == {"received": 3, "lost": 2}
    # A smaller counter (a reset cookie) does not make the loss disappear.
    assert status(client, visit, created=1, pending=0).json == {"received": 3, "lost": 2}
    with visit.factory() as session:
        row = session.get(KioskSession, visit.id)
        assert row is not None
        assert (row.offline_created, row.offline_pending) == (5, 0)
        assert row.offline_reported_at is not None
        lost = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "kiosk.offline_lost")
        ).all()
        assert [e.details for e in lost] == [{"visit": visit.id, "lost": 2}]  # first time only


@pytest.mark.parametrize(
    "fields",
    [
        {"created": -1},
        {"pending": "2"},
        {"visit": True},
        {"extra": 1},
        {"credential": 5},
    ],
)
def test_a_malformed_status_report_is_400(
    client: FlaskClient, visit: Visit, fields: dict[str, Any]
) -> None:
    assert status(client, visit, **fields).status_code == 400


def test_a_status_report_with_a_bad_credential_is_422(client: FlaskClient, visit: Visit) -> None:
    other = credential_for(TEST_SECRET_KEY, visit.id + 1)
    response = status(client, visit, credential=other, created=4)
    assert response.status_code == 422
    with visit.factory() as session:
        row = session.get(KioskSession, visit.id)
        assert row is not None and row.offline_created is None


def _citizen_page(visit: Visit, locale: str = "da") -> str:
    staff = visit.app.test_client()
    staff.set_cookie("session", "")  # a fresh browser, not the tablet
    assert login(staff, "kim", PASSWORD).status_code == 302
    page = staff.get(f"/staff/citizens/{visit.citizen_id}", headers={"Accept-Language": locale})
    assert page.status_code == 200
    return page.text


def test_the_citizen_page_says_what_never_arrived_or_was_refused(
    client: FlaskClient, visit: Visit
) -> None:
    assert "offline-problem" not in _citizen_page(visit)
    for item in WHO5_ITEMS[:2]:
        assert sync(client, visit.envelope(visit.plain(item=item))).status_code == 200
    assert sync(client, visit.envelope(visit.plain(answer=77))).status_code == 422
    with visit.factory.begin() as session:
        assignment = session.get(Assignment, visit.start_meeting)
        assert assignment is not None
        responses.record_complete_response(
            session,
            assignment,
            {},
            channel=Channel.KIOSK,
            language="da",
            registry=visit.app.extensions["surveyapp.registry"],
            started_at=_now(),
            submitted_at=_now(),
        )
    for _ in range(2):
        plain = visit.plain(assignment=visit.start_meeting, item="sm_1", answer=1)
        assert sync(client, visit.envelope(plain)).json["reason"] == "closed"
    # Five items arrived (2 used, 3 refused); the tablet made nine and holds none: 4 lost.
    assert status(client, visit, created=9, pending=0).json == {"received": 5, "lost": 4}
    day = today_in_denmark()
    page = _citizen_page(visit)
    assert f"Kioskbesøget den {day.day}. " in page
    assert (
        "4 svar fra tabletten er aldrig nået frem. Browseren har slettet dem, før de blev "
        "sendt. Spørg borgeren igen." in page
    )
    assert "2 svar fra tabletten kunne ikke bruges, fordi skemaet allerede var sendt." in page
    assert "1 svar fra tabletten kunne ikke bruges, fordi det ikke passede til skemaet." in page
    english = _citizen_page(visit, "en")
    assert "The kiosk visit on" in english
    assert (
        "4 answers from the tablet never arrived. The browser deleted them before they were "
        "sent. Ask the citizen again." in english
    )
    assert (
        "2 answers from the tablet could not be used, because the questionnaire had already "
        "been sent." in english
    )
    assert "1 answer from the tablet could not be used, because it did not fit" in english


def test_a_client_refused_too_often_is_stopped_before_anything_is_opened_or_audited(
    client: FlaskClient, visit: Visit
) -> None:
    """The endpoints are public: refused requests are counted per address, and past the
    limit the address gets 429 without decryption or audit; other tablets go on."""
    visit.app.config["OFFLINE_REFUSALS_PER_WINDOW"] = 3
    for _ in range(2):
        assert sync(client, {"key": "nonsense"}).status_code == 422
    bad_report = client.post("/kiosk/sync/status", json={"visit": "x"}, headers=SAME_ORIGIN)
    assert bad_report.status_code == 400  # the third refusal
    audited = _actions(visit.factory)
    assert len(audited) == 2
    good = visit.envelope(visit.plain())
    assert sync(client, good).status_code == 429  # even a good item from this address, now
    assert status(client, visit).status_code == 429
    assert _actions(visit.factory) == audited and _answers(visit.factory) == []
    other = visit.app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert sync(other, good).json == {"status": "stored", "outcome": "stored"}
