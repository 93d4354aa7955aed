"""Blueprints: thin views that validate, call one service, then render or redirect.

The helpers here are shared by every blueprint: the request's database session, the
transaction around one use case, and the installation's instrument definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import current_app, g
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from surveyapp.instruments import Registry

T = TypeVar("T")


def db_session() -> Session:
    """The request's database session (closed when the request ends)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["surveyapp.sessions"]()
    session: Session = g.db_session
    return session


def registry() -> Registry:
    """The instrument definitions of this installation (shipped plus configured folders)."""
    found: Registry = current_app.extensions["surveyapp.registry"]
    return found


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction for one use case; commits on success, rolls back on any error."""
    db = db_session()
    if db.in_transaction():
        db.commit()  # end a read-only transaction begun by lazy loading
    with db.begin():
        yield db


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
