"""Report test data made through the real services: the published tables, from raw answers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from surveyapp.enums import (
    AnswerState,
    AssignmentStatus,
    Channel,
    DropoutReason,
    LegalBasis,
    ProviderKind,
    Respondent,
    Sex,
)
from surveyapp.instruments import Registry, default_registry
from surveyapp.models import Assignment, Citizen, Course, Municipality, Provider, Team
from surveyapp.services.courses import create_course, default_plan
from surveyapp.services.responses import record_complete_response

TODAY = date(2026, 6, 1)
_codes = itertools.count(700)
_citizens = itertools.count(1)

Values = dict[str, int | AnswerState]


def spread(total: int, n: int, *, low: int = 0, high: int = 10) -> list[int]:
    """n whole numbers between low and high adding up to total, as even as can be."""
    base, extra = divmod(total, n)
    values = [base + 1] * extra + [base] * (n - extra)
    assert all(low <= v <= high for v in values) and sum(values) == total
    return values


@dataclass
class Seeder:
    """A municipality with a municipal and a private provider, and courses made to order."""

    session: Session
    name: str = "Testrup Kommune"
    registry: Registry = field(default_factory=default_registry)

    def __post_init__(self) -> None:
        self.municipality = Municipality(code=str(next(_codes)), name=self.name)
        self.municipal = Provider(
            municipality=self.municipality,
            name=f"{self.name} Hjemmepleje",
            kind=ProviderKind.MUNICIPAL,
            unit_name="Hjemmeplejen",
        )
        self.private = Provider(
            municipality=self.municipality,
            name="Privat Træning ApS",
            kind=ProviderKind.PRIVATE,
            unit_name="Privat Træning",
        )
        self.team = Team(provider=self.municipal, name="Team Nord")
        self.session.add_all([self.municipality, self.municipal, self.private, self.team])
        self.session.flush()
        self.plan = default_plan(self.session)

    def course(
        self,
        *,
        start: date = date(2024, 1, 8),
        weeks: int = 8,
        private: bool = False,
        birth_year: int = 1940,
        sex: Sex = Sex.FEMALE,
        lives_alone: bool | None = True,
        legal_basis: LegalBasis = LegalBasis.SEL_83A,
    ) -> Course:
        citizen = Citizen(
            municipality_id=self.municipality.id,
            cpr_hmac=f"{next(_citizens):064x}",
            label="XX-borger",
            birth_year=birth_year,
            sex=sex,
            lives_alone=lives_alone,
        )
        self.session.add(citizen)
        self.session.flush()
        provider = self.private if private else self.municipal
        return create_course(
            self.session,
            citizen=citizen,
            provider=provider,
            team=None if private else self.team,
            plan=self.plan,
            start_date=start,
            end_date=start + timedelta(weeks=weeks),
            legal_basis=legal_basis,
            today=TODAY,
        )

    def answer(
        self,
        course: Course,
        instrument_id: str,
        timepoint: str,
        values: Values,
        respondent: Respondent = Respondent.CITIZEN,
    ) -> Assignment:
        assignment = self.assignment(course, instrument_id, timepoint, respondent)
        day = assignment.due_date or TODAY
        moment = datetime.combine(day, time(10, 0), tzinfo=UTC)
        record_complete_response(
            self.session,
            assignment,
            values,
            channel=Channel.STAFF if respondent is Respondent.STAFF else Channel.PAPER,
            language="da",
            registry=self.registry,
            started_at=moment,
            submitted_at=moment + timedelta(minutes=5),
        )
        return assignment

    def set_status(
        self,
        course: Course,
        instrument_id: str,
        timepoint: str,
        status: AssignmentStatus,
        respondent: Respondent = Respondent.CITIZEN,
        reason: DropoutReason | None = None,
    ) -> None:
        assignment = self.assignment(course, instrument_id, timepoint, respondent)
        assignment.status = status
        assignment.dropout_reason = reason
        self.session.flush()

    @staticmethod
    def assignment(
        course: Course, instrument_id: str, timepoint: str, respondent: Respondent
    ) -> Assignment:
        return next(
            a
            for a in course.assignments
            if a.instrument_id == instrument_id
            and a.timepoint_key == timepoint
            and a.respondent is respondent
        )


# --- the Hedensted start-meeting table (start_meeting.md) --------------------------------------

#: Question: (mean at baseline, mean at the next measurement) as published.
HEDENSTED = {
    "sm_1": ("5,77", "7,40"),
    "sm_2": ("6,00", "6,40"),
    "sm_3": ("5,69", "7,80"),
    "sm_4": ("6,15", "8,00"),  # published as "8,0": the table drops a trailing zero once
}
HEDENSTED_HELD = 23
HEDENSTED_READY = 18
#: The sums behind the published means: 13 answered questions at baseline, 10 at the next.
_BASELINE_SUMS = {"sm_1": 75, "sm_2": 78, "sm_3": 74, "sm_4": 80}  # / 13
_NEXT_SUMS = {"sm_1": 74, "sm_2": 64, "sm_3": 78, "sm_4": 80}  # / 10


def hedensted(seeder: Seeder) -> list[Course]:
    """23 start meetings answered at baseline (13 with answers, 10 all "Ved ikke"); 10 answered
    at the end; 18 ready for follow-up (10 answered, 5 open, 3 missed); 5 not (3 not yet due,
    2 dropped out). The published means come out to the second decimal."""
    courses = [seeder.course() for _ in range(HEDENSTED_HELD)]
    baseline = {item: spread(total, 13) for item, total in _BASELINE_SUMS.items()}
    later = {item: spread(total, 10) for item, total in _NEXT_SUMS.items()}
    for index, course in enumerate(courses):
        if index < 13:
            values: Values = {item: baseline[item][index] for item in baseline}
        else:
            values = dict.fromkeys(baseline, AnswerState.DONT_KNOW)
        seeder.answer(course, "start_meeting", "baseline", values)
        if index < 10:
            seeder.answer(course, "start_meeting", "end", {i: later[i][index] for i in later})
        elif index < 15:
            seeder.set_status(course, "start_meeting", "end", AssignmentStatus.OPEN)
        elif index < 18:
            seeder.set_status(course, "start_meeting", "end", AssignmentStatus.EXPIRED)
        elif index < 21:
            seeder.set_status(course, "start_meeting", "end", AssignmentStatus.SCHEDULED)
        else:
            seeder.set_status(
                course,
                "start_meeting",
                "end",
                AssignmentStatus.DECLINED,
                reason=DropoutReason.MOVED,
            )
    return courses


# --- the Ishøj status report (reports.md, section 2) -------------------------------------------

ISHOJ_COURSES = 183


def ishoj(seeder: Seeder) -> list[Course]:
    """183 courses with the staff's course outcome at the end and at the follow-ups.

    At the end: need for help 94 none, 31 less, 30 same, 16 more, 12 left blank (171
    answered: 55 % none, 45 % still need help, of whom 40 % less, 39 % same, 21 % more);
    quality of life 112 better, 59 unchanged, 12 worse (61 / 32 / 7 %); before the course
    104 visitator and coordinator, 18 hospital nurse, 61 no visitator (57 / 10 / 33 %).
    Self-sufficient: 46 of 100 at 1 year, 43 of 100 at 2 years.
    """
    courses = [seeder.course(start=date(2023, 1, 2)) for _ in range(ISHOJ_COURSES)]
    need = [0] * 94 + [1] * 31 + [2] * 30 + [3] * 16 + [None] * 12
    life = [1] * 112 + [2] * 59 + [3] * 12
    contact = [1] * 104 + [2] * 18 + [3] * 61
    for index, course in enumerate(courses):
        values: Values = {"co_quality_of_life": life[index], "co_pre_contact": contact[index]}
        if need[index] is not None:
            values["co_help_need"] = need[index]  # type: ignore[assignment]
        seeder.answer(course, "course_outcome", "end", values, Respondent.STAFF)
        if index < 100:
            seeder.answer(
                course,
                "course_outcome",
                "fu_1y",
                {"co_self_sufficient": int(index < 46)},
                Respondent.STAFF,
            )
            seeder.answer(
                course,
                "course_outcome",
                "fu_2y",
                {"co_self_sufficient": int(index < 43)},
                Respondent.STAFF,
            )
    return courses
