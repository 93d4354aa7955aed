"""Shared pieces of the load benchmarks: links made in the database, a cheap keep-alive client,
the WHO-5-by-link walk (timed per request type) and the CPU time of the server's processes.

Used by bench/load_bench.py (and meant for bench/login_bench.py: `make_links`, `answer_one`,
`cpu_seconds`). Nothing here parses HTML beyond one regex for the CSRF field.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.sessions import SecureCookieSessionInterface  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from surveyapp.db import make_engine, make_session_factory  # noqa: E402
from surveyapp.enums import (  # noqa: E402
    KioskState,
    Respondent,
    Role,
)
from surveyapp.models import (  # noqa: E402
    Assignment,
    Citizen,
    KioskSession,
    Municipality,
    Provider,
    StaffUser,
    Team,
    utcnow,
)
from surveyapp.scheduling import today_in_denmark  # noqa: E402
from surveyapp.security import hash_secret, new_token, token_hash  # noqa: E402
from surveyapp.services.courses import create_course, default_plan  # noqa: E402
from surveyapp.services.links import create_link  # noqa: E402
from tests.support import factories  # noqa: E402
from tests.support.serving import remember_cookies, request_parts  # noqa: E402

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
WHO5_ITEMS = 5

#: The request types of one WHO-5 by link, in the order they are sent (14 requests).
KINDS = ("open link", "start page", "begin", "question", "answer", "last answer", "thank-you")
#: ... and on a kiosk tablet (17 requests).
KIOSK_KINDS = (
    "handover",
    "begin visit",
    "next screen",
    "start page",
    "begin",
    "question",
    "answer",
    "last answer",
    "thank-you",
    "hand-back",
)
KIOSK_COOKIE = "__Host-session"  # the session cookie's name in production

# --- links prepared in the database (not timed) ---------------------------------------------


def make_links(
    url: str,
    count: int,
    *,
    municipality_code: str = "990",
    coordinator_password_hash: str | None = None,
) -> list[str]:
    """`count` new WHO-5 baseline links (one citizen and course each) in one municipality.

    The municipality, its provider and team are made on the first call and found again on
    later ones, so a benchmark can add links between its rounds. With
    `coordinator_password_hash` a coordinator `koordinator` is made with it (first call only).
    """
    return _prepare(
        url,
        count,
        lambda session, target, _municipality: create_link(session, target),
        municipality_code,
        coordinator_password_hash,
    )


def make_visits(url: str, count: int, *, municipality_code: str = "990") -> list[str]:
    """`count` kiosk visits, each a tablet handed over for one citizen's WHO-5 baseline (one
    citizen and course each), as a coordinator's "start the visit" leaves them; returns the
    grants (the value the tablet's cookie session holds, `kiosk_cookie`)."""
    staff: dict[str, int] = {}

    def visit(session: Session, target: Assignment, municipality: Municipality) -> str:
        if "id" not in staff:
            user = session.scalar(select(StaffUser).where(StaffUser.username == "kiosk-bench"))
            if user is None:
                user = StaffUser(
                    username="kiosk-bench",
                    full_name="Kiosk Bench",
                    role=Role.COORDINATOR,
                    municipality_id=municipality.id,
                    password_hash=hash_secret(secrets.token_urlsafe(16)),
                    kiosk_pin_hash=hash_secret("2468"),
                )
                session.add(user)
                session.flush()
            staff["id"] = user.id
        grant = new_token()
        now = utcnow()
        session.add(
            KioskSession(
                grant_hash=token_hash(grant),
                staff_user_id=staff["id"],
                municipality_id=municipality.id,
                citizen_id=target.course.citizen_id,
                assignment_ids=[target.id],
                state=KioskState.HANDOVER,
                staff_login_at=now,
                started_at=now,
                last_activity_at=now,
            )
        )
        return grant

    return _prepare(url, count, visit, municipality_code, None)


def kiosk_cookie(secret_key: str, grant: str) -> str:
    """The signed cookie session of a tablet holding the grant (Flask's own signing)."""
    signer = Flask("kiosk-cookie")
    signer.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    assert serializer is not None
    return str(serializer.dumps({"kiosk_grant": grant}))


def _prepare(
    url: str,
    count: int,
    hand_out: Callable[[Session, Assignment, Municipality], str],
    municipality_code: str,
    coordinator_password_hash: str | None,
) -> list[str]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    today = today_in_denmark()
    tokens: list[str] = []
    with factory.begin() as session:
        municipality = session.scalar(
            select(Municipality).where(Municipality.code == municipality_code)
        )
        if municipality is None:
            _first, provider, team = factories.organisation(
                session, municipality_name="Bench Kommune", code=municipality_code
            )
            municipality = provider.municipality
            if coordinator_password_hash is not None:
                factories.coordinator(
                    session,
                    municipality.id,
                    coordinator_password_hash,
                    full_name="Bench Koordinator",
                )
        else:
            provider = session.scalars(
                select(Provider).where(Provider.municipality_id == municipality.id)
            ).first()
            team = session.scalars(select(Team).where(Team.provider_id == provider.id)).first()  # type: ignore[union-attr]
        first = session.scalar(
            select(Citizen.id)
            .where(Citizen.municipality_id == municipality.id)
            .order_by(Citizen.id.desc())
        )
        offset = (first or 0) + 1
        plan = default_plan(session)
        for number in range(offset, offset + count):
            citizen = factories.citizen(
                session, municipality.id, f"{municipality_code}{number:061x}", f"B{number}"
            )
            course = create_course(
                session,
                citizen=citizen,
                provider=provider,  # type: ignore[arg-type]
                team=team,
                plan=plan,
                start_date=today,
                today=today,
            )
            target = next(
                a
                for a in course.assignments
                if a.instrument_id == "who5"
                and a.respondent is Respondent.CITIZEN
                and a.timepoint_key == "baseline"
            )
            tokens.append(hand_out(session, target, municipality))
    engine.dispose()
    return tokens


# --- a cheap client -------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    location: str
    body: str

    def csrf(self) -> str:
        match = CSRF.search(self.body)
        return match.group(1) if match else ""


class RequestFailed(Exception):
    """A reply that breaks the walk (wrong status), or no reply in time."""


Record = Callable[[str, float, bool], None]


@dataclass
class KeepAliveClient:
    """One phone: a cookie jar and one HTTP/1.1 connection, kept open while the server keeps
    it (gunicorn's sync workers close it after every reply; then the next request connects
    again). `record(kind, milliseconds, ok)` is called for every request."""

    port: int
    record: Record | None = None
    host: str = "127.0.0.1"
    timeout: float = 10
    cookies: dict[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    _connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self, kind: str, method: str, path: str, form: Mapping[str, str] | None = None
    ) -> Answer:
        headers, body = request_parts(self.headers, self.cookies, form)
        began = time.perf_counter()
        try:
            answer = self._send(method, path, body, headers)
        except (OSError, http.client.HTTPException) as error:
            self.close()
            if self.record:
                self.record(kind, (time.perf_counter() - began) * 1000, False)
            raise RequestFailed(f"{method} {path}: {error!r}") from error
        if self.record:
            self.record(kind, (time.perf_counter() - began) * 1000, answer.status < 400)
        return answer

    def _send(self, method: str, path: str, body: str | None, headers: dict[str, str]) -> Answer:
        reused = self._connection is not None
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout
            )
        try:
            self._connection.request(method, path, body=body, headers=headers)
            response = self._connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.close()
            if not reused:
                raise
            # the server closed the kept connection before reading this request: send it again
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout
            )
            self._connection.request(method, path, body=body, headers=headers)
            response = self._connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        remember_cookies(
            self.cookies, [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
        )
        if response.will_close:
            self.close()
        return Answer(response.status, response.getheader("Location") or "", text)


def _expect(answer: Answer, status: int, what: str) -> Answer:
    if answer.status != status:
        raise RequestFailed(f"{what}: {answer.status}, expected {status}")
    return answer


def walk_who5(client: KeepAliveClient, token: str, value: str = "3") -> None:
    """A whole WHO-5 by link, as a phone answers it: open the link, the start page, begin,
    five questions each shown and answered, the thank-you page (14 requests). Raises
    RequestFailed at the first reply that is not the expected one."""
    _expect(client.request("open link", "GET", f"/svar/{token}"), 303, "open link")
    start = _expect(client.request("start page", "GET", "/svar/"), 200, "start page")
    csrf = start.csrf()
    location = _expect(
        client.request("begin", "POST", "/svar/start", {"csrf_token": csrf}), 303, "begin"
    ).location
    location = _five_questions(client, location, "/svar", csrf, value)
    _expect(client.request("thank-you", "GET", _path(location)), 200, "thank-you")


def walk_kiosk(client: KeepAliveClient, cookie: str, value: str = "3") -> None:
    """A whole WHO-5 on a kiosk tablet, from the hand-over screen to the hand-back screen
    (17 requests): `cookie` is the tablet's session (kiosk_cookie)."""
    client.cookies[KIOSK_COOKIE] = cookie
    handover = _expect(client.request("handover", "GET", "/kiosk/"), 200, "handover")
    csrf = handover.csrf()
    begun = client.request("begin visit", "POST", "/kiosk/begin", {"csrf_token": csrf})
    _expect(begun, 303, "begin visit")
    first = _expect(client.request("next screen", "GET", "/kiosk/"), 303, "next screen")
    start = _expect(client.request("start page", "GET", _path(first.location)), 200, "start")
    location = _expect(
        client.request("begin", "POST", "/kiosk/1/start", {"csrf_token": start.csrf()}),
        303,
        "begin",
    ).location
    location = _five_questions(client, location, "/kiosk/1", csrf, value)
    _expect(client.request("thank-you", "GET", _path(location)), 303, "thank-you")
    _expect(client.request("hand-back", "GET", "/kiosk/"), 200, "hand-back")


def _five_questions(
    client: KeepAliveClient, location: str, base: str, csrf: str, value: str
) -> str:
    """Each WHO-5 question shown and answered; the Location after the last (base/tak)."""
    for number in range(1, WHO5_ITEMS + 1):
        _expect(client.request("question", "GET", _path(location)), 200, f"question {number}")
        kind = "last answer" if number == WHO5_ITEMS else "answer"
        sent = client.request(
            kind, "POST", f"{base}/{number}", {"csrf_token": csrf, f"who5_{number}": value}
        )
        location = _expect(sent, 303, kind).location
    if not location.endswith(f"{base}/tak"):
        raise RequestFailed(f"after the last answer: {location}")
    return location


def _path(location: str) -> str:
    """The path of a Location header (absolute or not)."""
    if location.startswith("http"):
        return "/" + location.split("/", 3)[3]
    return location


def answer_one(port: int, token: str) -> bool:
    """A whole WHO-5 by link on a fresh client: True when it ended on the thank-you page."""
    client = KeepAliveClient(port)
    try:
        walk_who5(client, token)
    except RequestFailed:
        return False
    finally:
        client.close()
    return True


# --- CPU time of the server's processes -------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """utime+stime of a process and of its children, with the children it has already reaped
    (cutime/cstime): gunicorn's master and workers, also workers replaced since
    (max_requests); the postmaster and its backends, also backends that have ended."""
    try:
        master = _stat(pid)
    except FileNotFoundError:
        return 0.0
    total = sum(int(v) for v in master[11:15])  # utime, stime, cutime, cstime
    for child in _children(pid):
        try:
            fields = _stat(child)
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def cpu_seconds(gunicorn: object) -> float:
    """CPU time of gunicorn's master and every worker so far (tests/support/serving.Gunicorn)."""
    process = gunicorn.process  # type: ignore[attr-defined]
    assert process is not None
    return tree_cpu_seconds(process.pid)


def postmaster_pid(data_dir: Path) -> int:
    """The PostgreSQL server's main process, from its postmaster.pid."""
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def own_cpu_seconds() -> float:
    """This process's CPU time (every thread): the client's own cost."""
    times = os.times()
    return times.user + times.system


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0
