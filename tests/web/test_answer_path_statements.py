"""The answer path by link runs few SQL statements (issue 13: at most 3 for a question page
and 4 for an answer): the link, its assignment, response, answers and organisation are loaded
in one statement, not one lazy load each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from tests.support import factories
from tests.web.test_respond import _begin, _csrf, app, factory  # noqa: F401 - the fixtures


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.extensions["surveyapp.engine"]

    def note(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_question_page_and_an_answer_run_few_statements(
    client: FlaskClient, factory: sessionmaker[Session], app: Flask
) -> None:
    token, _ = factories.link(factory, "who5")
    _begin(client, token)
    with counted(app) as statements:
        page = client.get("/svar/1")
    assert page.status_code == 200 and "Spørgsmål 1 af 5" in page.text
    assert len(statements) <= 3, statements
    with counted(app) as statements:
        sent = client.post("/svar/1", data={"csrf_token": _csrf(page.text), "who5_1": "3"})
    assert sent.status_code == 303 and sent.location.endswith("/svar/2")
    assert len(statements) <= 4, statements
    # The answer is stored, and shown again when the page is opened again.
    again = client.get("/svar/1")
    chosen = re.findall(r"<input[^>]*\bchecked\b[^>]*>", again.text)
    assert len(chosen) == 1 and 'value="3"' in chosen[0], chosen
