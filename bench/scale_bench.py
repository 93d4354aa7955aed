"""One municipality's pages in a growing national database: server time, statements, plans.

    python bench/scale_bench.py                          # 10k, 100k, 1m on SQLite and PostgreSQL
    python bench/scale_bench.py --sizes 10k --db sqlite  # a quick run
    python bench/scale_bench.py --sizes 1m --runs 9 --no-plans

Each database is made by `bench/national_data.py` (98 municipalities, `SIZE` responses, as
many audit events) plus two municipalities of a fixed size whatever the total: a small one
(30 courses, about 30 citizens) and a large one (3,000 courses). Built databases are kept in
`--dir` (default: the temporary directory's `surveyapp-scale-bench/`; PostgreSQL as one
server's data directory there), so a re-run skips the build; `--rebuild` makes them again.
Before measuring, the database is migrated to the newest schema of the code that runs.

For the small and the large municipality it logs in a coordinator and an admin (in-process
test client) and prints, per page, the median server time of `--runs` requests (pages are
interleaved, round by round; `GET /healthz` beside them as the floor of this machine at this
moment), the SQL statements per request, the page size, and (unless
`--no-plans`) the query plans of each page's slowest statements: EXPLAIN QUERY PLAN on
SQLite, EXPLAIN on PostgreSQL. Nothing is changed but the audit events the views write.

To measure code of another checkout (for example main before a change), put that checkout
first on PYTHONPATH with this file and national_data.py copied into its bench/ folder (and
surveyapp/bulkload.py into its package if it has none: national_data.py writes through it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: another checkout's code may come first

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import Engine, create_engine, event, func, select, text  # noqa: E402

import surveyapp  # noqa: E402
from bench.national_data import FixedMunicipality, generate  # noqa: E402
from surveyapp.app import create_app  # noqa: E402
from surveyapp.config import Settings  # noqa: E402
from surveyapp.db import make_engine, make_session_factory, upgrade  # noqa: E402
from surveyapp.enums import CourseStatus, Role  # noqa: E402
from surveyapp.models import Assignment, Course, Municipality, StaffUser  # noqa: E402
from surveyapp.security import hash_secret  # noqa: E402
from tests.support.pg import TempPostgres  # noqa: E402
from tests.support.staff import login  # noqa: E402

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
SMALL = FixedMunicipality("901", "Lillebæk Kommune", 30)
LARGE = FixedMunicipality("902", "Storeby Kommune", 3000)
FIXED = {"small": SMALL, "large": LARGE}
PASSWORD = "scale-bench-password-1"  # noqa: S105 - a throw-away benchmark database
SECRET = "scale-bench-secret-key-0123456789abcdef"  # noqa: S105
CPR_KEY = "scale-bench-cpr-key-0123456789abcdef0123"
BUILD_VERSION = 1  # bump when the generated data changes: cached databases are rebuilt
PLANS_PER_PAGE = 2  # the slowest statements of a page whose plans are shown


# --- databases -----------------------------------------------------------------------------


class KeptPostgres(TempPostgres):
    """A PostgreSQL server whose data directory is kept in `base` between runs."""

    def __init__(self, base: Path) -> None:
        super().__init__()
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = base
        self.data = base / "data"

    def open(self) -> None:
        if (self.data / "PG_VERSION").exists():
            self.base.chmod(0o700)
            self.resume()
        else:
            self.base.mkdir(parents=True, exist_ok=True)
            self.start()

    def close(self) -> None:
        if self.started:
            self.pause("fast")

    def url(self, name: str) -> str:
        return self.admin_url.replace("/postgres?", f"/{name}?")


def _user(role: Role, which: str) -> str:
    return f"scale-{which}-{role.value}"


def _build(url: str, responses: int, progress: Any) -> None:
    generate(
        url,
        responses=responses,
        fixed=tuple(FIXED.values()),
        audit_events=responses,
        progress=progress,
    )
    engine = make_engine(url)
    password = hash_secret(PASSWORD)
    with make_session_factory(engine).begin() as session:
        for which, spec in FIXED.items():
            municipality = session.scalars(
                select(Municipality).where(Municipality.code == spec.code)
            ).one()
            for role in (Role.COORDINATOR, Role.ADMIN):
                session.add(
                    StaffUser(
                        username=_user(role, which),
                        full_name=f"{which} {role.value}",
                        role=role,
                        municipality=municipality,
                        password_hash=password,
                    )
                )
    engine.dispose()


@contextmanager
def databases(kind: str, folder: Path, sizes: list[str], rebuild: bool) -> Iterator[dict[str, str]]:
    """The URL of each size's database, built unless a finished build is kept."""
    folder.mkdir(parents=True, exist_ok=True)
    server: KeptPostgres | None = None
    urls: dict[str, str] = {}
    try:
        if kind == "postgresql":
            server = KeptPostgres(folder / "pg")
            server.open()
        for size in sizes:
            marker = folder / f"{kind}-{size}.json"
            if server is None:
                path = folder / f"scale-{size}.sqlite3"
                url = f"sqlite:///{path}"
            else:
                url = server.url(f"scale_{size}")
            done = marker.exists() and json.loads(marker.read_text()).get("v") == BUILD_VERSION
            if rebuild or not done:
                marker.unlink(missing_ok=True)
                if server is None:
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)
                else:
                    admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "scale_{size}"'))
                        conn.execute(text(f'CREATE DATABASE "scale_{size}"'))
                    admin.dispose()
                started = time.perf_counter()
                print(f"building {kind} {size} ...", flush=True)
                _build(url, SIZES[size], lambda line: print(f"  {line}", flush=True))
                took = time.perf_counter() - started
                marker.write_text(json.dumps({"v": BUILD_VERSION, "seconds": round(took, 1)}))
                print(f"built {kind} {size} in {took:.0f} s", flush=True)
            upgrade(url)  # the newest schema of the code that runs (indexes included)
            if server is not None:  # databases built before national_data vacuumed it
                engine = create_engine(url, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.execute(text("VACUUM ANALYZE audit_chain_head"))
                engine.dispose()
            urls[size] = url
        yield urls
    finally:
        if server is not None:
            server.close()


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Statements:
    """The SQL statements of the requests made while `on` is set.

    Each is timed from its start to the next statement's start (or the end of the request):
    SQLite runs much of a query while its rows are fetched, after the execute call returns,
    so the gap (fetching and the Python work on the rows included) is what a statement costs.
    """

    on: bool = False
    starts: list[tuple[float, str, Any]] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on:
            self.starts.append((time.perf_counter(), statement, parameters))

    def timed(self, ended: float) -> list[tuple[float, str, Any]]:
        """(seconds, statement, parameters) of each statement seen."""
        ends = [start for start, _, _ in self.starts[1:]] + [ended]
        return [(end - start, st, p) for (start, st, p), end in zip(self.starts, ends, strict=True)]


@dataclass(frozen=True)
class Page:
    name: str
    url: str
    role: Role


def _pages(app: Flask, which: str) -> list[Page]:
    spec = FIXED[which]
    with app.extensions["surveyapp.sessions"]() as session:
        municipality_id = session.scalar(
            select(Municipality.id).where(Municipality.code == spec.code)
        )
        # The citizen with the most measurements among those on an active course.
        citizen_id = session.scalar(
            select(Course.citizen_id)
            .join(Assignment, Assignment.course_id == Course.id)
            .where(Course.municipality_id == municipality_id, Course.status == CourseStatus.ACTIVE)
            .group_by(Course.citizen_id)
            .order_by(func.count().desc(), Course.citizen_id)
            .limit(1)
        )
    return [
        # The floor: one trivial query and a JSON reply; shows what the machine's load adds.
        Page("floor: /healthz", "/healthz", Role.COORDINATOR),
        Page("due list", "/staff/due", Role.COORDINATOR),
        Page("due list, all upcoming", "/staff/due?show=upcoming", Role.COORDINATOR),
        Page("citizen page", f"/staff/citizens/{citizen_id}", Role.COORDINATOR),
        Page("audit search", "/staff/admin/audit", Role.ADMIN),
        # The bench's own page views are the newest events of the plain search; searching
        # for an action only the generated events have reads past them, into the country's.
        Page("audit search, one action", "/staff/admin/audit?action=assignment.view", Role.ADMIN),
    ]


def _explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    sqlite = engine.dialect.name == "sqlite"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters)
        rows = cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
    if sqlite:
        return [str(row[-1]) for row in rows]
    return [str(row[0]) for row in rows]


