"""Staff accounts: login with throttling and a second factor, session validity, user management.

Login rules (the full design, and why, is in docs/security.md):
- Passwords are argon2id hashes (surveyapp.security); an old-parameter hash is upgraded at the
  next successful login. New passwords follow surveyapp.passwords (12 characters at least,
  not a common or breached password), wherever they are set.
- Every failure gets the same answer (`LoginOutcome.REFUSED`): unknown user, wrong password,
  locked account, deactivated account, throttled address. Why is kept in the audit trail.
- Throttling (surveyapp.services.throttle, a table shared by every app process), counted
  before the argon2 hasher is reached: each attempt first reserves a hit on the address's and
  the typed username's counters, committed before the hash (`begin_login`), so concurrent
  attempts never let more than the limit through; a right password gives its hits back.
  The hasher runs in one of the host's few slots (surveyapp.security.HasherSlots, taken by
  the caller first); without a free one the answer is "busy, try again" (`BUSY`) before
  anything is counted, so that logins never queue every worker behind argon2 while citizens
  are answering. A process that has seen an address over its limit refuses it from memory
  (`throttle.OverLimit`) until the window ends.
  * per client address: `ip_max_failures` failed logins in a window (default 20 in 15
    minutes), then every login from that address is refused, unhashed, until the window ends
    (audited as the 1st, 10th, 100th, ... refusal of the window: `audited_refusals`);
  * per typed username, known or not (so a lock tells nothing about whether a user exists):
    `max_failures` wrong passwords (default 5 in 15 minutes) put the account "under attack"
    until the window ends. Under attack, a password alone is refused (unhashed), but a correct
    password together with a correct second-factor code in the same request still logs in:
    a stranger can slow a login down but never shut out a user who has a second factor, and
    learns nothing about the password (a wrong password with any code is the same refusal).
    A user without a second factor waits for the window to end, or an admin unlocks at once.
- A correct password leads on to the second factor (`NEEDS_CODE`) for an enrolled user, to
  enrolment (`NEEDS_ENROLMENT`) for a user who must have one and has none, else to `OK`.
- A session is a row of its own (surveyapp.services.staff_sessions; the cookie holds only its
  random id). It is valid while the user is active, the row is neither ended nor suspended,
  its `session_version` is the user's current one (password change or reset, deactivation and
  a second-factor reset end every session of the user at once; logout ends only this one), it
  has been used within `idle_timeout` (30 min) and began within `max_age` (12 h).
- Login, failed login, lockout and logout are audit events. The typed username is never stored
  when it is not a known user (it might be a password or a CPR number typed in the wrong box).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from surveyapp.enums import ActorType, Role
from surveyapp.models import AuditEvent, Municipality, Provider, StaffUser, Team, utcnow
from surveyapp.passwords import problem as password_problem
from surveyapp.security import hash_secret, needs_rehash, verify_secret
from surveyapp.services import audit, staff_sessions, throttle, two_factor
from surveyapp.services.scope import OutOfScope, Scope, get_user, require_admin

# Verified against when the username is unknown, so that both cases take as long.
_DUMMY_HASH = hash_secret("no such user: timing equaliser")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5  # wrong passwords per typed username and window
    lockout: timedelta = timedelta(minutes=15)  # that window
    ip_max_failures: int = 20  # failed logins per client address and window
    ip_window: timedelta = timedelta(minutes=15)
    code_max_failures: int = 5  # wrong second-factor codes per user and window
    code_window: timedelta = timedelta(minutes=15)
    idle_timeout: timedelta = timedelta(minutes=30)
    max_age: timedelta = timedelta(hours=12)

    @property
    def account_limit(self) -> throttle.Limit:
        return throttle.Limit("login_account", self.max_failures, self.lockout)

    @property
    def ip_limit(self) -> throttle.Limit:
        return throttle.Limit("login_ip", self.ip_max_failures, self.ip_window)

    @property
    def code_limit(self) -> throttle.Limit:
        return throttle.Limit("login_code", self.code_max_failures, self.code_window)


class LoginOutcome(StrEnum):
    OK = "ok"
    NEEDS_CODE = "needs_code"  # password right; the second factor comes next
    NEEDS_ENROLMENT = "needs_enrolment"  # password right; must set up a second factor first
    REFUSED = "refused"  # every failure: one answer
    BUSY = "busy"  # no free hasher slot: "try again" (nothing looked up, nothing counted)


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: StaffUser | None = None
    reason: str | None = None  # why refused (for tests and the audit trail; never shown)


def _find_user(session: Session, username: str) -> StaffUser | None:
    name = (username or "").strip().lower()
    if not name:
        return None
    return session.scalars(select(StaffUser).where(func.lower(StaffUser.username) == name)).first()


def account_key(key_secret: str, username: str) -> str:
    return throttle.key_of(key_secret, "login_account", (username or "").strip().lower())


def client_key(key_secret: str, address: str | None) -> str:
    return throttle.key_of(key_secret, "login_ip", address)


# Refusals of a throttled address are audited when they are the 1st, 10th, 100th, ... of
# their window (with the count so far), not one event each: a flood would otherwise append
# thousands of events to the audit chain (each under its lock) and cost every refused attempt
# far more than the refusal itself. The exact count is in the address's counter meanwhile.
def audited_refusals(before: int, after: int) -> bool:
    """True if the refusals numbered before+1 .. after include the 1st, 10th, 100th, ..."""
    power = 1
    while power <= after:
        if power > before:
            return True
        power *= 10
    return False


def _refused(
    session: Session, policy: LoginPolicy, count: int, by: int, address: str | None
) -> LoginResult:
    """The address's counter is at `count` after adding `by`: refused, audited now and then."""
    refused = count - policy.ip_max_failures
    if audited_refusals(max(refused - by, 0), refused):
        audit.record(
            session,
            audit.Actor(ActorType.ANONYMOUS, ip_address=address),
            "login.throttled",
            details={"by": "address", "refused": refused},
        )
    return LoginResult(LoginOutcome.REFUSED, reason="address_throttled")


