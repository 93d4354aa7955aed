"""`surveyapp check`: read the rows each integrity invariant needs, read-only.

The rules are in the pure module `surveyapp.integrity`; here is the SQL that feeds them.
Rows that can be many (answers, score names) are grouped in SQL first, and only the groups
that break a rule are read again for their ids. `read_only` runs a function in a
transaction the database itself holds read-only (PostgreSQL `SET TRANSACTION READ ONLY`,
SQLite `PRAGMA query_only`), and rolls it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, case, exists, func, inspect, literal, select
from sqlalchemy.orm import Session, aliased

from surveyapp import integrity
from surveyapp.enums import AssignmentStatus
from surveyapp.instruments import Registry
from surveyapp.models import (
    MEASUREMENT_VALUES,
    Answer,
    Assignment,
    Base,
    Measurement,
    MeasurementColumn,
    OfflineItem,
    Response,
    Score,
)
from surveyapp.services import audit, measurements

_IDS = integrity.MAX_DETAILS  # ids read back per broken group


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A session whose transaction the database refuses to write in; rolled back at the end."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        # The first statement of the transaction: from here on the database refuses writes.
        connection.exec_driver_sql(
            "PRAGMA query_only = ON" if sqlite else "SET TRANSACTION READ ONLY"
        )
        try:
            with Session(bind=connection) as session:
                yield session
        finally:
            connection.rollback()
            if sqlite:
                connection.exec_driver_sql("PRAGMA query_only = OFF")
                connection.rollback()


def run_checks(
    session: Session, registry: Registry, *, ips_kept_since: datetime | None = None
) -> list[integrity.CheckResult]:
    """Every integrity check, in the order `surveyapp check` prints them."""
    checks: list[Callable[[], integrity.CheckResult]] = [
        lambda: responses_scored(session, registry),
        lambda: one_response_per(session, "assignment", Response.assignment_id),
        lambda: one_response_per(session, "submission-key", Response.submission_key),
        lambda: orphan_rows(session),
        lambda: answers_valid(session, registry),
        lambda: measurements_in_line(session, registry),
        lambda: offline_items(session),
        lambda: audit_chain(session, ips_kept_since),
    ]
    return [check() for check in checks]


def responses_scored(session: Session, registry: Registry) -> integrity.CheckResult:
    counts = (
        select(Score.response_id, func.count().label("n")).group_by(Score.response_id).subquery()
    )
    rows = session.execute(
        select(
            Response.id,
            Response.instrument_id,
            Response.instrument_version,
            Response.scoring_version,
            Response.submitted_at.is_not(None),
            Assignment.status,
            func.coalesce(counts.c.n, 0),
        )
        .outerjoin(Assignment, Assignment.id == Response.assignment_id)
        .outerjoin(counts, counts.c.response_id == Response.id)
        .order_by(Response.id)
        .execution_options(yield_per=5000)
    )
    groups = session.execute(
        select(Response.instrument_id, Response.instrument_version, Score.name, func.count())
        .join(Response, Response.id == Score.response_id)
        .group_by(Response.instrument_id, Response.instrument_version, Score.name)
    )
    result, strange = integrity.check_responses(
        (
            integrity.ResponseRow(
                r[0], r[1], r[2], r[3], bool(r[4]), None if r[5] is None else str(r[5]), r[6]
            )
            for r in rows
        ),
        [integrity.ScoreNameGroup(*g) for g in groups],
        registry,
    )
    for group in strange:
        ids = session.scalars(
            select(Score.id)
            .join(Response, Response.id == Score.response_id)
            .where(
                Response.instrument_id == group.instrument_id,
                Response.instrument_version == group.instrument_version,
                Score.name == group.name,
            )
            .order_by(Score.id)
            .limit(_IDS)
        ).all()
        integrity.unknown_score_name(result, group, ids)
    # The other way round: an assignment is completed only by submitting its response.
    for (assignment_id,) in session.execute(
        select(Assignment.id)
        .outerjoin(Response, Response.assignment_id == Assignment.id)
        .where(Assignment.status == AssignmentStatus.COMPLETED, Response.submitted_at.is_(None))
        .order_by(Assignment.id)
    ):
        result.add(f"assignment {assignment_id}: completed without a submitted response")
    return result


def one_response_per(session: Session, what: str, column: Any) -> integrity.CheckResult:
    """No two responses share the column's value (NULLs aside)."""
    result = integrity.CheckResult(f"one-response-per-{what}")
    result.examined = int(
        session.scalar(select(func.count()).select_from(Response).where(column.is_not(None))) or 0
    )
    duplicated = (
        select(column).where(column.is_not(None)).group_by(column).having(func.count() > 1)
    ).subquery()
    found: dict[Any, list[int]] = {}
    for value, response_id in session.execute(
        select(column, Response.id)
        .where(column.in_(select(duplicated.c[0])))
        .order_by(column, Response.id)
    ):
        found.setdefault(value, []).append(response_id)
    for value, ids in found.items():
        shown = ", ".join(map(str, ids))
        # An assignment id is an id; a submission key is the client's, so it is not shown.
        result.add(
            f"assignment {value}: responses {shown}"
            if what == "assignment"
            else f"responses {shown}: the same submission key"
        )
    return result


