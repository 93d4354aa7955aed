"""Backup and restore, verified by per-table checksums.

PostgreSQL: `pg_dump --format=custom` inside a REPEATABLE READ transaction whose snapshot
the dump shares (`--snapshot`), so the checksums written beside the dump describe exactly
what is in it; `pg_restore --single-transaction --exit-on-error` into an empty database.
SQLite: the online backup API (`sqlite3.Connection.backup`, one step: a consistent copy
while the app goes on writing), the checksums taken from the copy; restored the same way.

A table's checksum is its row count and a hash over every row in primary-key order,
computed the same way on both sides: on PostgreSQL in SQL (md5 of each row's text, then md5
of those in order, in a session with fixed text settings), on SQLite in Python. PostgreSQL's
sequences are outside snapshots; a restore checks that each is ahead of its table's ids
(one left behind would refuse the next insert).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from glob import glob
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL, make_url

from surveyapp.db import make_engine

FORMAT = 1
# Text forms that do not depend on the server's or the session's settings.
_PG_SETTINGS = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'postgres'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)


class BackupError(RuntimeError):
    """A backup or restore that could not be made; the message says why."""


@dataclass(frozen=True)
class TableSum:
    rows: int
    digest: str


@dataclass(frozen=True)
class Manifest:
    backend: str
    revision: str | None
    created_at: str
    tables: dict[str, TableSum]
    # PostgreSQL sequences already behind their column in the source (e.g. a one-row table
    # whose row was inserted with its id): a restore is not blamed for these.
    sequences_behind: tuple[str, ...] = ()

    def to_json(self) -> str:
        data = asdict(self)
        data["format"] = FORMAT
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, content: str) -> Manifest:
        data = json.loads(content)
        if data.get("format") != FORMAT:
            raise BackupError(f"unknown checksum file format {data.get('format')!r}")
        tables = {name: TableSum(**value) for name, value in data["tables"].items()}
        behind = tuple(data.get("sequences_behind", ()))
        return cls(data["backend"], data["revision"], data["created_at"], tables, behind)


def manifest_path(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + ".checksums.json")


# --- checksums ---------------------------------------------------------------------------


def checksums(engine: Engine) -> dict[str, TableSum]:
    """Every table's checksum, in one snapshot."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                return postgres_checksums(conn)
            finally:
                conn.rollback()
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        conn.exec_driver_sql("BEGIN")  # one read snapshot for every table
        try:
            return sqlite_checksums(raw)
        finally:
            conn.rollback()


def _order(columns: list[str], quote: Any) -> str:
    return ", ".join(quote(c) for c in columns)


def postgres_checksums(conn: Connection) -> dict[str, TableSum]:
    """Checksums in SQL, in the connection's current transaction (and its snapshot)."""
    for statement in _PG_SETTINGS:
        conn.exec_driver_sql(statement)
    inspector = inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    found: dict[str, TableSum] = {}
    for table in sorted(inspector.get_table_names()):
        columns = inspector.get_columns(table)
        keys = inspector.get_pk_constraint(table)["constrained_columns"] or [
            c["name"] for c in columns
        ]
        text_types = {c["name"] for c in columns if _is_text(c["type"])}
        order = ", ".join(f'{quote(k)} COLLATE "C"' if k in text_types else quote(k) for k in keys)
        rows, digest = conn.execute(
            text(
                f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY {order}), ''))"  # noqa: S608 - names from the catalogue
                f" FROM {quote(table)} AS t"
            )
        ).one()
        found[table] = TableSum(int(rows), str(digest))
    return found


def sequences_behind(conn: Connection) -> list[str]:
    """PostgreSQL sequences that would hand out an id their table already holds.

    Sequences are not part of a snapshot (pg_dump stores their value at the moment it reads
    them), so they are not compared with the checksums: each must only be ahead of its column.
    """
    quote = conn.dialect.identifier_preparer.quote
    owned = conn.execute(
        text(
            "SELECT s.relname, t.relname, a.attname FROM pg_class s"
            " JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass"
            " AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
            " JOIN pg_class t ON t.oid = d.refobjid"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
            " JOIN pg_namespace n ON n.oid = s.relnamespace"
            " WHERE s.relkind = 'S' AND n.nspname = current_schema() ORDER BY s.relname"
        )
    ).all()
    behind = []
    for sequence, table, column in owned:
        last, called = conn.execute(
            text(f"SELECT last_value, is_called FROM {quote(sequence)}")  # noqa: S608
        ).one()
        highest = conn.execute(
            text(f"SELECT max({quote(column)}) FROM {quote(table)}")  # noqa: S608
        ).scalar()
        handed_out = last if called else last - 1
        if highest is not None and highest > handed_out:
            behind.append(f"sequence {sequence}: behind {table}.{column} (next id is taken)")
    return behind


def _is_text(column_type: Any) -> bool:
    try:
        return column_type.python_type is str
    except NotImplementedError:
        return False


def sqlite_checksums(raw: sqlite3.Connection) -> dict[str, TableSum]:
    """Checksums in Python over every row, in primary-key order (rowid for a table without)."""
    found: dict[str, TableSum] = {}
    tables = [
        name
        for (name,) in raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    for table in tables:
        info = raw.execute(f'PRAGMA table_info("{table}")').fetchall()
        keys = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
        order = ", ".join(f'"{k}"' for k in keys) if keys else "rowid"
        digest = hashlib.sha256()
        rows = 0
        for row in raw.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):  # noqa: S608
            digest.update(repr(row).encode())
            digest.update(b"\n")
            rows += 1
        found[table] = TableSum(rows, digest.hexdigest())
    return found


