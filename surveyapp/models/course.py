"""Pseudonymous citizens, their courses (forløb), measurement plans and assignments."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveyapp.enums import (
    Anchor,
    AssignmentStatus,
    Channel,
    CourseStatus,
    DropoutReason,
    LegalBasis,
    Respondent,
    Sex,
)
from surveyapp.models.base import Base, str_enum, utcnow
from surveyapp.models.organisation import Municipality, Provider, Team

if TYPE_CHECKING:
    from surveyapp.models.response import Response


class Citizen(Base):
    """A borger, known only by a keyed HMAC of the CPR number; the CPR is never stored."""

    __tablename__ = "citizen"
    __table_args__ = (UniqueConstraint("municipality_id", "cpr_hmac"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    cpr_hmac: Mapped[str] = mapped_column(String(64))  # hex HMAC-SHA256 with the CPR key
    label: Mapped[str] = mapped_column(String(40))  # the coordinator's own label, e.g. initials
    birth_year: Mapped[int]
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, "sex"))
    lives_alone: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    # Set when the retention period anonymised the citizen: the CPR HMAC was replaced by a
    # random value and the label cleared; the courses and answers stay for the aggregates.
    anonymised_at: Mapped[datetime | None]

    municipality: Mapped[Municipality] = relationship()
    courses: Mapped[list[Course]] = relationship(back_populates="citizen")


class MeasurementPlan(Base):
    """A named template of timepoints; a course follows one plan."""

    __tablename__ = "measurement_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: a plan offered to every municipality (the shipped default plan).
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    timepoints: Mapped[list[PlanTimepoint]] = relationship(
        back_populates="plan", order_by="PlanTimepoint.sort_order", cascade="all, delete-orphan"
    )


class PlanTimepoint(Base):
    """When to measure: anchor (course start or end) + offset, with an answer window."""

    __tablename__ = "plan_timepoint"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("measurement_plan.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))  # stable: baseline, end, fu_3m, fu_1y, ...
    label_da: Mapped[str] = mapped_column(String(80))
    label_en: Mapped[str] = mapped_column(String(80))
    anchor: Mapped[Anchor] = mapped_column(str_enum(Anchor, "anchor"))
    offset_months: Mapped[int] = mapped_column(default=0)
    offset_days: Mapped[int] = mapped_column(default=0)
    window_before_days: Mapped[int] = mapped_column(default=0)
    window_after_days: Mapped[int] = mapped_column(default=14)
    sort_order: Mapped[int] = mapped_column(default=0)
    # How long a relative's link (letter, QR code, typeable code) stays valid once issued.
    link_valid_days: Mapped[int] = mapped_column(default=14, server_default="14")

    plan: Mapped[MeasurementPlan] = relationship(back_populates="timepoints")
    items: Mapped[list[PlanItem]] = relationship(
        back_populates="timepoint", order_by="PlanItem.sort_order", cascade="all, delete-orphan"
    )


class PlanItem(Base):
    """One instrument given to one kind of respondent at a timepoint."""

    __tablename__ = "plan_item"
    __table_args__ = (UniqueConstraint("timepoint_id", "instrument_id", "respondent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    timepoint_id: Mapped[int] = mapped_column(ForeignKey("plan_timepoint.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(40))
    respondent: Mapped[Respondent] = mapped_column(str_enum(Respondent, "respondent"))
    sort_order: Mapped[int] = mapped_column(default=0)

    timepoint: Mapped[PlanTimepoint] = relationship(back_populates="items")


class Course(Base):
    """A forløb: one citizen's rehabilitation course with one provider."""

    __tablename__ = "course"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id"), index=True)
    # Denormalised from the citizen so that every scoped query filters one column.
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("measurement_plan.id"), index=True)
    legal_basis: Mapped[LegalBasis] = mapped_column(
        str_enum(LegalBasis, "legal_basis"), default=LegalBasis.SEL_83A
    )
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    status: Mapped[CourseStatus] = mapped_column(
        str_enum(CourseStatus, "course_status"), default=CourseStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)

    citizen: Mapped[Citizen] = relationship(back_populates="courses")
    provider: Mapped[Provider] = relationship()
    team: Mapped[Team | None] = relationship()
    plan: Mapped[MeasurementPlan] = relationship()
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="course", order_by="Assignment.due_date"
    )


class Assignment(Base):
    """One instrument due for one respondent at one timepoint of one course."""

    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("course_id", "timepoint_key", "instrument_id", "respondent"),
        # At most one assignment per timepoint too (the coverage report counts on it).
        Index(
            "uq_assignment_timepoint",
            "course_id",
            "timepoint_id",
            "instrument_id",
            "respondent",
            unique=True,
        ),
        Index("ix_assignment_status_window_end", "status", "window_end"),
        # The due list and the citizen page: a course's assignments (the index also serves
        # the foreign key), the due list's by status and due date without a table lookup.
        Index("ix_assignment_course_status_due", "course_id", "status", "due_date"),
        # The reports read one row per (instrument, course, respondent) in this order, every
        # column they need in the index itself (no table lookups, no sort on SQLite).
        Index(
            "ix_assignment_report",
            "instrument_id",
            "course_id",
            "respondent",
            "timepoint_id",
            "status",
            "dropout_reason",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"))
    timepoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_timepoint.id", ondelete="SET NULL"), index=True
    )
    timepoint_key: Mapped[str] = mapped_column(String(40))  # kept if the plan changes
    instrument_id: Mapped[str] = mapped_column(String(40))
    respondent: Mapped[Respondent] = mapped_column(str_enum(Respondent, "respondent"))
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, "channel"))
    due_date: Mapped[date | None]  # None while an end-anchored course has no end date
    window_start: Mapped[date | None]
    window_end: Mapped[date | None]
    status: Mapped[AssignmentStatus] = mapped_column(
        str_enum(AssignmentStatus, "assignment_status"), default=AssignmentStatus.SCHEDULED
    )
    dropout_reason: Mapped[DropoutReason | None] = mapped_column(
        str_enum(DropoutReason, "dropout_reason")
    )
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    course: Mapped[Course] = relationship(back_populates="assignments")
    response: Mapped[Response | None] = relationship(back_populates="assignment")


class LinkToken(Base):
    """A link/QR access to one assignment, with its typeable code; only hashes are stored.

    Issuing a new link for an assignment revokes the old one, so at most one link per
    assignment is live. A link is opened (first and last time recorded, never the token) and
    ends when it expires or is revoked; after the answers are sent it shows only thanks.
    """

    __tablename__ = "link_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # typeable code
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    revoked_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(10), default="letter", server_default="letter")
    language: Mapped[str] = mapped_column(String(5), default="da", server_default="da")
    # The citizen's first name as the coordinator typed it for the letter; never the label.
    letter_name: Mapped[str | None] = mapped_column(String(40))
    first_opened_at: Mapped[datetime | None]
    last_opened_at: Mapped[datetime | None]

    assignment: Mapped[Assignment] = relationship()


class LinkAttempt(Base):
    """Failed link and code attempts per client address and time window (rate limiting).

    A table rather than process memory, so that every app process shares the counters; the
    address is kept only as a keyed hash, and old windows are deleted as new ones start.
    """

    __tablename__ = "link_attempt"
    __table_args__ = (UniqueConstraint("client_key", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_key: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime] = mapped_column(index=True)
    failures: Mapped[int] = mapped_column(default=0)
