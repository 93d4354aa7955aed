"""Appends new audit events to the hash chain when a session flushes them.

Registered on every SQLAlchemy Session when the models are imported, so that no code path
(services, tests, scripts) can write an unchained event. Under a lock (PostgreSQL: a
transaction-scoped advisory lock, shared by every app process; SQLite: the single writer's
lock, taken by a no-op write to the chain head) it reads the chain head and the server's time
(PostgreSQL's `clock_timestamp()`; on SQLite, which runs in the app's process, the app's
clock), then numbers, links and hashes the events. A time given by the caller is overwritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from surveyapp import auditchain
from surveyapp.models.base import utcnow
from surveyapp.models.response import AuditChainHead, AuditEvent

# Key of PostgreSQL's advisory lock that serialises chain appends across app processes.
CHAIN_LOCK_KEY = 0x5355_5256_4150_5031  # "SURVAPP1"


def _lock_and_read_head(session: Session) -> tuple[auditchain.Head, datetime]:
    """Serialise chain appends and return the current head and the server's time."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
        now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    else:
        # A no-op write takes SQLite's write lock before the head is read.
        conn.execute(update(AuditChainHead).values(seq=AuditChainHead.seq))
        now = utcnow()
    head = conn.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one()
    return auditchain.Head(head.seq, head.hash), now


def _chain(session: Session, events: list[AuditEvent]) -> None:
    head, now = _lock_and_read_head(session)
    seq, prev = head.seq, head.hash
    for item in events:  # in the order they were added
        seq += 1
        item.seq = seq
        item.prev_hash = prev
        item.occurred_at = now
        item.details = auditchain.normalise_details(item.details)
        item.ip_salt = auditchain.new_ip_salt() if item.ip_address is not None else None
        item.ip_digest = auditchain.ip_digest(item.ip_address, item.ip_salt)
        item.hash = auditchain.event_hash(_fields(item))
        prev = item.hash


def _fields(item: AuditEvent) -> dict[str, Any]:
    return {name: getattr(item, name) for name in auditchain.HASHED_FIELDS}


@sa_event.listens_for(Session, "before_flush")
def _chain_new_events(session: Session, _context: Any, _instances: Any) -> None:
    new = [obj for obj in session.new if isinstance(obj, AuditEvent) and obj.seq is None]
    if new:
        _chain(session, new)
