"""What one item from the offline kiosk's queue costs the server, beside a floor.

    python bench/offline_bench.py [--items 200] [--rounds 5]

A real kiosk visit on a fresh SQLite database (the web tests' set-up), then, interleaved in
short rounds: `--items` sealed answers posted to `POST /kiosk/sync` (each a new idempotency
key: decrypt with RSA-OAEP 3072 + AES-GCM, store the key, save the answer, commit), the same
envelopes posted again (duplicates: decrypt and find the key), and the floor: a bare Flask app
in the same process that parses the same JSON body and INSERTs one row into SQLite per
request. It prints the median per item and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from flask import Flask, jsonify, request

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.db import upgrade
from tests.conftest import TEST_CPR_KEY, TEST_SECRET_KEY
from tests.support.offline import session_key_dir
from tests.web.test_offline_sync import SAME_ORIGIN, Visit


def floor_app(path: Path) -> Flask:
    """The bare floor: parse the JSON body, one INSERT, a JSON reply."""
    app = Flask("floor")
    connection = sqlite3.connect(path, check_same_thread=False)
    connection.execute("CREATE TABLE item (key TEXT PRIMARY KEY, body TEXT)")

    @app.post("/sync")
    def sync():  # type: ignore[no-untyped-def]
        body = request.get_json()
        with connection:
            connection.execute("INSERT INTO item VALUES (?, ?)", (body["key"], body["data"]))
        return jsonify({"status": "stored"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="offline-bench-"))
    url = f"sqlite:///{directory / 'bench.sqlite3'}"
    upgrade(url)
    settings = Settings(
        env="test",
        database_url=url,
        secret_key=TEST_SECRET_KEY,
        cpr_hmac_key=TEST_CPR_KEY,
        offline_key_dir=str(session_key_dir()),
    )
    app = create_app(settings)
    visit = Visit(app, app.extensions["surveyapp.sessions"])
    client = app.test_client()
    floor = floor_app(directory / "floor.sqlite3").test_client()
    timings: dict[str, list[float]] = {"new item": [], "same item again": [], "floor": []}
    for _round in range(args.rounds):
        envelopes = [
            visit.envelope(visit.plain(item=f"who5_{1 + n % 5}", answer=n % 6))
            for n in range(args.items)
        ]
        start = time.perf_counter()
        for envelope in envelopes:
            assert client.post("/kiosk/sync", json=envelope, headers=SAME_ORIGIN).status_code == 200
        timings["new item"].append((time.perf_counter() - start) / args.items)
        start = time.perf_counter()
        for envelope in envelopes:
            reply = client.post("/kiosk/sync", json=envelope, headers=SAME_ORIGIN)
            assert reply.json["status"] == "duplicate"
        timings["same item again"].append((time.perf_counter() - start) / args.items)
        start = time.perf_counter()
        for envelope in envelopes:
            assert floor.post("/sync", json=envelope).status_code == 200
        timings["floor"].append((time.perf_counter() - start) / args.items)
    base = statistics.median(timings["floor"])
    print(f"{args.items} items x {args.rounds} rounds, SQLite, one process (Flask test client)")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:>16}: {median * 1000:6.2f} ms per item  ({median / base:4.1f}x the floor)")


if __name__ == "__main__":
    main()
