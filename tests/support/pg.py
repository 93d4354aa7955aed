"""A throw-away PostgreSQL server for the test session.

Started with the Debian binaries in a new temporary directory, listening only on a Unix socket
in that directory, as the `postgres` user when the tests run as root (PostgreSQL refuses to
run as root). Stopped and removed when the session ends. Set SURVEYAPP_TEST_POSTGRES_URL to an
existing server's admin URL to use that one instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be started; the message says why and how to fix it."""


def find_bin_dir() -> Path:
    """The directory holding initdb and pg_ctl (newest Debian version first)."""
    if os.environ.get("SURVEYAPP_PG_BIN"):
        return Path(os.environ["SURVEYAPP_PG_BIN"])
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found: run `make test` (it installs Debian's "
        "postgresql package) or set SURVEYAPP_PG_BIN"
    )


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TempPostgres:
    """Start with `start()`, stop with `stop()`; `admin_url` is a SQLAlchemy URL."""

    def __init__(self, *, durable: bool = False) -> None:
        # durable: every COMMIT waits for its WAL to be written (synchronous_commit=on), so a
        # server stopped with "immediate" (as in a crash) keeps everything it acknowledged.
        self.durable = durable
        self.bin_dir = find_bin_dir()
        self.run_as_postgres = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="surveyapp-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.started = False

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr}{tail}"
            )

    def start(self) -> None:
        if self.run_as_postgres:
            shutil.chown(self.base, user="postgres", group="postgres")
        self.base.chmod(0o700)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        )
        self.resume()

    def resume(self) -> None:
        """Start the (initialised) server again, on the same port and socket."""
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses='' -c fsync=off "
            f"-c synchronous_commit={'on' if self.durable else 'off'} -c full_page_writes=off "
            "-c max_connections=100"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True

    def pause(self, mode: str = "immediate") -> None:
        """Stop the server, keeping its data (`resume` starts it again). "immediate" is a
        crash as far as the clients see it: every connection is cut at once."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.started = False

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@/postgres?host={self.base}&port={self.port}"

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)