@dataclass(frozen=True)
class LoginAttempt:
    """A login attempt let on to the hasher: a hit reserved on the address's counter and on
    the typed username's, in a transaction committed before the hasher runs (`begin_login`),
    so that however many attempts arrive at once, no more than the limits reach argon2.
    `verify_attempt` runs the hasher (no database), `finish_login` concludes."""

    ip_address: str | None
    ip_key: str
    name_key: str
    user_id: int | None
    municipality_id: int | None
    stored_hash: str
    failures: int  # the typed username's count, this attempt included
    under_attack: bool
    code: str
    now: datetime


def begin_login(
    session: Session,
    username: str,
    *,
    policy: LoginPolicy,
    key_secret: str,
    code: str = "",
    ip_address: str | None = None,
    now: datetime | None = None,
    over: throttle.OverLimit | None = None,
    hasher_free: bool = True,
) -> LoginAttempt | LoginResult:
    """Reserve the attempt on the counters; the attempt, or the refusal if a limit is used up.

    The caller commits before calling `verify_attempt`. A refused attempt costs one statement
    (the address's counter) and now and then an audit event (`audited_refusals`); with
    `over` (this process's memory of throttled addresses) no statement at all, but a count
    added now and then. `hasher_free`: whether the caller holds a hasher slot for the
    attempt; without one the answer is `BUSY`, before anything is counted or looked up.
    """
    now = now or utcnow()
    ip_key = client_key(key_secret, ip_address)
    if over is not None and over.refuse(policy.ip_limit, ip_key, now):
        due = over.take_due(policy.ip_limit, ip_key)
        if not due:
            return LoginResult(LoginOutcome.REFUSED, reason="address_throttled")
        count = throttle.hit(session, policy.ip_limit, ip_key, now=now, by=due)
        return _refused(session, policy, count, due, ip_address)
    if not hasher_free:
        return LoginResult(LoginOutcome.BUSY, reason="hasher_busy")
    count = throttle.reserve(session, policy.ip_limit, ip_key, now=now)
    if count > policy.ip_max_failures:
        if over is not None:
            over.note(policy.ip_limit, ip_key, now)
        return _refused(session, policy, count, 1, ip_address)
    user = _find_user(session, username)
    name_key = account_key(key_secret, username)
    failures = throttle.reserve(session, policy.account_limit, name_key, now=now)
    attempt = LoginAttempt(
        ip_address=ip_address,
        ip_key=ip_key,
        name_key=name_key,
        user_id=user.id if user is not None else None,
        municipality_id=user.municipality_id if user is not None else None,
        stored_hash=user.password_hash if user is not None else _DUMMY_HASH,
        failures=failures,
        under_attack=failures > policy.max_failures,
        code=(code or "").strip(),
        now=now,
    )
    if attempt.under_attack and not attempt.code:
        _audit(session, attempt, "login.refused_locked")
        return LoginResult(LoginOutcome.REFUSED, reason="locked")
    return attempt


