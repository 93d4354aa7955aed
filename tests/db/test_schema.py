"""The schema made by the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.db import alembic_config
from surveyapp.enums import ProviderKind, Respondent, Role
from surveyapp.models import (
    Assignment,
    AuditEvent,
    Base,
    Citizen,
    Course,
    MeasurementPlan,
    Municipality,
    Provider,
    StaffUser,
)


def _org(session: Session) -> tuple[Municipality, Provider]:
    municipality = Municipality(code="999", name="Testkommune")
    provider = Provider(
        municipality=municipality,
        name="Hjemmeplejen",
        kind=ProviderKind.MUNICIPAL,
        unit_name="Hjemmeplejen",
    )
    session.add_all([municipality, provider])
    session.flush()
    return municipality, provider


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_downgrade_to_empty_and_upgrade_again(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "base")
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert "audit_event" in inspect(engine).get_table_names()
    engine.dispose()


def test_audit_events_are_append_only(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add(AuditEvent(actor_type="system", action="test.event"))
    for statement in ("UPDATE audit_event SET action = 'rewritten'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"), session_factory.begin() as session:
            session.execute(text(statement))
    with session_factory() as session:
        assert session.scalars(select(AuditEvent.action)).all() == ["test.event"]


def test_foreign_keys_are_enforced(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), session_factory.begin() as session:
        session.add(
            Provider(municipality_id=424242, name="x", kind=ProviderKind.PRIVATE, unit_name="x")
        )


def test_enum_columns_refuse_unknown_values(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        _org(session)
    with pytest.raises(IntegrityError), session_factory.begin() as session:
        session.execute(
            text(
                "INSERT INTO provider (municipality_id, name, kind, unit_name, active) "
                "VALUES (1, 'Y', 'charity', 'Y', true)"
            )
        )


def test_one_assignment_per_course_timepoint_instrument_and_respondent(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        municipality, provider = _org(session)
        plan = MeasurementPlan(name="Plan")
        citizen = Citizen(
            municipality=municipality, cpr_hmac="a" * 64, label="AB", birth_year=1940, sex="female"
        )
        course = Course(
            citizen=citizen,
            municipality_id=municipality.id,
            provider=provider,
            plan=plan,
            start_date=date(2026, 1, 5),
        )
        session.add_all([plan, citizen, course])
        session.flush()
        course_id = course.id
    row = {
        "course_id": course_id,
        "timepoint_key": "baseline",
        "instrument_id": "who5",
        "respondent": Respondent.CITIZEN,
    }
    with session_factory.begin() as session:
        session.add(Assignment(**row))
    with pytest.raises(IntegrityError), session_factory.begin() as session:
        session.add(Assignment(**row))


def test_timestamps_are_stored_and_read_in_utc(session_factory: sessionmaker[Session]) -> None:
    copenhagen_winter = timezone(timedelta(hours=1))
    moment = datetime(2026, 1, 15, 9, 30, tzinfo=copenhagen_winter)
    with session_factory.begin() as session:
        session.add(Municipality(code="998", name="Tid", created_at=moment))
    with session_factory() as session:
        stored = session.scalars(select(Municipality.created_at)).one()
    assert stored == moment
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.hour == 8


def test_naive_timestamps_are_refused(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(StatementError, match="naive datetime"), session_factory.begin() as s:
        s.add(Municipality(code="997", name="Naiv", created_at=datetime(2026, 1, 1)))


def test_staff_username_is_unique(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        municipality, _ = _org(session)
        municipality_id = municipality.id
    user = {
        "username": "kim",
        "full_name": "Kim",
        "role": Role.COORDINATOR,
        "municipality_id": municipality_id,
        "password_hash": "x",
    }
    with session_factory.begin() as session:
        session.add(StaffUser(**user))
    with pytest.raises(IntegrityError), session_factory.begin() as session:
        session.add(StaffUser(**user))


def test_the_newest_migrations_upgrade_a_database_that_holds_data(database_url: str) -> None:
    """From the schema of the last release (0005) with rows that other rows refer to, up to
    the newest, with foreign keys enforced (SQLite refuses a table copy of such tables)."""
    from surveyapp.db import make_engine, upgrade

    cfg = alembic_config(database_url)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "0005")
    engine = make_engine(database_url)
    with engine.begin() as conn:
        now = datetime(2026, 1, 1, tzinfo=timezone.utc)  # noqa: UP017
        conn.execute(
            text(
                "INSERT INTO municipality (id, code, name, created_at) VALUES (1, '990', 'X', :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO provider (id, municipality_id, name, kind, unit_name, active)"
                " VALUES (1, 1, 'P', 'municipal', 'P', true)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO staff_user (id, username, full_name, password_hash, role,"
                " municipality_id, active, failed_logins, session_version, created_at)"
                " VALUES (1, 'a', 'A', 'x', 'admin', 1, true, 0, 1, :t)"
            ),
            {"t": now},
        )
    engine.dispose()
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM staff_user")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM provider")).scalar() == 1
    engine.dispose()
