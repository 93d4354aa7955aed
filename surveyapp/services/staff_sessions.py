"""Server-side staff sessions: one row per login and browser, the cookie holds its random id.

- `open_session` at every login (password and second factor, or the kiosk PIN): a new random
  id (256 bits), stored only as its SHA-256, so the id is new at every login.
- `check` on every request: the session must exist, belong to the user, be neither ended nor
  suspended, and be younger than the policy's maximum age (the idle timeout is the caller's).
- `end` ends one session (logout, an admin); `end_all` every session of a user (password
  change or reset, deactivation, a second-factor reset; the user's session version moves on
  too, for sessions made before this table); `suspend` and `resume` are for the kiosk: the
  session on the tablet only, never the user's other devices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyapp.models import StaffSession, StaffUser, utcnow
from surveyapp.security import new_token, token_hash
from surveyapp.services import audit
from surveyapp.services.scope import Scope, get_user, require_admin

_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPad", "iPad"),
    ("iPhone", "iPhone"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_device(user_agent: str | None) -> str | None:
    """A short, coarse name of the browser ("Chrome, Android"), never the full user agent."""
    if not user_agent:
        return None
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if re.search(mark, user_agent)), None)
    return ", ".join(part for part in (browser, system) if part) or None


def open_session(
    session: Session,
    user: StaffUser,
    *,
    user_agent: str | None = None,
    created_at: datetime | None = None,
) -> str:
    """Start a session for the user; return its random id (for the cookie only)."""
    sid = new_token()
    session.add(
        StaffSession(
            sid_hash=token_hash(sid),
            user_id=user.id,
            created_at=created_at or utcnow(),
            device=describe_device(user_agent),
        )
    )
    session.flush()
    return sid


def find(session: Session, sid: object) -> StaffSession | None:
    """The session a cookie's id belongs to (in any state), or None."""
    if not isinstance(sid, str) or not sid:
        return None
    return session.scalars(
        select(StaffSession).where(StaffSession.sid_hash == token_hash(sid))
    ).one_or_none()


def problem(
    row: StaffSession | None, user_id: int, *, max_age: timedelta, now: datetime
) -> str | None:
    """Why this session may not be used ("ended", "suspended", "max_age"), or None."""
    if row is None or row.user_id != user_id or row.ended_at is not None:
        return "ended"
    if row.suspended_at is not None:
        return "suspended"
    if now - row.created_at > max_age:
        return "max_age"
    return None


def end(row: StaffSession, reason: str, *, now: datetime | None = None) -> None:
    """End one session (it can never be used again)."""
    if row.ended_at is None:
        row.ended_at = now or utcnow()
        row.end_reason = reason


def end_current(session: Session, sid: object, reason: str) -> None:
    """End the session of a cookie's id, if there is one (logout)."""
    row = find(session, sid)
    if row is not None:
        end(row, reason)


def end_all(session: Session, user: StaffUser, reason: str, *, now: datetime | None = None) -> int:
    """End every session of the user; return how many were in use or suspended."""
    now = now or utcnow()
    user.session_version += 1
    rows = session.scalars(
        select(StaffSession).where(StaffSession.user_id == user.id, StaffSession.ended_at.is_(None))
    ).all()
    for row in rows:
        end(row, reason, now=now)
    session.flush()
    return len(rows)


def suspend(row: StaffSession, *, now: datetime | None = None) -> None:
    """A kiosk visit starts on this browser: this session is unusable until resumed."""
    row.suspended_at = now or utcnow()


def resume(session: Session, row: StaffSession) -> str | None:
    """The PIN was right: the suspended session goes on under a new id (None if it ended)."""
    if row.ended_at is not None:
        return None
    sid = new_token()
    row.sid_hash = token_hash(sid)
    row.suspended_at = None
    session.flush()
    return sid


# --- admins: see and end a user's sessions ---------------------------------------------------


@dataclass(frozen=True)
class SessionView:
    id: int
    created_at: datetime
    device: str | None
    suspended: bool


def list_open(
    session: Session,
    scope: Scope,
    user_id: int,
    *,
    max_age: timedelta,
    now: datetime | None = None,
) -> list[SessionView]:
    """The user's sessions that may still be used (not ended, younger than `max_age`), in
    use or suspended by a kiosk visit, newest first. One left idle longer than the idle
    timeout is listed until its maximum age: the idle time is kept in the browser's cookie."""
    require_admin(scope)
    user = get_user(session, scope, user_id)
    since = (now or utcnow()) - max_age
    rows = session.scalars(
        select(StaffSession)
        .where(
            StaffSession.user_id == user.id,
            StaffSession.ended_at.is_(None),
            StaffSession.created_at > since,
        )
        .order_by(StaffSession.created_at.desc(), StaffSession.id.desc())
    ).all()
    return [SessionView(r.id, r.created_at, r.device, r.suspended_at is not None) for r in rows]


def end_by_admin(
    session: Session, scope: Scope, user_id: int, session_id: int | None
) -> tuple[StaffUser, int]:
    """An admin ends one session of a user (or all, with `session_id` None); audited."""
    require_admin(scope)
    user = get_user(session, scope, user_id)
    if session_id is None:
        ended = end_all(session, user, "admin")
        audit.record(
            session,
            scope.actor,
            "session.end_all",
            object_type="staff_user",
            object_id=user.id,
            details={"sessions": ended},
        )
        return user, ended
    row = session.get(StaffSession, session_id)
    if row is None or row.user_id != user.id or row.ended_at is not None:
        return user, 0
    end(row, "admin")
    audit.record(
        session,
        scope.actor,
        "session.end",
        object_type="staff_user",
        object_id=user.id,
        details={"session": row.id},
    )
    session.flush()
    return user, 1
