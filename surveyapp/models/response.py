"""Responses, their item answers (saved one by one) and stored scores."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveyapp.enums import AnswerState, Channel, Respondent
from surveyapp.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from surveyapp.models.course import Assignment


class Response(Base):
    """One respondent's answers to one assignment, with what they were shown."""

    __tablename__ = "response"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id"), unique=True)
    instrument_id: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    text_version: Mapped[str] = mapped_column(String(40))
    text_verified: Mapped[bool]
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    respondent: Mapped[Respondent] = mapped_column(str_enum(Respondent, "respondent"))
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_answer_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    # Client-generated idempotency key of the submission: a retried submit is recognised.
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    scoring_version: Mapped[str | None] = mapped_column(String(40))
    score_notes: Mapped[list[str] | None] = mapped_column(JSON)

    assignment: Mapped[Assignment] = relationship(back_populates="response")
    answers: Mapped[list[Answer]] = relationship(
        back_populates="response", cascade="all, delete-orphan", order_by="Answer.id"
    )
    scores: Mapped[list[Score]] = relationship(
        back_populates="response", cascade="all, delete-orphan", order_by="Score.name"
    )
    measurement: Mapped[Measurement | None] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )


class Answer(Base):
    """One item's answer; `value` is None unless state is answered."""

    __tablename__ = "answer"
    __table_args__ = (
        UniqueConstraint("response_id", "item_id"),
        # Covers the course-outcome report's reads (no table lookups).
        Index("ix_answer_report", "response_id", "item_id", "state", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(20))
    state: Mapped[AnswerState] = mapped_column(
        str_enum(AnswerState, "answer_state"), default=AnswerState.ANSWERED
    )
    value: Mapped[int | None]
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)

    response: Mapped[Response] = relationship(back_populates="answers")


class Score(Base):
    """A computed score stored with its response (e.g. who5_percent = 60)."""

    __tablename__ = "score"
    __table_args__ = (
        UniqueConstraint("response_id", "name"),
        # Covers the progression and start-meeting reports' reads (no table lookups).
        Index("ix_score_report", "response_id", "name", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    value: Mapped[float | None]

    response: Mapped[Response] = relationship(back_populates="scores")


# How many reported scores one instrument can keep in the measurement table (v0 ... v11).
MEASUREMENT_VALUES = 12


class Measurement(Base):
    """A submitted response's reported scores in one row, for the evaluation reports.

    The reports pair each course's baseline with its later measurements. Read from `score`,
    that is one row per score and three joins per response (1.5 million rows for the start
    meetings of a national evaluation); here it is one row per response, in the order the
    reports group by (WITHOUT ROWID on SQLite: the rows are the index). It is written with the
    scores (`services.measurements`), holds nothing that `score` and `assignment` do not, and
    can be rebuilt from them at any time (`surveyapp migrate` does when the reported scores
    change). Which score is in which value column is in `measurement_column`.
    """

    __tablename__ = "measurement"
    __table_args__ = ({"sqlite_with_rowid": False},)

    instrument_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), primary_key=True, index=True)
    respondent: Mapped[Respondent] = mapped_column(
        str_enum(Respondent, "respondent"), primary_key=True
    )
    response_id: Mapped[int] = mapped_column(
        ForeignKey("response.id", ondelete="CASCADE"), primary_key=True, unique=True
    )
    timepoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_timepoint.id", ondelete="SET NULL"), index=True
    )
    v0: Mapped[float | None]
    v1: Mapped[float | None]
    v2: Mapped[float | None]
    v3: Mapped[float | None]
    v4: Mapped[float | None]
    v5: Mapped[float | None]
    v6: Mapped[float | None]
    v7: Mapped[float | None]
    v8: Mapped[float | None]
    v9: Mapped[float | None]
    v10: Mapped[float | None]
    v11: Mapped[float | None]

    response: Mapped[Response] = relationship(back_populates="measurement")


class MeasurementColumn(Base):
    """Which reported score of an instrument is kept in which value column of `measurement`.

    Positions are handed out once and never reused, so a definition file that reorders or
    adds reported scores never makes stored values mean something else.
    """

    __tablename__ = "measurement_column"
    __table_args__ = (UniqueConstraint("instrument_id", "name"),)

    instrument_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))


class AuditEvent(Base):
    """Who did what to which record, when and from where; one link of a hash chain.

    Append-only: database triggers refuse UPDATE and DELETE (except removing an old event's
    IP address and its salt), refuse an event that does not continue the chain head, and take
    the chain head forward. `seq`, `prev_hash`, `hash`, `occurred_at` and the IP digest are
    set by `surveyapp.services.audit` when the event is flushed (`surveyapp.auditchain`).
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        # The admin's audit search: one municipality's events, newest first, without a sort.
        Index("ix_audit_event_municipality_time", "municipality_id", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)  # place in the chain: 1, 2, 3, ... no gaps
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(40))
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id"))
    # Not hashed: removed after its retention period; the hash covers ip_digest instead.
    ip_address: Mapped[str | None] = mapped_column(String(45))
    ip_salt: Mapped[str | None] = mapped_column(String(32))
    ip_digest: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of salt | address
    details: Mapped[dict[str, Any] | None]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The one row naming the audit chain's last event: its seq, hash and time.

    Moved forward only by the database trigger on audit_event inserts; on PostgreSQL the
    app's role may only read it. It shows events deleted at the end of the chain.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime | None]
