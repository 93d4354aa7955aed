"""Blueprints: thin views that validate, call one service, then render or redirect.

The helpers here are shared by every blueprint: the request's database session, the
transaction around one use case, and the installation's instrument definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import current_app, g
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from surveyapp.instruments import Registry

T = TypeVar("T")


_GUARDED = "surveyapp.request_session"
_WRITING = "surveyapp.unit_of_work"


class WriteOutsideUnitOfWork(RuntimeError):
    """A request's session was about to write outside `unit_of_work`: a bug, never committed."""


def db_session() -> Session:
    """The request's database session (rolled back and closed when the request ends).

    It reads freely; it writes only inside `unit_of_work` (see `guard_writes`).
    """
    if "db_session" not in g:
        session = current_app.extensions["surveyapp.sessions"]()
        session.info[_GUARDED] = True
        g.db_session = session
    db: Session = g.db_session
    return db


def guard_writes(factory: sessionmaker[Session]) -> None:
    """Refuse any write by a request's session outside a unit of work.

    Only `unit_of_work` commits a request's transaction. A flush or an INSERT, UPDATE or
    DELETE outside one raises instead of waiting for a commit that would never come or,
    worse, being committed by the next unit of work as if it belonged to it.
    """

    def outside(session: Session) -> bool:
        return bool(session.info.get(_GUARDED)) and not session.info.get(_WRITING)

    @event.listens_for(factory, "before_flush")
    def _flush(session: Session, _context: object, _instances: object) -> None:
        if outside(session):
            changed = session.new or session.dirty or session.deleted
            raise WriteOutsideUnitOfWork(f"changes outside a unit of work: {changed}")

    @event.listens_for(factory, "do_orm_execute")
    def _execute(state: ORMExecuteState) -> None:
        if (state.is_insert or state.is_update or state.is_delete) and outside(state.session):
            raise WriteOutsideUnitOfWork(f"a write outside a unit of work: {state.statement}")


def registry() -> Registry:
    """The instrument definitions of this installation (shipped plus configured folders)."""
    found: Registry = current_app.extensions["surveyapp.registry"]
    return found


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """The one place a request's transaction is committed: one use case, all or nothing.

    What the request read before (the link, the visit, the user) is in the same transaction
    as what the use case writes; a read-only transaction a page began is simply continued.
    Commits on success and rolls back on any error (the session's objects are then expired
    and read again). Units of work do not nest.
    """
    db = db_session()
    if db.info.get(_WRITING):
        raise RuntimeError("units of work do not nest")
    if db.new or db.dirty or db.deleted:  # changed before: not this use case's to commit
        db.rollback()
        raise WriteOutsideUnitOfWork("changes made before the unit of work began")
    db.info[_WRITING] = True
    try:
        if not db.in_transaction():
            db.begin()
        yield db
        db.commit()
    except BaseException:
        try:
            db.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone: the first error says why
            db.close()
        raise
    finally:
        db.info[_WRITING] = False


def run_in_transaction(action: Callable[[], T]) -> T:
    """Run one use case in a unit of work; retry once if a concurrent request won a race.

    Unique constraints make a double tap or a retried request store one row; the loser's
    transaction fails, is rolled back, and sees the winner's rows on the retry.
    """
    try:
        with unit_of_work():
            return action()
    except IntegrityError:
        pass
    with unit_of_work():
        return action()
