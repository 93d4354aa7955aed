"""`surveyapp backup` and `surveyapp restore`: the demo data backed up, restored into a fresh
database, every table's checksum equal and `surveyapp check` passing on the copy; a restore
with one row changed is caught. Both backends are also backed up while a thread goes on
answering (SQLite: the online backup API; PostgreSQL: pg_dump of one snapshot).
"""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from surveyapp.cli import main
from surveyapp.db import make_engine, make_session_factory
from surveyapp.enums import AssignmentStatus, Channel
from surveyapp.instruments import default_registry
from surveyapp.models import Assignment, Response, utcnow
from surveyapp.services import audit, backup
from surveyapp.services.responses import record_complete_response
from tests.db import integrity_support
from tests.db.integrity_support import DemoDatabases, run_cli

demo_databases = integrity_support.demo_databases  # fixtures
demo_url = integrity_support.demo_url


def _fresh_target(demo_databases: DemoDatabases, tmp_path: Path) -> str:
    """An empty database of the same backend (a new file, or a new empty PostgreSQL db)."""
    if demo_databases.backend == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    url = demo_databases.copy()  # a copy of the demo, then emptied: a fresh database
    name = make_url(url).database
    with demo_databases.databases.admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE template0"))
    return url


def _checksums(url: str) -> dict[str, backup.TableSum]:
    engine = make_engine(url)
    try:
        return backup.checksums(engine)
    finally:
        engine.dispose()


