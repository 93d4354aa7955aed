"""Benchmarks that print figures (no pass/fail): page weight of a question, the time to save an
answer and to submit and score a response, and the time to load the demo data.

Run with `make bench`. Uses a throw-away SQLite database in a temporary directory.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import select

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.db import upgrade
from surveyapp.demo import load_demo_data
from surveyapp.enums import AssignmentStatus, Respondent
from surveyapp.models import Assignment
from surveyapp.services.links import create_link


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(url)
        settings = Settings(
            env="test", database_url=url, secret_key="b" * 40, cpr_hmac_key="c" * 40
        )
        app = create_app(settings)
        factory = app.extensions["surveyapp.sessions"]
        started = time.perf_counter()
        summary = load_demo_data(factory, settings, citizens=300, today=date.today())
        print(f"demo data, 300 citizens: {time.perf_counter() - started:.1f} s ({summary})")
        with factory.begin() as session:
            targets = session.scalars(
                select(Assignment)
                .where(
                    Assignment.instrument_id.in_(("who5", "start_meeting")),
                    Assignment.respondent == Respondent.CITIZEN,
                    Assignment.status == AssignmentStatus.OPEN,
                )
                .limit(40)
            ).all()
            links = [(a.instrument_id, create_link(session, a)) for a in targets]
        weights: dict[str, int] = {}
        save_ms: list[float] = []
        submit_ms: list[float] = []
        for instrument_id, token in links:
            # A browser of its own per link: the token is exchanged for the cookie at once.
            client = app.test_client()
            assert client.get(f"/svar/{token}").status_code == 303
            start = client.get("/svar/")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', start.text).group(1)  # type: ignore[union-attr]
            assert client.post("/svar/start", data={"csrf_token": csrf}).status_code == 303
            page = client.get("/svar/1")
            assert page.status_code == 200
            assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
            total = len(page.data)
            for asset in assets:
                with client.get(asset) as response:
                    total += len(response.data)
            weights[instrument_id] = total
            items = 5 if instrument_id == "who5" else 4
            prefix = "who5_" if instrument_id == "who5" else "sm_"
            for number in range(1, items + 1):
                began = time.perf_counter()
                sent = client.post(
                    f"/svar/{number}", data={"csrf_token": csrf, f"{prefix}{number}": "3"}
                )
                elapsed = (time.perf_counter() - began) * 1000
                assert sent.status_code == 303, (instrument_id, number, sent.status_code)
                (submit_ms if number == items else save_ms).append(elapsed)
        for instrument_id, total in sorted(weights.items()):
            print(
                f"question page with CSS and JS, {instrument_id}: {total / 1024:.1f} KiB "
                "(target < 50 KiB)"
            )
        print(
            f"save one answer (HTTP POST + redirect), n={len(save_ms)}: median "
            f"{statistics.median(save_ms):.1f} ms, p95 {_p95(save_ms):.1f} ms"
        )
        print(
            f"last answer + submit + score, n={len(submit_ms)}: median "
            f"{statistics.median(submit_ms):.1f} ms, p95 {_p95(submit_ms):.1f} ms"
        )
        app.extensions["surveyapp.engine"].dispose()


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


if __name__ == "__main__":
    main()
