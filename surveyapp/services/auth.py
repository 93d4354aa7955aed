"""Staff accounts: login with throttling, session validity, and the admin's user management.

Login rules:
- Passwords are argon2id hashes (surveyapp.security); an old-parameter hash is upgraded at the
  next successful login.
- Each failed password counts against the username. After `max_failures` failures in a row the
  account is locked for `lockout` (default 5 failures, 15 minutes). A lockout always ends by
  itself, so nobody (not even by attacking the last admin account) can lock anyone out for
  good, and any admin of the municipality can lift it at once. A successful login resets the
  count. An unknown username gets the same answer and the same work as a wrong password.
- A session is valid while the user is active, its `session_version` is the user's current one
  (logout, password reset and deactivation bump it, which ends every session of the user at
  once), it has been used within `idle_timeout` (30 min) and began within `max_age` (12 h).
- Login, failed login, lockout and logout are audit events. The typed username is never stored
  when it is not a known user (it might be a password or a CPR number typed in the wrong box).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from surveyapp.enums import ActorType, Role
from surveyapp.models import AuditEvent, Provider, StaffUser, Team, utcnow
from surveyapp.security import hash_secret, needs_rehash, verify_secret
from surveyapp.services import audit
from surveyapp.services.scope import OutOfScope, Scope, get_user, require_admin

# Verified against when the username is unknown, so that both cases take as long.
_DUMMY_HASH = hash_secret("no such user: timing equaliser")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    idle_timeout: timedelta = timedelta(minutes=30)
    max_age: timedelta = timedelta(hours=12)


class LoginOutcome(StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"  # unknown user or wrong password: one message
    LOCKED = "locked"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: StaffUser | None = None
    locked_until: datetime | None = None


def _find_user(session: Session, username: str) -> StaffUser | None:
    name = (username or "").strip().lower()
    if not name:
        return None
    return session.scalars(select(StaffUser).where(func.lower(StaffUser.username) == name)).first()


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    policy: LoginPolicy,
    ip_address: str | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """Check a login attempt, count failures, lock when needed, and audit the attempt."""
    now = now or utcnow()
    user = _find_user(session, username)
    if user is None:
        verify_secret(_DUMMY_HASH, password or "")
        audit.record(
            session,
            audit.Actor(ActorType.ANONYMOUS, ip_address=ip_address),
            "login.failed",
            details={"reason": "unknown_user"},
        )
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    actor = audit.Actor(ActorType.ANONYMOUS, None, user.municipality_id, ip_address)
    if user.locked_until is not None and user.locked_until > now:
        verify_secret(_DUMMY_HASH, password or "")
        audit.record(
            session, actor, "login.refused_locked", object_type="staff_user", object_id=user.id
        )
        return LoginResult(LoginOutcome.LOCKED, locked_until=user.locked_until)
    if not verify_secret(user.password_hash, password or ""):
        user.failed_logins += 1
        details: dict[str, object] = {"failures": user.failed_logins}
        action = "login.failed"
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + policy.lockout
            user.failed_logins = 0
            action = "login.locked"
            details["locked_until"] = user.locked_until.isoformat()
        audit.record(
            session, actor, action, object_type="staff_user", object_id=user.id, details=details
        )
        session.flush()
        if action == "login.locked":
            return LoginResult(LoginOutcome.LOCKED, locked_until=user.locked_until)
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    if not user.active:
        audit.record(
            session, actor, "login.refused_inactive", object_type="staff_user", object_id=user.id
        )
        return LoginResult(LoginOutcome.INACTIVE)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_secret(password)
    audit.record(
        session,
        audit.Actor(ActorType.STAFF, user.id, user.municipality_id, ip_address),
        "login",
        object_type="staff_user",
        object_id=user.id,
    )
    session.flush()
    return LoginResult(LoginOutcome.OK, user=user)


def session_problem(
    user: StaffUser | None,
    *,
    session_version: object,
    login_at: float | None,
    seen_at: float | None,
    policy: LoginPolicy,
    now: datetime,
) -> str | None:
    """Why a staff session may no longer be used, or None if it may."""
    if user is None or not user.active:
        return "inactive"
    if session_version != user.session_version:
        return "ended"
    stamp = now.timestamp()
    if login_at is None or stamp - login_at > policy.max_age.total_seconds():
        return "max_age"
    if seen_at is None or stamp - seen_at > policy.idle_timeout.total_seconds():
        return "idle"
    return None


def load_user(session: Session, user_id: int) -> StaffUser | None:
    return session.get(StaffUser, user_id)


def logout(session: Session, user_id: int, *, ip_address: str | None = None) -> None:
    """End every session of the user (bump the session version) and audit it."""
    user = session.get(StaffUser, user_id)
    if user is None:
        return
    user.session_version += 1
    audit.record(
        session,
        audit.Actor(ActorType.STAFF, user.id, user.municipality_id, ip_address),
        "logout",
        object_type="staff_user",
        object_id=user.id,
    )
    session.flush()


# --- user management (admins of the same municipality) ---------------------------------------


class UserError(ValueError):
    """A user cannot be created or changed as asked; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewUser:
    username: str
    full_name: str
    role: Role
    password: str
    provider_id: int | None = None
    team_id: int | None = None
    kiosk_pin: str | None = None