def orphan_rows(session: Session) -> integrity.CheckResult:
    """Every foreign key of every table points at a row that exists."""
    result = integrity.CheckResult("orphan-rows")
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        for constraint in sorted(table.foreign_key_constraints, key=lambda c: tuple(c.column_keys)):
            pairs = [(element.parent, element.column) for element in constraint.elements]
            parent = pairs[0][1].table.alias("parent")
            present = and_(*(child.is_not(None) for child, _ in pairs))
            missing = ~exists().where(
                and_(*(parent.c[target.name] == child for child, target in pairs))
            )
            total, orphans = session.execute(
                select(func.count(), func.coalesce(func.sum(case((missing, 1), else_=0)), 0))
                .select_from(table)
                .where(present)
            ).one()
            result.examined += int(total)
            if not orphans:
                continue
            rows = session.execute(
                select(*pk, *(child for child, _ in pairs))
                .where(present, missing)
                .order_by(*pk)
                .limit(_IDS)
            ).all()
            names = ", ".join(child.name for child, _ in pairs)
            for row in rows:
                key = "/".join(str(v) for v in row[: len(pk)])
                value = "/".join(str(v) for v in row[len(pk) :])
                result.add(
                    f"{table.name} {key}: {names} {value} has no {pairs[0][1].table.name} row"
                )
            for _ in range(int(orphans) - len(rows)):
                result.add(f"{table.name}: {names} without a {pairs[0][1].table.name} row")
    return result


def answers_valid(session: Session, registry: Registry) -> integrity.CheckResult:
    """Every answer is to an item of its instrument version, with a state and value it allows."""
    result = integrity.CheckResult("answers-valid")
    groups = session.execute(
        select(
            Response.instrument_id,
            Response.instrument_version,
            Answer.item_id,
            Answer.state,
            Answer.value,
            func.count(),
        )
        .join(Response, Response.id == Answer.response_id)
        .group_by(
            Response.instrument_id,
            Response.instrument_version,
            Answer.item_id,
            Answer.state,
            Answer.value,
        )
    )
    examined, bad = integrity.bad_answer_groups(
        (integrity.AnswerGroup(g[0], g[1], g[2], str(g[3]), g[4], g[5]) for g in groups), registry
    )
    result.examined = examined
    for group, problem in bad:
        value = Answer.value.is_(None) if group.value is None else Answer.value == group.value
        rows = session.execute(
            select(Answer.id, Answer.response_id)
            .join(Response, Response.id == Answer.response_id)
            .where(
                Response.instrument_id == group.instrument_id,
                Response.instrument_version == group.instrument_version,
                Answer.item_id == group.item_id,
                Answer.state == group.state,
                value,
            )
            .order_by(Answer.id)
            .limit(_IDS)
        ).all()
        for answer_id, response_id in rows:
            result.add(f"answer {answer_id} (response {response_id}): {problem}")
        for _ in range(group.rows - len(rows)):
            result.add(f"answer: {problem}")
    twice = session.execute(
        select(Answer.response_id, Answer.item_id)
        .group_by(Answer.response_id, Answer.item_id)
        .having(func.count() > 1)
        .order_by(Answer.response_id)
    ).all()
    for response_id, item_id in twice:
        result.add(f"response {response_id}: item {item_id} answered twice")
    return result


