"""One place owns a request's transaction (issue 13, item 3): `unit_of_work` alone commits;
a request's session that writes outside one raises, and what it left pending is never stored."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.models import Municipality
from surveyapp.web import WriteOutsideUnitOfWork, db_session, run_in_transaction, unit_of_work


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Municipality)) or 0


@pytest.fixture
def factory(app: Flask) -> sessionmaker[Session]:
    return app.extensions["surveyapp.sessions"]  # type: ignore[no-any-return]


def test_a_flush_outside_a_unit_of_work_raises_and_stores_nothing(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    with app.test_request_context("/"):
        db_session().add(Municipality(code="901", name="Udenfor"))
        with pytest.raises(WriteOutsideUnitOfWork):
            db_session().flush()
    with app.test_request_context("/"):
        db_session().add(Municipality(code="902", name="Udenfor"))
        with pytest.raises(WriteOutsideUnitOfWork):  # autoflush before a read is a write too
            db_session().scalars(select(Municipality)).all()
    assert _count(factory) == 0


def test_a_statement_that_writes_outside_a_unit_of_work_raises(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    with app.test_request_context("/"), unit_of_work() as db:
        db.add(Municipality(code="903", name="Før"))
    with app.test_request_context("/"), pytest.raises(WriteOutsideUnitOfWork):
        db_session().execute(update(Municipality).values(name="Efter"))
    with factory() as session:
        assert session.scalars(select(Municipality.name)).all() == ["Før"]


def test_changes_left_pending_at_the_end_of_a_request_are_never_committed(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    with app.test_request_context("/"):
        db_session().scalars(select(Municipality)).all()  # a read begins the transaction
        db_session().add(Municipality(code="904", name="Glemt"))
    assert _count(factory) == 0
    with app.test_request_context("/"):
        db_session().add(Municipality(code="905", name="Glemt"))
        # Not the next use case's to commit:
        with pytest.raises(WriteOutsideUnitOfWork), unit_of_work():
            pass
    assert _count(factory) == 0


def test_a_unit_of_work_continues_the_requests_read_and_commits_once(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    with app.test_request_context("/"):
        db = db_session()
        db.scalars(select(Municipality)).all()
        read = db.get_transaction()
        assert read is not None
        with unit_of_work() as same:
            assert same is db and db.get_transaction() is read  # not committed in between
            db.add(Municipality(code="906", name="Én transaktion"))
        assert not db.in_transaction()
    assert _count(factory) == 1


def test_a_failed_unit_of_work_stores_nothing_and_units_do_not_nest(
    app: Flask, factory: sessionmaker[Session]
) -> None:
    with app.test_request_context("/"):
        with pytest.raises(ZeroDivisionError), unit_of_work() as db:
            db.add(Municipality(code="907", name="Halvt"))
            db.flush()
            _ = 1 / 0
        with pytest.raises(RuntimeError, match="do not nest"), unit_of_work():
            run_in_transaction(lambda: None)
    assert _count(factory) == 0