def verify_attempt(attempt: LoginAttempt, password: str) -> bool:
    """Run the hasher for the attempt (the caller holds a hasher slot): whether the password
    is the user's. An unknown username is verified against a dummy hash (as long)."""
    right = verify_secret(attempt.stored_hash, password or "")
    return right and attempt.user_id is not None


def _audit(session: Session, attempt: LoginAttempt, action: str, **details: object) -> None:
    actor = audit.Actor(ActorType.ANONYMOUS, None, attempt.municipality_id, attempt.ip_address)
    target: dict[str, Any] = {}
    if attempt.user_id is not None:
        target = {"object_type": "staff_user", "object_id": attempt.user_id}
    audit.record(session, actor, action, details=details or None, **target)


def _give_back(session: Session, attempt: LoginAttempt, policy: LoginPolicy) -> None:
    """The password was right: the attempt does not count as a failure."""
    throttle.give_back(session, policy.ip_limit, attempt.ip_key, now=attempt.now)
    throttle.give_back(session, policy.account_limit, attempt.name_key, now=attempt.now)


def finish_login(
    session: Session,
    attempt: LoginAttempt,
    verified: bool,
    password: str,
    *,
    policy: LoginPolicy,
    key_secret: str,
) -> LoginResult:
    """Conclude an attempt after the hasher (`verified`, from `verify_attempt`): audit the
    failure or go on to the second factor, the enrolment or the session."""
    now = attempt.now
    user = session.get(StaffUser, attempt.user_id) if attempt.user_id is not None else None
    if user is None or not verified:
        failures = attempt.failures
        details: dict[str, object] = {"failures": failures}
        if user is None:
            details["reason"] = "unknown_user"
        action = "login.failed"
        if failures == policy.max_failures:
            action = "login.locked"
            if user is not None:
                user.locked_until = policy.account_limit.window_end(now)
                details["locked_until"] = user.locked_until.isoformat()
        if user is not None:
            user.failed_logins = failures
        _audit(session, attempt, action, **details)
        session.flush()
        return LoginResult(LoginOutcome.REFUSED, reason="bad_credentials")
    _give_back(session, attempt, policy)
    if not user.active:
        _audit(session, attempt, "login.refused_inactive")
        return LoginResult(LoginOutcome.REFUSED, reason="inactive")
    enrolled = two_factor.is_enrolled(user)
    if attempt.under_attack and not enrolled:
        _audit(session, attempt, "login.refused_locked")
        return LoginResult(LoginOutcome.REFUSED, reason="locked")
    code = attempt.code
    ip_address = attempt.ip_address
    if enrolled and code:
        actor = audit.Actor(ActorType.ANONYMOUS, None, user.municipality_id, ip_address)
        checked = two_factor.check_code(
            session,
            user,
            code,
            limit=policy.code_limit,
            key_secret=key_secret,
            actor=actor,
            now=now,
        )
        if checked is not two_factor.CodeCheck.OK:
            return LoginResult(LoginOutcome.REFUSED, reason=f"code_{checked.value}")
        return LoginResult(
            LoginOutcome.OK,
            user=complete_login(session, user, password, ip_address, now, key_secret=key_secret),
        )
    if enrolled:
        return LoginResult(LoginOutcome.NEEDS_CODE, user=user)
    if two_factor.is_required(user):
        return LoginResult(LoginOutcome.NEEDS_ENROLMENT, user=user)
    return LoginResult(
        LoginOutcome.OK,
        user=complete_login(session, user, password, ip_address, now, key_secret=key_secret),
    )


