"""How long each evaluation report takes on a national-scale database, beside a floor.

    python bench/report_bench.py --url sqlite:////tmp/national.sqlite3 [--rounds 3]

The database comes from `bench/national_data.py` (1,000,000 responses, 98 municipalities),
migrated to the newest schema. Each round runs, interleaved, the floor (the database's own
full scan of the score table: `SELECT name, count(*), avg(value) FROM score GROUP BY name`)
and every report twice: for all municipalities (a national evaluation) and for the largest
municipality alone. It prints the median seconds and the ratio to the floor. No audit events
are written (the reports are called directly, with run_report's session settings) and
nothing changes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from sqlalchemy import func, select, text

from surveyapp.db import make_engine, make_session_factory
from surveyapp.instruments import load_registry
from surveyapp.models import Course
from surveyapp.services.reports import (
    REPORTS,
    ReportFilters,
    installation_scope,
    tune_for_reports,
)
from surveyapp.suppression import DEFAULT_THRESHOLD

FLOOR = "SELECT name, count(*), avg(value) FROM score GROUP BY name"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    registry = load_registry()
    factory = make_session_factory(make_engine(args.url))
    with factory() as session:
        largest = session.execute(
            select(Course.municipality_id, func.count())
            .group_by(Course.municipality_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        courses = session.scalar(select(func.count()).select_from(Course))
    print(f"{args.url}: {courses:,} courses; largest municipality id {largest[0]} ")
    times: dict[str, list[float]] = defaultdict(list)
    for _round in range(args.rounds):
        with factory() as session:
            started = time.perf_counter()
            session.execute(text(FLOOR)).all()
            times["floor: full scan of score"].append(time.perf_counter() - started)
        for name, report in REPORTS.items():
            for label, filters in (
                ("all", ReportFilters()),
                ("one", ReportFilters(municipality_ids=frozenset({largest[0]}))),
            ):
                with factory() as session:
                    rscope = installation_scope(session)
                    tune_for_reports(session)  # as run_report does
                    started = time.perf_counter()
                    report(session, rscope, registry, filters, DEFAULT_THRESHOLD)
                    times[f"{name} ({label})"].append(time.perf_counter() - started)
                    session.rollback()
    floor = statistics.median(times["floor: full scan of score"])
    print(f"{'':34} {'median s':>9} {'x floor':>8}   rounds")
    for key, values in times.items():
        median = statistics.median(values)
        rounds = " ".join(f"{v:.2f}" for v in values)
        print(f"{key:34} {median:9.2f} {median / floor:8.2f}   {rounds}")


if __name__ == "__main__":
    main()
