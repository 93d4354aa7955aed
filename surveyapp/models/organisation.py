"""Municipality → provider → team, and the staff users who belong to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveyapp.enums import ProviderKind, Role
from surveyapp.models.base import Base, str_enum, utcnow


class Municipality(Base):
    """A kommune: the data controller and the outermost access scope."""

    __tablename__ = "municipality"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(3), unique=True)  # kommunekode, e.g. "751"
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Shown to relatives in letters and on their pages: who asks, and whom to call.
    letter_sender: Mapped[str | None] = mapped_column(String(200))  # e.g. "Sundhed og Omsorg"
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(120))
    contact_hours: Mapped[str | None] = mapped_column(String(120))  # e.g. "hverdage 8-15"
    # Admins and analysts always log in with a second factor; coordinators when this is set.
    coordinator_2fa_required: Mapped[bool] = mapped_column(default=False, server_default=false())

    providers: Mapped[list[Provider]] = relationship(back_populates="municipality")


class Provider(Base):
    """A leverandør delivering courses: the municipality's own or a private company."""

    __tablename__ = "provider"
    __table_args__ = (UniqueConstraint("municipality_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[ProviderKind] = mapped_column(str_enum(ProviderKind, "provider_kind"))
    # The unit named in the start-meeting questions ("Hjemmeplejen", "Træningsenheden").
    unit_name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)

    municipality: Mapped[Municipality] = relationship(back_populates="providers")
    teams: Mapped[list[Team]] = relationship(back_populates="provider")


class Team(Base):
    """A team within a provider (e.g. a district's rehabilitation team)."""

    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("provider_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)

    provider: Mapped[Provider] = relationship(back_populates="teams")


class StaffUser(Base):
    """A member of staff who logs in. Deactivated, never deleted (the audit trail names them)."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("provider.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id
    kiosk_pin_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on logout, password change and deactivation: sessions carrying an older
    # value are no longer valid, which a signed cookie alone cannot achieve.
    session_version: Mapped[int] = mapped_column(default=1)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    locale: Mapped[str | None] = mapped_column(String(5))
    # Two-factor (TOTP, RFC 6238): the base32 secret once enrolled, and the last time step a
    # code was accepted for, so that no code (nor an earlier one) is accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enrolled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    municipality: Mapped[Municipality] = relationship()
    provider: Mapped[Provider | None] = relationship()
    team: Mapped[Team | None] = relationship()


class AnalystGrant(Base):
    """A municipality's admin lets an analyst (of any municipality) see its aggregates.

    An analyst always sees their own municipality's reports; a grant adds another one, for an
    evaluation across municipalities. Aggregates only: analysts never see a citizen.
    """

    __tablename__ = "analyst_grant"
    __table_args__ = (UniqueConstraint("user_id", "municipality_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[StaffUser] = relationship(foreign_keys=[user_id])
    municipality: Mapped[Municipality] = relationship()
