"""Import checked rows of paper or legacy responses (see surveyapp.importing): all or nothing.

Each row names a municipality (name or kommunekode), a provider of it (and optionally a team),
a citizen (by CPR pseudonym), a course (by citizen, provider and start date), a timepoint of
the course's plan, an instrument and a respondent. Citizens and courses are found, or created:
a new citizen gets the row's label (or "Import") and the birth year and sex from the CPR
number; a new course follows the municipality's own default plan if it has one, else the
shared default plan, which schedules its measurements. The response goes to the measurement
(assignment) of that course, timepoint, instrument and respondent, is scored exactly as any
other (services.responses.record_complete_response) and has channel "import".

A measurement that already has a submitted response is an error for that row: nothing is ever
stored twice, so importing the same file again is refused row by row and changes nothing.
Every row is checked against the database before anything is kept (in a savepoint, rolled back
on any problem), and ImportRejected lists every bad row and column.

For an existing course, `team` and `course_end` must agree with what the course has; where
the course has none yet, the import sets it (an end date moves its end-anchored measurements,
as editing the course would). The label of an existing citizen is never changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from surveyapp.enums import AssignmentStatus, Channel, Respondent
from surveyapp.importing import (
    DEFAULT_LABEL,
    DENMARK,
    ImportProblem,
    ImportRejected,
    ImportRow,
    problem,
)
from surveyapp.instruments import Registry
from surveyapp.models import (
    Assignment,
    Citizen,
    Course,
    MeasurementPlan,
    Municipality,
    Provider,
    Team,
)
from surveyapp.services import audit
from surveyapp.services.courses import create_course, default_plan, set_end_date
from surveyapp.services.responses import record_complete_response
from surveyapp.services.scope import Scope, require_admin

CHUNK = 500  # ids per IN (...) query


@dataclass
class ImportSummary:
    """What an import creates or finds (the preview shows it before anything is kept)."""

    rows: int = 0
    citizens_created: int = 0
    citizens_found: int = 0
    courses_created: int = 0
    courses_found: int = 0
    courses_updated: int = 0  # an existing course given its team or end date by the import
    responses: Counter[tuple[str, Respondent]] = field(default_factory=Counter)
    municipality_ids: set[int] = field(default_factory=set)

    @property
    def response_count(self) -> int:
        return sum(self.responses.values())

    def response_rows(self) -> list[tuple[str, Respondent, int]]:
        """(instrument id, respondent, responses), by instrument and respondent."""
        return [(i, r, n) for (i, r), n in sorted(self.responses.items())]

    def details(self) -> dict[str, Any]:
        """The counts as plain data (for the audit trail and the command's output)."""
        return {
            "rows": self.rows,
            "citizens_created": self.citizens_created,
            "citizens_found": self.citizens_found,
            "courses_created": self.courses_created,
            "courses_found": self.courses_found,
            "courses_updated": self.courses_updated,
            "responses": {f"{i}/{r.value}": n for i, r, n in self.response_rows()},
            "municipality_ids": sorted(self.municipality_ids),
        }


def import_responses(
    session: Session,
    rows: Sequence[ImportRow],
    *,
    registry: Registry,
    today: date,
    scope: Scope | None = None,
) -> ImportSummary:
    """Store every row in the caller's transaction, or raise ImportRejected and store nothing.

    `scope` is an admin's (rows must name the admin's own municipality); None imports
    installation-wide (the command line), as the system. Audited as "responses.import".
    """
    summary = _run(session, rows, registry=registry, today=today, scope=scope, keep=True)
    _audit(session, scope, "responses.import", summary)
    return summary


def preview_import(
    session: Session,
    rows: Sequence[ImportRow],
    *,
    registry: Registry,
    today: date,
    scope: Scope | None = None,
) -> ImportSummary:
    """Check every row against the database and say what an import would do; keep nothing.

    Raises ImportRejected exactly as `import_responses` would. Audited as
    "responses.import_preview" (the preview tells which citizens exist).
    """
    summary = _run(session, rows, registry=registry, today=today, scope=scope, keep=False)
    _audit(session, scope, "responses.import_preview", summary)
    return summary


def _run(
    session: Session,
    rows: Sequence[ImportRow],
    *,
    registry: Registry,
    today: date,
    scope: Scope | None,
    keep: bool,
) -> ImportSummary:
    if scope is not None:
        require_admin(scope)
    savepoint = session.begin_nested()
    try:
        importer = _Importer(session, registry, today, scope)
        summary = importer.run(rows)
        if importer.problems:
            raise ImportRejected(importer.problems)
    except BaseException:
        savepoint.rollback()
        raise
    if keep:
        savepoint.commit()
    else:
        savepoint.rollback()
    return summary


def _audit(session: Session, scope: Scope | None, action: str, summary: ImportSummary) -> None:
    actor = scope.actor if scope is not None else audit.SYSTEM
    ids = sorted(summary.municipality_ids)
    municipality_id = scope.municipality_id if scope is not None else None
    if municipality_id is None and len(ids) == 1:
        municipality_id = ids[0]
    audit.record(
        session,
        actor,
        action,
        municipality_id=municipality_id,
        details={**summary.details(), "source": "web" if scope is not None else "cli"},
    )
    session.flush()


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _folded(text: str) -> str:
    return " ".join(text.casefold().split())


class _Importer:
    """One import's lookups (each record loaded once) and the problems found so far."""

    def __init__(self, session: Session, registry: Registry, today: date, scope: Scope | None):
        self.session = session
        self.registry = registry
        self.today = today
        self.scope = scope
        self.user_id = scope.user_id if scope is not None else None
        self.problems: list[ImportProblem] = []
        self.summary = ImportSummary()
        self.municipalities = self._municipality_lookup()
        self.providers: dict[tuple[int, str], Provider] = {}
        self.teams: dict[tuple[int, str], Team] = {}
        self.citizens: dict[tuple[int, str], Citizen] = {}
        self.new_citizens: dict[int, tuple[int, str | None]] = {}  # id(citizen) -> (row, label)
        self.existing_courses: dict[tuple[int, int, date], Course] = {}  # by citizen.id
        self.courses: dict[tuple[int, int, date], Course] = {}  # by id(citizen), this import's
        self.found_citizens: set[int] = set()
        self.new_courses: set[int] = set()  # id(course) of courses made by this import
        self.updated_courses: set[int] = set()
        self.found_courses: set[int] = set()
        self.plans: dict[int, MeasurementPlan] = {}
        self.answered: dict[int, int] = {}  # id(assignment) -> row that answers it

    def fail(self, code: str, row: ImportRow, column: str | None = None, **params: object) -> None:
        self.problems.append(problem(code, row.row, column, **params))

    # --- lookups -------------------------------------------------------------------------

    def _municipality_lookup(self) -> dict[str, Municipality]:
        found: dict[str, Municipality] = {}
        for m in self.session.scalars(select(Municipality).order_by(Municipality.id)):
            names = {_folded(m.name)}
            names.add(_folded(m.name).removesuffix(" kommune"))
            for key in names:
                found.setdefault(key, m)
            if m.code.isdigit():
                found.setdefault(f"#{int(m.code)}", m)
        return found

    def find_municipality(self, row: ImportRow) -> Municipality | None:
        text = row.municipality.strip()
        if text.isdigit():
            return self.municipalities.get(f"#{int(text)}")
        return self.municipalities.get(_folded(text)) or self.municipalities.get(
            _folded(text).removesuffix(" kommune")
        )

    def municipality(self, row: ImportRow) -> Municipality | None:
        found = self.find_municipality(row)
        if found is None:
            self.fail("unknown_municipality", row, "municipality", value=row.municipality)
            return None
        if self.scope is not None and found.id != self.scope.municipality_id:
            self.fail("other_municipality", row, "municipality")
            return None
        return found

    def preload(self, rows: Sequence[ImportRow]) -> None:
        """Load the providers, teams, citizens and courses the rows may name, in few queries."""
        by_municipality: dict[int, set[str]] = {}
        for row in rows:
            m = self.find_municipality(row)
            if m is not None:
                by_municipality.setdefault(m.id, set()).add(row.pseudonym)
        if not by_municipality:
            return
        ids = sorted(by_municipality)
        for p in self.session.scalars(select(Provider).where(Provider.municipality_id.in_(ids))):
            self.providers.setdefault((p.municipality_id, _folded(p.name)), p)
        teams = select(Team).join(Provider, Team.provider_id == Provider.id)
        for t in self.session.scalars(teams.where(Provider.municipality_id.in_(ids))):
            self.teams.setdefault((t.provider_id, _folded(t.name)), t)
        citizen_ids = []
        for municipality_id, pseudonyms in by_municipality.items():
            for batch in _chunks(sorted(pseudonyms)):
                for c in self.session.scalars(
                    select(Citizen).where(
                        Citizen.municipality_id == municipality_id, Citizen.cpr_hmac.in_(batch)
                    )
                ):
                    self.citizens[(municipality_id, c.cpr_hmac)] = c
                    citizen_ids.append(c.id)
        for batch in _chunks(citizen_ids):
            for course in self.session.scalars(
                select(Course)
                .where(Course.citizen_id.in_(batch))
                .options(
                    selectinload(Course.assignments).selectinload(Assignment.response),
                    selectinload(Course.plan).selectinload(MeasurementPlan.timepoints),
                    selectinload(Course.team),
                )
                .order_by(Course.id)
            ):
                key = (course.citizen_id, course.provider_id, course.start_date)
                self.existing_courses.setdefault(key, course)

    def plan(self, municipality_id: int) -> MeasurementPlan:
        """The plan a new course follows: the municipality's own default, else the shared one."""
        if municipality_id not in self.plans:
            own = self.session.scalars(
                select(MeasurementPlan)
                .where(
                    MeasurementPlan.is_default,
                    MeasurementPlan.active,
                    or_(
                        MeasurementPlan.municipality_id == municipality_id,
                        MeasurementPlan.municipality_id.is_(None),
                    ),
                )
                .order_by(MeasurementPlan.municipality_id.is_(None), MeasurementPlan.id)
            ).first()
            self.plans[municipality_id] = own or default_plan(self.session)
        return self.plans[municipality_id]

    # --- rows ----------------------------------------------------------------------------

    def run(self, rows: Sequence[ImportRow]) -> ImportSummary:
        self.summary.rows = len(rows)
        self.preload(rows)
        for row in rows:
            self.row(row)
        self.session.flush()
        return self.summary

    def row(self, row: ImportRow) -> None:
        municipality = self.municipality(row)
        if municipality is None:
            return
        provider = self.providers.get((municipality.id, _folded(row.provider)))
        if provider is None:
            self.fail(
                "unknown_provider",
                row,
                "provider",
                municipality=municipality.name,
                value=row.provider,
            )
            return
        team = None
        if row.team:
            team = self.teams.get((provider.id, _folded(row.team)))
            if team is None:
                self.fail("unknown_team", row, "team", provider=provider.name, value=row.team)
                return
        self.summary.municipality_ids.add(municipality.id)
        citizen = self.citizen(row, municipality)
        course = self.course(row, citizen, provider, team)
        if course is None:
            return
        assignment = self.assignment(row, course)
        if assignment is not None:
            self.store(row, assignment)

    def citizen(self, row: ImportRow, municipality: Municipality) -> Citizen:
        key = (municipality.id, row.pseudonym)
        citizen = self.citizens.get(key)
        if citizen is None:
            citizen = Citizen(
                municipality_id=municipality.id,
                cpr_hmac=row.pseudonym,
                label=row.label or DEFAULT_LABEL,
                birth_year=row.birth_year,
                sex=row.sex,
                lives_alone=None,
                created_by_id=self.user_id,
                courses=[],
            )
            self.session.add(citizen)
            self.citizens[key] = citizen
            self.new_citizens[id(citizen)] = (row.row, row.label)
            self.summary.citizens_created += 1
        elif id(citizen) in self.new_citizens:
            first_row, label = self.new_citizens[id(citizen)]
            if row.label and label is None:
                citizen.label = row.label
                self.new_citizens[id(citizen)] = (first_row, row.label)
            elif row.label and row.label != label:
                self.fail("label_differs", row, "label", other=first_row)
        elif id(citizen) not in self.found_citizens:
            self.found_citizens.add(id(citizen))
            self.summary.citizens_found += 1
        return citizen

    def course(
        self, row: ImportRow, citizen: Citizen, provider: Provider, team: Team | None
    ) -> Course | None:
        key = (id(citizen), provider.id, row.course_start)
        course = self.courses.get(key)
        if course is None and citizen.id is not None:
            course = self.existing_courses.get((citizen.id, provider.id, row.course_start))
        if course is None:
            course = create_course(
                self.session,
                citizen=citizen,
                provider=provider,
                team=team,
                plan=self.plan(provider.municipality_id),
                start_date=row.course_start,
                end_date=row.course_end,
                created_by_id=self.user_id,
                today=self.today,
            )
            self.courses[key] = course
            self.new_courses.add(id(course))
            self.summary.courses_created += 1
            return course
        self.courses[key] = course
        existing = id(course) not in self.new_courses
        if existing and id(course) not in self.found_courses:
            self.found_courses.add(id(course))
            self.summary.courses_found += 1
        ok = True
        if team is not None and course.team is not team:
            if course.team is None:
                course.team = team
                self._updated(course, existing)
            else:
                self.fail("team_differs", row, "team", team=course.team.name)
                ok = False
        if row.course_end is not None and course.end_date != row.course_end:
            if course.end_date is None:
                set_end_date(self.session, course, row.course_end, today=self.today)
                self._updated(course, existing)
            else:
                self.fail("course_end_differs", row, "course_end", date=course.end_date.isoformat())
                ok = False
        return course if ok else None

    def _updated(self, course: Course, existing: bool) -> None:
        if existing and id(course) not in self.updated_courses:
            self.updated_courses.add(id(course))
            self.summary.courses_updated += 1

    def assignment(self, row: ImportRow, course: Course) -> Assignment | None:
        found = next(
            (
                a
                for a in course.assignments
                if a.timepoint_key == row.timepoint
                and a.instrument_id == row.instrument_id
                and a.respondent is row.respondent
            ),
            None,
        )
        if found is None:
            keys = list(
                dict.fromkeys(
                    [tp.key for tp in course.plan.timepoints]
                    + [a.timepoint_key for a in course.assignments]
                )
            )
            if row.timepoint not in keys:
                self.fail(
                    "unknown_timepoint",
                    row,
                    "timepoint",
                    value=row.timepoint,
                    known=", ".join(keys),
                )
            else:
                self.fail(
                    "not_in_plan",
                    row,
                    "instrument",
                    instrument=row.instrument_id,
                    respondent=row.respondent.value,
                    timepoint=row.timepoint,
                )
            return None
        if id(found) in self.answered:
            self.fail("duplicate_row", row, other=self.answered[id(found)])
            return None
        response = found.response
        if (response is not None and response.submitted_at is not None) or (
            found.status is AssignmentStatus.COMPLETED
        ):
            when = response.submitted_at if response and response.submitted_at else None
            self.fail(
                "already_answered",
                row,
                date=when.astimezone(DENMARK).date().isoformat() if when else "?",
                channel=response.channel.value if response else "?",
            )
            return None
        if found.status is AssignmentStatus.DECLINED:
            self.fail("dropped_out", row)
            return None
        self.answered[id(found)] = row.row
        return found

    def store(self, row: ImportRow, assignment: Assignment) -> None:
        if assignment.response is not None:
            # A kiosk or link session was begun but never sent: the paper form replaces it,
            # as it does when staff type in a paper form.
            self.session.delete(assignment.response)
            self.session.flush()
            self.session.refresh(assignment)
        if assignment.status is AssignmentStatus.EXPIRED:
            assignment.status = AssignmentStatus.OPEN  # a late paper form still counts
        record_complete_response(
            self.session,
            assignment,
            dict(row.answers),
            channel=Channel.IMPORT,
            language=row.language,
            registry=self.registry,
            started_at=row.submitted_at,
            submitted_at=row.submitted_at,
            entered_by_id=self.user_id,
            flush=False,
        )
        self.summary.responses[(row.instrument_id, row.respondent)] += 1