def list_users(session: Session, scope: Scope) -> list[StaffUser]:
    require_admin(scope)
    return list(
        session.scalars(
            select(StaffUser)
            .where(StaffUser.municipality_id == scope.municipality_id)
            .order_by(StaffUser.active.desc(), StaffUser.username)
        )
    )


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError("password", "too_short")


def create_user(session: Session, scope: Scope, new: NewUser) -> StaffUser:
    """Create a staff user in the admin's municipality."""
    require_admin(scope)
    username = new.username.strip().lower()
    if not USERNAME_RE.match(username):
        raise UserError("username", "invalid_username")
    if _find_user(session, username) is not None:
        raise UserError("username", "username_taken")
    check_password(new.password)
    provider = team = None
    if new.provider_id is not None:
        provider = session.get(Provider, new.provider_id)
        if provider is None or provider.municipality_id != scope.municipality_id:
            raise UserError("provider_id", "invalid_choice")
    if new.team_id is not None:
        team = session.get(Team, new.team_id)
        if team is None or team.provider.municipality_id != scope.municipality_id:
            raise UserError("team_id", "invalid_choice")
        if provider is not None and team.provider_id != provider.id:
            raise UserError("team_id", "team_not_of_provider")
        provider = provider or team.provider
    user = StaffUser(
        username=username,
        full_name=new.full_name.strip(),
        role=new.role,
        municipality_id=scope.municipality_id,
        provider_id=provider.id if provider else None,
        team_id=team.id if team else None,
        password_hash=hash_secret(new.password),
        kiosk_pin_hash=hash_secret(new.kiosk_pin) if new.kiosk_pin else None,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        scope.actor,
        "user.create",
        object_type="staff_user",
        object_id=user.id,
        details={"role": user.role.value, "provider_id": user.provider_id, "team_id": user.team_id},
    )
    return user


def reset_password(session: Session, scope: Scope, user_id: int, password: str) -> StaffUser:
    """Set a new password; the user's sessions end and any lockout is lifted."""
    user = get_user(session, scope, user_id)
    check_password(password)
    user.password_hash = hash_secret(password)
    user.session_version += 1
    user.failed_logins = 0
    user.locked_until = None
    audit.record(
        session, scope.actor, "user.password_reset", object_type="staff_user", object_id=user.id
    )
    session.flush()
    return user


def set_active(session: Session, scope: Scope, user_id: int, active: bool) -> StaffUser:
    """Deactivate (ending every session at once) or reactivate a user; never oneself."""
    user = get_user(session, scope, user_id)
    if user.id == scope.user_id:
        raise UserError("active", "not_yourself")
    user.active = active
    user.session_version += 1
    audit.record(
        session,
        scope.actor,
        "user.activate" if active else "user.deactivate",
        object_type="staff_user",
        object_id=user.id,
    )
    session.flush()
    return user


def unlock(session: Session, scope: Scope, user_id: int) -> StaffUser:
    """Lift a lockout at once."""
    user = get_user(session, scope, user_id)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, scope.actor, "user.unlock", object_type="staff_user", object_id=user.id)
    session.flush()
    return user


# --- audit search (admins) -------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    action_prefix: str = ""
    user_id: int | None = None
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None  # inclusive, aware
    until: datetime | None = None  # exclusive, aware
    page: int = 1
    per_page: int = 100


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    username: str | None


def search_audit(session: Session, scope: Scope, query: AuditQuery) -> tuple[list[AuditRow], bool]:
    """Audit events of the admin's municipality, newest first; the search itself is audited."""
    require_admin(scope)
    stmt = (
        select(AuditEvent, StaffUser.username)
        .outerjoin(StaffUser, AuditEvent.actor_user_id == StaffUser.id)
        .where(AuditEvent.municipality_id == scope.municipality_id)
    )
    if query.action_prefix:
        stmt = stmt.where(AuditEvent.action.startswith(query.action_prefix, autoescape=True))
    if query.user_id:
        stmt = stmt.where(AuditEvent.actor_user_id == query.user_id)
    if query.object_type:
        stmt = stmt.where(AuditEvent.object_type == query.object_type)
    if query.object_id:
        stmt = stmt.where(AuditEvent.object_id == query.object_id)
    if query.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < query.until)
    offset = (max(query.page, 1) - 1) * query.per_page
    rows = session.execute(
        stmt.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(query.per_page + 1)
    ).all()
    audit.record(
        session,
        scope.actor,
        "audit.search",
        details={
            "action": query.action_prefix or None,
            "user_id": query.user_id,
            "object_type": query.object_type or None,
            "object_id": query.object_id or None,
            "page": query.page,
        },
    )
    found = [AuditRow(event, username) for event, username in rows[: query.per_page]]
    return found, len(rows) > query.per_page


__all__ = [
    "AuditQuery",
    "AuditRow",
    "search_audit",
    "LoginOutcome",
    "LoginPolicy",
    "LoginResult",
    "NewUser",
    "OutOfScope",
    "UserError",
    "authenticate",
    "create_user",
    "list_users",
    "load_user",
    "logout",
    "reset_password",
    "session_problem",
    "set_active",
    "unlock",
]