def measurements_in_line(session: Session, registry: Registry) -> integrity.CheckResult:
    """The reports' measurement table holds exactly what `surveyapp migrate` builds from scores."""
    result = integrity.CheckResult("measurements")
    instruments = set(registry.ids())
    instruments |= set(session.scalars(select(Measurement.instrument_id).distinct()))
    values = [measurements.value_column(n) for n in range(MEASUREMENT_VALUES)]
    for instrument_id in sorted(instruments):
        names = {
            str(name): int(position)
            for name, position in session.execute(
                select(MeasurementColumn.name, MeasurementColumn.position).where(
                    MeasurementColumn.instrument_id == instrument_id
                )
            )
        }
        if instrument_id in registry:
            for name in integrity.missing_positions(registry, instrument_id, names):
                result.add(f"{instrument_id}: reported score {name} has no measurement column")
        stored = session.execute(
            select(
                Measurement.response_id,
                Measurement.instrument_id,
                Measurement.course_id,
                Measurement.respondent,
                Measurement.timepoint_id,
                *values,
            )
            .where(Measurement.instrument_id == instrument_id)
            .order_by(Measurement.response_id)
            .execution_options(yield_per=5000)
        )
        if names:
            built = measurements.expected_rows(instrument_id, names).subquery()
            expected: Any = session.execute(
                select(
                    built.c.response_id,
                    built.c.instrument_id,
                    built.c.course_id,
                    built.c.respondent,
                    built.c.timepoint_id,
                    *(
                        built.c[f"v{n}"] if f"v{n}" in built.c else literal(None)
                        for n in range(MEASUREMENT_VALUES)
                    ),
                )
                .order_by(built.c.response_id)
                .execution_options(yield_per=5000)
            )
        else:
            expected = iter(())
        integrity.compare_measurements(result, expected, stored)
    return result


def offline_items(session: Session) -> integrity.CheckResult:
    """Offline items: one row per key; every stored submit left a submitted response."""
    result = integrity.CheckResult("offline-items")
    result.examined = int(session.scalar(select(func.count()).select_from(OfflineItem)) or 0)
    duplicated = (
        select(OfflineItem.key).group_by(OfflineItem.key).having(func.count() > 1).subquery()
    )
    found: dict[str, list[int]] = {}
    for key, item_id in session.execute(
        select(OfflineItem.key, OfflineItem.id)
        .where(OfflineItem.key.in_(select(duplicated.c.key)))
        .order_by(OfflineItem.key, OfflineItem.id)
    ):
        found.setdefault(key, []).append(item_id)
    for ids in found.values():
        result.add(f"offline items {', '.join(map(str, ids))}: the same key")
    submitted = aliased(Response)
    for item_id, assignment_id in session.execute(
        select(OfflineItem.id, OfflineItem.assignment_id)
        .outerjoin(submitted, submitted.assignment_id == OfflineItem.assignment_id)
        .where(
            OfflineItem.kind == "submit",
            OfflineItem.outcome == "stored",
            submitted.submitted_at.is_(None),
        )
        .order_by(OfflineItem.id)
    ):
        result.add(
            f"offline item {item_id}: a stored submit, but assignment {assignment_id} "
            "has no submitted response"
        )
    return result


def audit_chain(session: Session, ips_kept_since: datetime | None) -> integrity.CheckResult:
    """The audit trail's hash chain, as `surveyapp audit-verify` checks it."""
    result = integrity.CheckResult("audit-chain")
    if not inspect(session.connection()).has_table("audit_event"):
        return result  # a schema from before the audit trail: nothing to check
    report = audit.verify_chain(session, ips_kept_since=ips_kept_since)
    result.examined = report.checked
    if report.problem is not None:
        result.add(f"event {report.problem.seq} ({report.problem.kind}): {report.problem.message}")
    return result
