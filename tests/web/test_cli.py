"""The `surveyapp` command as a newcomer runs it: migrate, demo, serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_migrate_demo_and_serve_from_the_command_line(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SURVEYAPP_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
        "PORT": str(port),
    }
    cli = [sys.executable, "-m", "surveyapp.cli"]
    run = subprocess.run([*cli, "migrate"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        [*cli, "demo", "--citizens", "5"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert "demo data loaded: 5 citizens" in run.stdout, run.stderr
    server = subprocess.Popen(
        [*cli, "serve"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
                    body = json.load(response)
                break
            except OSError:
                time.sleep(0.1)
        assert body == {"status": "ok", "database": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()  # type: ignore[union-attr]
        server.stderr.close()  # type: ignore[union-attr]
