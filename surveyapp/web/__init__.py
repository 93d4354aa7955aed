"""Blueprints: thin views that validate, call one service, then render or redirect."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session


def db_session() -> Session:
    """The request's database session (closed when the request ends)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["surveyapp.sessions"]()
    session: Session = g.db_session
    return session