def complete_login(
    session: Session,
    user: StaffUser,
    password: str | None,
    ip_address: str | None,
    now: datetime | None = None,
    *,
    key_secret: str | None = None,
) -> StaffUser:
    """Record a successful login (after every factor): counters reset, audited."""
    now = now or utcnow()
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if password is not None and needs_rehash(user.password_hash):
        user.password_hash = hash_secret(password)
    if key_secret is not None:
        throttle.clear(session, "login_account", account_key(key_secret, user.username))
    audit.record(
        session,
        audit.Actor(ActorType.STAFF, user.id, user.municipality_id, ip_address),
        "login",
        object_type="staff_user",
        object_id=user.id,
    )
    session.flush()
    return user


def second_step(
    session: Session,
    user_id: int,
    session_version: object,
    code: str,
    *,
    policy: LoginPolicy,
    key_secret: str,
    ip_address: str | None = None,
    now: datetime | None = None,
) -> tuple[two_factor.CodeCheck, StaffUser | None]:
    """The code step of a login whose password was right; the user when it succeeds."""
    now = now or utcnow()
    user = session.get(StaffUser, user_id)
    if user is None or not user.active or user.session_version != session_version:
        return two_factor.CodeCheck.WRONG, None
    if not two_factor.is_enrolled(user):
        return two_factor.CodeCheck.WRONG, None
    actor = audit.Actor(ActorType.ANONYMOUS, None, user.municipality_id, ip_address)
    checked = two_factor.check_code(
        session, user, code, limit=policy.code_limit, key_secret=key_secret, actor=actor, now=now
    )
    if checked is not two_factor.CodeCheck.OK:
        return checked, None
    return checked, complete_login(session, user, None, ip_address, now, key_secret=key_secret)


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


def logout(
    session: Session, user_id: int, *, sid: object = None, ip_address: str | None = None
) -> None:
    """End this browser's session (the user's other devices stay logged in) and audit it."""
    user = session.get(StaffUser, user_id)
    if user is None:
        return
    staff_sessions.end_current(session, sid, "logout")
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


def check_password(password: str, username: str = "", context_words: tuple[str, ...] = ()) -> None:
    """Raise UserError("password", code) unless the password follows surveyapp.passwords."""
    found = password_problem(password or "", username, context_words)
    if found is not None:
        raise UserError("password", f"password_{found.value}")


def create_user(
    session: Session, scope: Scope, new: NewUser, *, actor: audit.Actor | None = None
) -> StaffUser:
    """Create a staff user in the admin's municipality (`actor`: who is audited, when not the
    scope's own user, e.g. the operator's command that makes a municipality's first admin)."""
    require_admin(scope)
    username = new.username.strip().lower()
    if not USERNAME_RE.match(username):
        raise UserError("username", "invalid_username")
    if _find_user(session, username) is not None:
        raise UserError("username", "username_taken")
    municipality = session.get(Municipality, scope.municipality_id)
    check_password(
        new.password,
        username,
        context_words(new.full_name, municipality.name if municipality else None),
    )
    if new.kiosk_pin and not KIOSK_PIN_RE.match(new.kiosk_pin):
        raise UserError("kiosk_pin", "bad_pin_format")
    provider, team = _placement(session, scope, new.provider_id, new.team_id)
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
        actor or scope.actor,
        "user.create",
        object_type="staff_user",
        object_id=user.id,
        details={"role": user.role.value, "provider_id": user.provider_id, "team_id": user.team_id},
    )
    return user


def _placement(
    session: Session, scope: Scope, provider_id: int | None, team_id: int | None
) -> tuple[Provider | None, Team | None]:
    """The provider and team a user is put in: of the admin's municipality, and never wider
    than the admin's own reach (an admin of one provider places users in that provider)."""
    provider = team = None
    if provider_id is not None:
        provider = session.get(Provider, provider_id)
        if provider is None or provider.municipality_id != scope.municipality_id:
            raise UserError("provider_id", "invalid_choice")
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is None or team.provider.municipality_id != scope.municipality_id:
            raise UserError("team_id", "invalid_choice")
        if provider is not None and team.provider_id != provider.id:
            raise UserError("team_id", "team_not_of_provider")
        provider = provider or team.provider
    if scope.provider_id is not None and (provider is None or provider.id != scope.provider_id):
        raise UserError("provider_id", "beyond_own_reach")
    return provider, team


