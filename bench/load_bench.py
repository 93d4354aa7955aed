"""Load benchmark: phones answering whole WHO-5 questionnaires by link against real gunicorn
(2 workers, gunicorn.conf.py) on PostgreSQL and on SQLite, beside a bare Flask floor.

    .venv/bin/python bench/load_bench.py                  # both databases, 4/16/50 clients
    .venv/bin/python bench/load_bench.py --quick          # a smoke check, about 2 minutes
    .venv/bin/python bench/load_bench.py --db postgresql --clients 16 --seconds 15 --rounds 4

For each database it starts a throw-away server (PostgreSQL 15 from tests/support/pg.py, or
one SQLite file in WAL mode), migrates it, and starts two gunicorns with the same settings:
the app (surveyapp.wsgi:app) and the floor (bench/floor_app.py: the same 14 requests, a page of
the same size, a CSRF-like field, the cookie session, one INSERT per answer). Then, per level of
concurrent clients, short rounds alternate app / floor / app / floor so that the machine's
noise hits both alike. Links are made in the database before each round (not timed). Each
client is a thread with one keep-alive http.client connection and a cookie jar
(bench/loadkit.py); a walk is abandoned when its round ends.

Printed per database and level, for app and floor: questionnaires per second (the requests
answered / 14, so that walks cut by the round's end count for what they did), p50/p95/p99 per
request type, errors (status >= 400, timeouts, refused connections), the server's CPU per
questionnaire (utime+stime of gunicorn's master and workers from /proc; PostgreSQL's
processes apart), the client's own CPU, and app/floor. Before the rounds: the SQL statements
per request type (the app in-process with an SQLAlchemy listener, one walk), and the time of
one question page at concurrency 1 (median of --serial requests: gunicorn's own request time
from the access log, the client's round trip, and in-process with Flask's test client). At the
end the issue's targets beside the figures. Figures, not a test: nothing passes or fails.
Bounded: every request has a timeout, every round its length; processes and temporary
directories are removed on the way out (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, func, select, text  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from bench.floor_app import table_sql  # noqa: E402
from bench.loadkit import (  # noqa: E402
    KINDS,
    KIOSK_KINDS,
    Answer,
    KeepAliveClient,
    RequestFailed,
    cpu_seconds,
    kiosk_cookie,
    make_links,
    make_visits,
    own_cpu_seconds,
    postmaster_pid,
    tree_cpu_seconds,
    walk_kiosk,
    walk_who5,
)
from surveyapp.db import make_engine, upgrade  # noqa: E402
from surveyapp.models import Response  # noqa: E402
from tests.support.answering import migrated  # noqa: E402
from tests.support.offline import session_key_dir  # noqa: E402
from tests.support.pg import TempPostgres  # noqa: E402
from tests.support.serving import Gunicorn  # noqa: E402

REQUESTS_PER_WALK = 14
REQUESTS_PER_KIOSK_WALK = 17
SECRET = "load-bench-secret-key-" + "s" * 40  # noqa: S105
CPR_KEY = "load-bench-cpr-hmac-key-" + "c" * 40
LEVELS = (4, 16, 50)
#: The first round's guess of the app's rate (links made before it); later rounds use the
#: best rate seen so far.
FIRST_GUESS_PER_SECOND = 30.0


# --- one round --------------------------------------------------------------------------------


@dataclass
class Round:
    side: str  # "app", "kiosk" or "floor"
    clients: int
    per_walk: int = REQUESTS_PER_WALK  # requests of one whole questionnaire
    seconds: float = 0.0
    completed: int = 0  # whole questionnaires
    requests: int = 0  # requests answered with the expected status
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    client_cpu: float = 0.0
    ran_out: bool = False  # the prepared links ran out before the round's end
    load: float = 0.0  # the machine's 1-minute load average at the round's end
    restarts: int = 0  # gunicorn workers new since the round began (max_requests; at least)

    @property
    def per_second(self) -> float:
        return self.requests / self.per_walk / self.seconds if self.seconds else 0.0


class _Stop(Exception):
    """The round is over: the walk under way is abandoned."""


def run_round(
    side: str,
    port: int,
    clients: int,
    seconds: float,
    tokens: Iterator[str],
    server_cpu: Callable[[], float],
    db_cpu: Callable[[], float],
    timeout: float = 10.0,
    walk: Callable[[KeepAliveClient, str], None] = walk_who5,
    kinds: tuple[str, ...] = KINDS,
    workers: Callable[[], list[int]] = list,
) -> Round:
    """`clients` threads answer whole questionnaires for `seconds`, one token each (a link's,
    or with `walk=walk_kiosk` a tablet's cookie)."""
    per_walk = REQUESTS_PER_KIOSK_WALK if walk is walk_kiosk else REQUESTS_PER_WALK
    result = Round(side, clients, per_walk)
    lock = threading.Lock()
    stop_at = 0.0

    def client_thread() -> None:
        latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
        errors: Counter[str] = Counter()
        completed = requests = 0

        def record(kind: str, ms: float, ok: bool) -> None:
            nonlocal requests
            latencies[kind].append(ms)
            if ok:
                requests += 1
            if time.monotonic() >= stop_at:
                raise _Stop

        while time.monotonic() < stop_at:
            with lock:
                token = next(tokens, None)
            if token is None:
                result.ran_out = True
                break
            client = KeepAliveClient(port, record=record, timeout=timeout)
            try:
                walk(client, token)
                completed += 1
            except _Stop:
                break
            except RequestFailed as error:
                errors[_error_kind(str(error))] += 1
            finally:
                client.close()
        with lock:
            result.completed += completed
            result.requests += requests
            result.errors.update(errors)
            for kind, values in latencies.items():
                result.latencies.setdefault(kind, []).extend(values)

    threads = [threading.Thread(target=client_thread, daemon=True) for _ in range(clients)]
    before = (server_cpu(), db_cpu(), own_cpu_seconds())
    first_workers = set(workers())
    began = time.perf_counter()
    stop_at = time.monotonic() + seconds
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 3 * timeout)
    finally:
        stop_at = 0.0  # on Ctrl-C too: every client stops after its current request
    result.seconds = time.perf_counter() - began
    result.server_cpu = server_cpu() - before[0]
    result.db_cpu = db_cpu() - before[1]
    result.client_cpu = own_cpu_seconds() - before[2]
    result.load = load_average()
    result.restarts = len(set(workers()) - first_workers)
    return result


