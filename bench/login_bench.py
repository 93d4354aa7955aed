"""Login cost under a burst of wrong passwords, while citizens go on answering.

    .venv/bin/python bench/login_bench.py                  # sync workers, one attacking address
    .venv/bin/python bench/login_bench.py --addresses 10   # the burst from 10 addresses
    .venv/bin/python bench/login_bench.py --worker-class gthread

Starts a throw-away PostgreSQL 15 (tests/support/pg.py) and real gunicorn with the project's
gunicorn.conf.py (2 workers, production settings, one trusted proxy so that a burst can come
from several addresses through X-Forwarded-For). `--answerers` clients answer complete WHO-5
questionnaires by link (14 requests each) in three phases of `--seconds` each: alone, during a
burst of wrong-password logins from `--attackers` clients (as fast as they are answered, or
`--attack-rate` per second in all; a new username every time, so only the per-address limit
holds them; `--attackers 0` measures answering alone), and alone again. It prints
the completed questionnaires per second and the server's CPU seconds per phase, how many login
attempts were made, and how many reached the argon2 hasher: the audit trail says it for each
hashed attempt (`login.failed`/`login.locked`); the attempts refused before it are the address
counters' hits beyond the limit (their `login.throttled` events are only the 1st, 10th, 100th
... of a window, surveyapp/services/auth.py), and a 503 is a "try again" of a busy hasher.
A figure, not a test: nothing passes or fails. Bounded: 3 phases of --seconds (default 15),
then it stops.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench.loadkit import answer_one, cpu_seconds, make_links  # noqa: E402
from surveyapp.db import make_engine, upgrade  # noqa: E402
from surveyapp.models import AuditEvent, RateCounter  # noqa: E402
from surveyapp.security import hash_secret  # noqa: E402
from tests.support.offline import session_key_dir  # noqa: E402
from tests.support.pg import TempPostgres  # noqa: E402
from tests.support.serving import Client, Gunicorn  # noqa: E402

PASSWORD = "the coordinator's real password"  # noqa: S105
HASHED = ("login.failed", "login.locked")  # the hasher ran for these attempts


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    completed: int = 0
    failed: int = 0
    cpu: float = 0.0
    attempts: int = 0
    busy: int = 0  # answered "try again" (503): the hasher had no free slot
    login_ms: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # seconds into the phase
    began: float = 0.0


def run(args: argparse.Namespace) -> None:
    server_pg = TempPostgres()
    server_pg.start()
    tmp = Path(tempfile.mkdtemp(prefix="login-bench-"))
    try:
        from sqlalchemy import create_engine

        admin = create_engine(server_pg.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE bench"))
        admin.dispose()
        url = server_pg.admin_url.replace("/postgres?", "/bench?")
        upgrade(url)
        started = time.perf_counter()
        links = iter(make_links(url, args.links, coordinator_password_hash=hash_secret(PASSWORD)))
        print(f"{args.links} links made in {time.perf_counter() - started:.1f} s")
        gunicorn = Gunicorn(
            {
                "SURVEYAPP_ENV": "production",
                "SURVEYAPP_DATABASE_URL": url,
                "SURVEYAPP_SECRET_KEY": "bench-secret-key-" + "s" * 40,
                "SURVEYAPP_CPR_HMAC_KEY": "bench-cpr-hmac-key-" + "c" * 40,
                "SURVEYAPP_PUBLIC_URL": "https://surveyapp.example.dk",
                "SURVEYAPP_OFFLINE_KEY_DIR": str(session_key_dir()),
                "SURVEYAPP_TRUSTED_PROXIES": "1",
                "WEB_CONCURRENCY": str(args.workers),
                "GUNICORN_WORKER_CLASS": args.worker_class,
                "GUNICORN_LOGLEVEL": "warning",
            },
            tmp / "gunicorn.log",
            "--access-logfile",
            str(tmp / "access.log"),
        ).start()
        lock = threading.Lock()
        names = itertools.count()
        interval = args.attackers / args.attack_rate if args.attack_rate else 0.0
        phases: list[Phase] = []
        try:
            for name, attack in (("alone", False), ("burst", True), ("after", False)):
                phase = Phase(name)
                phases.append(phase)
                stop = time.monotonic() + args.seconds

                def answerer(phase: Phase = phase, stop: float = stop) -> None:
                    while time.monotonic() < stop:
                        with lock:
                            token = next(links)
                        ok = answer_one(gunicorn.port, token)
                        with lock:
                            if ok:
                                phase.completed += 1
                                phase.done_at.append(time.perf_counter() - phase.began)
                            else:
                                phase.failed += 1

                def attacker(number: int, phase: Phase = phase, stop: float = stop) -> None:
                    address = f"198.51.100.{number % args.addresses + 1}"
                    client = Client(gunicorn.port, headers={"X-Forwarded-For": address})
                    csrf = client.get("/login").csrf()
                    while time.monotonic() < stop:
                        with lock:
                            username = f"guess{next(names)}"
                        began = time.perf_counter()
                        reply = client.post(
                            "/login",
                            {"username": username, "password": "wrong guess", "csrf_token": csrf},
                        )
                        with lock:
                            phase.attempts += 1
                            phase.busy += reply.status == 503
                            phase.login_ms.append((time.perf_counter() - began) * 1000)
                        if reply.status == 400:
                            csrf = client.get("/login").csrf()
                        time.sleep(max(0.0, interval - (time.perf_counter() - began)))

                threads = [threading.Thread(target=answerer) for _ in range(args.answerers)]
                if attack:
                    threads += [
                        threading.Thread(target=attacker, args=(n,)) for n in range(args.attackers)
                    ]
                cpu_before, began = cpu_seconds(gunicorn), time.perf_counter()
                phase.began = began
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                phase.seconds = time.perf_counter() - began
                phase.cpu = cpu_seconds(gunicorn) - cpu_before
        finally:
            gunicorn.stop()
        engine = make_engine(url)
        with engine.connect() as conn:
            actions = Counter(
                dict(
                    conn.execute(
                        select(AuditEvent.action, func.count())
                        .where(AuditEvent.action.like("login%"))
                        .group_by(AuditEvent.action)
                    ).all()
                )
            )
            counted = sum(  # each address's refusals: its hits beyond the limit of 20
                max(hits - 20, 0)
                for hits in conn.scalars(
                    select(RateCounter.hits).where(RateCounter.kind == "login_ip")
                )
            )
            stored = conn.scalar(
                text("SELECT count(*) FROM response WHERE submitted_at IS NOT NULL")
            )
        engine.dispose()
        report(args, phases, actions, counted, stored)
    finally:
        server_pg.stop()


def report(
    args: argparse.Namespace,
    phases: list[Phase],
    actions: Counter[str],
    counted: int,
    stored: int,
) -> None:
    print(
        f"gunicorn {args.workers} workers ({args.worker_class}), PostgreSQL, {args.answerers} "
        f"answering clients, {args.attackers} attacking clients from {args.addresses} "
        f"address(es) at {args.attack_rate or 'full'} attempts/s, {args.seconds:.0f} s per "
        f"phase, {date.today()}"
    )
    print(f"{'phase':8} {'WHO-5/s':>8} {'done':>6} {'errors':>6} {'CPU s':>6} {'logins':>7}")
    for phase in phases:
        print(
            f"{phase.name:8} {phase.completed / phase.seconds:8.1f} {phase.completed:6} "
            f"{phase.failed:6} {phase.cpu:6.1f} {phase.attempts:7}"
        )
    burst = next(p for p in phases if p.name == "burst")
    hashed = sum(actions[a] for a in HASHED)
    if burst.login_ms:
        ordered = sorted(burst.login_ms)
        print(
            f"login attempts: {burst.attempts} ({burst.attempts / burst.seconds:.0f}/s), "
            f"answered in median {ordered[len(ordered) // 2]:.1f} ms, "
            f"p95 {ordered[int(len(ordered) * 0.95)]:.1f} ms"
        )
    limit = 20 * min(args.addresses, args.attackers)  # attacker n sends from address n % addresses
    print(
        f"reached the argon2 hasher: {hashed} (audit {', '.join(HASHED)}), limit {limit} "
        f"(20 per address and 15 minutes); refused before it: {counted} (the address "
        f"counters beyond the limit; audited: {actions['login.throttled']} login.throttled); "
        f"'try again' while the hasher was busy: {burst.busy}"
    )
    alone = phases[0].completed / phases[0].seconds
    after = phases[2].completed / phases[2].seconds
    first = sum(1 for t in burst.done_at if t < args.first)
    rest = (len(burst.done_at) - first) / max(burst.seconds - args.first, 0.001)
    print(
        f"answering during the burst: {burst.completed / burst.seconds / alone:.2f}x alone "
        f"(first {args.first:.0f} s, while the first attempts are hashed: "
        f"{first / args.first / alone:.2f}x; after that: {rest / alone:.2f}x); "
        f"completed responses stored: {stored}"
    )
    print(
        f"answering during the burst against the phase after it: "
        f"{burst.completed / burst.seconds / after:.2f}x; against both phases alone: "
        f"{burst.completed / burst.seconds / ((alone + after) / 2):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--answerers", type=int, default=4)
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--addresses", type=int, default=1)
    parser.add_argument(
        "--attack-rate", type=float, default=0.0, help="attempts per second (0: flat out)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--links", type=int, default=2000)
    parser.add_argument(
        "--first", type=float, default=5.0, help="the burst's first seconds, reported apart"
    )
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120:
        parser.error("--seconds must be 1 to 120")
    run(args)


if __name__ == "__main__":
    main()
