"""The audit trail is a hash chain: tampering with SQL is caught by `surveyapp audit-verify`.

Each tampering test first does what an intruder with the schema owner's rights would do
(turn the triggers off, then edit, delete or insert rows with SQL) and then runs the
command, which must exit 1 and name the first broken link. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from sqlalchemy import Connection, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from surveyapp import auditchain
from surveyapp.cli import main
from surveyapp.db import alembic_config, make_engine, make_session_factory
from surveyapp.dbroles import app_role_grants
from surveyapp.enums import ActorType
from surveyapp.models import AuditChainHead, AuditEvent, utcnow
from surveyapp.models.base import UTCDateTime
from surveyapp.services import audit
from surveyapp.services.audit import Actor, verify_chain

STAFF_AT_HOME = Actor(ActorType.STAFF, ip_address="192.0.2.10")
TABLE = AuditEvent.__table__


def _record(factory: sessionmaker[Session], count: int, actor: Actor = audit.SYSTEM) -> None:
    for n in range(count):
        with factory.begin() as session:
            audit.record(
                session, actor, "report.view", object_type="report", details={"n": n, "é": "ø"}
            )


def _verify_cli(database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["audit-verify", *args], env={"SURVEYAPP_DATABASE_URL": database_url}
    )
    return result.exit_code, result.output


def _triggers_off(conn: Connection) -> None:
    """What an intruder with the owner's rights does first."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
    else:
        for name in ("no_update", "no_delete", "chain", "advance"):
            conn.execute(text(f"DROP TRIGGER audit_event_{name}"))


def _row(conn: Connection, seq: int) -> dict[str, Any]:
    return dict(conn.execute(select(TABLE).where(TABLE.c.seq == seq)).mappings().one())


def _forged(seq: int, prev_hash: str, moment: datetime) -> dict[str, Any]:
    """A well-formed event, hashed correctly, as someone who knows the algorithm makes it."""
    fields: dict[str, Any] = {
        "seq": seq,
        "prev_hash": prev_hash,
        "occurred_at": moment,
        "actor_type": "system",
        "actor_user_id": None,
        "action": "report.view",
        "object_type": None,
        "object_id": None,
        "municipality_id": None,
        "ip_digest": None,
        "details": None,
    }
    fields["hash"] = auditchain.event_hash(fields)
    return fields


def _insert_middle(conn: Connection) -> None:
    conn.execute(text("UPDATE audit_event SET seq = seq + 100 WHERE seq >= 3"))
    conn.execute(text("UPDATE audit_event SET seq = seq - 99 WHERE seq >= 100"))
    two = _row(conn, 2)
    conn.execute(TABLE.insert().values(**_forged(3, two["hash"], two["occurred_at"])))


def _insert_end(conn: Connection) -> None:
    five = _row(conn, 5)
    conn.execute(TABLE.insert().values(**_forged(6, five["hash"], five["occurred_at"])))


