"""The SQL statements an app sends to its database while a block runs (a test's count)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    """Every statement the app's engine executes inside the block, in order."""
    statements: list[str] = []
    engine = app.extensions["surveyapp.engine"]

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)