def test_backup_restore_into_a_fresh_database_matches_and_passes_the_check(
    demo_databases: DemoDatabases, demo_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "nightly" / "surveyapp.backup"
    code, output = run_cli("backup", str(out), "--database-url", demo_url)
    assert code == 0, output
    assert out.is_file() and backup.manifest_path(out).is_file()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # personal data: owner only
    manifest = backup.Manifest.from_json(backup.manifest_path(out).read_text())
    assert manifest.tables == _checksums(demo_url)  # nothing written since: the same
    assert manifest.tables["response"].rows > 50 and manifest.tables["audit_event"].rows >= 1

    target = _fresh_target(demo_databases, tmp_path)
    try:
        code, output = run_cli("restore", str(out), "--into", target)
        assert code == 0, output
        assert "every table matches its checksums" in output
        assert output.rstrip().endswith("all 8 checks hold")
        assert _checksums(target) == manifest.tables
        code, output = run_cli("restore", str(out), "--into", target)  # not over data
        assert code == 1 and "restore into a new" in output
    finally:
        if demo_databases.backend == "postgresql":
            demo_databases.drop(target)


def test_a_corrupted_restore_is_detected(
    demo_databases: DemoDatabases, demo_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "surveyapp.backup"
    assert run_cli("backup", str(out), "--database-url", demo_url)[0] == 0
    # The restored copy differs by one row: as if the dump had been damaged.
    engine = make_engine(demo_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE citizen SET birth_year = birth_year + 1 WHERE id = 1"))
    finally:
        engine.dispose()
    assert run_cli("backup", str(tmp_path / "changed.backup"), "--database-url", demo_url)[0] == 0
    changed = tmp_path / "changed.backup"
    backup.manifest_path(changed).write_text(backup.manifest_path(out).read_text())

    target = _fresh_target(demo_databases, tmp_path)
    try:
        code, output = run_cli("restore", str(changed), "--into", target)
        assert code == 1, output
        assert "MISMATCH citizen:" in output
        assert "does NOT match its checksums" in output
        assert [line for line in output.splitlines() if line.startswith("MISMATCH")] == [
            line for line in output.splitlines() if line.startswith("MISMATCH citizen:")
        ]
    finally:
        if demo_databases.backend == "postgresql":
            demo_databases.drop(target)


def test_backup_while_the_app_writes(
    demo_databases: DemoDatabases, demo_url: str, tmp_path: Path
) -> None:
    registry = default_registry()
    engine = make_engine(demo_url)
    factory = make_session_factory(engine)
    with factory() as session:
        open_ids = session.scalars(
            select(Assignment.id)
            .outerjoin(Response, Response.assignment_id == Assignment.id)
            .where(
                Response.id.is_(None),
                Assignment.instrument_id == "who5",
                Assignment.status.not_in([AssignmentStatus.DECLINED, AssignmentStatus.COMPLETED]),
            )
            .order_by(Assignment.id)
        ).all()
        before = session.scalar(select(func.count()).select_from(Response))
    assert len(open_ids) >= 5
    stop = threading.Event()
    written: list[str] = []

    def answer() -> None:  # a kiosk answering, and staff looking at the pages (audited)
        queue = list(open_ids)
        while not stop.is_set():
            with factory.begin() as session:
                if queue:
                    record_complete_response(
                        session,
                        session.get_one(Assignment, queue.pop(0)),
                        {f"who5_{n}": 3 for n in range(1, 6)},
                        channel=Channel.KIOSK,
                        language="da",
                        registry=registry,
                        started_at=utcnow(),
                        submitted_at=utcnow(),
                    )
                audit.record(session, audit.SYSTEM, "login.failed")
            written.append("response" if queue else "event")

    writer = threading.Thread(target=answer)
    writer.start()
    try:
        out = tmp_path / "live.backup"
        while not written:  # the backup starts while answers are being written
            threading.Event().wait(0.005)
        at_start = len(written)
        code, output = run_cli("backup", str(out), "--database-url", demo_url)
        during = len(written) - at_start
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    assert code == 0, output
    assert during > 0  # the app went on writing while the backup ran
    target = _fresh_target(demo_databases, tmp_path)
    try:
        # The checksums were taken in the copy's own snapshot (SQLite: from the copy;
        # PostgreSQL: in the transaction whose snapshot pg_dump read), so they match it.
        code, output = run_cli("restore", str(out), "--into", target)
        assert code == 0, output
        assert output.rstrip().endswith("all 8 checks hold")  # no half-written response
        engine = make_engine(target)
        with engine.connect() as conn:
            restored = conn.execute(text("SELECT count(*) FROM response")).scalar_one()
        engine.dispose()
        assert before <= restored <= before + len(open_ids)
        assert _checksums(demo_url) != _checksums(target)  # the source went on after it
    finally:
        if demo_databases.backend == "postgresql":
            demo_databases.drop(target)


@pytest.mark.parametrize(
    "demo_databases", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_sequence_left_behind_its_table_is_named(demo_url: str) -> None:
    engine = make_engine(demo_url)
    try:
        with engine.begin() as conn:
            already = backup.sequences_behind(conn)  # e.g. the chain head's one fixed row
            conn.execute(text("SELECT setval('response_id_seq', 1)"))
            found = backup.sequences_behind(conn)
    finally:
        engine.dispose()
    assert "sequence response_id_seq: behind response.id (next id is taken)" in found
    assert "sequence response_id_seq: behind response.id (next id is taken)" not in already
    assert [line for line in found if line not in already] == [
        "sequence response_id_seq: behind response.id (next id is taken)"
    ]


def test_a_backup_job_needs_no_secrets(demo_url: str, tmp_path: Path) -> None:
    """Production refuses to start without its secrets; a backup job is not refused."""
    out = tmp_path / "job.backup"
    result = CliRunner().invoke(
        main,
        ["backup", str(out)],
        env={"SURVEYAPP_ENV": "production", "SURVEYAPP_DATABASE_URL": demo_url},
    )
    assert result.exit_code == 0, result.output
    assert backup.Manifest.from_json(backup.manifest_path(out).read_text()).tables == (
        _checksums(demo_url)
    )
    refused = CliRunner().invoke(
        main, ["check", "--database-url", demo_url], env={"SURVEYAPP_ENV": "production"}
    )
    assert refused.exit_code == 1
    assert "refusing to start in production" in refused.output  # a message, not a traceback


@pytest.mark.parametrize("demo_databases", ["sqlite"], indirect=True)
def test_restore_refuses_what_it_cannot_verify(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "a.backup"
    assert run_cli("backup", str(out), "--database-url", demo_url)[0] == 0
    code, output = run_cli("restore", str(out), "--into", "postgresql+psycopg://x@/y")
    assert code == 1 and "a sqlite backup restores into sqlite only" in output
    backup.manifest_path(out).unlink()
    code, output = run_cli("restore", str(out), "--into", f"sqlite:///{tmp_path / 'r.sqlite3'}")
    assert code == 1 and "no checksums beside the backup" in output
    assert not (tmp_path / "r.sqlite3").exists()