TAMPERING: dict[str, tuple[Callable[[Connection], None], int, str]] = {
    "edited row": (
        lambda c: c.execute(text("UPDATE audit_event SET action = 'login' WHERE seq = 3")),
        3,
        "content",
    ),
    "edited time": (
        lambda c: c.execute(
            TABLE.update()
            .where(TABLE.c.seq == 4)
            .values(occurred_at=datetime(2020, 1, 1, tzinfo=UTC))
        ),
        4,
        "content",
    ),
    "deleted in the middle": (
        lambda c: c.execute(text("DELETE FROM audit_event WHERE seq = 3")),
        3,
        "missing",
    ),
    "deleted at the end": (
        lambda c: c.execute(text("DELETE FROM audit_event WHERE seq >= 4")),
        4,
        "truncated",
    ),
    "inserted in the middle": (_insert_middle, 4, "prev_hash"),
    "inserted at the end": (_insert_end, 5, "head"),
    "IP address removed too early": (  # the triggers allow it, the retention period does not
        lambda c: c.execute(
            text("UPDATE audit_event SET ip_address = NULL, ip_salt = NULL WHERE seq = 2")
        ),
        2,
        "ip",
    ),
    "edited IP address": (
        lambda c: c.execute(
            text("UPDATE audit_event SET ip_address = '198.51.100.7' WHERE seq = 2")
        ),
        2,
        "ip",
    ),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_audit_verify_finds_the_first_broken_link(
    how: str, session_factory: sessionmaker[Session], database_url: str
) -> None:
    _record(session_factory, 1)
    _record(session_factory, 1, STAFF_AT_HOME)
    _record(session_factory, 3)
    code, out = _verify_cli(database_url)
    assert code == 0, out
    assert "audit trail intact: 5 events, head 5:" in out
    tamper, seq, kind = TAMPERING[how]
    engine = session_factory.kw["bind"]
    with engine.begin() as conn:
        _triggers_off(conn)
        tamper(conn)
    code, out = _verify_cli(database_url)
    assert code == 1
    assert f"audit trail BROKEN at event {seq} ({kind})" in out, out


def test_events_are_chained_at_the_servers_time(session_factory: sessionmaker[Session]) -> None:
    before = utcnow() - timedelta(seconds=5)
    _record(session_factory, 2, STAFF_AT_HOME)
    with session_factory.begin() as session:  # a caller's own time is overwritten
        session.add(
            AuditEvent(
                actor_type="system",
                action="report.view",
                occurred_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
    with session_factory() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        head = session.get(AuditChainHead, 1)
        report = verify_chain(session)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == auditchain.GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert all(before <= e.occurred_at <= utcnow() for e in events)
    assert events[0].ip_address == "192.0.2.10" and events[0].ip_digest not in (None, "")
    assert events[0].ip_digest != events[1].ip_digest  # a fresh salt per event
    assert head is not None and (head.seq, head.hash) == (3, events[-1].hash)
    assert report.ok and report.checked == 3


def test_a_back_dated_or_unlinked_insert_is_refused(
    session_factory: sessionmaker[Session],
) -> None:
    _record(session_factory, 2)
    engine = session_factory.kw["bind"]
    with engine.connect() as conn:
        head = conn.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one()
        old_time = conn.execute(select(AuditChainHead.occurred_at)).scalar_one()
    attempts = {
        "server's time": _forged(head.seq + 1, head.hash, utcnow() - timedelta(days=1)),
        "behind the head": _forged(head.seq + 1, head.hash, old_time - timedelta(seconds=1)),
        "does not continue": _forged(head.seq + 5, head.hash, utcnow()),
        "not continue": _forged(head.seq + 1, "f" * 64, utcnow()),
    }
    for message, row in attempts.items():
        expected = "server's time" if message == "behind the head" else message
        with pytest.raises(DBAPIError, match=expected), engine.begin() as conn:
            conn.execute(TABLE.insert().values(**row))
    with session_factory() as session:
        assert verify_chain(session).checked == 2


def test_concurrent_appends_keep_one_unbroken_chain(
    session_factory: sessionmaker[Session],
) -> None:
    """4 threads, each its own connection, 5 events each, at once."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            _record(session_factory, 5, STAFF_AT_HOME)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_factory() as session:
        report = verify_chain(session)
    assert report.ok and report.checked == 20 and report.last_seq == 20


def test_old_ip_addresses_can_be_removed_without_breaking_the_chain(
    session_factory: sessionmaker[Session],
) -> None:
    _record(session_factory, 3, STAFF_AT_HOME)
    with session_factory.begin() as session:
        removed = audit.forget_ip_addresses(session, utcnow() + timedelta(seconds=1))
    assert removed == 3
    with session_factory() as session:
        assert session.scalars(select(AuditEvent.ip_address)).all() == [None, None, None]
        assert session.scalars(select(AuditEvent.ip_salt)).all() == [None, None, None]
        assert None not in session.scalars(select(AuditEvent.ip_digest)).all()
    with session_factory() as session:
        report = verify_chain(session)
    assert report.ok and report.ips_forgotten == 3
    for statement in (
        "UPDATE audit_event SET ip_address = '203.0.113.1'",
        "UPDATE audit_event SET ip_salt = NULL, action = 'login'",
        "DELETE FROM audit_event",
    ):
        with pytest.raises(DBAPIError, match="append-only"), session_factory.begin() as session:
            session.execute(text(statement))


def test_a_checkpoint_catches_a_chain_rewritten_from_the_middle(
    session_factory: sessionmaker[Session], database_url: str
) -> None:
    """Without an outside checkpoint a full rewrite (rows, hashes and head) goes unseen."""
    _record(session_factory, 5)
    with session_factory() as session:
        checkpoint = verify_chain(session)
    engine = session_factory.kw["bind"]
    with engine.begin() as conn:
        _triggers_off(conn)
        conn.execute(text("UPDATE audit_event SET action = 'login' WHERE seq = 3"))
        prev = _row(conn, 2)["hash"]
        for seq in (3, 4, 5):
            row = _row(conn, seq)
            row["prev_hash"] = prev
            prev = auditchain.event_hash(row)
            conn.execute(
                TABLE.update()
                .where(TABLE.c.seq == seq)
                .values(prev_hash=row["prev_hash"], hash=prev)
            )
        conn.execute(AuditChainHead.__table__.update().values(hash=prev))
    code, out = _verify_cli(database_url)
    assert code == 0, out  # the limit: consistent rewriting by the owner is not seen ...
    code, out = _verify_cli(database_url, "--expect", f"5:{checkpoint.last_hash}")
    assert code == 1 and "BROKEN at event 5 (head)" in out  # ... unless a checkpoint was kept


def test_the_migration_chains_the_events_written_before_it(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0005")
    engine = create_engine(database_url)
    legacy = [
        (datetime(2026, 11, 2, 9, tzinfo=UTC), "citizen.view", "192.0.2.1"),
        (datetime(2026, 11, 1, 9, tzinfo=UTC), "login", None),  # written later, happened first
        (datetime(2026, 11, 3, 9, tzinfo=UTC), "logout", "192.0.2.1"),
    ]
    old = create_engine(database_url)
    legacy_table = sa.table(
        "audit_event",
        sa.column("occurred_at", UTCDateTime()),
        sa.column("actor_type", sa.String()),
        sa.column("action", sa.String()),
        sa.column("ip_address", sa.String()),
        sa.column("details", sa.JSON()),
    )
    with old.begin() as conn:
        for moment, action, ip in legacy:
            conn.execute(
                legacy_table.insert().values(
                    occurred_at=moment,
                    actor_type="staff",
                    action=action,
                    ip_address=ip,
                    details={"b": 1, "a": [2, "æ"]},
                )
            )
    old.dispose()
    command.upgrade(cfg, "head")
    factory = make_session_factory(make_engine(database_url))
    with factory() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        report = verify_chain(session)
    assert actions == ["login", "citizen.view", "logout"]
    assert report.ok and report.checked == 3
    _record(factory, 1)  # new events continue the migrated chain
    with factory() as session:
        assert verify_chain(session).checked == 4
    factory.kw["bind"].dispose()
    engine.dispose()


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_apps_role_may_append_and_read_but_never_change_the_trail(
    backend: str, session_factory: sessionmaker[Session], database_url: str
) -> None:
    """The documented GRANTs (`surveyapp db-grants ROLE`), applied to a fresh role."""
    role = f"surveyapp_app_{uuid.uuid4().hex[:8]}"
    owner = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        for statement in app_role_grants(role):
            conn.execute(text(statement))
    app_engine = create_engine(database_url)

    @event.listens_for(app_engine, "connect")
    def _as_app(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
        dbapi_connection.commit()

    app = make_session_factory(app_engine)
    try:
        _record(app, 2, STAFF_AT_HOME)  # INSERT works, through the trigger that moves the head
        with app() as session:
            assert session.scalar(text("SELECT current_user")) == role
            assert verify_chain(session).checked == 2  # SELECT works
        for statement in (
            "UPDATE audit_event SET action = 'login'",
            "DELETE FROM audit_event",
            "TRUNCATE audit_event",
            "UPDATE audit_chain_head SET seq = 0",
            "DELETE FROM audit_chain_head",
            "ALTER TABLE audit_event DISABLE TRIGGER USER",
            "DROP TRIGGER audit_event_no_change ON audit_event",
        ):
            with (
                pytest.raises(ProgrammingError, match="denied|must be owner"),
                app.begin() as session,
            ):
                session.execute(text(statement))
        with pytest.raises(DBAPIError, match="append-only"), app.begin() as session:
            session.execute(text("UPDATE audit_event SET ip_address = '203.0.113.1'"))
        with app.begin() as session:  # the one change allowed: forgetting old addresses
            assert audit.forget_ip_addresses(session, utcnow() + timedelta(seconds=1)) == 2
        with app.begin() as session:  # and the domain tables are the app's to change
            session.execute(
                text("INSERT INTO municipality (code, name, created_at) VALUES ('991', 'x', now())")
            )
            session.execute(text("DELETE FROM municipality WHERE code = '991'"))
        with app() as session:
            assert verify_chain(session).ok
    finally:
        app_engine.dispose()
        with owner.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        owner.dispose()
