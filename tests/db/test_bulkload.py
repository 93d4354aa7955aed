"""The bulk row writer (surveyapp.bulkload): rows read back as the ORM's, ids and sequences."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.bulkload import BulkWriter
from surveyapp.enums import CourseStatus, LegalBasis, ProviderKind, Sex
from surveyapp.models import Base, Citizen, Course, Municipality, Provider, Team
from surveyapp.services.courses import default_plan

CREATED = datetime(2026, 3, 4, 10, 30, 15, 123456, tzinfo=UTC)


def _organisation(session: Session) -> tuple[Municipality, Provider, Team]:
    municipality = Municipality(code="990", name="Prøvekommune")
    provider = Provider(
        municipality=municipality, name="Pleje", kind=ProviderKind.MUNICIPAL, unit_name="Pleje"
    )
    team = Team(provider=provider, name="Team A")
    session.add(municipality)
    session.flush()
    return municipality, provider, team


def _citizen(municipality_id: int, n: int, label: str) -> dict[str, Any]:
    return {
        "municipality_id": municipality_id,
        "cpr_hmac": f"{n:064d}",
        "label": label,
        "birth_year": 1940,
        "sex": Sex.MALE,
    }


def _columns(row: Base) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in inspect(type(row)).columns if c.key != "id"}


@pytest.mark.parametrize("copy", [False, True], ids=["executemany", "copy"])
def test_rows_read_back_as_the_orm_writes_them(
    session_factory: sessionmaker[Session], copy: bool
) -> None:
    """Enums, booleans, dates, timestamps and the Python-side defaults (a course's status,
    legal basis and created_at) come back exactly as from rows the ORM wrote."""
    with session_factory.begin() as session:
        municipality, provider, team = _organisation(session)
        plan = default_plan(session)
        citizen = {
            "municipality_id": municipality.id,
            "cpr_hmac": "a" * 64,
            "label": "Æse B.",
            "birth_year": 1941,
            "sex": Sex.FEMALE,
            "lives_alone": True,
            "created_at": CREATED,
        }
        session.add(Citizen(**citizen))
        session.flush()
        course = {
            "municipality_id": municipality.id,
            "provider_id": provider.id,
            "team_id": team.id,
            "plan_id": plan.id,
            "start_date": date(2026, 2, 28),
            "end_date": None,
            "created_at": CREATED,
        }
        orm_course = Course(citizen_id=1, **course)
        session.add(orm_course)
        session.flush()
        writer = BulkWriter(session.connection(), copy=copy)
        citizen_ids = writer.ids(Citizen.__table__)
        course_ids = writer.ids(Course.__table__)
        bulk_citizen = citizen | {"id": next(citizen_ids), "cpr_hmac": "b" * 64}
        assert writer.write_rows(Citizen.__table__, [bulk_citizen]) == 1
        written = writer.write_rows(
            Course.__table__,
            [course | {"id": next(course_ids), "citizen_id": bulk_citizen["id"]}],
        )
        assert written == 1
        writer.finish()
    with session_factory() as session:
        citizens = session.scalars(select(Citizen).order_by(Citizen.id)).all()
        courses = session.scalars(select(Course).order_by(Course.id)).all()
        assert [c.id for c in citizens] == [1, 2]
        first, second = (_columns(c) for c in citizens)
        assert second == first | {"cpr_hmac": "b" * 64}
        assert second["created_at"] == CREATED
        assert [c.id for c in courses] == [1, 2]
        orm, bulk = (_columns(c) for c in courses)
        assert bulk == orm | {"citizen_id": 2, "created_at": bulk["created_at"]}
        assert bulk["status"] is CourseStatus.ACTIVE  # the column's default
        assert bulk["legal_basis"] is LegalBasis.SEL_83A
        assert bulk["created_at"] == CREATED
        # Stored alike too, as the database holds them (on SQLite: the same timestamp text,
        # which SQL compares as text).
        for table, differ in (("citizen", (0, 2)), ("course", (0, 1))):
            raw = session.connection().exec_driver_sql(f"SELECT * FROM {table} ORDER BY id")
            stored = [[v for i, v in enumerate(row) if i not in differ] for row in raw]
            assert stored[0] == stored[1], table


def test_ids_continue_past_the_rows_there_and_the_sequences_follow(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        municipality, _, _ = _organisation(session)
        session.add(Citizen(**_citizen(municipality.id, 0, "x")))
        session.flush()
        writer = BulkWriter(session.connection(), copy=True)
        ids = writer.ids(Citizen.__table__)
        rows = [{"id": next(ids)} | _citizen(municipality.id, n, f"b{n}") for n in (1, 2)]
        writer.write_rows(Citizen.__table__, rows)
        writer.finish()
    with session_factory.begin() as session:
        added = Citizen(**_citizen(municipality.id, 3, "y"))
        session.add(added)
        session.flush()
        assert [r["id"] for r in rows] == [2, 3]
        assert added.id == 4  # PostgreSQL's sequence was moved past the bulk ids
        labels = session.scalars(select(Citizen.label).order_by(Citizen.id)).all()
        assert labels == ["x", "b1", "b2", "y"]


def test_one_statement_per_table_and_chunk(session_factory: sessionmaker[Session]) -> None:
    statements: list[str] = []
    engine = session_factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with session_factory.begin() as session:
        municipality, _, _ = _organisation(session)
        rows = [{"id": n} | _citizen(municipality.id, n, "z") for n in range(1, 26)]
        statements.clear()
        BulkWriter(session.connection()).write_rows(Citizen.__table__, rows)
        assert [s.split(" (")[0] for s in statements] == ["INSERT INTO citizen"]
        statements.clear()
        chunked = BulkWriter(session.connection(), chunk_rows=10)
        chunked.write_rows(
            Citizen.__table__,
            [r | {"id": r["id"] + 100, "cpr_hmac": f"{r['id'] + 100:064d}"} for r in rows],
        )
        assert len(statements) == 3
        assert session.scalar(select(Citizen.id).order_by(Citizen.id.desc())) == 125


def test_an_unknown_column_is_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        writer = BulkWriter(session.connection())
        with pytest.raises(KeyError, match="colour"):
            writer.write_rows(Citizen.__table__, [{"id": 1, "colour": "blue"}])
