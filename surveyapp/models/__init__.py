"""SQLAlchemy 2.x typed models of the whole domain (schema made by Alembic migrations)."""

from surveyapp.models import chain  # noqa: E402,F401 - registers the audit chain on flush
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
from surveyapp.models.kiosk import KioskSession, OfflineItem
from surveyapp.models.organisation import AnalystGrant, Municipality, Provider, StaffUser, Team
from surveyapp.models.response import (
    MEASUREMENT_VALUES,
    Answer,
    AuditChainHead,
    AuditEvent,
    Measurement,
    MeasurementColumn,
    Response,
    Score,
)
from surveyapp.models.security import (
    CitizenClaim,
    CprHandoff,
    RateCounter,
    RecoveryCode,
    StaffSession,
)

__all__ = [
    "AnalystGrant",
    "Answer",
    "Assignment",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "Citizen",
    "CitizenClaim",
    "Course",
    "CprHandoff",
    "KioskSession",
    "LinkAttempt",
    "LinkToken",
    "MEASUREMENT_VALUES",
    "Measurement",
    "MeasurementColumn",
    "MeasurementPlan",
    "Municipality",
    "OfflineItem",
    "PlanItem",
    "PlanTimepoint",
    "RateCounter",
    "RecoveryCode",
    "Provider",
    "Response",
    "Score",
    "StaffSession",
    "StaffUser",
    "Team",
    "utcnow",
]
