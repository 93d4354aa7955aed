"""SQLAlchemy 2.x typed models of the whole domain (schema made by Alembic migrations)."""

from surveyapp.models.base import Base, utcnow
from surveyapp.models.course import (
    Assignment,
    Citizen,
    Course,
    LinkAttempt,
    LinkToken,
    MeasurementPlan,
    PlanItem,
    PlanTimepoint,
)
from surveyapp.models.kiosk import KioskSession
from surveyapp.models.organisation import AnalystGrant, Municipality, Provider, StaffUser, Team
from surveyapp.models.response import Answer, AuditEvent, Response, Score
from surveyapp.models.security import CitizenClaim, RateCounter, RecoveryCode

__all__ = [
    "AnalystGrant",
    "Answer",
    "Assignment",
    "AuditEvent",
    "Base",
    "Citizen",
    "CitizenClaim",
    "Course",
    "KioskSession",
    "LinkAttempt",
    "LinkToken",
    "MeasurementPlan",
    "Municipality",
    "PlanItem",
    "PlanTimepoint",
    "RateCounter",
    "RecoveryCode",
    "Provider",
    "Response",
    "Score",
    "StaffUser",
    "Team",
    "utcnow",
]
