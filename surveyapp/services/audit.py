"""Append-only audit trail of access to personal data, changes, exports and logins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from surveyapp.enums import ActorType
from surveyapp.models import AuditEvent


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
    event = AuditEvent(
        actor_type=actor.type.value,
        actor_user_id=actor.user_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        municipality_id=municipality_id if municipality_id is not None else actor.municipality_id,
        ip_address=actor.ip_address,
        details=details,
    )
    session.add(event)
    return event
