"""Benchmark: the wide CSV export of every response vs the database's own raw dump.

Prints absolute times of each round (export and raw dump interleaved; wall clock and CPU
time, since the machine is shared and the wall clock alone measures the neighbours too), the
ratios of the medians, and the export's peak memory (the export runs in a child process; its
peak resident set size comes from getrusage). The raw dump is the same wide rows made by the
database alone: the responses joined with their course, citizen, organisation and timepoint,
with answers and scores pivoted into one column each by GROUP BY (SQLite: `sqlite3 -csv`;
PostgreSQL: `psql \\copy ... to ... csv`). No pass/fail: figures for the README.

    python bench/export_bench.py                      # /tmp/national.sqlite3 if present
    python bench/export_bench.py --database-url URL --rounds 3 [--format csv-excel]
Without a database it builds a small one from the demo data (--citizens, default 2000).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

NATIONAL = Path("/tmp/national.sqlite3")
KEY = "bench-cpr-hmac-key-0123456789abcdef0123"


def _engine_url(url: str) -> str:
    """A read-only URL for an SQLite file (the benchmark never writes to it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///file:{parsed.database}?mode=ro&uri=true"
    return url


def child(url: str, out: str, fmt: str, instrument: str | None) -> None:
    """Run one export (no audit: the database is opened read-only) and report its figures."""
    from surveyapp.instruments import default_registry
    from surveyapp.services import exports as export_service

    started = time.perf_counter()
    engine = create_engine(_engine_url(url))
    with sessionmaker(engine)() as session:
        reach = export_service.system_reach(session)
        rows = export_service.write_export(
            session,
            default_registry(),
            reach,
            export_service.ExportQuery(instrument=instrument),
            fmt,
            out,
            export_service.export_key(KEY),
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_kb": usage.ru_maxrss,
    }
    print(json.dumps(figures))


def raw_query() -> str:
    """The same wide rows, made by SQL alone (columns generated from the registry)."""
    from surveyapp.exports import CodedMissing, Source, wide_layout
    from surveyapp.instruments import default_registry

    export = wide_layout(default_registry())
    items, scores = [], []
    for v in export.variables:
        if v.source is Source.ITEM:
            items.append(
                f"MAX(CASE WHEN r.instrument_id = '{v.instrument}' AND a.item_id = '{v.ref}' "
                f"THEN CASE a.state WHEN 'answered' THEN a.value "
                f"WHEN 'dont_know' THEN {CodedMissing.DONT_KNOW.code} "
                f"ELSE {CodedMissing.NOT_APPLICABLE.code} END END) AS {v.name}"
            )
        elif v.source is Source.SCORE:
            scores.append(f"MAX(CASE WHEN s.name = '{v.ref}' THEN s.value END) AS {v.name}")
    item_names = ", ".join(v.name for v in export.variables if v.source is Source.ITEM)
    score_names = ", ".join(v.name for v in export.variables if v.source is Source.SCORE)
    return f"""
WITH ans AS (
  SELECT a.response_id, {", ".join(items)}
  FROM answer a JOIN response r ON r.id = a.response_id GROUP BY a.response_id
), sco AS (
  SELECT s.response_id, {", ".join(scores)} FROM score s GROUP BY s.response_id
)
SELECT r.id, c.citizen_id, c.id, m.code, m.name, p.name, p.kind, t.name, c.legal_basis,
       c.start_date, c.end_date, asg.timepoint_key, pt.anchor, pt.offset_months,
       pt.offset_days, r.instrument_id, r.instrument_version, r.text_version, r.text_verified,
       r.language, r.channel, r.respondent, r.started_at, r.submitted_at, z.birth_year,
       z.sex, z.lives_alone, {item_names}, {score_names}, r.scoring_version, r.score_notes
FROM response r
JOIN assignment asg ON asg.id = r.assignment_id
JOIN course c ON c.id = asg.course_id
JOIN citizen z ON z.id = c.citizen_id
JOIN municipality m ON m.id = c.municipality_id
JOIN provider p ON p.id = c.provider_id
LEFT JOIN team t ON t.id = c.team_id
LEFT JOIN plan_timepoint pt ON pt.plan_id = c.plan_id AND pt.key = asg.timepoint_key
LEFT JOIN ans ON ans.response_id = r.id
LEFT JOIN sco ON sco.response_id = r.id
WHERE r.submitted_at IS NOT NULL
ORDER BY r.id
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_dump(url: str, out: str) -> tuple[float, float]:
    """Dump the same rows with the database's own client; return wall and CPU seconds."""
    parsed = make_url(url)
    query = " ".join(raw_query().split())
    cpu = _children_cpu()
    started = time.perf_counter()
    with open(out, "wb") as target:
        if parsed.get_backend_name() == "sqlite":
            command = ["sqlite3", "-readonly", "-csv", str(parsed.database), query]
            subprocess.run(command, stdout=target, check=True)  # noqa: S603
        else:
            plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            command = ["psql", plain, "-q", "-c", f"\\copy ({query}) to stdout csv"]
            subprocess.run(command, stdout=target, check=True)  # noqa: S603
    return time.perf_counter() - started, _children_cpu() - cpu


def small_database(directory: str, citizens: int) -> str:
    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory, upgrade
    from surveyapp.demo import load_demo_data

    url = f"sqlite:///{directory}/bench-export.sqlite3"
    upgrade(url)
    settings = Settings(env="test", database_url=url, secret_key="b" * 40, cpr_hmac_key=KEY)
    started = time.perf_counter()
    load_demo_data(
        make_session_factory(make_engine(url)), settings, citizens=citizens, today=date.today()
    )
    print(f"built a demo database of {citizens} citizens in {time.perf_counter() - started:.0f} s")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--format", default="csv", choices=["csv", "csv-excel", "xlsx", "sav", "dta"]
    )
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--no-raw", action="store_true", help="Only the export (e.g. for xlsx).")
    parser.add_argument("--instrument", help="Export one questionnaire (the raw dump stays all).")
    parser.add_argument("--child", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.format, args.instrument)
        return
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        url = args.database_url
        if url is None:
            url = (
                f"sqlite:///{NATIONAL}" if NATIONAL.exists() else small_database(tmp, args.citizens)
            )
        if make_url(url).get_backend_name() == "sqlite" and not shutil.which("sqlite3"):
            raise SystemExit("the raw dump needs the sqlite3 command (apt-get install sqlite3)")
        print(f"database: {make_url(url).render_as_string(hide_password=True)}")
        exports, raws, peaks, export_cpu, raw_cpu = [], [], [], [], []
        out = os.path.join(tmp, f"export.{args.format}")
        for number in range(1, args.rounds + 1):
            started = time.perf_counter()
            done = subprocess.run(  # noqa: S603 - this interpreter, this script
                [
                    *(sys.executable, __file__, "--format", args.format, "--child", url, out),
                    *(("--instrument", args.instrument) if args.instrument else ()),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - started
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            exports.append(wall)
            export_cpu.append(figures["cpu"])
            peaks.append(figures["peak_kb"] / 1024)
            line = (
                f"round {number}: export {figures['rows']:,} rows in {wall:.1f} s "
                f"(CPU {figures['cpu']:.1f} s, {os.path.getsize(out) / 1e6:.0f} MB, "
                f"peak RSS {peaks[-1]:.0f} MB)"
            )
            if not args.no_raw:
                wall, cpu = raw_dump(url, os.path.join(tmp, "raw.csv"))
                raws.append(wall)
                raw_cpu.append(cpu)
                size = os.path.getsize(os.path.join(tmp, "raw.csv")) / 1e6
                line += f"; raw dump {wall:.1f} s (CPU {cpu:.1f} s, {size:.0f} MB)"
            print(line, flush=True)
        print(f"export median {statistics.median(exports):.1f} s, peak RSS max {max(peaks):.0f} MB")
        if raws:
            ratio = statistics.median(exports) / statistics.median(raws)
            cpu_ratio = statistics.median(export_cpu) / statistics.median(raw_cpu)
            print(
                f"raw dump median {statistics.median(raws):.1f} s; ratio {ratio:.2f}x wall, "
                f"{cpu_ratio:.2f}x CPU (target <= 3x)"
            )


if __name__ == "__main__":
    main()
