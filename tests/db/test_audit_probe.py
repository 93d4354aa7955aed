"""Probe finding 8 as the attacker saw it, with nothing but SQL and the command line.

Written against the code before the fix (these tests import only what existed then) and seen
failing there: the back-dated insert was accepted, and after the trigger was dropped a deleted
event left no trace (there was no `audit-verify`).
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.cli import main
from surveyapp.services import audit


def _drop_the_delete_guard(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
    else:
        session.execute(text("DROP TRIGGER audit_event_no_delete"))


def test_a_back_dated_insert_is_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        audit.record(session, audit.SYSTEM, "citizen.view", object_type="citizen", object_id=1)
    with pytest.raises(DBAPIError), session_factory.begin() as session:
        session.execute(
            text(
                "INSERT INTO audit_event (occurred_at, actor_type, action) "
                "VALUES ('2020-01-01 00:00:00', 'staff', 'citizen.view')"
            )
        )


def test_an_event_deleted_behind_the_triggers_back_is_found(
    session_factory: sessionmaker[Session], database_url: str
) -> None:
    for citizen_id in (1, 2, 3):
        with session_factory.begin() as session:
            audit.record(
                session, audit.SYSTEM, "citizen.view", object_type="citizen", object_id=citizen_id
            )
    with session_factory.begin() as session:
        _drop_the_delete_guard(session)
        session.execute(text("DELETE FROM audit_event WHERE object_id = '2'"))
    result = CliRunner().invoke(
        main, ["audit-verify"], env={"SURVEYAPP_DATABASE_URL": database_url}
    )
    assert result.exit_code == 1, result.output
    assert "BROKEN at event 2" in result.output