def load_average() -> float:
    """The 1-minute load average (runnable processes; this machine has os.cpu_count() cores)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _error_kind(message: str) -> str:
    """'question 3: 500, expected 200' -> 'question 500'; timeouts and refusals by name."""
    if "timed out" in message or "TimeoutError" in message:
        return "timeout"
    if "Refused" in message or "Reset" in message or "Disconnected" in message:
        return "connection"
    head, _, rest = message.partition(": ")
    return f"{head.rstrip(' 0123456789')} {rest.split(',')[0]}"


# --- the servers ------------------------------------------------------------------------------


@dataclass
class Stack:
    """The database (migrated, the floor's table made) and, after `serve`, both gunicorns."""

    db: str  # "postgresql" or "sqlite"
    url: str
    tmp: Path
    postgres: TempPostgres | None
    started: list[Gunicorn] = field(default_factory=list)

    @property
    def app(self) -> Gunicorn:
        return self.started[0]

    @property
    def floor(self) -> Gunicorn:
        return self.started[1]

    def db_cpu(self) -> float:
        if self.postgres is None:
            return 0.0
        return tree_cpu_seconds(postmaster_pid(self.postgres.data))

    def serve(self, page_bytes: int) -> None:
        """Start the app's and the floor's gunicorn (the floor's page of `page_bytes`)."""
        environ = {
            "SURVEYAPP_ENV": "production",
            "SURVEYAPP_DATABASE_URL": self.url,
            "SURVEYAPP_SECRET_KEY": SECRET,
            "SURVEYAPP_CPR_HMAC_KEY": CPR_KEY,
            "SURVEYAPP_PUBLIC_URL": "https://surveyapp.example.dk",
            "SURVEYAPP_OFFLINE_KEY_DIR": str(session_key_dir()),
            "FLOOR_DATABASE_URL": self.url,
            "FLOOR_PAGE_BYTES": str(page_bytes),
        }
        for name, module in (("app", "surveyapp.wsgi:app"), ("floor", "bench.floor_app:app")):
            server = Gunicorn(
                {
                    **environ,
                    "WEB_CONCURRENCY": "2",
                    "GUNICORN_WORKER_CLASS": "sync",
                    "GUNICORN_LOGLEVEL": "warning",
                },
                self.tmp / f"{name}.log",
                "--access-logfile",
                str(self.tmp / f"{name}-access.log"),
                # gunicorn's own request time in microseconds (%(D)s) beside the usual atoms
                "--access-logformat",
                '%(h)s "%(r)s" %(s)s %(b)s %(D)sus',
                app=module,
            )
            self.started.append(server)
            server.start()


def prepare_database(url: str) -> None:
    """Migrated as `surveyapp migrate` leaves it, and the floor's table."""
    upgrade(url)
    engine, _ = migrated(url)
    with engine.begin() as conn:
        conn.execute(text(table_sql(url)))
    engine.dispose()


@contextmanager
def stack(db: str) -> Iterator[Stack]:
    """A throw-away database; its servers and files are removed on the way out."""
    tmp = Path(tempfile.mkdtemp(prefix=f"load-bench-{db}-"))
    postgres: TempPostgres | None = None
    servers: Stack | None = None
    try:
        if db == "postgresql":
            postgres = TempPostgres()
            postgres.start()
            admin = create_engine(postgres.admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("CREATE DATABASE bench"))
            admin.dispose()
            url = postgres.admin_url.replace("/postgres?", "/bench?")
        else:
            url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        prepare_database(url)
        servers = Stack(db, url, tmp, postgres)
        yield servers
    finally:
        for server in servers.started if servers else ():
            server.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --- in-process: SQL statements per request type, and one question page -------------------------


def _csrf(page: str) -> str:
    return Answer(200, "", page).csrf()


class _TestClientAdapter:
    """Flask's test client behind KeepAliveClient's `request`, counting SQL per request."""

    def __init__(self, client: Any, counter: list[int], record: Callable[[str, float, int], None]):
        self.client = client
        self.counter = counter
        self.record = record

    def request(self, kind: str, method: str, path: str, form: Any = None) -> Answer:
        before = self.counter[0]
        began = time.perf_counter()
        reply = self.client.open(path, method=method, data=form)
        ms = (time.perf_counter() - began) * 1000
        self.record(kind, ms, self.counter[0] - before)
        return Answer(reply.status_code, reply.headers.get("Location", ""), reply.text)


@dataclass
class InProcess:
    statements: dict[str, list[int]]
    question_ms: float  # median of one question page, the WSGI app called in this process
    question_bytes: int
    samples: int


def in_process(url: str, serial: int) -> InProcess:
    """One walk through the app in this process (statements counted per request type), then
    `serial` GETs of a question page, timed."""
    from surveyapp.app import create_app
    from surveyapp.config import Settings

    settings = Settings(env="test", database_url=url, secret_key=SECRET, cpr_hmac_key=CPR_KEY)
    app = create_app(settings, WTF_CSRF_ENABLED=True)
    engine = app.extensions["surveyapp.engine"]
    counter = [0]

    def count(*_args: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    statements: dict[str, list[int]] = {kind: [] for kind in KINDS}
    token, other = make_links(url, 2)
    adapter = _TestClientAdapter(
        app.test_client(), counter, lambda kind, _ms, n: statements[kind].append(n)
    )
    walk_who5(adapter, token)  # type: ignore[arg-type]
    # the question page timed as gunicorn's worker calls it: the WSGI app, environ to last byte
    browser = app.test_client()
    browser.get(f"/svar/{other}")
    page = browser.get("/svar/")
    browser.post("/svar/start", data={"csrf_token": _csrf(page.text)})
    cookie = browser.get_cookie("session")
    assert cookie is not None
    times: list[float] = []
    size = 0
    for _ in range(serial):
        environ = EnvironBuilder(
            path="/svar/1", headers={"Cookie": f"session={cookie.value}"}
        ).get_environ()
        began = time.perf_counter()
        body = b"".join(app(environ, lambda *_a: None))
        times.append((time.perf_counter() - began) * 1000)
        size = len(body)
    event.remove(engine, "before_cursor_execute", count)
    engine.dispose()
    return InProcess(statements, statistics.median(times), size, len(times))


@dataclass
class Serial:
    client_ms: float  # median round trip
    server_ms: float  # median of gunicorn's own request time (access log)
    samples: int


def serial_question(server: Gunicorn, access_log: Path, token: str, count: int) -> Serial:
    """`count` GETs of one question page at concurrency 1."""
    times: list[float] = []
    client = KeepAliveClient(
        server.port, record=lambda kind, ms, ok: times.append(ms) if kind == "question" else None
    )
    client.request("open link", "GET", f"/svar/{token}")
    start = client.request("start page", "GET", "/svar/")
    client.request("begin", "POST", "/svar/start", {"csrf_token": start.csrf()})
    mark = access_log.stat().st_size if access_log.exists() else 0
    for _ in range(count):
        reply = client.request("question", "GET", "/svar/1")
        if reply.status != 200:
            raise RequestFailed(f"question page at concurrency 1: {reply.status}")
    client.close()
    server_us: list[float] = []
    deadline = time.monotonic() + 5
    while len(server_us) < count and time.monotonic() < deadline:
        with access_log.open("rb") as log:
            log.seek(mark)
            lines = log.read().decode("utf-8", "replace").splitlines()
        server_us = [
            float(line.rsplit(" ", 1)[1].removesuffix("us"))
            for line in lines
            if '"GET /svar/1 ' in line and line.endswith("us")
        ]
        if len(server_us) < count:
            time.sleep(0.2)
    return Serial(
        statistics.median(times),
        statistics.median(server_us) / 1000 if server_us else float("nan"),
        len(times),
    )


# --- the whole run -----------------------------------------------------------------------------


@dataclass
class DbRun:
    db: str
    statements: dict[str, list[int]]
    inproc: InProcess
    serial_app: Serial
    serial_floor: Serial
    rounds: list[Round] = field(default_factory=list)
    stored: int = 0  # submitted responses in the database after the rounds
    floor_rows: int = 0
    expected_app: int = 0  # questionnaires the app rounds completed
    expected_floor: int = 0  # and the floor's
    expected_kiosk: int = 0  # and the kiosks'


def run_db(db: str, args: argparse.Namespace, out: Callable[[str], None]) -> DbRun:
    out(f"\n== {db}: starting the database and two gunicorns (app, floor), 2 sync workers each")
    with stack(db) as servers:
        inproc = in_process(servers.url, args.serial)
        servers.serve(inproc.question_bytes)
        token = make_links(servers.url, 1)[0]
        serial_app = serial_question(
            servers.app, servers.tmp / "app-access.log", token, args.serial
        )
        serial_floor = serial_question(
            servers.floor, servers.tmp / "floor-access.log", secrets.token_hex(16), args.serial
        )
        run = DbRun(db, inproc.statements, inproc, serial_app, serial_floor)
        out(
            f"question page at concurrency 1 (median of {args.serial}): app "
            f"{serial_app.server_ms:.2f} ms in gunicorn ({serial_app.client_ms:.2f} ms round trip, "
            f"{inproc.question_ms:.2f} ms in-process), floor {serial_floor.server_ms:.2f} ms "
            f"({serial_floor.client_ms:.2f} ms); page {inproc.question_bytes} bytes"
        )
        best = FIRST_GUESS_PER_SECOND
        pool: list[str] = []
        visits: list[str] = []
        for clients in args.clients:
            for number in range(args.rounds):
                for side in ("app", "kiosk", "floor") if args.kiosk else ("app", "floor"):
                    walk, kinds = walk_who5, KINDS
                    if side == "kiosk":
                        need = int(clients + best * 1.5 * args.seconds) + 20 - len(visits)
                        made = time.perf_counter()
                        visits.extend(
                            kiosk_cookie(SECRET, grant)
                            for grant in make_visits(servers.url, max(need, 0))
                        )
                        supply = _drain(visits)
                        prepared = (
                            f", {max(need, 0)} visits made in {time.perf_counter() - made:.1f} s"
                        )
                        server = servers.app
                        walk, kinds = walk_kiosk, KIOSK_KINDS
                    elif side == "app":
                        # links left unopened by the last round are used first
                        need = int(clients + best * 1.5 * args.seconds) + 20 - len(pool)
                        made = time.perf_counter()
                        pool.extend(make_links(servers.url, max(need, 0)))
                        supply = _drain(pool)
                        prepared = (
                            f", {max(need, 0)} links made in {time.perf_counter() - made:.1f} s"
                        )
                        server = servers.app
                    else:
                        supply = (secrets.token_hex(16) for _ in iter(int, 1))
                        prepared = ""
                        server = servers.floor
                    result = run_round(
                        side,
                        server.port,
                        clients,
                        args.seconds,
                        supply,
                        lambda server=server: cpu_seconds(server),
                        servers.db_cpu,
                        timeout=args.timeout,
                        walk=walk,
                        kinds=kinds,
                        workers=server.worker_pids,
                    )
                    run.rounds.append(result)
                    if side == "app":
                        best = max(best, result.per_second)
                        run.expected_app += result.completed
                    elif side == "kiosk":
                        run.expected_kiosk += result.completed
                    else:
                        run.expected_floor += result.completed
                    out(
                        f"  {clients:3} clients round {number + 1} {side:5}: "
                        f"{result.per_second:6.1f} WHO-5/s, {result.completed} done, "
                        f"{sum(result.errors.values())} errors{prepared}"
                        + (" (links ran out)" if result.ran_out else "")
                    )
        engine = make_engine(servers.url)
        with engine.connect() as conn:
            run.stored = (
                conn.scalar(
                    select(func.count())
                    .select_from(Response)
                    .where(Response.submitted_at.isnot(None))
                )
                or 0
            )
            run.floor_rows = conn.scalar(text("SELECT count(*) FROM floor_answer")) or 0
        engine.dispose()
        return run


def _drain(pool: list[str]) -> Iterator[str]:
    """Hand out the pool's links, each once; what is left stays in the pool."""
    while pool:
        yield pool.pop()


# --- the report --------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _spread(values: list[float]) -> str:
    """p50/p95/p99 in whole milliseconds ("-" when no request of the kind was made)."""
    if not values:
        return "-"
    return "/".join(f"{_pct(values, q):.0f}" for q in (0.5, 0.95, 0.99))


@dataclass
class Level:
    """The rounds of one side at one level, taken together."""

    rounds: list[Round]

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.rounds)

    @property
    def walks(self) -> float:
        return sum(r.requests / r.per_walk for r in self.rounds)

    @property
    def per_second(self) -> float:
        return self.walks / self.seconds if self.seconds else 0.0

    def cpu_ms(self, what: str) -> float:
        total = sum(getattr(r, what) for r in self.rounds)
        return total / self.walks * 1000 if self.walks else float("nan")

    def latencies(self, kind: str) -> list[float]:
        return [v for r in self.rounds for v in r.latencies.get(kind, [])]

    def all_latencies(self) -> list[float]:
        return [v for r in self.rounds for values in r.latencies.values() for v in values]

    @property
    def load(self) -> float:
        return max((r.load for r in self.rounds), default=0.0)

    @property
    def errors(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.rounds:
            total.update(r.errors)
        return total


def _level(run: DbRun, clients: int, side: str) -> Level:
    return Level([r for r in run.rounds if r.clients == clients and r.side == side])


def report(
    runs: list[DbRun], args: argparse.Namespace, load: str, out: Callable[[str], None]
) -> None:
    out(
        f"\nLoad benchmark {date.today()}: gunicorn 2 sync workers (gunicorn.conf.py), "
        f"{args.rounds} x {args.seconds:.0f} s per side and level, "
        f"{'app / kiosk / floor' if args.kiosk else 'app / floor'} interleaved; "
        f"machine load before the run: {load} ({os.cpu_count()} cores); "
        "load below: the highest 1-minute load average at the end of a round"
    )
    for run in runs:
        out(f"\n### {run.db}")
        out("SQL statements per request (app in-process, one walk):")
        out("  " + ", ".join(f"{k} {'+'.join(map(str, v))}" for k, v in run.statements.items()))
        out(f"  whole questionnaire: {sum(sum(v) for v in run.statements.values())}")
        out(
            f"{'clients':>7} {'side':5} {'WHO-5/s':>8} {'ratio':>6} {'srv ms/q':>8} "
            f"{'db ms/q':>7} {'cli ms/q':>8} {'errors':>6} {'load':>4}  p50/p95/p99 ms per request"
        )
        for clients in sorted({r.clients for r in run.rounds}):
            floor = _level(run, clients, "floor")
            sides = [(side, _level(run, clients, side)) for side in ("app", "kiosk", "floor")]
            for side, level in sides:
                if not level.rounds:
                    continue
                ratio = (
                    f"{level.per_second / floor.per_second:6.2f}"
                    if side != "floor" and floor.per_second
                    else ""
                )
                errors = sum(level.errors.values())
                out(
                    f"{clients:7} {side:5} {level.per_second:8.1f} {ratio:>6} "
                    f"{level.cpu_ms('server_cpu'):8.1f} {level.cpu_ms('db_cpu'):7.1f} "
                    f"{level.cpu_ms('client_cpu'):8.1f} {errors:6} {level.load:4.1f}  "
                    + ", ".join(
                        f"{kind} {_spread(level.latencies(kind))}"
                        for kind in (KIOSK_KINDS if side == "kiosk" else KINDS)
                    )
                )
                if level.errors:
                    out(f"{'':14}errors: {dict(level.errors)}")
                restarts = sum(r.restarts for r in level.rounds)
                if restarts:
                    out(f"{'':14}{restarts} worker(s) replaced during the rounds (max_requests)")
            for side, level in sides[:2]:
                if level.rounds and floor.cpu_ms("server_cpu") and floor.per_second:
                    cpu = level.cpu_ms("server_cpu") / floor.cpu_ms("server_cpu")
                    out(
                        f"{'':14}{side}/floor: rate {level.per_second / floor.per_second:.2f}x, "
                        f"server CPU per questionnaire {cpu:.1f}x"
                    )
        out(
            f"stored: {run.stored} submitted responses (app rounds completed "
            f"{run.expected_app}, kiosk rounds {run.expected_kiosk}, plus 2 in-process and "
            f"the walks cut at a round's end after their last answer), {run.floor_rows} floor rows"
        )
        out(
            f"question page at concurrency 1 (median, n={run.serial_app.samples}): app "
            f"{run.serial_app.server_ms:.2f} ms in gunicorn, {run.serial_app.client_ms:.2f} ms "
            f"round trip, {run.inproc.question_ms:.2f} ms in-process; floor "
            f"{run.serial_floor.server_ms:.2f} ms in gunicorn, {run.serial_floor.client_ms:.2f} "
            f"ms round trip"
        )
    targets(runs, out)


def targets(runs: list[DbRun], out: Callable[[str], None]) -> None:
    """The issue's goals beside the measured figures (issue 13, "What to build" 1)."""
    out("\nIssue 13 targets (figures, not a verdict; PostgreSQL unless said):")
    pg = next((r for r in runs if r.db == "postgresql"), None)
    first = pg or runs[0]
    where = "" if pg else f" (no PostgreSQL run: {first.db})"

    def line(goal: str, figure: str, met: bool | None) -> None:
        verdict = "n/a" if met is None else ("met" if met else "NOT met")
        out(f"  {goal:44} {figure:38} {verdict}{where}")

    levels = {r.clients for r in first.rounds}
    if 16 in levels:
        app, floor = _level(first, 16, "app"), _level(first, 16, "floor")
        line("100 WHO-5/s at 16 clients", f"{app.per_second:.1f}/s", app.per_second >= 100)
        ratio = app.per_second / floor.per_second if floor.per_second else 0
        line(
            ">= 0.5x the floor at 16 clients",
            f"{ratio:.2f}x ({floor.per_second:.1f}/s)",
            ratio >= 0.5,
        )
    else:
        line("100 WHO-5/s, >= 0.5x floor at 16 clients", "16 clients not run", None)
    if 50 in levels:
        app = _level(first, 50, "app")
        worst = max(KINDS, key=lambda k: _pct(app.latencies(k), 0.95))
        p95 = _pct(app.latencies(worst), 0.95)
        line("p95 < 100 ms per request at 50 clients", f"worst {worst} {p95:.0f} ms", p95 < 100)
    else:
        line("p95 < 100 ms per request at 50 clients", "50 clients not run", None)
    median = first.serial_app.server_ms
    line(
        "question page < 2 ms median, concurrency 1",
        f"{median:.2f} ms gunicorn, {first.inproc.question_ms:.2f} in-process",
        median < 2,
    )
    question = max(first.statements["question"])
    answers = max(first.statements["answer"] + first.statements["last answer"])
    line("<= 3 SQL statements per question page", f"{question}", question <= 3)
    line(
        "<= 4 SQL statements per answer",
        f"{max(first.statements['answer'])} (last answer {max(first.statements['last answer'])})",
        answers <= 4,
    )


def _levels(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split(","))


def _print(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None, out: Callable[[str], None] = _print) -> list[DbRun]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--clients", type=_levels, default=LEVELS, help="e.g. 4,16,50")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=2, help="app/floor pairs per level")
    parser.add_argument("--serial", type=int, default=300, help="question pages at concurrency 1")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument(
        "--kiosk", action="store_true", help="also kiosk tablets (WHO-5), a third side per pair"
    )
    parser.add_argument("--quick", action="store_true", help="smoke check: 5 s rounds, 1 pair")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.serial = min(args.seconds, 5.0), 1, min(args.serial, 100)
    if not 0.5 <= args.seconds <= 120 or not 1 <= args.rounds <= 10:
        parser.error("--seconds must be 0.5 to 120 and --rounds 1 to 10")
    if any(not 1 <= c <= 200 for c in args.clients):
        parser.error("--clients must be 1 to 200 each")

    load = Path("/proc/loadavg").read_text().split()[:3]
    dbs = ("postgresql", "sqlite") if args.db == "both" else (args.db,)
    runs = [run_db(db, args, out) for db in dbs]
    report(runs, args, " ".join(load) + " (1, 5, 15 min)", out)
    return runs


if __name__ == "__main__":
    main()
