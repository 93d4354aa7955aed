"""A relative's way in from the letter, through the test client.

The QR code's token and the typed code are exchanged for a cookie and never seen again (not in
a later URL, page, audit row or Referer); every bad link or code gets one calm page; guessing is
rate-limited in the database, across app processes; a questionnaire whose window has not
opened says when it opens; the pages say who asks, about whom, and how the answers are used.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import String, Text, event, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import JSON

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.enums import AnswerState, AssignmentStatus, Respondent
from surveyapp.linkcodes import code_hash, normalise_code
from surveyapp.models import (
    Answer,
    Assignment,
    AuditEvent,
    Citizen,
    Course,
    LinkAttempt,
    LinkToken,
    Response,
    utcnow,
)
from surveyapp.scheduling import DENMARK
from surveyapp.security import token_hash
from surveyapp.services import links
from surveyapp.services.links import ATTEMPT_WINDOW, MAX_FAILURES, IssuedLink, issue_link
from tests.support import factories

WHO5 = ["3", "4", "2", "5", "1"]
LABEL = "Intern-XQ-etiket"  # the coordinator's own label for the citizen: never shown


class Clock:
    """The app's time, moved on by the tests (app.config["SURVEYAPP_NOW"])."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _make_app(settings: Settings, clock: Clock) -> Flask:
    return create_app(settings, WTF_CSRF_ENABLED=True, SURVEYAPP_NOW=clock)


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[Flask]:
    app = _make_app(settings, clock)
    yield app
    app.extensions["surveyapp.engine"].dispose()


@pytest.fixture
def factory(app: Flask) -> sessionmaker[Session]:
    return app.extensions["surveyapp.sessions"]  # type: ignore[no-any-return]


@dataclass
class Letter:
    token: str
    code: str
    link_id: int
    assignment_id: int
    citizen_id: int


def _letter(
    factory: sessionmaker[Session],
    clock: Clock,
    instrument: str = "who5",
    respondent: Respondent | None = None,
    *,
    letter_name: str | None = None,
    contact: bool = True,
    language: str = "da",
    window_start: date | None = None,
) -> Letter:
    """A fresh course in a municipality with (or without) its contact line, and a letter.

    By default the relative answers the forms relatives answer, and the citizen the others.
    """
    if respondent is None:
        relatives = ("start_meeting", "whodas12_proxy")
        respondent = Respondent.RELATIVE if instrument in relatives else Respondent.CITIZEN
    with factory.begin() as session:
        course = factories.course(session)
        course.citizen.label = LABEL
        municipality = course.provider.municipality
        if contact:
            municipality.letter_sender = "Sundhed og Omsorg"
            municipality.contact_phone = "70 12 34 56"
            municipality.contact_email = "rehab@solvstrand.example"
            municipality.contact_hours = "hverdage 8–15"
        target = factories.assignment(course, instrument, respondent)
        if window_start is not None:
            target.window_start = window_start
            target.window_end = window_start + timedelta(days=14)
            target.status = AssignmentStatus.SCHEDULED
        issued: IssuedLink = issue_link(
            session, target, letter_name=letter_name, language=language, now=clock()
        )
        return Letter(issued.token, issued.code, issued.link_id, target.id, course.citizen_id)


