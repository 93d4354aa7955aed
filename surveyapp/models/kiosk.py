"""A kiosk visit: the staff tablet handed to one citizen for their queued questionnaires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from surveyapp.enums import KioskState
from surveyapp.models.base import Base, str_enum, utcnow


class KioskSession(Base):
    """Server-side state of one kiosk visit; the browser holds only a random grant for it.

    The staff user's login is suspended while the kiosk runs and restored with their PIN;
    wrong PINs are counted here (not with logins or links).
    """

    __tablename__ = "kiosk_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the grant
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id"), index=True)
    # The staff session suspended on this tablet (resumed by the PIN); other devices go on.
    staff_session_id: Mapped[int | None] = mapped_column(ForeignKey("staff_session.id"), index=True)
    assignment_ids: Mapped[list[int]] = mapped_column(JSON)  # the queue, in answering order
    state: Mapped[KioskState] = mapped_column(str_enum(KioskState, "kiosk_state"))
    pin_failures: Mapped[int] = mapped_column(default=0)
    staff_login_at: Mapped[datetime]  # the suspended login's start: its 12 h limit still holds
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    handed_back_at: Mapped[datetime | None]
    hand_back_reason: Mapped[str | None] = mapped_column(String(20))  # done, pause, idle
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))  # pin, lockout
    # What the tablet last reported of its offline queue (POST /kiosk/sync/status): the most
    # items it said it ever made for this visit, and how many it said it still holds.
    offline_created: Mapped[int | None]
    offline_pending: Mapped[int | None]
    offline_reported_at: Mapped[datetime | None]


class OfflineItem(Base):
    """One item (answer, submit, hand-back) a tablet sent from its offline queue.

    Stored before it is applied, once per `key` (the tablet's uuid for the item): a retried
    send finds the row and changes nothing. `digest` (SHA-256 of the plaintext) tells a
    retry from a different item under the same key. `outcome` says what became of it:
    stored, or why it was refused (too_old, not_in_visit, closed, invalid, incomplete).
    """

    __tablename__ = "offline_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(36), unique=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("kiosk_session.id"), index=True)
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(12))  # answer, submit, handback
    digest: Mapped[str] = mapped_column(String(64))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
