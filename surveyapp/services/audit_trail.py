"""The admin's export of the audit trail: every event of a search, as rows for a CSV file.

The search itself lives in `surveyapp.services.auth.search_audit` (one page at a time); the
export takes the same query without paging, within the admin's municipality, and is audited
(`audit.export`, with the filters and the number of rows).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import tzinfo
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from surveyapp.models import AuditEvent
from surveyapp.services import audit
from surveyapp.services.auth import AuditQuery, audit_events
from surveyapp.services.scope import Scope, require_admin

HEADER = (
    "seq",
    "occurred_at",
    "user",
    "actor_type",
    "action",
    "action_code",
    "object_type",
    "object_id",
    "ip_address",
    "details",
    "hash",
)


def _filtered(scope: Scope, query: AuditQuery) -> Select[Any]:
    return audit_events(scope, query).order_by(AuditEvent.seq)


def export_csv(
    session: Session,
    scope: Scope,
    query: AuditQuery,
    *,
    name_of: Callable[[str], str],
    tz: tzinfo,
) -> str:
    """The events of the search, oldest first, as CSV text (names via `name_of`)."""
    require_admin(scope)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    count = 0
    for event, username in _rows(session, scope, query):
        count += 1
        writer.writerow(
            [
                event.seq,
                event.occurred_at.astimezone(tz).isoformat(timespec="seconds"),
                username or "",
                event.actor_type,
                name_of(event.action),
                event.action,
                event.object_type or "",
                event.object_id or "",
                event.ip_address or "",
                "" if event.details is None else json.dumps(event.details, ensure_ascii=False),
                event.hash,
            ]
        )
    audit.record(
        session,
        scope.actor,
        "audit.export",
        details={
            "action": query.action_prefix or None,
            "user_id": query.user_id,
            "object_type": query.object_type or None,
            "object_id": query.object_id or None,
            "since": query.since.isoformat() if query.since else None,
            "until": query.until.isoformat() if query.until else None,
            "rows": count,
        },
    )
    return "\ufeff" + out.getvalue()


def _rows(session: Session, scope: Scope, query: AuditQuery) -> Iterator[Any]:
    yield from session.execute(_filtered(scope, query))
