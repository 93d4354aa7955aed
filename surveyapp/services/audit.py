"""Tamper-evident audit trail of access to personal data, changes, exports and logins.

`record` adds an event to the caller's transaction; when the transaction flushes it, the
event is appended to the hash chain (`surveyapp.models.chain`, `surveyapp.auditchain`) at
the server's time. Database triggers (migration 0007) refuse an event that does not continue
the chain head or whose time is behind the head or far from the database's clock, advance
the head, and refuse every UPDATE and DELETE except removing an old event's IP address (see
`forget_ip_addresses`). `verify_chain` reports the first broken link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from surveyapp import auditchain
from surveyapp.audit_actions import ACTIONS
from surveyapp.enums import ActorType
from surveyapp.models import AuditChainHead, AuditEvent


class UnknownAction(ValueError):
    """An audit action code without a readable name in surveyapp.audit_actions."""


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user, a respondent, or the system itself; and from where."""

    type: ActorType
    user_id: int | None = None
    municipality_id: int | None = None
    ip_address: str | None = None


SYSTEM = Actor(ActorType.SYSTEM)


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    object_type: str | None = None,
    object_id: int | str | None = None,
    municipality_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (it commits or rolls back with it)."""
    if action not in ACTIONS:
        raise UnknownAction(
            f"audit action {action!r} has no name: add it to surveyapp/audit_actions.py"
        )
    event = AuditEvent(
        actor_type=actor.type.value,
        actor_user_id=actor.user_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        municipality_id=municipality_id if municipality_id is not None else actor.municipality_id,
        ip_address=actor.ip_address,
        details=auditchain.normalise_details(details),
    )
    session.add(event)
    return event


# --- verification ------------------------------------------------------------------------


def verify_chain(
    session: Session,
    *,
    expect: auditchain.Head | None = None,
    ips_kept_since: datetime | None = None,
) -> auditchain.Report:
    """Check the whole chain against its head (and an earlier checkpoint, if given).

    With `ips_kept_since`, an IP address removed from an event since then is reported.
    """
    found = session.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one_or_none()
    head = None if found is None else auditchain.Head(found.seq, found.hash)
    columns = [getattr(AuditEvent, name) for name in auditchain.HASHED_FIELDS]
    result = session.execute(
        select(*columns, AuditEvent.hash, AuditEvent.ip_address, AuditEvent.ip_salt)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=2000)
    )
    try:
        rows = (dict(row._mapping) for row in result)
        return auditchain.verify(rows, head, expect=expect, ips_kept_since=ips_kept_since)
    finally:
        result.close()


# --- IP address retention --------------------------------------------------------------------


def forget_ip_addresses(session: Session, before: datetime) -> int:
    """Remove the IP address (and its salt) of every event that occurred before `before`.

    The hash covers only the address's salted digest, so the chain stays intact; the
    database triggers allow this one change and no other.
    """
    result = session.execute(
        update(AuditEvent)
        .where(AuditEvent.occurred_at < before, AuditEvent.ip_address.is_not(None))
        .values(ip_address=None, ip_salt=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
