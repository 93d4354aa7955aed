"""A respondent answering a link's questionnaire over HTTP (tests/support/serving.Client),
and the app's environment and database for gunicorn on PostgreSQL.

Used by the two-process and fault tests (tests/web/test_processes.py, tests/web/test_faults.py):
each step is one real request, so consecutive steps may go to different app processes.
"""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.db import make_engine, make_session_factory
from surveyapp.instruments import load_registry
from surveyapp.services import measurements
from tests.support.serving import ROOT, Client, Reply

SECRET = "fault-test-secret-key-" + "f" * 40  # noqa: S105
WHO5_ITEMS = 5


def app_environment(url: str, **extra: str) -> dict[str, str]:
    """gunicorn's environment for the app on `url` (1 worker unless `extra` says more)."""
    return {
        "SURVEYAPP_ENV": "development",
        "SURVEYAPP_DATABASE_URL": url,
        "SURVEYAPP_SECRET_KEY": SECRET,
        "WEB_CONCURRENCY": "1",
        "SURVEYAPP_FAULT_POINT": "",
        **extra,
    }


def migrated(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """The engine and sessions of a new database, as `surveyapp migrate` leaves it (the
    measurement columns of every instrument handed out)."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        measurements.sync(session, load_registry(()))
    return engine, factory


def surveyapp_check(url: str) -> subprocess.CompletedProcess[str]:
    """`surveyapp check` on the database, as an operator runs it."""
    return subprocess.run(  # noqa: S603 - our own command
        [str(Path(sys.executable).parent / "surveyapp"), "check", "--database-url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SURVEYAPP_SECRET_KEY": SECRET},
    )


class _Form(HTMLParser):
    """The hidden fields and the first radio group (name and values) of a question page."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.radio_name: str | None = None
        self.radio_values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "input":
            return
        found = {k: v or "" for k, v in attrs}
        kind, name = found.get("type", "text"), found.get("name", "")
        if kind == "hidden" and name:
            self.hidden[name] = found.get("value", "")
        elif kind == "radio" and (self.radio_name in (None, name)):
            self.radio_name = name
            self.radio_values.append(found.get("value", ""))


def question_form(page: Reply, choice: int = 1) -> dict[str, str]:
    """What pressing "next" on a question page sends: its hidden fields and one option."""
    assert page.status == 200, (page.status, page.body[:300])
    parsed = _Form()
    parsed.feed(page.body)
    assert parsed.radio_name and parsed.radio_values, page.body[:500]
    assert "csrf_token" in parsed.hidden and "submission_key" in parsed.hidden
    value = parsed.radio_values[min(choice, len(parsed.radio_values) - 1)]
    return {**parsed.hidden, parsed.radio_name: value}


def open_and_begin(client: Client, token: str) -> str:
    """Exchange the token for the cookie and begin; the first question's path."""
    exchange = client.get(f"/svar/{token}")
    assert exchange.status == 303 and exchange.header("Location") == "/svar/", exchange.status
    start = client.get("/svar/")
    begun = client.post("/svar/start", {"csrf_token": start.csrf()})
    assert begun.status == 303, (begun.status, begun.body[:300])
    location = begun.header("Location") or ""
    assert location.startswith("/svar/"), location
    return location


def answer(client: Client, number: int, choice: int = 1) -> Reply:
    """Show question `number` and answer it with option `choice`; the POST's reply."""
    form = question_form(client.get(f"/svar/{number}"), choice)
    return client.post(f"/svar/{number}", form)
