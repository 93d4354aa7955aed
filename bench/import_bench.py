"""Time an import of paper responses: reading and checking the file, the preview, the import.

Makes a file of CITIZENS citizens with four responses each (WHO-5 at baseline and end,
WHODAS-12 and the start-meeting survey at baseline: a new citizen and course per four rows),
then reads and checks it, previews it and imports it into a throw-away database with a little
demo data. Prints wall-clock and CPU seconds and the peak memory; no pass/fail.

    .venv/bin/python bench/import_bench.py [CITIZENS] [--postgres]
"""

from __future__ import annotations

import io
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from surveyapp.config import Settings
from surveyapp.db import make_engine, make_session_factory, upgrade
from surveyapp.demo import load_demo_data
from surveyapp.importing import parse
from surveyapp.instruments import default_registry
from surveyapp.services.imports import import_responses, preview_import

TODAY = date(2025, 6, 1)
COLUMNS = [
    "municipality",
    "provider",
    "cpr",
    "course_start",
    "course_end",
    "timepoint",
    "instrument",
    "respondent",
    "answered_on",
    *[f"who5_{i}" for i in range(1, 6)],
    *[f"S{i}" for i in range(1, 13)],
    *[f"sm_{i}" for i in range(1, 5)],
]


def make_file(citizens: int, seed: int = 1) -> bytes:
    """A semicolon CSV of paper responses for the demo municipality."""
    rnd = random.Random(seed)
    out = io.StringIO()
    out.write(";".join(COLUMNS) + "\n")
    seen: set[str] = set()
    while len(seen) < citizens:
        born = date(1930, 1, 1) + timedelta(days=rnd.randrange(20000))
        cpr = born.strftime("%d%m%y") + "-" + f"{rnd.randrange(0, 4000):04d}"
        if cpr in seen:
            continue
        seen.add(cpr)
        start = date(2023, 1, 1) + timedelta(days=rnd.randrange(500))
        end = start + timedelta(days=60)
        after = (start + timedelta(days=1)).isoformat()
        base = ["990", "Sølvstrand Hjemmepleje", cpr, start.isoformat()]
        who5 = [str(rnd.randrange(6)) for _ in range(5)]
        whodas = [str(rnd.randrange(1, 6)) for _ in range(12)]
        meeting = [str(rnd.randrange(11)) for _ in range(4)]
        rows = [
            [*base, "", "baseline", "who5", "citizen", after, *who5, *[""] * 16],
            [*base, end.isoformat(), "end", "who5", "citizen", end.isoformat(), *who5, *[""] * 16],
            [*base, "", "baseline", "whodas12", "citizen", after, *[""] * 5, *whodas, *[""] * 4],
            [*base, "", "baseline", "start_meeting", "citizen", after, *[""] * 17, *meeting],
        ]
        out.writelines(";".join(r) + "\n" for r in rows)
    return out.getvalue().encode("utf-8-sig")


def timed(label: str, action: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:16} {wall:7.1f} s wall {cpu:7.1f} s CPU", flush=True)
    return result


def run(url: str, citizens: int) -> None:
    upgrade(url)
    settings = Settings(env="test", database_url=url, secret_key="s" * 40, cpr_hmac_key="k" * 40)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    load_demo_data(factory, settings, citizens=5, seed=1, today=TODAY)
    registry = default_registry()
    data = make_file(citizens)
    print(f"{url.split(':')[0]}: {citizens * 4} rows, {len(data) / 1e6:.1f} MB")
    rows = timed(
        "read and check",
        lambda: parse(data, registry=registry, hmac_key=settings.cpr_hmac_key, today=TODAY),
    )

    def preview() -> None:
        with factory.begin() as session:
            preview_import(session, rows, registry=registry, today=TODAY)

    def store() -> None:
        with factory.begin() as session:
            import_responses(session, rows, registry=registry, today=TODAY)

    timed("preview", preview)
    timed("import", store)
    print(f"peak memory      {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MB")
    engine.dispose()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    citizens = int(args[0]) if args else 2500
    if "--postgres" in sys.argv:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' helpers
        from tests.support.databases import PostgresDatabases
        from tests.support.pg import TempPostgres

        server = TempPostgres()
        server.start()
        try:
            databases = PostgresDatabases(server.admin_url)
            run(databases.new(), citizens)
            databases.close()
        finally:
            server.stop()
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", citizens)


if __name__ == "__main__":
    main()
