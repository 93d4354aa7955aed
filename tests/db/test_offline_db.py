"""A retry storm from the kiosk's offline queue, on SQLite and PostgreSQL: stored once, all 2xx.

Three threads post the same sealed envelope at the same moment (a tablet that lost its replies
and retries from the service worker and the page at once); each has its own connection.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AssignmentStatus, Channel, KioskState
from surveyapp.models import Answer, Assignment, KioskSession, OfflineItem, Score, utcnow
from surveyapp.scheduling import today_in_denmark
from surveyapp.services.offline import credential_for
from tests.conftest import TEST_SECRET_KEY
from tests.support import factories
from tests.support.offline import seal

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
THREADS = 3


@pytest.fixture
def factory(app: Flask) -> sessionmaker[Session]:
    return app.extensions["surveyapp.sessions"]  # type: ignore[no-any-return]


def _visit(factory: sessionmaker[Session], **course: Any) -> tuple[int, int, list[str]]:
    with factory.begin() as session:
        course = factories.course(session, **(course or {"start": today_in_denmark()}))
        who5 = factories.assignment(course, "who5")
        user_id = _coordinator(session, course.municipality_id)
        now = utcnow()
        visit = KioskSession(
            grant_hash="0" * 64,
            staff_user_id=user_id,
            municipality_id=course.municipality_id,
            citizen_id=course.citizen_id,
            assignment_ids=[who5.id],
            state=KioskState.ANSWERING,
            staff_login_at=now,
            started_at=now,
            last_activity_at=now,
        )
        session.add(visit)
        session.flush()
        return visit.id, who5.id, [f"who5_{n}" for n in range(1, 6)]


def _coordinator(session: Session, municipality_id: int) -> int:
    from surveyapp.enums import Role
    from surveyapp.models import StaffUser

    user = StaffUser(
        username="storm",
        full_name="Storm",
        role=Role.COORDINATOR,
        municipality_id=municipality_id,
        password_hash="x",
    )
    session.add(user)
    session.flush()
    return user.id


def _storm(app: Flask, envelope: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, dict[str, Any]]] = []
    failures: list[BaseException] = []

    def send() -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            response = client.post("/kiosk/sync", json=envelope, headers=SAME_ORIGIN)
            results.append((response.status_code, response.json or {}))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    return results


def test_a_retry_storm_stores_an_answer_and_a_submit_once(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    visit_id, who5, items = _visit(factory)
    ring = app.extensions["surveyapp.offline_keys"]
    credential = credential_for(TEST_SECRET_KEY, visit_id)
    common = {"v": 1, "credential": credential, "at": "2026-12-03T10:00:00+01:00"}
    for seq, item in enumerate(items, start=1):
        plain = {
            **common,
            "kind": "answer",
            "assignment": who5,
            "item": item,
            "answer": 2,
            "language": "da",
        }
        envelope = seal(
            ring.public_spki_b64, ring.current_kid, visit=visit_id, seq=seq, plaintext=plain
        )
        results = _storm(app, envelope)
        assert sorted(code for code, _ in results) == [200] * THREADS, results
        assert sorted(body["status"] for _, body in results) == ["duplicate"] * (THREADS - 1) + [
            "stored"
        ]
    submit = seal(
        ring.public_spki_b64,
        ring.current_kid,
        visit=visit_id,
        seq=len(items) + 1,
        plaintext={**common, "kind": "submit", "assignment": who5, "language": "da"},
    )
    results = _storm(app, submit)
    assert sorted(code for code, _ in results) == [200] * THREADS, results
    assert all(body["outcome"] == "stored" for _, body in results)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OfflineItem)) == len(items) + 1
        assert session.scalar(select(func.count()).select_from(Answer)) == len(items)
        scores = {score.name: score.value for score in session.scalars(select(Score))}
        assert scores["who5_raw"] == 10.0 and scores["who5_percent"] == 40.0
        assert session.scalar(select(func.count()).select_from(Score)) == len(scores)  # once
        assignment = session.get(Assignment, who5)
        assert assignment is not None and assignment.status is AssignmentStatus.COMPLETED
        assert assignment.response is not None and assignment.response.channel is Channel.KIOSK


def test_erasing_the_citizen_deletes_the_items_of_their_visits(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    from surveyapp.models import Citizen
    from surveyapp.services import audit, privacy

    visit_id, who5, _items = _visit(factory)
    _receive(app, factory, visit_id, who5)
    with factory() as session:
        visit = session.get(KioskSession, visit_id)
        assert visit is not None
        citizen_id, municipality_id = visit.citizen_id, visit.municipality_id
    with factory.begin() as session:
        privacy.erase_citizen(session, audit.SYSTEM, municipality_id, citizen_id)
    with factory() as session:
        assert session.get(Citizen, citizen_id) is None
        assert session.scalar(select(func.count()).select_from(OfflineItem)) == 0


def test_retention_deletes_the_items_with_the_old_visits(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    from datetime import timedelta

    from surveyapp.services import audit, privacy

    today = today_in_denmark()
    visit_id, who5, _items = _visit(
        factory, start=today - timedelta(days=5 * 365), end=today - timedelta(days=4 * 365)
    )
    _receive(app, factory, visit_id, who5)
    with factory.begin() as session:
        summary = privacy.apply_retention(session, audit.SYSTEM, today=today, months=36)
        assert summary.kiosk_visits_deleted == 1
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OfflineItem)) == 0


def _receive(app: Flask, factory: sessionmaker[Session], visit_id: int, who5: int) -> None:
    from surveyapp.services.offline import receive

    ring = app.extensions["surveyapp.offline_keys"]
    plain = {
        "v": 1,
        "credential": credential_for(TEST_SECRET_KEY, visit_id),
        "at": "2026-12-03T10:00:00+01:00",
        "kind": "answer",
        "assignment": who5,
        "item": "who5_1",
        "answer": 4,
        "language": "da",
    }
    envelope = seal(ring.public_spki_b64, ring.current_kid, visit=visit_id, seq=1, plaintext=plain)
    registry = app.extensions["surveyapp.registry"]
    with factory.begin() as session:
        receipt = receive(session, ring, TEST_SECRET_KEY, envelope, registry=registry)
        assert (receipt.status, receipt.outcome) == ("stored", "stored")