def compare(expected: dict[str, TableSum], found: dict[str, TableSum]) -> list[str]:
    """Every table that differs, is missing or is extra (empty: all equal)."""
    lines = []
    for name in sorted(set(expected) | set(found)):
        want, have = expected.get(name), found.get(name)
        if want is None:
            lines.append(f"{name}: in the restored database, not in the backup")
        elif have is None:
            lines.append(f"{name}: in the backup, missing from the restored database")
        elif want != have:
            lines.append(
                f"{name}: {want.rows} rows {want.digest[:12]} in the backup, "
                f"{have.rows} rows {have.digest[:12]} restored"
            )
    return lines


# --- PostgreSQL tools --------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """pg_dump or pg_restore: SURVEYAPP_PG_BIN, else the newest Debian version, else PATH."""
    candidates = []
    if os.environ.get("SURVEYAPP_PG_BIN"):
        candidates.append(Path(os.environ["SURVEYAPP_PG_BIN"]) / name)
    versions = sorted(glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    candidates += [Path(v) / name for v in versions]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise BackupError(
        f"{name} not found: install PostgreSQL's client tools or set SURVEYAPP_PG_BIN"
    )


def _version(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


def _libpq(url: URL) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump/pg_restore, with the password in the environment."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = ["--dbname", str(url.database)]
    host = url.query.get("host") or url.host
    if host:
        args += ["--host", str(host)]
    port = url.query.get("port") or url.port
    if port:
        args += ["--port", str(port)]
    if url.username:
        args += ["--username", url.username]
    return [*args, "--no-password"], env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed ({done.returncode}): {done.stderr.strip()}")


# --- backup ------------------------------------------------------------------------------


def backup(url: str, out: Path) -> Manifest:
    """Back up the database at `url` to `out` and its checksums beside it (both 0600)."""
    parsed = make_url(url)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    old_umask = os.umask(0o077)  # the backup holds personal data: owner only
    try:
        partial.unlink(missing_ok=True)
        backend = parsed.get_backend_name()
        behind: list[str] = []
        if backend == "sqlite":
            tables, revision = _backup_sqlite(parsed, partial)
        elif backend == "postgresql":
            tables, revision, behind = _backup_postgres(url, parsed, partial)
        else:
            raise BackupError(f"no backup for {backend} databases")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        manifest = Manifest(backend, revision, created, tables, tuple(behind))
        manifest_path(out).write_text(manifest.to_json(), encoding="utf-8")
        partial.replace(out)  # complete only once it is all there
        return manifest
    finally:
        partial.unlink(missing_ok=True)
        os.umask(old_umask)


def _alembic_revision(conn: Any) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except Exception:  # noqa: BLE001 - a database without a schema has no revision
        return None
    return None if row is None else str(row[0])


def _backup_sqlite(parsed: URL, target: Path) -> tuple[dict[str, TableSum], str | None]:
    source = Path(parsed.database or "")
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    _copy_sqlite(source, target)
    copy = sqlite3.connect(target)
    try:
        ok = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise BackupError(f"the copy fails SQLite's integrity check: {ok}")
        return sqlite_checksums(copy), _alembic_revision(copy)
    finally:
        copy.close()


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup in one step (pages=-1): a consistent copy while writers go on."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


def _backup_postgres(
    url: str, parsed: URL, target: Path
) -> tuple[dict[str, TableSum], str | None, list[str]]:
    args, env = _libpq(parsed)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            tables = postgres_checksums(conn)  # the snapshot pg_dump reads too
            revision = _alembic_revision(conn.connection.driver_connection)
            behind = sequences_behind(conn)
            _run(
                [
                    pg_tool("pg_dump"),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    "--file",
                    str(target),
                    *args,
                ],
                env,
            )
            conn.rollback()
        return tables, revision, behind
    finally:
        engine.dispose()


# --- restore -----------------------------------------------------------------------------


def restore(backup_file: Path, into: str) -> list[str]:
    """Restore into an EMPTY database; the tables that differ from the checksums (or [])."""
    checksum_file = manifest_path(backup_file)
    if not checksum_file.is_file():
        raise BackupError(f"no checksums beside the backup ({checksum_file.name})")
    manifest = Manifest.from_json(checksum_file.read_text(encoding="utf-8"))
    parsed = make_url(into)
    if parsed.get_backend_name() != manifest.backend:
        raise BackupError(f"a {manifest.backend} backup restores into {manifest.backend} only")
    if manifest.backend == "sqlite":
        target = Path(parsed.database or "")
        if target.exists() and target.stat().st_size > 0:
            raise BackupError(f"{target} exists: restore into a new file")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        try:
            _copy_sqlite(backup_file, partial)
            partial.replace(target)  # the database appears only once it is whole
        finally:
            partial.unlink(missing_ok=True)
    else:
        engine = make_engine(into)
        try:
            with engine.connect() as conn:
                if inspect(conn).get_table_names():
                    raise BackupError(
                        f"database {parsed.database} is not empty: restore into a new one"
                    )
        finally:
            engine.dispose()
        args, env = _libpq(parsed)
        _run(
            [
                pg_tool("pg_restore"),
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                *args,
                str(backup_file),
            ],
            env,
        )
    engine = make_engine(into)
    try:
        problems = compare(manifest.tables, checksums(engine))
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                already = set(manifest.sequences_behind)
                problems += [p for p in sequences_behind(conn) if p not in already]
        return problems
    finally:
        engine.dispose()
