"""Staff two-factor authentication: TOTP (RFC 6238, pyotp) and one-time recovery codes.

Rules:
- Admins and analysts must log in with a second factor; coordinators must when their
  municipality's admin has switched it on (`Municipality.coordinator_2fa_required`). Anyone
  may enrol voluntarily (then the second factor is asked for at every login).
- Enrolment: a fresh 160-bit secret is stored as pending (`totp_secret` set, `totp_enrolled_at`
  empty) and shown once as a QR code and as a key to type; it counts only after a code made
  from it has been typed back. Then ten recovery codes are made, shown once and stored as
  SHA-256 hashes (each has 24 characters from a 31-letter alphabet, ≈ 119 random bits, so
  that a fast hash is enough; NIST SP 800-63B §5.1.2.2 asks for 112).
- A code is accepted for the current 30-second step or one step either side (clock drift),
  never for a step at or before the last accepted one: a code cannot be used twice, nor can
  an older code be used after a newer one.
- A recovery code works once, in place of a code from the app.
- Wrong codes are counted per user (`throttle`, kind "login_code"); over the limit, no code
  is checked until the window has passed. Only someone who knows the password can make a
  wrong code count, so a stranger can never lock a user out of the second factor.
- A password reset or change never touches the second factor. An admin can reset a user's
  second factor (audited): it ends the user's sessions, and a user who must have it enrols
  again at the next login.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from surveyapp.enums import Role
from surveyapp.linkcodes import ALPHABET
from surveyapp.models import Municipality, RecoveryCode, StaffUser, utcnow
from surveyapp.services import audit, staff_sessions, throttle
from surveyapp.services.scope import Scope, get_user, require_admin

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
RECOVERY_LENGTH = 24
RECOVERY_GROUP = 4
ISSUER = "surveyapp"
ALWAYS_REQUIRED = frozenset({Role.ADMIN, Role.ANALYST})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—_.]+")


class CodeCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    TOO_MANY = "too_many"


def is_required(user: StaffUser) -> bool:
    """Must this user log in with a second factor?"""
    if user.role in ALWAYS_REQUIRED:
        return True
    return user.role is Role.COORDINATOR and bool(user.municipality.coordinator_2fa_required)


def is_enrolled(user: StaffUser) -> bool:
    return user.totp_secret is not None and user.totp_enrolled_at is not None


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, *, last_step: int | None, now: datetime) -> int | None:
    """The time step `code` was made for (±1 around now, after `last_step`), or None."""
    typed = re.sub(r"\s+", "", code or "")
    if not re.fullmatch(r"[0-9]{6}", typed):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = step_of(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), typed):
            return step
    return None


# --- enrolment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingEnrolment:
    secret: str
    uri: str  # otpauth:// for the QR code

    @property
    def grouped(self) -> str:
        """The key to type by hand, in groups of four."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def _pending(user: StaffUser) -> PendingEnrolment:
    assert user.totp_secret is not None
    uri = pyotp.TOTP(user.totp_secret, interval=STEP_SECONDS).provisioning_uri(
        name=user.username, issuer_name=ISSUER
    )
    return PendingEnrolment(user.totp_secret, uri)


def begin_enrolment(session: Session, user: StaffUser, actor: audit.Actor) -> PendingEnrolment:
    """Make a new pending secret for a user who has none yet (a POST; audited)."""
    if is_enrolled(user):
        raise ValueError("already enrolled")
    user.totp_secret = pyotp.random_base32(length=32)
    user.totp_enrolled_at = None
    user.totp_last_step = None
    audit.record(session, actor, "2fa.enrol_start", object_type="staff_user", object_id=user.id)
    session.flush()
    return _pending(user)


def pending_enrolment(user: StaffUser) -> PendingEnrolment | None:
    """The pending secret to show again (a GET changes nothing), if one has been made."""
    if user.totp_secret is None or user.totp_enrolled_at is not None:
        return None
    return _pending(user)


def confirm_enrolment(
    session: Session, user: StaffUser, code: str, actor: audit.Actor, *, now: datetime | None = None
) -> list[str] | None:
    """Accept the pending secret if `code` was made from it; the new recovery codes, or None."""
    now = now or utcnow()
    if user.totp_secret is None or user.totp_enrolled_at is not None:
        return None
    step = matching_step(user.totp_secret, code, last_step=None, now=now)
    if step is None:
        audit.record(
            session, actor, "2fa.enrol_failed", object_type="staff_user", object_id=user.id
        )
        return None
    user.totp_enrolled_at = now
    user.totp_last_step = step
    codes = _new_recovery_codes(session, user, now)
    audit.record(session, actor, "2fa.enrol", object_type="staff_user", object_id=user.id)
    session.flush()
    return codes