def measure(url: str, size: str, runs: int, plans: bool) -> list[dict[str, Any]]:
    settings = Settings(env="test", database_url=url, secret_key=SECRET, cpr_hmac_key=CPR_KEY)
    app = create_app(settings)
    engine: Engine = app.extensions["surveyapp.engine"]
    statements = Statements()
    statements.attach(engine)
    clients: dict[tuple[str, Role], FlaskClient] = {}
    pages: dict[str, list[Page]] = {}
    for which in FIXED:
        pages[which] = _pages(app, which)
        for role in (Role.COORDINATOR, Role.ADMIN):
            client = app.test_client()
            done = login(client, _user(role, which), PASSWORD)
            assert done.status_code in (302, 303), done.text[:300]
            clients[(which, role)] = client
    times: dict[tuple[str, str], list[float]] = {}
    info: dict[tuple[str, str], dict[str, Any]] = {}
    for round_ in range(runs + 1):  # round 0 warms up
        for which, page_list in pages.items():
            for page in page_list:
                client = clients[(which, page.role)]
                statements.starts = []
                statements.on = True
                started = time.perf_counter()
                response = client.get(page.url)
                ended = time.perf_counter()
                took = ended - started
                statements.on = False
                seen = statements.timed(ended)
                assert response.status_code == 200, (page.url, response.status_code)
                if round_:
                    times.setdefault((which, page.name), []).append(took)
                info[(which, page.name)] = {
                    "statements": len(seen),
                    "bytes": len(response.data),
                    "slowest": sorted(
                        (s for s in seen if s[1].lstrip().upper().startswith("SELECT")),
                        key=lambda s: -s[0],
                    )[:PLANS_PER_PAGE],
                }
    results = []
    for (which, name), values in times.items():
        row = info[(which, name)]
        result = {
            "size": size,
            "municipality": which,
            "page": name,
            "median_ms": statistics.median(values) * 1000,
            "min_ms": min(values) * 1000,
            "statements": row["statements"],
            "kb": row["bytes"] / 1024,
            "plans": [],
        }
        if plans:
            for seconds, statement, parameters in row["slowest"]:
                result["plans"].append(
                    {
                        "ms": seconds * 1000,
                        "sql": " ".join(statement.split()),
                        "plan": _explain(engine, statement, parameters),
                    }
                )
        results.append(result)
    engine.dispose()
    return results


