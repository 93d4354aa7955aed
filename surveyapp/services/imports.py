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
Every row is checked against the database before anything is written (the dry run, which is
also the preview: it loads what the rows name and plans the citizens, courses and responses
without writing), and ImportRejected lists every bad row and column. Only a file without a
problem is stored, inside a savepoint, so that even a failure half-way leaves nothing behind.

Rows of one course agree on `team` and `course_end`, and with what an existing course has;
where a course has none yet, the first row naming one sets it (an end date moves the
end-anchored measurements, as editing the course would). A new citizen's label comes from the
first row that has one; the label of an existing citizen is never changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from surveyapp.enums import AssignmentStatus, Channel, Respondent, Sex
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
from surveyapp.services.scope import NotPermitted, Scope, require_admin

CHUNK = 500  # ids per IN (...) query
FLUSH_ROWS = 500  # responses written per flush


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
    """Check every row against the database and say what an import would do; write nothing.

    Raises ImportRejected exactly as `import_responses` would (both run the same checks).
    Audited as "responses.import_preview" (a preview tells which citizens exist).
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
        if scope.provider_id is not None:
            # The summary counts citizens found and new: for an admin who does not see the
            # whole municipality, that would tell who is registered outside their caseload.
            raise NotPermitted("imports are for administrators of the whole municipality")
    importer = _Importer(session, registry, today, scope)
    importer.check(rows)
    if importer.problems:
        raise ImportRejected(importer.problems)
    if keep:
        savepoint = session.begin_nested()  # a failure half-way leaves nothing behind
        try:
            importer.apply()
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
    return importer.summary


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


MeasurementKey = tuple[str, str, Respondent]  # timepoint key, instrument id, respondent


@dataclass(eq=False)
class _PlannedCitizen:
    """A citizen as the rows describe them: found (`existing`) or to be created."""

    municipality_id: int
    pseudonym: str
    birth_year: int
    sex: Sex
    existing: Citizen | None
    label: str | None = None
    label_row: int = 0
    created: Citizen | None = None


@dataclass(eq=False)
class _PlannedCourse:
    """A course as the rows describe it: found (`existing`) or to be created on `plan`."""

    citizen: _PlannedCitizen
    provider: Provider
    start_date: date
    existing: Course | None
    plan: MeasurementPlan | None = None  # the plan of a course to be created
    team: Team | None = None
    end_date: date | None = None
    updated: bool = False  # an existing course given a team or end date
    created: Course | None = None

    def measurements(self) -> dict[MeasurementKey, Assignment | None]:
        """What the course measures (an existing course's assignments; None: to be made)."""
        if self.existing is not None:
            return {
                (a.timepoint_key, a.instrument_id, a.respondent): a
                for a in self.existing.assignments
            }
        assert self.plan is not None
        return {
            (tp.key, item.instrument_id, item.respondent): None
            for tp in self.plan.timepoints
            for item in tp.items
        }

    def timepoint_keys(self) -> list[str]:
        course_plan = self.existing.plan if self.existing is not None else self.plan
        assert course_plan is not None
        keys = [tp.key for tp in course_plan.timepoints]
        if self.existing is not None:
            keys += [a.timepoint_key for a in self.existing.assignments]
        return list(dict.fromkeys(keys))


@dataclass(eq=False)
class _Planned:
    row: ImportRow
    course: _PlannedCourse
    key: MeasurementKey
    assignment: Assignment | None  # an existing course's; None for a course to be created


class _Importer:
    """Check every row against what the database holds, then (if asked) store them.

    `check` writes nothing: it loads what the rows may name in a few queries and plans the
    citizens, courses and responses, collecting every problem. `apply` carries the plan out,
    through the same services the rest of the app uses.
    """

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
        self.existing_citizens: dict[tuple[int, str], Citizen] = {}
        self.existing_courses: dict[tuple[int, int, date], Course] = {}  # by citizen.id
        self.citizens: dict[tuple[int, str], _PlannedCitizen] = {}
        self.courses: dict[tuple[int, str, int, date], _PlannedCourse] = {}
        self.plans: dict[int, MeasurementPlan] = {}
        self.measurements: dict[int, dict[MeasurementKey, Assignment | None]] = {}
        self.answered: dict[tuple[int, MeasurementKey], int] = {}  # -> the row answering it
        self.planned: list[_Planned] = []

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
                    self.existing_citizens[(municipality_id, c.cpr_hmac)] = c
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

    # --- checking --------------------------------------------------------------------------

    def check(self, rows: Sequence[ImportRow]) -> None:
        """Plan every row and collect every problem; nothing is written."""
        self.summary.rows = len(rows)
        self.preload(rows)
        for row in rows:
            self.check_row(row)
        self.summary.citizens_created = sum(1 for c in self.citizens.values() if not c.existing)
        self.summary.citizens_found = len(self.citizens) - self.summary.citizens_created
        self.summary.courses_created = sum(1 for c in self.courses.values() if not c.existing)
        self.summary.courses_found = len(self.courses) - self.summary.courses_created
        self.summary.courses_updated = sum(1 for c in self.courses.values() if c.updated)

    def check_row(self, row: ImportRow) -> None:
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
        if course is not None:
            self.measurement(row, course)

    def citizen(self, row: ImportRow, municipality: Municipality) -> _PlannedCitizen:
        key = (municipality.id, row.pseudonym)
        citizen = self.citizens.get(key)
        if citizen is None:
            citizen = self.citizens[key] = _PlannedCitizen(
                municipality.id,
                row.pseudonym,
                row.birth_year,
                row.sex,
                existing=self.existing_citizens.get(key),
                label=row.label,
                label_row=row.row,
            )
        elif citizen.existing is None and row.label:
            if citizen.label is None:
                citizen.label, citizen.label_row = row.label, row.row
            elif row.label != citizen.label:
                self.fail("label_differs", row, "label", other=citizen.label_row)
        return citizen

    def course(
        self, row: ImportRow, citizen: _PlannedCitizen, provider: Provider, team: Team | None
    ) -> _PlannedCourse | None:
        key = (citizen.municipality_id, citizen.pseudonym, provider.id, row.course_start)
        course = self.courses.get(key)
        if course is None:
            existing = None
            if citizen.existing is not None:
                existing = self.existing_courses.get(
                    (citizen.existing.id, provider.id, row.course_start)
                )
            course = self.courses[key] = _PlannedCourse(
                citizen,
                provider,
                row.course_start,
                existing,
                plan=None if existing else self.plan(provider.municipality_id),
                team=existing.team if existing else None,
                end_date=existing.end_date if existing else None,
            )
        ok = True
        if team is not None and course.team is not team:
            if course.team is None:
                course.team = team
                course.updated = course.existing is not None
            else:
                self.fail("team_differs", row, "team", team=course.team.name)
                ok = False
        if row.course_end is not None and course.end_date != row.course_end:
            if course.end_date is None:
                course.end_date = row.course_end
                course.updated = course.existing is not None
            else:
                self.fail("course_end_differs", row, "course_end", date=course.end_date.isoformat())
                ok = False
        return course if ok else None

    def measurement(self, row: ImportRow, course: _PlannedCourse) -> None:
        measurements = self.measurements.get(id(course))
        if measurements is None:
            measurements = self.measurements[id(course)] = course.measurements()
        key = (row.timepoint, row.instrument_id, row.respondent)
        if key not in measurements:
            keys = course.timepoint_keys()
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
            return
        if (id(course), key) in self.answered:
            self.fail("duplicate_row", row, other=self.answered[(id(course), key)])
            return
        assignment = measurements[key]
        if assignment is not None:
            response = assignment.response
            if (response is not None and response.submitted_at is not None) or (
                assignment.status is AssignmentStatus.COMPLETED
            ):
                when = response.submitted_at if response and response.submitted_at else None
                self.fail(
                    "already_answered",
                    row,
                    date=when.astimezone(DENMARK).date().isoformat() if when else "?",
                    channel=response.channel.value if response else "?",
                )
                return
            if assignment.status is AssignmentStatus.DECLINED:
                self.fail("dropped_out", row)
                return
        self.answered[(id(course), key)] = row.row
        self.planned.append(_Planned(row, course, key, assignment))
        self.summary.responses[(row.instrument_id, row.respondent)] += 1

    # --- storing ---------------------------------------------------------------------------

    def apply(self) -> None:
        """Create the citizens and courses, complete the courses found, store the responses.

        One citizen at a time, flushed every FLUSH_ROWS rows, with nothing kept of a citizen
        once done: memory stays flat however long the file (the session holds only weak
        references to what it has written).
        """
        by_citizen: dict[int, list[_Planned]] = {}
        for planned in self.planned:
            by_citizen.setdefault(id(planned.course.citizen), []).append(planned)
        unflushed = 0
        for group in by_citizen.values():
            for planned in group:
                course = self.course_of(planned.course)
                assignment = planned.assignment or next(
                    a
                    for a in course.assignments
                    if (a.timepoint_key, a.instrument_id, a.respondent) == planned.key
                )
                self.store(planned.row, assignment)
            for planned in group:
                planned.course.created = planned.course.citizen.created = None
            unflushed += len(group)
            if unflushed >= FLUSH_ROWS:
                self.session.flush()
                unflushed = 0
        self.session.flush()

    def citizen_of(self, planned: _PlannedCitizen) -> Citizen:
        if planned.existing is not None:
            return planned.existing
        if planned.created is None:
            planned.created = Citizen(
                municipality_id=planned.municipality_id,
                cpr_hmac=planned.pseudonym,
                label=planned.label or DEFAULT_LABEL,
                birth_year=planned.birth_year,
                sex=planned.sex,
                lives_alone=None,
                created_by_id=self.user_id,
                courses=[],
            )
            self.session.add(planned.created)
        return planned.created

    def course_of(self, planned: _PlannedCourse) -> Course:
        if planned.created is not None:
            return planned.created
        if planned.existing is not None:
            course = planned.existing
            if planned.team is not None and course.team is None:
                course.team = planned.team
            if planned.end_date is not None and course.end_date is None:
                set_end_date(self.session, course, planned.end_date, today=self.today)
        else:
            assert planned.plan is not None
            course = create_course(
                self.session,
                citizen=self.citizen_of(planned.citizen),
                provider=planned.provider,
                team=planned.team,
                plan=planned.plan,
                start_date=planned.start_date,
                end_date=planned.end_date,
                created_by_id=self.user_id,
                today=self.today,
            )
            for assignment in course.assignments:
                set_committed_value(assignment, "response", None)  # new: nothing to load
        planned.created = course
        return course

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