# The kiosk PIN: the same rule as when it is set and when it unlocks (surveyapp.services.kiosk).
KIOSK_PIN_RE = re.compile(r"\A[0-9]{4,6}\Z")


@dataclass(frozen=True)
class UserChange:
    full_name: str
    role: Role
    provider_id: int | None = None
    team_id: int | None = None


def _active_admins(session: Session, municipality_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(StaffUser)
            .where(
                StaffUser.municipality_id == municipality_id,
                StaffUser.role == Role.ADMIN,
                StaffUser.active.is_(True),
            )
        )
        or 0
    )


def update_user(session: Session, scope: Scope, user_id: int, change: UserChange) -> StaffUser:
    """Change a user's name, role, provider and team (admins of the same municipality).

    The last active admin of the municipality keeps the admin role, and an admin places
    nobody beyond their own reach (see `_placement`). Audited with what changed; the change
    applies from the user's next request (each request reloads the user).
    """
    user = get_user(session, scope, user_id)
    full_name = change.full_name.strip()
    if not full_name:
        raise UserError("full_name", "required")
    if (
        user.role is Role.ADMIN
        and change.role is not Role.ADMIN
        and user.active
        and _active_admins(session, scope.municipality_id) <= 1
    ):
        raise UserError("role", "last_admin")
    if scope.provider_id is not None and user.provider_id != scope.provider_id:
        raise UserError("provider_id", "beyond_own_reach")
    provider, team = _placement(session, scope, change.provider_id, change.team_id)
    before = {
        "role": user.role.value,
        "provider_id": user.provider_id,
        "team_id": user.team_id,
    }
    after = {
        "role": change.role.value,
        "provider_id": provider.id if provider else None,
        "team_id": team.id if team else None,
    }
    changed = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if full_name != user.full_name:
        changed["full_name"] = ["changed"]  # the names themselves are on the user's row
    if not changed:
        return user
    user.full_name = full_name
    user.role = change.role
    user.provider_id = after["provider_id"]  # type: ignore[assignment]
    user.team_id = after["team_id"]  # type: ignore[assignment]
    audit.record(
        session,
        scope.actor,
        "user.update",
        object_type="staff_user",
        object_id=user.id,
        details={"changed": changed},
    )
    session.flush()
    return user


def reset_kiosk_pin(
    session: Session, scope: Scope, user_id: int, pin: str, repeated: str
) -> StaffUser:
    """An admin sets a new kiosk PIN for a user who forgot theirs (4 to 6 digits, as unlock
    takes them); audited, the PIN itself never."""
    user = get_user(session, scope, user_id)
    if not KIOSK_PIN_RE.match(pin or ""):
        raise UserError("pin", "bad_pin_format")
    if pin != repeated:
        raise UserError("repeated", "pin_mismatch")
    user.kiosk_pin_hash = hash_secret(pin)
    audit.record(
        session, scope.actor, "user.kiosk_pin_reset", object_type="staff_user", object_id=user.id
    )
    session.flush()
    return user


def reset_password(session: Session, scope: Scope, user_id: int, password: str) -> StaffUser:
    """Set a new password; the user's sessions end and any lockout is lifted."""
    return _replace_password(session, scope.actor, get_user(session, scope, user_id), password)


def _replace_password(
    session: Session, actor: audit.Actor, user: StaffUser, password: str, **details: object
) -> StaffUser:
    """Set a password someone else chose (its rules apply): sessions end, lockout lifted."""
    check_password(password, user.username, _context_words(user))
    user.password_hash = hash_secret(password)
    staff_sessions.end_all(session, user, "password_reset")
    user.failed_logins = 0
    user.locked_until = None
    # The second factor stays as it is: a new password never bypasses it.
    audit.record(
        session,
        actor,
        "user.password_reset",
        object_type="staff_user",
        object_id=user.id,
        details={**details, "second_factor_kept": two_factor.is_enrolled(user)},
    )
    session.flush()
    return user


