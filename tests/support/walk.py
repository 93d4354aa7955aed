"""Walks over every route of the app as every kind of visitor (issue 10, findings 5 and 6, and
the fuzz tests): who to be for a route, real ids to put in its path, and the database's state.

`visitors` sets up, on the small demo data: the anonymous visitor, a client per staff role,
a relative holding a link whose questionnaire is begun, and a tablet in kiosk mode whose
citizen is answering. `visitor_for` picks the right one for an endpoint; `path_of` builds a
route's path with ids of the home municipality; `database_state` dumps every table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import Rule

from surveyapp.config import Settings
from surveyapp.enums import ProviderKind, Respondent, Sex
from surveyapp.models import (
    Base,
    Citizen,
    MeasurementPlan,
    Municipality,
    PlanTimepoint,
    Provider,
    StaffUser,
)
from surveyapp.scheduling import today_in_denmark
from surveyapp.services.courses import create_course, default_plan
from surveyapp.services.links import create_link
from tests.support import factories
from tests.support.staff import load_small_demo, login, token

STAFF_USERS = ("admin", "koordinator", "terapeut", "leverandoer", "analytiker")
KIOSK_STAFF_ENDPOINTS = {"kiosk.start_visit", "kiosk.set_pin", "kiosk.summary"}
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
# Appending an audit event: its INSERT and, on SQLite, the no-op update of the chain head
# that takes the writer lock before the event is numbered (surveyapp/models/chain.py).
AUDIT_INSERT = re.compile(
    r"^\s*(INSERT INTO\s+\"?audit_event\"?"
    r"|UPDATE\s+\"?audit_chain_head\"?\s+SET\s+seq\s*=\s*\"?audit_chain_head\"?\.seq\s*$)",
    re.I,
)


@dataclass
class Visitors:
    anonymous: FlaskClient
    staff: dict[str, FlaskClient]
    relative: FlaskClient
    kiosk: FlaskClient
    values: dict[str, Any] = field(default_factory=dict)

    def every(self) -> Iterator[tuple[str, FlaskClient]]:
        yield "anonymous", self.anonymous
        yield from self.staff.items()
        yield "relative", self.relative
        yield "kiosk", self.kiosk


def visitors(app: Flask, factory: sessionmaker[Session], settings: Settings) -> Visitors:
    """Every kind of visitor, each in the middle of what it does (see the module docstring)."""
    today = today_in_denmark()
    load_small_demo(factory, settings, today=today)
    with factory.begin() as session:
        home = session.scalars(select(Municipality).where(Municipality.code == "990")).one()
        provider = session.scalars(
            select(Provider)
            .where(Provider.municipality_id == home.id, Provider.kind == ProviderKind.MUNICIPAL)
            .order_by(Provider.id)
        ).first()
        assert provider is not None
        citizen = Citizen(
            municipality_id=home.id,
            cpr_hmac="f" * 64,
            label="Route walk",
            birth_year=1940,
            sex=Sex.FEMALE,
            lives_alone=True,
        )
        session.add(citizen)
        session.flush()
        course = create_course(
            session,
            citizen=citizen,
            provider=provider,
            team=provider.teams[0] if provider.teams else None,
            plan=default_plan(session),
            start_date=today,
            today=today,
        )
        relative_one = factories.assignment(course, "start_meeting", Respondent.RELATIVE)
        link_token = create_link(session, relative_one)
        plan = session.scalars(select(MeasurementPlan).where(MeasurementPlan.is_default)).one()
        timepoint = session.scalars(
            select(PlanTimepoint).where(PlanTimepoint.plan_id == plan.id)
        ).first()
        terapeut = session.scalars(select(StaffUser).where(StaffUser.username == "terapeut")).one()
        assert timepoint is not None
        values: dict[str, Any] = {
            "citizen_id": citizen.id,
            "course_id": course.id,
            "assignment_id": factories.assignment(course, "who5").id,
            "user_id": terapeut.id,
            "plan_id": plan.id,
            "timepoint_id": timepoint.id,
            "grant_id": 1,
            "token": "bWFkZS11cC10b2tlbi10aGF0LWRvZXMtbm90LWV4aXN0",
            "number": 1,
            "position": 1,
            "size": 1,
            "filename": "kiosk.js",
            "visit_id": 1,  # the tablet's visit below
        }
    # The tablet: the visit is confirmed, then started (only this browser's staff session is
    # suspended; the coordinator's other sessions go on).
    kiosk = app.test_client()
    assert login(kiosk, "koordinator").status_code == 302
    shown = kiosk.post(
        "/kiosk/start", data={"citizen_id": values["citizen_id"], "csrf_token": token(kiosk)}
    )
    queue = re.search(r'name="queue"[^>]*value="([^"]+)"', shown.text)
    assert queue, shown.status_code
    started = kiosk.post(
        "/kiosk/start",
        data={
            "citizen_id": values["citizen_id"],
            "queue": queue.group(1),
            "csrf_token": token(kiosk),
        },
    )
    assert started.location == "/kiosk/", started.location
    assert kiosk.post("/kiosk/begin", data={"csrf_token": _csrf(kiosk, "/kiosk/")}).status_code
    begun = kiosk.post("/kiosk/1/start", data={"csrf_token": _csrf(kiosk, "/kiosk/1")})
    assert begun.location == "/kiosk/1/1", begun.location
    relative = app.test_client()
    assert relative.get(f"/svar/{link_token}").status_code == 303
    begun = relative.post("/svar/start", data={"csrf_token": _csrf(relative, "/svar/")})
    assert begun.location == "/svar/1", begun.location
    staff = {}
    for username in STAFF_USERS:
        client = app.test_client()
        assert login(client, username).status_code == 302
        staff[username] = client
    return Visitors(app.test_client(), staff, relative, kiosk, values)


def _csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def visitor_for(visitors: Visitors, endpoint: str, username: str = "admin") -> FlaskClient:
    """The visitor a route is meant for: relative, tablet, staff user, or anyone."""
    blueprint = endpoint.split(".")[0]
    if blueprint == "respond":
        return visitors.relative
    if blueprint == "kiosk" and endpoint not in KIOSK_STAFF_ENDPOINTS:
        return visitors.kiosk
    if blueprint in ("public", "display", "static") or endpoint == "auth.login":
        return visitors.anonymous
    return visitors.staff[username]


def path_of(rule: Rule, values: dict[str, Any]) -> str:
    built = rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)
    assert built is not None
    return built[1]


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def database_state(factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    state = {}
    with factory() as session:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = session.execute(select(table).order_by(*order)).all()
            state[table.name] = [tuple(row) for row in rows]
    return state


class WriteWatch:
    """Collects every SQL statement that writes, other than an audit event's insert."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writes: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if WRITE.match(statement) and not AUDIT_INSERT.match(statement):
            self.writes.append(" ".join(statement.split())[:120])

    def take(self) -> list[str]:
        found, self.writes = self.writes, []
        return found

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)
