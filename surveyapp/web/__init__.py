"""Blueprints: thin views that validate, call one service, then render or redirect."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

T = TypeVar("T")


def db_session() -> Session:
    """The request's database session (closed when the request ends)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["surveyapp.sessions"]()
    session: Session = g.db_session
    return session


def run_in_transaction(action: Callable[[], T]) -> T:
    """Run one use case and commit it; retry once if a concurrent request won a race.

    Unique constraints make a double tap or a retried request store one row; the loser's
    transaction fails, is rolled back, and sees the winner's rows on the retry.
    """
    session = db_session()
    try:
        result = action()
        session.commit()
        return result
    except IntegrityError:
        session.rollback()
    except Exception:
        session.rollback()
        raise
    try:
        result = action()
        session.commit()
        return result
    except Exception:
        session.rollback()
        raise
