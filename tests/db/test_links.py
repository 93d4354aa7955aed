"""Links and their rate limit on SQLite and PostgreSQL: one assignment per link, reissue
revokes, expiry, opening by token or code, and failure counters shared by app processes,
also when they race."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.models import AuditEvent, LinkAttempt, LinkToken, utcnow
from surveyapp.services import links
from surveyapp.services.links import ATTEMPT_WINDOW, MAX_FAILURES, issue_link
from tests.support import factories


@pytest.fixture
def two_apps(settings: Settings) -> Iterator[tuple[Flask, Flask]]:
    first, second = create_app(settings), create_app(settings)
    yield first, second
    for app in (first, second):
        app.extensions["surveyapp.engine"].dispose()


def test_a_link_is_one_assignments_and_reissuing_revokes_the_old_one(
    session_factory: sessionmaker[Session],
) -> None:
    now = utcnow()
    with session_factory.begin() as session:
        target = factories.assignment(factories.course(session), "who5")
        old = issue_link(session, target, now=now)
        new = issue_link(session, target, now=now + timedelta(minutes=1))
        assert session.get(LinkToken, old.link_id).revoked_at is not None  # type: ignore[union-attr]
        live = session.scalars(
            select(LinkToken).where(
                LinkToken.assignment_id == target.id, LinkToken.revoked_at.is_(None)
            )
        ).all()
        assert [link.id for link in live] == [new.link_id]
        with pytest.raises(links.LinkInvalid):
            links.resolve_token(session, old.token, now=now + timedelta(minutes=2))
        with pytest.raises(links.LinkInvalid):
            links.resolve_code(session, old.code, now=now + timedelta(minutes=2))
        assert links.resolve_token(session, new.token).assignment_id == target.id
        assert links.resolve_code(session, new.code.lower()).id == new.link_id
        expires = session.get(LinkToken, new.link_id).expires_at  # type: ignore[union-attr]
        assert expires == now + timedelta(minutes=1, days=14)
        with pytest.raises(links.LinkInvalid):
            links.live_link(session, new.link_id, now=expires)
        assert links.live_link(session, new.link_id, now=expires - timedelta(seconds=1))


def test_opening_records_the_opening_and_counts_only_failures(
    session_factory: sessionmaker[Session],
) -> None:
    now = utcnow()
    client = links.client_key("secret-" * 6, "192.0.2.1")
    with session_factory.begin() as session:
        target = factories.assignment(factories.course(session), "who5")
        issued = issue_link(session, target, now=now)
    with session_factory.begin() as session:
        opened = links.open_link(session, client, code=issued.code, now=now)
        assert isinstance(opened, LinkToken) and opened.first_opened_at == now
        assert links.open_link(session, client, token="nope", now=now) is links.Refusal.INVALID
        assert links.open_link(session, client, code="", now=now) is links.Refusal.INVALID
    with session_factory() as session:
        assert session.scalar(select(LinkAttempt.failures)) == 2
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "link.open")).one()
        assert event.actor_type == "citizen" and event.details == {
            "link_id": issued.link_id,
            "by": "code",
        }


def test_the_rate_limit_is_shared_by_app_processes_and_survives_a_race(
    two_apps: tuple[Flask, Flask], session_factory: sessionmaker[Session]
) -> None:
    first, second = two_apps
    token, _ = factories.link(session_factory, "who5")
    errors: list[BaseException] = []
    statuses: list[int] = []

    def guess(app: Flask, n: int) -> None:
        try:
            statuses.append(app.test_client().get(f"/svar/guess-{n}").status_code)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [  # guesses at once, half of them on each app process
        threading.Thread(target=guess, args=(first if n % 2 else second, n))
        for n in range(MAX_FAILURES - 1)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == [] and statuses == [404] * (MAX_FAILURES - 1)
    with session_factory() as session:
        assert session.scalar(select(func.sum(LinkAttempt.failures))) == MAX_FAILURES - 1
    assert second.test_client().get(f"/svar/{token}").status_code == 303
    assert first.test_client().get("/svar/one-more").status_code == 404
    assert second.test_client().get(f"/svar/{token}").status_code == 429
    assert first.test_client().get(f"/svar/{token}").status_code == 429
    later = utcnow() + ATTEMPT_WINDOW
    second.config["SURVEYAPP_NOW"] = lambda: later
    assert second.test_client().get(f"/svar/{token}").status_code == 303
    assert second.test_client().get("/svar/a-new-guess").status_code == 404
    with session_factory() as session:  # passed windows are forgotten as new ones start
        assert session.scalars(select(LinkAttempt.failures)).all() == [1]