def change_own_password(
    session: Session,
    scope: Scope,
    current: str,
    new: str,
    *,
    policy: LoginPolicy,
    key_secret: str,
    now: datetime | None = None,
) -> tuple[StaffUser | None, UserError | None]:
    """A user changes their own password, giving the current one; every other session ends.

    A wrong current password counts like a failed login for the account (so a stolen session
    cannot be used to guess the password), and while the account is under attack no change
    is accepted. The second factor stays as it is. Returns (user, None) or (None, the error):
    not raised, so that the count and the audit event of a wrong password are kept.
    """
    now = now or utcnow()
    user = session.get(StaffUser, scope.user_id)
    if user is None:
        raise OutOfScope("no such user")
    name_key = account_key(key_secret, user.username)
    if throttle.exceeded(session, policy.account_limit, name_key, now=now):
        return None, UserError("current_password", "current_password_locked")
    if not verify_secret(user.password_hash, current or ""):
        throttle.hit(session, policy.account_limit, name_key, now=now)
        audit.record(
            session,
            scope.actor,
            "user.password_change_failed",
            object_type="staff_user",
            object_id=user.id,
        )
        return None, UserError("current_password", "current_password_wrong")
    try:
        check_password(new, user.username, _context_words(user))
    except UserError as exc:
        return None, exc
    user.password_hash = hash_secret(new)
    staff_sessions.end_all(session, user, "password_change")
    audit.record(
        session,
        scope.actor,
        "user.password_change",
        object_type="staff_user",
        object_id=user.id,
        details={"second_factor_kept": two_factor.is_enrolled(user)},
    )
    session.flush()
    return user, None


PRODUCT_WORDS = ("surveyapp", "effektmaaling", "effektmåling", "rehabilitering")


def context_words(*names: str | None) -> tuple[str, ...]:
    """Words a password must not be built from (ASVS 6.1.2, 6.2.11): the product's, and each
    given name (user, municipality, provider) whole and word by word."""
    words = list(PRODUCT_WORDS)
    for name in names:
        if name:
            words += [name, *name.replace("&", " ").split()]
    return tuple(words)


def _context_words(user: StaffUser) -> tuple[str, ...]:
    return context_words(
        user.full_name,
        user.municipality.name,
        user.provider.name if user.provider is not None else None,
    )


def set_password_by_operator(session: Session, user: StaffUser, password: str) -> StaffUser:
    """`surveyapp set-password`: the operator sets a password (same rules); audited as system."""
    return _replace_password(session, audit.SYSTEM, user, password, by="cli")


def set_active(session: Session, scope: Scope, user_id: int, active: bool) -> StaffUser:
    """Deactivate (ending every session at once) or reactivate a user; never oneself."""
    user = get_user(session, scope, user_id)
    if user.id == scope.user_id:
        raise UserError("active", "not_yourself")
    user.active = active
    staff_sessions.end_all(session, user, "activate" if active else "deactivate")
    audit.record(
        session,
        scope.actor,
        "user.activate" if active else "user.deactivate",
        object_type="staff_user",
        object_id=user.id,
    )
    session.flush()
    return user


def unlock(
    session: Session, scope: Scope, user_id: int, *, key_secret: str | None = None
) -> StaffUser:
    """Lift a lockout at once (the counter of wrong passwords and of wrong codes)."""
    user = get_user(session, scope, user_id)
    user.failed_logins = 0
    user.locked_until = None
    if key_secret is not None:
        throttle.clear(session, "login_account", account_key(key_secret, user.username))
        throttle.clear(session, "login_code", throttle.key_of(key_secret, "login_code", user.id))
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


def audit_events(scope: Scope, query: AuditQuery) -> Select[Any]:
    """The audit events (with the acting user's name) of the scope's municipality that match
    the query's filters, in no particular order (the search and the CSV export order them)."""
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
    return stmt


def search_audit(session: Session, scope: Scope, query: AuditQuery) -> tuple[list[AuditRow], bool]:
    """Audit events of the admin's municipality, newest first; the search itself is audited."""
    require_admin(scope)
    stmt = audit_events(scope, query)
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
    "begin_login",
    "verify_attempt",
    "finish_login",
    "LoginAttempt",
    "change_own_password",
    "complete_login",
    "second_step",
    "create_user",
    "list_users",
    "load_user",
    "logout",
    "reset_kiosk_pin",
    "reset_password",
    "update_user",
    "UserChange",
    "session_problem",
    "set_active",
    "unlock",
]