# --- recovery codes ----------------------------------------------------------------------------


def _recovery_hash(normalised: str) -> str:
    return hashlib.sha256(f"recovery:{normalised}".encode()).hexdigest()


def normalise_recovery_code(typed: str) -> str | None:
    if len(typed or "") > 80:
        return None
    compact = _SEPARATORS.sub("", typed or "").upper()
    if len(compact) != RECOVERY_LENGTH or any(c not in ALPHABET for c in compact):
        return None
    return compact


def _new_recovery_codes(session: Session, user: StaffUser, now: datetime) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(ALPHABET) for _ in range(RECOVERY_LENGTH))
        session.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(raw), created_at=now))
        codes.append("-".join(raw[i : i + RECOVERY_GROUP] for i in range(0, len(raw), 4)))
    return codes


def recovery_codes_left(session: Session, user_id: int) -> int:
    return len(
        session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def _use_recovery_code(session: Session, user: StaffUser, typed: str, now: datetime) -> bool:
    normalised = normalise_recovery_code(typed)
    if normalised is None:
        return False
    row = session.scalars(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _recovery_hash(normalised),
            RecoveryCode.used_at.is_(None),
        )
    ).first()
    if row is None:
        return False
    row.used_at = now
    return True


# --- the second step of a login ------------------------------------------------------------------


def check_code(
    session: Session,
    user: StaffUser,
    code: str,
    *,
    limit: throttle.Limit,
    key_secret: str,
    actor: audit.Actor,
    now: datetime | None = None,
) -> CodeCheck:
    """Check a code from the app or a recovery code for an enrolled user; count a wrong one."""
    now = now or utcnow()
    key = throttle.key_of(key_secret, limit.kind, user.id)
    if throttle.exceeded(session, limit, key, now=now):
        audit.record(
            session, actor, "login.code_throttled", object_type="staff_user", object_id=user.id
        )
        return CodeCheck.TOO_MANY
    assert user.totp_secret is not None
    step = matching_step(user.totp_secret, code, last_step=user.totp_last_step, now=now)
    if step is not None:
        user.totp_last_step = step
        session.flush()
        return CodeCheck.OK
    if _use_recovery_code(session, user, code, now):
        session.flush()
        audit.record(
            session,
            actor,
            "2fa.recovery_code_used",
            object_type="staff_user",
            object_id=user.id,
            details={"left": recovery_codes_left(session, user.id)},
        )
        return CodeCheck.OK
    count = throttle.hit(session, limit, key, now=now)
    audit.record(
        session,
        actor,
        "login.code_failed",
        object_type="staff_user",
        object_id=user.id,
        details={"failures": count},
    )
    return CodeCheck.WRONG


# --- admin --------------------------------------------------------------------------------------


def reset(session: Session, scope: Scope, user_id: int) -> StaffUser:
    """An admin removes a user's second factor: their sessions end; audited."""
    user = get_user(session, scope, user_id)
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    staff_sessions.end_all(session, user, "2fa_reset")
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(
        session, scope.actor, "user.2fa_reset", object_type="staff_user", object_id=user.id
    )
    session.flush()
    return user


def coordinator_requirement(session: Session, scope: Scope) -> bool:
    """Must the coordinators of the admin's municipality use a second factor?"""
    require_admin(scope)
    municipality = session.get(Municipality, scope.municipality_id)
    return bool(municipality and municipality.coordinator_2fa_required)


def set_coordinator_requirement(session: Session, scope: Scope, required: bool) -> None:
    """Switch the second factor for coordinators on or off (admins only; audited).

    Switched on, a coordinator without an authenticator app sets one up at the next login;
    the sessions already running go on until they end (at most 12 hours).
    """
    require_admin(scope)
    municipality = session.get(Municipality, scope.municipality_id)
    assert municipality is not None
    if municipality.coordinator_2fa_required == required:
        return
    municipality.coordinator_2fa_required = required
    audit.record(
        session,
        scope.actor,
        "municipality.coordinator_2fa",
        object_type="municipality",
        object_id=municipality.id,
        details={"required": required},
    )
    session.flush()
