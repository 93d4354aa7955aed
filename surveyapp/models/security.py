"""Rate-limit counters, two-factor recovery codes, a provider's claim on a citizen, and a CPR
look-up kept for the registration step."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from surveyapp.enums import Sex
from surveyapp.models.base import Base, str_enum, utcnow


class RateCounter(Base):
    """How often one key did one kind of thing in one fixed time window (rate limiting).

    A table rather than process memory, so that every app process shares the counts. `key` is
    a keyed hash (of a client address, a typed username or a user id), never the value itself;
    windows that have passed are deleted as new ones start. Kinds: see surveyapp.services.throttle.
    """

    __tablename__ = "rate_counter"
    __table_args__ = (UniqueConstraint("kind", "key", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime] = mapped_column(index=True)
    hits: Mapped[int] = mapped_column(default=0)


class RecoveryCode(Base):
    """A one-time code that stands in for the authenticator app; only its hash is kept."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of a 50-bit random code
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class CitizenClaim(Base):
    """A user tied to a provider registered a citizen the municipality already had.

    The citizen becomes visible to that user (and only to them, like a citizen they created),
    so that "register" behaves the same whether or not someone else registered the citizen
    first: the CPR look-up reveals nothing outside the user's caseload.
    """

    __tablename__ = "citizen_claim"
    __table_args__ = (UniqueConstraint("citizen_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CprHandoff(Base):
    """A CPR look-up that found no one, kept for a few minutes so the user can register them.

    Never the number: only what registering needs (the keyed HMAC pseudonym, birth year and
    sex, exactly what a citizen row keeps). The row is reached only through an opaque random
    handle held in the user's session; `handle_hash` is its SHA-256, so the table alone leads
    to nothing. Bound to the user who typed the number, used once, and deleted when used,
    when the same user looks up another number, and when expired (by each new look-up and by
    `surveyapp sweep`). See surveyapp.services.citizens (HANDOFF_MINUTES).
    """

    __tablename__ = "cpr_handoff"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    cpr_hmac: Mapped[str] = mapped_column(String(64))
    birth_year: Mapped[int]
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, "sex"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class StaffSession(Base):
    """One login of a staff user in one browser; the session cookie holds only its random id.

    The id is 256 random bits, stored here only as its SHA-256 (a stolen database dump holds
    no usable session). A session is in use while `ended_at` and `suspended_at` are empty:
    logout ends this one, a password change, reset or deactivation ends every one of the
    user's, an admin can end any; a kiosk visit suspends the one on its tablet (and no other)
    until the coordinator's PIN resumes it under a new id.
    """

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the id
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # the login: 12 h limit
    # A short description of the browser (e.g. "Firefox on Android"), for the admin's list.
    device: Mapped[str | None] = mapped_column(String(80))
    suspended_at: Mapped[datetime | None]  # a kiosk visit runs on this browser
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))  # logout, password, admin, ...
