"""The load benchmark's machinery for a few seconds (bench/load_bench.py), so that it cannot rot:
real gunicorn (app and floor) on one SQLite file, two clients for one short round each, and the
questionnaires they completed (by link and on kiosk tablets) found in the database."""

from __future__ import annotations

from bench import load_bench
from bench.loadkit import KINDS


def test_a_tiny_run_completes_questionnaires_that_are_stored_and_prints_the_figures() -> None:
    lines: list[str] = []
    args = ["--db", "sqlite", "--clients", "2", "--seconds", "1.5", "--rounds", "1", "--kiosk"]
    (run,) = load_bench.main([*args, "--serial", "5"], out=lines.append)
    printed = "\n".join(lines)

    app = next(r for r in run.rounds if r.side == "app")
    kiosk = next(r for r in run.rounds if r.side == "kiosk")
    floor = next(r for r in run.rounds if r.side == "floor")
    assert app.completed >= 1 and not app.errors and not app.ran_out
    assert kiosk.completed >= 1 and not kiosk.errors and not kiosk.ran_out
    assert floor.completed >= 1 and not floor.errors
    # submitted responses: the rounds', one in-process walk, and walks cut at a round's end
    # after their last answer (at most one per client and round)
    done = app.completed + kiosk.completed + 1
    assert done <= run.stored <= done + app.clients + kiosk.clients
    assert run.floor_rows >= 5 * floor.completed  # one INSERT per answer
    assert app.server_cpu > 0 and app.per_second > 0
    assert len(app.latencies["question"]) >= 5 * app.completed
    assert set(run.statements) == set(KINDS) and all(run.statements.values())
    assert run.inproc.question_bytes > 1000 and run.inproc.samples == 5
    assert run.serial_app.samples == 5 and run.serial_app.client_ms > 0
    assert "app/floor: rate" in printed and "kiosk/floor: rate" in printed
    assert "<= 3 SQL statements per question page" in printed
    assert "question page < 2 ms median" in printed
