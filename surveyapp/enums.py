"""Vocabularies shared by the domain, the models and the views (pure Python)."""

from __future__ import annotations

from enum import StrEnum


class ProviderKind(StrEnum):
    MUNICIPAL = "municipal"  # kommunal leverandør
    PRIVATE = "private"  # privat leverandør


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    ANALYST = "analyst"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class LegalBasis(StrEnum):
    """Serviceloven paragraph a course is granted under."""

    SEL_83A = "83a"  # hverdagsrehabilitering
    SEL_83 = "83"  # personlig og praktisk hjælp
    SEL_86 = "86"  # genoptræning og vedligeholdelsestræning
    SEL_140 = "140"  # genoptræning efter sundhedsloven § 140


class CourseStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Anchor(StrEnum):
    """What a timepoint's offset counts from."""

    COURSE_START = "course_start"
    COURSE_END = "course_end"


class Respondent(StrEnum):
    CITIZEN = "citizen"  # borgeren selv
    RELATIVE = "relative"  # pårørende (proxy)
    STAFF = "staff"  # medarbejder


class Channel(StrEnum):
    KIOSK = "kiosk"  # staff tablet in the citizen's home
    LINK = "link"  # QR code / link on the respondent's own device
    PAPER = "paper"  # entered by staff from a paper form
    STAFF = "staff"  # completed by staff directly (course outcome)
    IMPORT = "import"  # imported from a file of paper or legacy data (`surveyapp import-responses`)


class AssignmentStatus(StrEnum):
    SCHEDULED = "scheduled"  # window not yet open
    OPEN = "open"  # window open, nothing answered
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    EXPIRED = "expired"  # window closed without an answer ("missed")
    DECLINED = "declined"  # drop-out, with a reason


class DropoutReason(StrEnum):
    DECLINED = "declined"  # ønsker ikke at deltage
    TOO_ILL = "too_ill"
    HOSPITALISED = "hospitalised"
    MOVED = "moved"
    DIED = "died"
    UNREACHABLE = "unreachable"


class AnswerState(StrEnum):
    ANSWERED = "answered"
    DONT_KNOW = "dont_know"  # "Ved ikke / vil ikke svare": stored as such, never as a value
    NOT_APPLICABLE = "not_applicable"


class ActorType(StrEnum):
    STAFF = "staff"
    CITIZEN = "citizen"
    RELATIVE = "relative"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


class KioskState(StrEnum):
    HANDOVER = "handover"  # "Giv tabletten til borgeren"
    ANSWERING = "answering"  # the citizen has the tablet
    HANDBACK = "handback"  # "Giv tabletten tilbage": only the staff PIN leads on
    ENDED = "ended"
