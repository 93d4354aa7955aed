"""The due list's and the audit search's queries use the indexes of migration 0012.

On a small national dataset (bench/national_data.py, analysed as the bench's databases are)
the statements the services really run are captured and explained: SQLite's plan must name
the index, so that the page reads one municipality's rows, not the country's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from bench.national_data import FixedMunicipality, generate
from surveyapp.enums import Role
from surveyapp.models import Municipality, StaffUser
from surveyapp.services import assignments, auth
from surveyapp.services.scope import Scope

TODAY = date(2026, 6, 1)
SMALL = FixedMunicipality("901", "Lillebæk Kommune", 30)


@pytest.fixture
def backend() -> str:
    return "sqlite"  # EXPLAIN QUERY PLAN names the index used


@pytest.fixture
def scope(database_url: str, session_factory: sessionmaker[Session]) -> Scope:
    generate(
        database_url,
        responses=3000,
        municipalities=6,
        seed=5,
        today=TODAY,
        pool_per_level=10,
        fixed=(SMALL,),
        audit_events=3000,
    )
    with session_factory() as session:
        municipality_id = session.scalar(
            select(Municipality.id).where(Municipality.code == SMALL.code)
        )
        admin = session.scalars(select(StaffUser).where(StaffUser.role == Role.ADMIN)).first()
        assert municipality_id is not None and admin is not None
        return Scope(admin.id, Role.ADMIN, municipality_id)


@contextmanager
def _selects(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def _plan_of(
    session_factory: sessionmaker[Session], call: Callable[[Session], object], table: str
) -> str:
    """The plan of the first SELECT ... FROM `table` that `call` runs."""
    engine = session_factory.kw["bind"]
    with _selects(engine) as seen, session_factory() as session:
        call(session)
        session.rollback()
    statement, parameters = next((s, p) for s, p in seen if f"FROM {table}" in " ".join(s.split()))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())
    finally:
        raw.close()


def test_the_due_list_reads_a_courses_assignments_by_status_and_due_date(
    scope: Scope, session_factory: sessionmaker[Session]
) -> None:
    plan = _plan_of(
        session_factory,
        lambda session: assignments.due_list(session, scope, today=TODAY),
        "assignment JOIN course",
    )
    assert "INDEX ix_assignment_course_status_due (course_id=? AND status=?" in plan, plan
    assert "ix_course_municipality_id" in plan, plan  # starts from the municipality's courses


def test_the_audit_search_reads_one_municipalitys_events_newest_first(
    scope: Scope, session_factory: sessionmaker[Session]
) -> None:
    plan = _plan_of(
        session_factory,
        lambda session: auth.search_audit(session, scope, auth.AuditQuery()),
        "audit_event LEFT OUTER JOIN staff_user",
    )
    assert "INDEX ix_audit_event_municipality_time (municipality_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # the index gives the order: no sort
