"""The citizen chart's server time, drawn (cold) and kept (warm), beside a floor.

    .venv/bin/python bench/chart_bench.py                      # the demo (300 citizens), SQLite
    .venv/bin/python bench/chart_bench.py --url sqlite:////tmp/national.sqlite3 --rounds 5

In-process (Flask's test client, a logged-in coordinator): each round runs, interleaved, the
floor (`GET /healthz`: one statement, no login), the chart with the process's chart cache
emptied first (cold: data, audit event and a full matplotlib draw) and the chart again (warm:
data, audit event, key, cache hit), for the course with the most responses in the smallest
and in the largest municipality. It prints the median milliseconds, the ratio to the floor,
the SQL statements of each request and the machine's load.

Without `--url` it builds the demo in a temporary SQLite file. With `--url` (a database from
`bench/national_data.py`, migrated) it adds one coordinator per measured municipality
(`bench-chart-<code>`, password `bench-password`) if missing; nothing else changes, apart from
the `citizen.chart` audit events every view writes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import Engine, event, func, select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from surveyapp.app import create_app  # noqa: E402
from surveyapp.config import Settings  # noqa: E402
from surveyapp.db import make_engine, make_session_factory, upgrade  # noqa: E402
from surveyapp.demo import load_demo_data  # noqa: E402
from surveyapp.enums import Role  # noqa: E402
from surveyapp.models import Assignment, Course, Municipality, Response, StaffUser  # noqa: E402
from surveyapp.security import hash_secret  # noqa: E402
from surveyapp.services.charts import ChartCache  # noqa: E402
from tests.support.offline import session_key_dir  # noqa: E402
from tests.support.staff import login  # noqa: E402

SECRET = "bench-chart-secret-key-0123456789abcdef"  # noqa: S105 - a throw-away database
CPR_KEY = "bench-chart-cpr-hmac-key-0123456789abcdef"
PASSWORD = "bench-password"  # noqa: S105


def _courses(factory: sessionmaker[Session]) -> list[tuple[str, int, int, int, int]]:
    """(label, municipality id, its courses, course id, its responses): smallest and largest."""
    with factory() as session:
        sizes = session.execute(
            select(Course.municipality_id, func.count())
            .group_by(Course.municipality_id)
            .order_by(func.count(), Course.municipality_id)
        ).all()
        picked = []
        for label, (municipality_id, courses) in (("small", sizes[0]), ("large", sizes[-1])):
            course_id, responses = session.execute(
                select(Assignment.course_id, func.count(Response.id))
                .join(Response, Response.assignment_id == Assignment.id)
                .join(Course, Course.id == Assignment.course_id)
                .where(Course.municipality_id == municipality_id)
                .group_by(Assignment.course_id)
                .order_by(func.count(Response.id).desc(), Assignment.course_id)
                .limit(1)
            ).one()
            picked.append((label, municipality_id, courses, course_id, responses))
        return picked


def _coordinator(factory: sessionmaker[Session], municipality_id: int) -> str:
    """A coordinator of the municipality (made if missing); the username."""
    with factory.begin() as session:
        code = session.get(Municipality, municipality_id).code  # type: ignore[union-attr]
        username = f"bench-chart-{code}"
        if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is None:
            session.add(
                StaffUser(
                    username=username,
                    full_name=username,
                    role=Role.COORDINATOR,
                    municipality_id=municipality_id,
                    password_hash=hash_secret(PASSWORD),
                )
            )
        return username


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="a migrated database (default: the demo, built now)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--plans", action="store_true", help="print the chart's query plans")
    args = parser.parse_args()
    url = args.url
    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='chart-bench-')}/demo.sqlite3"
        upgrade(url)
    settings = Settings(
        env="test",
        database_url=url,
        secret_key=SECRET,
        cpr_hmac_key=CPR_KEY,
        offline_key_dir=str(session_key_dir()),
    )
    factory = make_session_factory(make_engine(url))
    if args.url is None:
        load_demo_data(factory, settings)
    with factory() as session:
        responses = session.scalar(select(func.count()).select_from(Response))
    picked = _courses(factory)
    app = create_app(settings)
    clients: dict[str, FlaskClient] = {}
    for label, municipality_id, _courses_there, _course, _responses in picked:
        client = app.test_client()
        if args.url is None:
            login(client, "koordinator" if label == "large" else "nabo")
        else:
            login(client, _coordinator(factory, municipality_id), PASSWORD)
        clients[label] = client
    seen: list[tuple[str, object]] = []
    engine = app.extensions["surveyapp.engine"]
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, parameters, *_a: seen.append((statement, parameters)),
    )
    print(f"{url}: {responses:,} responses; load before {_load()}")
    for label, municipality_id, courses, course_id, n in picked:
        print(
            f"  {label}: municipality id {municipality_id} ({courses:,} courses), "
            f"course {course_id} ({n} responses)"
        )
    floor_client = app.test_client()
    times: dict[str, list[float]] = defaultdict(list)
    statements: dict[str, int] = {}

    def timed(name: str, client: FlaskClient, path: str) -> None:
        seen.clear()
        started = time.perf_counter()
        response = client.get(path)
        times[name].append(time.perf_counter() - started)
        statements[name] = len(seen)
        assert response.status_code == 200, (path, response.status_code)

    # The process's first chart pays matplotlib's import and font set-up once.
    started = time.perf_counter()
    clients[picked[0][0]].get(f"/staff/courses/{picked[0][3]}/chart.svg")
    first = time.perf_counter() - started
    for _round in range(args.rounds):
        timed("floor: GET /healthz", floor_client, "/healthz")
        for label, _m, _c, course_id, _n in picked:
            path = f"/staff/courses/{course_id}/chart.svg"
            app.extensions["surveyapp.charts"] = ChartCache()  # cold: nothing kept
            timed(f"chart, {label}, cold (drawn)", clients[label], path)
            timed(f"chart, {label}, warm (kept)", clients[label], path)
    floor = statistics.median(times["floor: GET /healthz"])
    print(f"process's first chart (imports, fonts, draw): {first * 1000:.0f} ms")
    print(f"{'':32} {'median ms':>10} {'x floor':>8} {'SQL':>4}   rounds (ms)")
    for name, values in times.items():
        median = statistics.median(values)
        rounds = " ".join(f"{v * 1000:.1f}" for v in values)
        print(
            f"{name:32} {median * 1000:10.2f} {median / floor:8.1f} {statements[name]:4}   {rounds}"
        )
    print(f"load after {_load()}")
    if args.plans:
        seen.clear()
        clients["large"].get(f"/staff/courses/{picked[-1][3]}/chart.svg")
        _plans(engine, list(seen))


def _plans(engine: Engine, statements: list[tuple[str, object]]) -> None:
    """The query plan of every SELECT a chart request ran."""
    sqlite = engine.url.get_backend_name() == "sqlite"
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            print("\n" + " ".join(statement.split())[:150] + " ...")
            cursor.execute(
                ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters
            )
            for row in cursor.fetchall():
                print("    " + (str(row[-1]) if sqlite else str(row[0])))
    finally:
        connection.close()


if __name__ == "__main__":
    main()