def _print(kind: str, results: list[dict[str, Any]], plans: bool) -> None:
    print(f"\n{kind}  (code: {Path(surveyapp.__file__).parent})")
    print(
        f"{'size':>5} {'municip.':9} {'page':24} {'median ms':>9} {'min':>7} {'SQL':>4} {'KB':>7}"
    )
    for r in results:
        print(
            f"{r['size']:>5} {r['municipality']:9} {r['page']:24} {r['median_ms']:9.1f} "
            f"{r['min_ms']:7.1f} {r['statements']:4d} {r['kb']:7.0f}"
        )
    if not plans:
        return
    for r in results:
        print(f"\n-- {kind} {r['size']} {r['municipality']}: {r['page']}")
        for p in r["plans"]:
            print(f"   {p['ms']:.1f} ms to the next statement:  {p['sql'][:300]}")
            for line in p["plan"]:
                print(f"      {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k,1m", help="comma-separated: 10k,100k,1m")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=7, help="requests per page (median)")
    parser.add_argument(
        "--dir", type=Path, default=Path(tempfile.gettempdir()) / "surveyapp-scale-bench"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the databases again")
    parser.add_argument("--no-plans", dest="plans", action="store_false")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    kinds = [k.strip().lower() for k in args.db.split(",") if k.strip()]
    if unknown := [s for s in sizes if s not in SIZES] + [
        k for k in kinds if k not in ("sqlite", "postgresql")
    ]:
        parser.error(f"unknown: {', '.join(unknown)}")
    everything: dict[str, list[dict[str, Any]]] = {}
    for kind in kinds:
        with databases(kind, args.dir, sizes, args.rebuild) as urls:
            results = []
            for size in sizes:
                results += measure(urls[size], size, args.runs, args.plans)
            everything[kind] = results
            _print(kind, results, args.plans)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
