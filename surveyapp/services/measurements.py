"""The measurement table: each submitted response's reported scores in one row.

The evaluation reports pair a course's baseline with its later measurements. Reading that
from `score` means one row per score and three joins per response; `measurement` keeps the
same values one row per response, in the order the reports group by. It is derived data:
written with the scores when a response is submitted (`record`), and rebuilt from `score` by
`sync` (which `surveyapp migrate` runs) when an instrument's reported scores change or rows
are missing.

Which score is in which value column is in `measurement_column`: positions are handed out
once per (instrument, score name) and never reused, so a cached or stored position never
comes to mean another score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from surveyapp.instruments import Instrument, Registry
from surveyapp.models import (
    MEASUREMENT_VALUES,
    Assignment,
    Measurement,
    MeasurementColumn,
    Response,
    Score,
)

_CACHE_KEY = "surveyapp.measurement_layout"
_HANDED_OUT = "surveyapp.measurement_positions_handed_out"


class MeasurementFull(RuntimeError):
    """An instrument reports more scores than the measurement table has value columns."""


def value_column(position: int) -> Any:
    """The measurement column holding the value at `position` (v0 ... v11)."""
    return getattr(Measurement, f"v{position}")


def _cache(session: Session) -> dict[str, dict[str, int]]:
    # Kept with the database connection: positions never change once handed out, so a cached
    # layout can only be incomplete (then it is read again), never wrong.
    info = session.connection().info
    cache: dict[str, dict[str, int]] = info.setdefault(_CACHE_KEY, {})
    return cache


def layout(session: Session, instrument_id: str) -> dict[str, int]:
    """Score name -> value position of one instrument, as stored."""
    rows = session.execute(
        select(MeasurementColumn.name, MeasurementColumn.position).where(
            MeasurementColumn.instrument_id == instrument_id
        )
    ).all()
    found = {str(name): int(position) for name, position in rows}
    if not session.info.get(_HANDED_OUT):
        # Positions this session handed out are not committed yet (and may be rolled back):
        # only a layout read without them is kept for the connection's later transactions.
        _cache(session)[instrument_id] = found
    return found


def positions(session: Session, instrument: Instrument) -> dict[str, int]:
    """The position of each of the instrument's reported scores, handing out new ones.

    Cached per database connection; reads the table only when a reported score has no known
    position yet.
    """
    names = [spec.name for spec in instrument.reported_scores]
    known = _cache(session).get(instrument.id)
    if known is None or any(name not in known for name in names):
        known = layout(session, instrument.id)
    for _attempt in range(3):  # positions another process took at the same moment: again
        missing = [name for name in names if name not in known]
        if not missing:
            return {name: known[name] for name in names}
        known = _hand_out(session, instrument.id, missing, known)
    raise RuntimeError(f"no measurement positions could be handed out for {instrument.id}")


def _hand_out(
    session: Session, instrument_id: str, names: list[str], known: dict[str, int]
) -> dict[str, int]:
    free = max(known.values(), default=-1) + 1
    if free + len(names) > MEASUREMENT_VALUES:
        raise MeasurementFull(
            f"{instrument_id} reports more than {MEASUREMENT_VALUES} scores over its versions"
        )
    session.info[_HANDED_OUT] = True
    _cache(session).pop(instrument_id, None)
    rows = [
        {"instrument_id": instrument_id, "position": free + n, "name": name}
        for n, name in enumerate(names)
    ]
    # Another process may hand out positions at the same moment: then its rows stand and
    # ours are skipped (no savepoint: on SQLite one would commit on its own).
    dialect = session.get_bind().dialect.name
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(
        MeasurementColumn
    ).on_conflict_do_nothing()
    session.execute(statement, rows)
    return layout(session, instrument_id)


def record(
    session: Session,
    response: Response,
    assignment: Assignment,
    instrument: Instrument,
    scores: Mapping[str, float | None],
) -> None:
    """Keep the submitted response's reported scores in its measurement row.

    Every stored position is filled from the response's scores (as `sync` does), so a row
    written here and a row rebuilt later are the same.
    """
    every = stored_layout(session, instrument)
    if not every:
        return  # an instrument that reports no score (a staff form) has no measurement rows
    values = row_values(every, scores)
    response.measurement = Measurement(
        instrument_id=response.instrument_id,
        course_id=assignment.course_id,
        respondent=assignment.respondent,
        timepoint_id=assignment.timepoint_id,
        **values,
    )


def stored_layout(session: Session, instrument: Instrument) -> dict[str, int]:
    """Score name -> position of every stored value of the instrument (all its versions'),
    first handing out positions to this version's reported scores: what a row fills."""
    positions(session, instrument)
    return _cache(session).get(instrument.id) or layout(session, instrument.id)


def row_values(
    every: Mapping[str, int], scores: Mapping[str, float | None]
) -> dict[str, float | None]:
    """A submitted response's value columns (v<position> -> score) for a `stored_layout`."""
    return {f"v{position}": scores.get(name) for name, position in every.items()}


@dataclass(frozen=True)
class SyncResult:
    instrument_id: str
    rebuilt: bool
    rows: int


def sync(session: Session, registry: Registry, *, rebuild: bool = False) -> list[SyncResult]:
    """Bring the measurement table in line with the scores and the instrument definitions.

    For each instrument: hand out positions to newly reported scores, and rebuild its rows
    from `score` when positions were handed out, when the count of rows differs from the
    count of submitted responses, or when `rebuild` is asked for. One INSERT ... SELECT per
    instrument, so a national database takes seconds, not the ORM's row-by-row minutes.
    """
    results = []
    for instrument_id in registry.ids():
        before = dict(layout(session, instrument_id))
        for version in registry.versions(instrument_id):
            positions(session, registry.get(instrument_id, version))
        names = layout(session, instrument_id)
        submitted = session.scalar(
            select(func.count())
            .select_from(Response)
            .where(Response.instrument_id == instrument_id, Response.submitted_at.is_not(None))
        )
        stored = session.scalar(
            select(func.count())
            .select_from(Measurement)
            .where(Measurement.instrument_id == instrument_id)
        )
        expected = submitted if names else 0
        stale = rebuild or expected != stored or (names != before and bool(expected))
        if stale:
            _rebuild(session, instrument_id, names)
        results.append(SyncResult(instrument_id, stale, int(expected or 0)))
    return results


def _rebuild(session: Session, instrument_id: str, names: Mapping[str, int]) -> None:
    session.execute(delete(Measurement).where(Measurement.instrument_id == instrument_id))
    if not names:
        return
    query = expected_rows(instrument_id, names)
    columns = ["instrument_id", "course_id", "respondent", "response_id", "timepoint_id"]
    columns += [f"v{position}" for position in names.values()]
    session.execute(insert(Measurement).from_select(columns, query))


def expected_rows(instrument_id: str, names: Mapping[str, int]) -> Any:
    """The instrument's measurement rows as they follow from `score` (what `sync` writes).

    Columns: instrument_id, course_id, respondent, response_id, timepoint_id and one value
    column v<position> per stored position (`surveyapp check` compares the table with it).
    """
    values = {
        f"v{position}": func.max(case((Score.name == name, Score.value), else_=None))
        for name, position in names.items()
    }
    score_names = list(names)
    return (
        select(
            literal(instrument_id).label("instrument_id"),
            Assignment.course_id,
            Assignment.respondent,
            Response.id.label("response_id"),
            Assignment.timepoint_id,
            *(value.label(column) for column, value in values.items()),
        )
        .select_from(Response)
        .join(Assignment, Assignment.id == Response.assignment_id)
        .outerjoin(Score, and_(Score.response_id == Response.id, Score.name.in_(score_names)))
        .where(Response.instrument_id == instrument_id, Response.submitted_at.is_not(None))
        .group_by(Response.id, Assignment.course_id, Assignment.respondent, Assignment.timepoint_id)
    )