def _csrf(text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert match, text[:500]
    return match.group(1)


def _open(client: FlaskClient, token: str) -> str:
    exchange = client.get(f"/svar/{token}")
    assert exchange.status_code == 303, exchange.status_code
    assert exchange.location == "/svar/"
    return exchange.location


def _begin(client: FlaskClient) -> str:
    start = client.get("/svar/")
    assert start.status_code == 200
    begun = client.post("/svar/start", data={"csrf_token": _csrf(start.text)})
    assert begun.status_code == 303
    return begun.location


def _answer(client: FlaskClient, number: int, field: str, value: str, **extra: str) -> str:
    page = client.get(f"/svar/{number}")
    assert page.status_code == 200, page.status_code
    response = client.post(
        f"/svar/{number}", data={"csrf_token": _csrf(page.text), field: value, **extra}
    )
    assert response.status_code == 303, response.text[:300]
    return response.location


def _answer_who5(client: FlaskClient, numbers: range = range(1, 6)) -> str:
    location = ""
    for number in numbers:
        location = _answer(client, number, f"who5_{number}", WHO5[number - 1])
    return location


def _fresh(app: Flask, address: str = "127.0.0.1") -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


class _Links(HTMLParser):
    """Every URL a page links, posts or loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("href", "action", "src")]


def _urls(text: str) -> list[str]:
    parser = _Links()
    parser.feed(text)
    return parser.urls


@dataclass
class Statements:
    """SQL statements an app's engine ran, to count look-ups of links."""

    seen: list[str]

    def on_link_token(self) -> list[str]:
        return [s for s in self.seen if "link_token" in s.lower()]


def _watch(app: Flask) -> Statements:
    statements = Statements([])

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.seen.append(statement)

    event.listen(app.extensions["surveyapp.engine"], "before_cursor_execute", record)
    return statements


# --- the token leaves the address bar --------------------------------------------------------


def test_the_token_is_exchanged_for_a_cookie_and_never_seen_again(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock)
    client = _fresh(app)
    exchange = client.get(f"/svar/{letter.token}")
    assert exchange.status_code == 303 and exchange.location == "/svar/"
    assert exchange.headers["Referrer-Policy"] == "no-referrer"
    assert exchange.headers["Cache-Control"] == "no-store"
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only
    held = app.session_interface.get_signing_serializer(app).loads(cookie.value)  # type: ignore[attr-defined]
    assert held["respondent_link"]["link"] == letter.link_id
    assert letter.token not in json.dumps(held)
    pages = [client.get("/svar/"), client.get("/svar/om")]
    assert _begin(client) == "/svar/1"
    for number in range(1, 6):
        pages.append(client.get(f"/svar/{number}"))
        _answer(client, number, f"who5_{number}", WHO5[number - 1])
    pages.append(client.get("/svar/tak"))
    for page in pages:
        assert page.status_code == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert '<meta name="referrer" content="no-referrer">' in page.text
        assert letter.token not in page.text
        for url in _urls(page.text):
            assert letter.token not in url
            assert not url.startswith("http"), url  # nothing loaded or linked from elsewhere
    with factory() as session:
        link = session.get(LinkToken, letter.link_id)
        assert link is not None and link.first_opened_at is not None
        assert session.get(Assignment, letter.assignment_id).status is AssignmentStatus.COMPLETED  # type: ignore[union-attr]


def test_the_database_and_the_audit_trail_never_hold_the_token_or_code(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock)
    client = _fresh(app)
    _open(client, letter.token)
    _begin(client)
    _answer_who5(client)
    coded = _fresh(app)
    page = coded.get("/k")
    assert coded.post("/k", data={"csrf_token": _csrf(page.text), "code": letter.code}).location
    coded.get(f"/svar/{letter.token[:-2]}xx")  # a failed attempt too
    secrets = {letter.token, letter.code, normalise_code(letter.code) or "", letter.code.lower()}
    with factory() as session:
        row = session.get(LinkToken, letter.link_id)
        assert row is not None
        assert row.token_hash == token_hash(letter.token)
        assert row.code_hash == code_hash(normalise_code(letter.code) or "")
        stored = [str(getattr(row, c.key)) for c in LinkToken.__table__.columns]
        text_columns = [
            c for c in AuditEvent.__table__.columns if isinstance(c.type, String | Text | JSON)
        ]
        assert {c.name for c in text_columns} >= {"action", "details", "ip_address"}
        events = session.scalars(select(AuditEvent)).all()
        assert {e.action for e in events} >= {"link.issue", "link.open"}
        for event_ in events:
            for column in text_columns:
                stored.append(json.dumps(getattr(event_, column.key), default=str))
        attempts = session.scalars(select(LinkAttempt)).all()
        stored += [a.client_key for a in attempts]
    for value in stored:
        for secret in secrets:
            assert secret not in value
    assert all("127.0.0.1" not in value for value in stored)


def test_pause_and_come_back_with_the_same_letter_then_only_thanks(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock)
    phone = _fresh(app)
    _open(phone, letter.token)
    _begin(phone)
    _answer_who5(phone, range(1, 3))
    later = _fresh(app)  # the browser was closed: the QR code again
    _open(later, letter.token)
    start = later.get("/svar/")
    assert "Fortsæt" in start.text
    assert later.post("/svar/start", data={"csrf_token": _csrf(start.text)}).location == "/svar/3"
    again = _fresh(app)  # or the typed code, on another device
    form = again.get("/k")
    assert (
        again.post("/k", data={"csrf_token": _csrf(form.text), "code": letter.code}).location
        == "/svar/"
    )
    assert _begin(again) == "/svar/3"
    assert _answer_who5(again, range(3, 6)) == "/svar/tak"
    after = _fresh(app)
    _open(after, letter.token)  # the letter still opens until it expires ...
    assert after.get("/svar/").location == "/svar/tak"  # ... but shows only the thanks
    assert after.get("/svar/1").location == "/svar/tak"
    thanks = after.get("/svar/tak")
    assert "Tak for dine svar" in thanks.text
    assert "Hele tiden" not in thanks.text and "Lidt af tiden" not in thanks.text
    with factory() as session:
        answers = session.scalars(select(Answer).join(Response)).all()
        assert [a.value for a in sorted(answers, key=lambda a: a.item_id)] == [3, 4, 2, 5, 1]


def test_one_link_per_browser_and_the_cookie_lasts_a_few_hours(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    who5 = _letter(factory, clock, "who5")
    meeting = _letter(factory, clock, "start_meeting")
    client = _fresh(app)
    _open(client, who5.token)
    assert "WHO-5" in client.get("/svar/").text
    _open(client, meeting.token)  # another letter replaces the first
    start = client.get("/svar/")
    assert "Opstartsmøde" in start.text or "opstartsmøde" in start.text
    assert "WHO-5" not in start.text
    clock.advance(hours=5)  # the exchange has run out: the letter again, and all is there
    assert client.get("/svar/").status_code == 404
    _open(client, meeting.token)
    assert client.get("/svar/").status_code == 200


def test_a_link_belongs_to_one_assignment_and_reissuing_revokes_the_old(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    first = _letter(factory, clock)
    other = _letter(factory, clock)
    client = _fresh(app)
    _open(client, first.token)
    _begin(client)
    _answer(client, 1, "who5_1", "3")
    with factory.begin() as session:
        assert session.get(LinkToken, first.link_id).assignment_id == first.assignment_id  # type: ignore[union-attr]
        assert (
            session.scalars(
                select(Response).where(Response.assignment_id == other.assignment_id)
            ).all()
            == []
        )
        assignment = session.get(Assignment, first.assignment_id)
        assert assignment is not None
        reissued = issue_link(session, assignment, now=clock())
    assert client.get("/svar/2").status_code == 404  # the cookie's link was revoked
    assert _fresh(app).get(f"/svar/{first.token}").status_code == 404
    fresh = _fresh(app)
    _open(fresh, reissued.token)
    assert _begin(fresh) == "/svar/2"  # the new letter resumes the same questionnaire


def test_a_link_expires_and_a_held_cookie_stops_with_it(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock)
    with factory() as session:
        expires_at = session.get(LinkToken, letter.link_id).expires_at  # type: ignore[union-attr]
    assert timedelta(days=13) < expires_at - clock() <= timedelta(days=14)
    clock.now = expires_at - timedelta(minutes=30)
    client = _fresh(app)
    _open(client, letter.token)
    _begin(client)
    clock.now = expires_at + timedelta(seconds=1)  # the cookie never outlives the link
    assert client.get("/svar/1").status_code == 404
    assert _fresh(app).get(f"/svar/{letter.token}").status_code == 404


# --- one calm refusal ------------------------------------------------------------------------


def _four_bad_links(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> dict[str, Letter | str]:
    """Unknown, expired, revoked, and used then expired: at the clock's current time."""
    expired = _letter(factory, clock)
    revoked = _letter(factory, clock)
    used = _letter(factory, clock)
    client = _fresh(app, "10.9.9.9")
    _open(client, used.token)
    _begin(client)
    _answer_who5(client)
    with factory.begin() as session:
        session.get(LinkToken, expired.link_id).expires_at = clock() - timedelta(seconds=1)  # type: ignore[union-attr]
        session.get(LinkToken, used.link_id).expires_at = clock() - timedelta(days=1)  # type: ignore[union-attr]
        assignment = session.get(Assignment, revoked.assignment_id)
        assert assignment is not None
        issue_link(session, assignment, now=clock())  # the old letter is revoked
    unknown = "A" + expired.token[1:] if expired.token[0] != "A" else "B" + expired.token[1:]
    return {"unknown": unknown, "expired": expired, "revoked": revoked, "used": used}


def test_unknown_expired_revoked_and_used_links_get_the_same_page_byte_for_byte(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    bad = _four_bad_links(app, factory, clock)
    statements = _watch(app)
    pages = {}
    for kind, letter in bad.items():
        token = letter if isinstance(letter, str) else letter.token
        statements.seen.clear()
        page = _fresh(app).get(f"/svar/{token}")
        lookups = [s for s in statements.on_link_token() if s.lstrip().upper().startswith("SELECT")]
        assert len(lookups) == 1, (kind, lookups)  # one indexed look-up, whatever the kind
        assert page.status_code == 404, kind
        assert page.headers["Cache-Control"] == "no-store"
        pages[kind] = page.data
        assert token not in page.text
    assert len(set(pages.values())) == 1, pages.keys()
    text = pages["unknown"].decode()
    assert "Siden kan ikke åbnes" in text
    assert "Sølvstrand" not in text and "70 12 34 56" not in text  # names no municipality
    assert "telefonnummeret står i brevet" in text.lower()
    # A held cookie whose link has gone meets the very same page.
    held = _letter(factory, clock)
    client = _fresh(app)
    _open(client, held.token)
    with factory.begin() as session:
        session.get(LinkToken, held.link_id).revoked_at = clock()  # type: ignore[union-attr]
    gone = client.get("/svar/")
    assert gone.status_code == 404 and gone.data == pages["unknown"]


def _masked(text: str) -> str:
    text = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', text)
    return re.sub(r'(name="code"[^>]*value=")[^"]*"', r'\1"', text)


def test_bad_codes_get_the_form_again_with_one_message_and_one_status(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    bad = _four_bad_links(app, factory, clock)
    codes = {k: (v if isinstance(v, str) else v.code) for k, v in bad.items()}
    codes["unknown"] = "ABCD-EFGH-JKMN-PQRS-TUVW"
    statements = _watch(app)
    bodies = {}
    for kind, code in codes.items():
        client = _fresh(app)
        form = client.get("/k")
        statements.seen.clear()
        page = client.post("/k", data={"csrf_token": _csrf(form.text), "code": code.lower()})
        lookups = [s for s in statements.on_link_token() if s.lstrip().upper().startswith("SELECT")]
        assert len(lookups) == 1, kind
        assert page.status_code == 404, kind
        assert "Vi kan ikke finde et spørgeskema med den kode" in page.text
        bodies[kind] = _masked(page.text)
    assert len(set(bodies.values())) == 1
    # A code that cannot even be a code is refused the same way (and counted).
    client = _fresh(app)
    form = client.get("/k")
    odd = client.post("/k", data={"csrf_token": _csrf(form.text), "code": "0000-OOOO"})
    assert odd.status_code == 404 and _masked(odd.text) == bodies["unknown"]


def test_the_code_form_is_friendly_and_never_puts_the_code_in_a_url(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock)
    client = _fresh(app)
    form = client.get("/k")
    assert form.status_code == 200 and form.headers["Cache-Control"] == "no-store"
    assert "Skriv koden fra brevet" in form.text
    field = re.search(r"<input[^>]*name=\"code\"[^>]*>", form.text)
    assert field
    for attribute in (
        'autocapitalize="characters"',
        'inputmode="text"',
        'autocomplete="off"',
        'spellcheck="false"',
    ):
        assert attribute in field.group(0)
    assert re.search(r'<form method="post" action="/k"', form.text)
    empty = client.post("/k", data={"csrf_token": _csrf(form.text), "code": ""})
    assert empty.status_code == 200 and "Skriv koden fra brevet." in empty.text
    typed = " " + letter.code.lower().replace("-", " ") + " "
    opened = client.post("/k", data={"csrf_token": _csrf(form.text), "code": typed})
    assert opened.status_code == 303 and opened.location == "/svar/"
    assert letter.code not in opened.location and "code" not in opened.location
    assert client.get("/svar/").status_code == 200


def test_the_code_form_checks_its_csrf_token_before_looking_anything_up(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock)
    client = _fresh(app)
    client.get("/k")
    statements = _watch(app)
    stale = client.post("/k", data={"csrf_token": "stale", "code": letter.code})
    assert stale.status_code == 400 and "Siden har været åben længe" in stale.text
    assert statements.on_link_token() == []
    assert client.get("/svar/").status_code == 404  # nothing was opened
    with factory() as session:
        assert session.scalars(select(LinkAttempt)).all() == []  # and nothing counted


# --- rate limiting ---------------------------------------------------------------------------


def test_guessing_is_limited_per_client_across_app_processes_and_ends_by_itself(
    settings: Settings, factory: sessionmaker[Session], app: Flask, clock: Clock
) -> None:
    other_process = _make_app(settings, clock)  # a second app on the same database
    try:
        letter = _letter(factory, clock)
        refusal = _fresh(app).get("/svar/no-such-token").data  # failure 1
        attacker = _fresh(app)
        for n in range(MAX_FAILURES - 2):
            assert attacker.get(f"/svar/guess-{n}").status_code == 404
        assert _fresh(other_process).get(f"/svar/{letter.token}").status_code == 303  # not yet
        form = attacker.get("/k")
        attacker.post(
            "/k", data={"csrf_token": _csrf(form.text), "code": "2222-3333-4444-5555-6666"}
        )
        # That was the limit: the other process refuses at once, even the right link ...
        statements = _watch(other_process)
        limited = _fresh(other_process).get(f"/svar/{letter.token}")
        assert limited.status_code == 429
        assert limited.data == refusal  # the same calm page
        assert statements.on_link_token() == []  # and nothing was looked up
        form = _fresh(other_process).get("/k")
        coded = _fresh(other_process)
        page = coded.get("/k")
        blocked = coded.post("/k", data={"csrf_token": _csrf(page.text), "code": letter.code})
        assert blocked.status_code == 429 and form.status_code == 200
        # ... while another address is not held up,
        assert _fresh(other_process, "192.0.2.7").get(f"/svar/{letter.token}").status_code == 303
        # and once the window has passed, the legitimate letter works again.
        clock.advance(seconds=ATTEMPT_WINDOW.total_seconds())
        assert _fresh(other_process).get(f"/svar/{letter.token}").status_code == 303
        with factory() as session:
            keys = set(session.scalars(select(LinkAttempt.client_key)))
        secret = app.config["SECRET_KEY"]
        assert links.client_key(secret, "127.0.0.1") in keys
        assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in keys)
    finally:
        other_process.extensions["surveyapp.engine"].dispose()


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    settings: Settings, factory: sessionmaker[Session], clock: Clock
) -> None:
    from dataclasses import replace

    proxied = _make_app(replace(settings, trusted_proxies=1), clock)
    try:
        letter = _letter(factory, clock)
        for n in range(MAX_FAILURES):
            page = proxied.test_client().get(
                f"/svar/guess-{n}", headers={"X-Forwarded-For": "203.0.113.9"}
            )
            assert page.status_code == 404
        attacker = proxied.test_client().get(
            f"/svar/{letter.token}", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert attacker.status_code == 429
        relative = proxied.test_client().get(
            f"/svar/{letter.token}", headers={"X-Forwarded-For": "198.51.100.4"}
        )
        assert relative.status_code == 303  # the proxy's own address is not the client
    finally:
        proxied.extensions["surveyapp.engine"].dispose()


# --- a window that has not opened ------------------------------------------------------------


def test_a_questionnaire_not_open_yet_says_when_it_can_be_answered(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    clock.now = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    letter = _letter(factory, clock, "start_meeting", window_start=date(2027, 1, 12))
    with factory() as session:
        link = session.get(LinkToken, letter.link_id)
        assert link is not None  # valid 14 days from the day the window opens
        assert link.expires_at.astimezone(DENMARK).date() == date(2027, 1, 26)
    client = _fresh(app)
    _open(client, letter.token)
    page = client.get("/svar/")
    assert page.status_code == 200
    assert "Du kan svare fra den 12. januar 2027." in page.text
    assert "Start" not in re.sub(r"<title>.*?</title>", "", page.text)  # no way to begin
    assert 'name="csrf_token"' not in page.text
    assert client.post("/svar/start", data={"csrf_token": "x"}).status_code == 400
    token = _csrf(client.get("/k").text)
    assert client.post("/svar/start", data={"csrf_token": token}).location == "/svar/"
    assert client.get("/svar/1").location == "/svar/"
    with factory() as session:
        assert (
            session.scalars(
                select(Response).where(Response.assignment_id == letter.assignment_id)
            ).all()
            == []
        )
    clock.now = datetime(2027, 1, 12, 7, 0, tzinfo=UTC)  # the morning it opens
    _open(client, letter.token)
    assert _begin(client) == "/svar/1"
    assert "Du kan svare fra" not in client.get("/svar/1").text


# --- who is asking, about whom ---------------------------------------------------------------


def test_the_pages_say_who_asks_about_whom_and_how_the_answers_are_used(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock, "start_meeting", letter_name="Karen")
    client = _fresh(app)
    _open(client, letter.token)
    start = client.get("/svar/")
    assert "Sølvstrand Kommune, Sundhed og Omsorg beder dig svare på nogle spørgsmål." in start.text
    assert "Spørgsmålene handler om Karens rehabiliteringsforløb hos Hjemmeplejen." in start.text
    assert 'href="/svar/om"' in start.text
    about = client.get("/svar/om")
    assert about.status_code == 200 and about.headers["Cache-Control"] == "no-store"
    for expected in (
        "Om undersøgelsen",
        "Karens rehabiliteringsforløb",
        "vurdere og forbedre",
        "De medarbejdere, der arbejder med forløbet, kan se svarene.",
        "grupper på mindst 3 personer",
        "Sølvstrand Kommune har ansvaret for oplysningerne (er dataansvarlig).",
        "Formålet er",
        "en del af kommunens opgaver",
        "Derefter slettes de",
        "trække dine svar tilbage",
        "Datatilsynet",
        'href="tel:70123456"',
        "70 12 34 56",
        "(hverdage 8–15)",
        'href="mailto:rehab@solvstrand.example"',
        "Du bliver ikke spurgt om dit navn eller dit CPR-nummer.",
    ):
        assert expected in about.text, expected
    _begin(client)
    question = client.get("/svar/1")
    assert 'href="/svar/om"' in question.text  # linked from every page
    for page in (start, about, question, client.get("/svar/tak")):
        assert LABEL not in page.text
    with factory() as session:
        citizen = session.get(Citizen, letter.citizen_id)
        assert citizen is not None and citizen.label == LABEL


@pytest.mark.parametrize(
    ("name", "respondent", "expected"),
    [
        (None, Respondent.RELATIVE, "om dit familiemedlems rehabiliteringsforløb"),
        ("Lars", Respondent.RELATIVE, "om Lars' rehabiliteringsforløb"),
        ("Karen", Respondent.CITIZEN, "om dit eget rehabiliteringsforløb"),
    ],
)
def test_about_whom_uses_the_first_name_only_if_one_was_typed(
    app: Flask,
    factory: sessionmaker[Session],
    clock: Clock,
    name: str | None,
    respondent: Respondent,
    expected: str,
) -> None:
    letter = _letter(factory, clock, "start_meeting", respondent, letter_name=name, contact=False)
    client = _fresh(app)
    _open(client, letter.token)
    start = client.get("/svar/")
    assert expected in html.unescape(start.text)
    assert "Sølvstrand Kommune beder dig svare på nogle spørgsmål." in start.text
    about = client.get("/svar/om")
    # No contact line given by the municipality: the letter has the phone number.
    assert "Telefonnummeret står i brevet." in about.text and "tel:" not in about.text
    assert ("CPR-nummer" in about.text) is (respondent is Respondent.RELATIVE)


def test_an_english_letter_opens_in_english(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock, "start_meeting", language="en", letter_name="Karen")
    client = _fresh(app)
    _open(client, letter.token)
    start = client.get("/svar/")
    assert '<html lang="en"' in start.text
    text = html.unescape(start.text)
    assert "The questions are about Karen's rehabilitation course with Hjemmeplejen." in text


# --- the WHODAS forms as a relative sees them -----------------------------------------------


def test_the_proxy_form_shows_the_stem_only_above_its_activities_and_saves_who_answered(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock, "whodas12_proxy")
    client = _fresh(app)
    _open(client, letter.token)
    start = client.get("/svar/")
    assert "Der er 13 spørgsmål" in start.text and "12 spørgsmål" not in start.text
    _begin(client)
    stem = "Hvor store vanskeligheder har din pårørende inden for de seneste 30 dage haft med at:"
    for number in range(1, 13):
        page = client.get(f"/svar/{number}")
        assert f"Spørgsmål {number} af 13" in page.text
        assert (stem in page.text) is (number not in (4, 5)), number
        _answer(client, number, f"S{number}", "2")
    relationship = client.get("/svar/13")
    assert stem not in relationship.text
    assert "Jeg er denne persons" in relationship.text
    assert _answer(client, 13, "H4", "3") == "/svar/tak"
    with factory() as session:
        response = session.scalars(
            select(Response).where(Response.assignment_id == letter.assignment_id)
        ).one()
        answers = {a.item_id: (a.state, a.value) for a in response.answers}
        assert answers["H4"] == (AnswerState.ANSWERED, 3)  # "Søn eller datter"
        assert response.respondent is Respondent.RELATIVE


def test_whodas_day_questions_stand_alone_and_skipping_keeps_every_check(
    app: Flask, factory: sessionmaker[Session], clock: Clock
) -> None:
    letter = _letter(factory, clock, "whodas12", Respondent.CITIZEN)
    client = _fresh(app)
    _open(client, letter.token)
    assert "Der er 15 spørgsmål" in client.get("/svar/").text
    _begin(client)
    stem = "Hvor store vanskeligheder har du inden for de seneste 30 dage haft med at:"
    assert stem in client.get("/svar/1").text
    for number in range(1, 13):
        _answer(client, number, f"S{number}", "2")
    day = client.get("/svar/13")
    assert "Spørgsmål 13 af 15" in day.text and stem not in day.text
    # Skipping with a stale CSRF token is refused like an answer would be ...
    stale = client.post("/svar/13", data={"csrf_token": "stale", "H1": "", "skip": "1"})
    assert stale.status_code == 400 and "Siden har været åben længe" in stale.text
    # ... and a skip may not smuggle in an answer.
    assert _answer(client, 13, "H1", "99", skip="1") == "/svar/14"
    assert _answer(client, 14, "H2", "4") == "/svar/15"
    assert stem not in client.get("/svar/15").text
    assert _answer(client, 15, "H3", "", skip="1") == "/svar/tak"
    with factory() as session:
        response = session.scalars(
            select(Response).where(Response.assignment_id == letter.assignment_id)
        ).one()
        answers = {a.item_id: a.value for a in response.answers}
        assert "H1" not in answers and answers["H2"] == 4 and "H3" not in answers


# --- the citizen page keeps a relative's answers apart -----------------------------------------


class _ScoreTable(HTMLParser):
    """The first score table of a page: header labels and rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = self._done = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "scores") in attrs and not self._done:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._in_table:
            self._in_table, self._done = False, True
        elif self._in_table and tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_a_relatives_answers_never_land_in_the_citizens_own_columns(
    app: Flask, settings: Settings, factory: sessionmaker[Session], clock: Clock
) -> None:
    from surveyapp.services.courses import create_course, default_plan
    from tests.support.staff import home_course, load_small_demo, login

    load_small_demo(factory, settings)
    demo = home_course(factory)
    today = clock().astimezone(DENMARK).date()
    with factory.begin() as session:
        earlier = session.get(Course, demo.id)
        assert earlier is not None
        course = create_course(  # a new course: the citizen page shows the newest first
            session,
            citizen=earlier.citizen,
            provider=earlier.provider,
            team=earlier.team,
            plan=default_plan(session),
            start_date=today,
            today=today,
        )
        letters = {}
        for instrument, respondent in (
            ("start_meeting", Respondent.CITIZEN),
            ("start_meeting", Respondent.RELATIVE),
            ("whodas12_proxy", Respondent.RELATIVE),
        ):
            target = factories.assignment(course, instrument, respondent)
            letters[(instrument, respondent)] = issue_link(session, target, now=clock()).token
    own, relative = _fresh(app), _fresh(app, "10.0.0.8")
    _open(own, letters[("start_meeting", Respondent.CITIZEN)])
    _begin(own)
    for number in range(1, 5):
        _answer(own, number, f"sm_{number}", "9")
    _open(relative, letters[("start_meeting", Respondent.RELATIVE)])
    _begin(relative)
    for number in range(1, 5):
        _answer(relative, number, f"sm_{number}", "2")
    _open(relative, letters[("whodas12_proxy", Respondent.RELATIVE)])
    _begin(relative)
    for number in range(1, 13):
        _answer(relative, number, f"S{number}", "3")
    assert _answer(relative, 13, "H4", "1") == "/svar/tak"
    staff = _fresh(app, "10.0.0.9")
    assert login(staff, "koordinator").status_code == 302
    page = staff.get(f"/staff/citizens/{demo.citizen_id}")
    assert page.status_code == 200
    parser = _ScoreTable()
    parser.feed(page.text)  # the newest course comes first
    header, *rows = parser.rows
    cells = dict(zip(header, rows[0], strict=True))
    mean = "Opstartsmødet, gennemsnit af besvarede spørgsmål (0–10)"
    assert cells[mean] == "9"
    assert cells[f"{mean} (pårørende)"] == "2"
    proxy = "WHODAS-12 funktionsevne (0–100, pårørendes svar) (pårørende)"
    raw = "(WHODAS-12 sumscore (12–60, pårørendes svar))"
    assert cells[proxy + raw] == "50 (36)"  # the percentage with its raw sum beside it
    # The proxy answers make no column of the citizen's own WHODAS-12.
    assert [h for h in header if "WHODAS" in h] == [proxy + raw]
