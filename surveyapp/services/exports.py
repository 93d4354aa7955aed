"""Export rows: responses (wide) or answers (long) read from the database as a stream.

Scope: a `ReportScope` (admins and analysts, with an analyst's granted municipalities) or, for
the command line, a `SystemReach` of the municipalities asked for. Only submitted responses
unless `include_in_progress`. Never a CPR number, never `Citizen.cpr_hmac` (a keyed hash of
the CPR) and never the coordinator's `Citizen.label`: neither is even selected.

Pseudonyms: citizen, course and response appear as the first 16 hex digits of an HMAC-SHA256
of their database id under a key derived from the installation's CPR key (`export_key`).
They are stable from one export to the next (monthly files can be joined), but the database
ids themselves are not shown: coordinators see those ids in their URLs, so an id in a file
that travels would lead straight back to a named citizen page. The CPR key is what never
changes in an installation (citizens are found by it); the derivation keeps the two uses apart.

Streaming: the responses are read with `yield_per` (a server-side cursor on PostgreSQL); for
each batch their answers and scores are read by response id, so memory holds one batch.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import queue
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from surveyapp.enums import AnswerState
from surveyapp.exports import CodedMissing, Layout, layout
from surveyapp.instruments import Registry
from surveyapp.models import (
    Answer,
    Assignment,
    Citizen,
    Course,
    Municipality,
    PlanTimepoint,
    Provider,
    Response,
    Score,
    Team,
)
from surveyapp.scheduling import DENMARK, timepoint_role
from surveyapp.services import audit
from surveyapp.services.scope import OutOfScope

BATCH = 2000
FORMATS = ("csv", "csv-excel", "xlsx", "sav", "dta", "codebook-csv", "codebook-json")


class Reach(Protocol):
    """What an export may cover (a ReportScope fits)."""

    @property
    def municipality_ids(self) -> frozenset[int]: ...

    @property
    def provider_id(self) -> int | None: ...


@dataclass(frozen=True)
class SystemReach:
    """The command line's reach: the municipalities it was asked for (default all)."""

    municipality_ids: frozenset[int]
    provider_id: int | None = None


class UnknownMunicipality(LookupError):
    """A municipality code given on the command line does not exist."""


@dataclass(frozen=True)
class ExportQuery:
    """What to export; the municipalities are a subset of the reach (empty: all of it)."""

    long: bool = False
    instrument: str | None = None
    municipality_ids: frozenset[int] = field(default_factory=frozenset)
    provider_id: int | None = None
    start_from: date | None = None  # course start on or after
    start_to: date | None = None  # course start on or before
    include_in_progress: bool = False
    language: str = "da"

    def details(self) -> dict[str, Any]:
        """The filters as audit details (ids and dates only: no personal data)."""
        return {
            "layout": "long" if self.long else "wide",
            "instrument": self.instrument,
            "municipality_ids": sorted(self.municipality_ids),
            "provider_id": self.provider_id,
            "from": self.start_from.isoformat() if self.start_from else None,
            "to": self.start_to.isoformat() if self.start_to else None,
            "include_in_progress": self.include_in_progress,
            "language": self.language,
        }


def export_key(cpr_hmac_key: str | bytes) -> bytes:
    """The key of the export pseudonyms, derived from the installation's CPR key."""
    key = cpr_hmac_key.encode("utf-8") if isinstance(cpr_hmac_key, str) else cpr_hmac_key
    return hmac.digest(key, b"surveyapp export pseudonyms v1", hashlib.sha256)


class Pseudonyms:
    """Stable pseudonyms of database ids: HMAC-SHA256 under the export key, 16 hex digits."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._cache: dict[tuple[str, int], str] = {}

    def __call__(self, kind: str, record_id: int) -> str:
        found = self._cache.get((kind, record_id))
        if found is None:
            message = f"{kind}:{record_id}".encode("ascii")
            found = hmac.digest(self.key, message, hashlib.sha256).hex()[:16]
            if len(self._cache) < 200_000:
                self._cache[(kind, record_id)] = found
        return found


def system_reach(session: Session, codes: Sequence[str] = ()) -> SystemReach:
    """The municipalities with these codes (all of them if none are given)."""
    rows = dict(session.execute(select(Municipality.code, Municipality.id)).tuples().all())
    unknown = sorted(set(codes) - set(rows))
    if unknown:
        raise UnknownMunicipality(f"unknown municipality code: {', '.join(unknown)}")
    chosen = [rows[c] for c in codes] if codes else list(rows.values())
    return SystemReach(frozenset(chosen))


@dataclass(frozen=True)
class Choices:
    municipalities: list[tuple[int, str]]  # (id, "code name")
    providers: list[tuple[int, str]]  # (id, "name (municipality)")


def choices(session: Session, reach: Reach) -> Choices:
    """The municipalities and providers an export form may offer."""
    municipalities = session.execute(
        select(Municipality.id, Municipality.code, Municipality.name)
        .where(Municipality.id.in_(sorted(reach.municipality_ids)))
        .order_by(Municipality.name)
    ).all()
    stmt = (
        select(Provider.id, Provider.name, Municipality.name)
        .join(Municipality, Provider.municipality_id == Municipality.id)
        .where(Provider.municipality_id.in_(sorted(reach.municipality_ids)))
        .order_by(Municipality.name, Provider.name)
    )
    if reach.provider_id is not None:
        stmt = stmt.where(Provider.id == reach.provider_id)
    several = len(municipalities) > 1
    return Choices(
        municipalities=[(m.id, f"{m.code} {m.name}") for m in municipalities],
        providers=[(p[0], f"{p[1]} ({p[2]})" if several else p[1]) for p in session.execute(stmt)],
    )


def export_layout(registry: Registry, query: ExportQuery) -> Layout:
    """The columns of the export, from the registry."""
    return layout(registry, long=query.long, instrument=query.instrument, language=query.language)


def _conditions(reach: Reach, query: ExportQuery) -> list[ColumnElement[bool]]:
    outside = query.municipality_ids - reach.municipality_ids
    if outside:
        raise OutOfScope("not found")
    ids = query.municipality_ids or reach.municipality_ids
    found: list[ColumnElement[bool]] = [Course.municipality_id.in_(sorted(ids))]
    if reach.provider_id is not None:
        found.append(Course.provider_id == reach.provider_id)
    if query.provider_id is not None:
        found.append(Course.provider_id == query.provider_id)
    if query.start_from is not None:
        found.append(Course.start_date >= query.start_from)
    if query.start_to is not None:
        found.append(Course.start_date <= query.start_to)
    if query.instrument:
        found.append(Response.instrument_id == query.instrument)
    if not query.include_in_progress:
        found.append(Response.submitted_at.is_not(None))
    return found


def count_responses(session: Session, reach: Reach, query: ExportQuery) -> int:
    """How many responses the export covers (rows of a wide export)."""
    stmt = (
        select(func.count(Response.id))
        .join(Assignment, Response.assignment_id == Assignment.id)
        .join(Course, Assignment.course_id == Course.id)
        .where(*_conditions(reach, query))
    )
    return int(session.scalar(stmt) or 0)


def count_rows(session: Session, reach: Reach, query: ExportQuery) -> int:
    """How many rows the export has: responses (wide) or their stored answers (long)."""
    if not query.long:
        return count_responses(session, reach, query)
    stmt = (
        select(func.count(Answer.id))
        .join(Response, Answer.response_id == Response.id)
        .join(Assignment, Response.assignment_id == Assignment.id)
        .join(Course, Assignment.course_id == Course.id)
        .where(*_conditions(reach, query))
    )
    return int(session.scalar(stmt) or 0)


def _as_text(column: Any) -> Any:
    """Read an enum column as its stored text (no per-row conversion to the enum)."""
    return type_coerce(column, String)


def _responses(reach: Reach, query: ExportQuery) -> Select[Any]:
    return (
        select(
            Response.id,
            Course.citizen_id,
            Course.id,
            Municipality.code,
            Municipality.name,
            Provider.name,
            _as_text(Provider.kind),
            Team.name,
            _as_text(Course.legal_basis),
            Course.start_date,
            Course.end_date,
            Assignment.timepoint_key,
            _as_text(PlanTimepoint.anchor),
            PlanTimepoint.offset_months,
            PlanTimepoint.offset_days,
            Response.instrument_id,
            Response.instrument_version,
            Response.text_version,
            Response.text_verified,
            Response.language,
            _as_text(Response.channel),
            _as_text(Response.respondent),
            Response.started_at,
            Response.submitted_at,
            Citizen.birth_year,
            _as_text(Citizen.sex),
            Citizen.lives_alone,
            Response.scoring_version,
            _as_text(Response.score_notes),  # JSON text: decoded only when not empty
        )
        .join(Assignment, Response.assignment_id == Assignment.id)
        .join(Course, Assignment.course_id == Course.id)
        .join(Citizen, Course.citizen_id == Citizen.id)
        .join(Municipality, Course.municipality_id == Municipality.id)
        .join(Provider, Course.provider_id == Provider.id)
        .outerjoin(Team, Course.team_id == Team.id)
        .outerjoin(
            PlanTimepoint,
            and_(
                PlanTimepoint.plan_id == Course.plan_id,
                PlanTimepoint.key == Assignment.timepoint_key,
            ),
        )
        .where(*_conditions(reach, query))
        .order_by(Response.id)
        .execution_options(stream_results=True, yield_per=BATCH)
    )


def _notes(stored: str | list[str] | None) -> list[str]:
    """The scoring notes from their stored JSON text (most responses have none; psycopg
    hands PostgreSQL's json already decoded)."""
    if not stored or stored in ("[]", "null"):
        return []
    found = json.loads(stored) if isinstance(stored, str) else stored
    return [str(note) for note in found] if isinstance(found, list) else []


def _local_date(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(DENMARK).date()


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


class _Roles:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], str] = {}

    def __call__(self, anchor: str | None, months: int | None, days: int | None) -> str | None:
        if anchor is None:
            return None  # the plan no longer has this timepoint
        key = (anchor, months or 0, days or 0)
        found = self._cache.get(key)
        if found is None:
            from surveyapp.enums import Anchor

            found = self._cache[key] = timepoint_role(Anchor(anchor), key[1], key[2]).value
        return found


def _by_response(connection: Connection, stmt: Select[Any]) -> dict[int, list[tuple[Any, ...]]]:
    found: dict[int, list[tuple[Any, ...]]] = {}
    for row in connection.execute(stmt).all():  # one batch: fetched at once
        found.setdefault(row[0], []).append(row[1:])
    return found


def iter_rows(
    session: Session,
    reach: Reach,
    query: ExportQuery,
    export: Layout,
    pseudonyms: Pseudonyms,
) -> Iterator[tuple[Any, ...]]:
    """Rows of the export, in response order, aligned with `export.variables`."""
    roles = _Roles()
    # Core rows on the session's connection (same transaction): no ORM result processing.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Every row is read: plan the server-side cursor for the whole result, not for a
        # fast first row (PostgreSQL's default of 10 % picks nested loops that are far slower).
        connection.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
    answered = AnswerState.ANSWERED.value
    missing = {m.state: m for m in CodedMissing}
    if not export.long and connection.dialect.name == "postgresql":
        statement, placing = _with_laterals(_responses(reach, query), export)
        batches = _driver_batches(connection, statement)
        yield from _joined_rows(batches, export, placing, pseudonyms, roles)
        return
    result = connection.execute(_responses(reach, query))
    if not export.long:
        yield from _wide_rows(connection, result, export, pseudonyms, roles)
        return
    for batch in result.partitions():
        ids = [r[0] for r in batch]
        answers = _by_response(
            connection,
            select(Answer.response_id, Answer.item_id, _as_text(Answer.state), Answer.value)
            .where(Answer.response_id.in_(ids))
            .order_by(Answer.response_id, Answer.id),
        )
        for r in batch:
            yield from _long_rows(
                _keys(r, pseudonyms, roles), answers.get(r[0], ()), missing, answered
            )


def _keys(r: Any, pseudonyms: Pseudonyms, roles: _Roles) -> tuple[Any, ...]:
    """The columns every row starts with, from a row of `_responses`."""
    return (
        pseudonyms("response", r[0]),
        pseudonyms("citizen", r[1]),
        pseudonyms("course", r[2]),
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        r[11],
        roles(r[12], r[13], r[14]),
        r[15],
        r[16],
        r[17],
        _flag(r[18]),
        r[19],
        r[20],
        r[21],
        _local_date(r[22]),
        _local_date(r[23]),
    )


@dataclass(frozen=True)
class _Pivot:
    """One instrument's item (or score) columns: where they go in a row, and the aggregates
    that pivot a response's answers (or scores) into them."""

    start: int  # the instrument's columns are contiguous: row[start : start + width]
    width: int
    values: tuple[Any, ...]  # width aggregates (and, for items, the coded-missing flag)
    response_id: Any  # Answer.response_id or Score.response_id
    where: tuple[ColumnElement[bool], ...]
    coded: bool  # item values: -8 and -9 stand for "Ved ikke" and "Ikke relevant"
    statement: Select[Any]  # for a batch: parameter "ids", the batch's response ids

    @classmethod
    def of(
        cls,
        start: int,
        values: list[Any],
        response_id: Any,
        where: tuple[ColumnElement[bool], ...],
        *,
        coded: bool,
        dialect: str,
    ) -> _Pivot:
        statement = (
            select(response_id, *values)
            .where(_in_batch(response_id, dialect), *where)
            .group_by(response_id)
        )
        width = len(values) - 1 if coded else len(values)
        return cls(start, width, tuple(values), response_id, where, coded, statement)


def _contiguous(columns: list[int]) -> int:
    start = columns[0]
    if columns != list(range(start, start + len(columns))):
        raise AssertionError("an instrument's columns are side by side in the layout")
    return start


def _in_batch(column: Any, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the batch's ids (parameter "ids"): one array parameter on
    PostgreSQL (`= ANY`), an expanding IN elsewhere."""
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=postgresql.ARRAY(Integer)))
    return column.in_(bindparam("ids", expanding=True))


def _pivots(export: Layout, dialect: str) -> dict[str, list[_Pivot]]:
    """Per instrument, the pivots of its item columns and of its score columns.

    Each answer is compared only with its own instrument's items (not with every item of the
    layout), and each statement is built once: the batch's ids are an expanding parameter, so
    the compiled SQL is reused from batch to batch. "Ved ikke" and "Ikke relevant" come back
    as their codes (-8, -9): item values are never negative codes, since those are the SPSS
    missing values of the same columns. A last column says whether any answer of the
    response is one of them, so that rows without any are not looked at cell by cell.
    """
    codes = {m.state: m.code for m in CodedMissing}
    value = case(
        (Answer.state == AnswerState.ANSWERED, Answer.value),
        *(
            (Answer.state == AnswerState(state), literal(code, literal_execute=True))
            for state, code in codes.items()
        ),
    )
    items: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (instrument, item_id), column in sorted(export.item_columns.items(), key=lambda kv: kv[1]):
        items[instrument].append((item_id, column))
    scores: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for name, column in sorted(export.score_columns.items(), key=lambda kv: kv[1]):
        scores[export.variables[column].instrument].append((name, column))
    found: dict[str, list[_Pivot]] = defaultdict(list)
    for instrument, columns in items.items():
        values = [
            func.max(case((Answer.item_id == literal(item, literal_execute=True), value)))
            for item, _column in columns
        ]
        values.append(func.max(case((Answer.state != AnswerState.ANSWERED, 1), else_=0)))
        start = _contiguous([c for _i, c in columns])
        found[instrument].append(
            _Pivot.of(start, values, Answer.response_id, (), coded=True, dialect=dialect)
        )
    for instrument, columns in scores.items():
        names = [name for name, _column in columns]
        values = [
            func.max(case((Score.name == literal(name, literal_execute=True), Score.value)))
            for name in names
        ]
        start = _contiguous([c for _n, c in columns])
        where = (Score.name.in_(names),)
        found[instrument].append(
            _Pivot.of(start, values, Score.response_id, where, coded=False, dialect=dialect)
        )
    return found


_DONE = object()


def prefetched(batches: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """The batches, the next ones fetched by a background thread while the caller works.

    The database computes the next rows (and the driver waits for them, without holding
    the GIL) while this thread turns the current ones into the file, so the export takes
    about the longer of the two rather than their sum. The result is used by the fetching
    thread only; an error there is raised here, and stopping early (a closed download) ends
    the thread.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer to raise
            put(error)

    worker = threading.Thread(target=produce, name="export-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


@dataclass(frozen=True)
class _Placing:
    """Where the pivoted columns of a joined row go: the row's columns from `first` on are
    the layout's item and score columns from `start` on, in order; `flags` are the columns
    saying whether an instrument's answers hold a coded missing, with each one's item range."""

    first: int
    start: int
    width: int
    flags: tuple[tuple[int, int, int], ...]  # (flag column in the row, start, end in the layout)


def _with_laterals(responses: Select[Any], export: Layout) -> tuple[Select[Any], _Placing]:
    """PostgreSQL: the responses with their answers and scores pivoted in the same query.

    One LATERAL subquery per instrument and kind pivots the response's own answers (or
    scores) through the covering index, only for responses of that instrument (a one-time
    filter otherwise), so the server streams finished rows through one cursor: no query per
    batch, no second fetch. Built from the same per-instrument pivots as the batched path.
    """
    statement = responses
    first = len(responses.selected_columns)
    columns: list[int] = []
    flag_columns: list[Any] = []
    flags: list[tuple[int, int, int]] = []
    for n, (instrument, pivot) in enumerate(
        sorted(
            ((i, p) for i, ps in _pivots(export, "postgresql").items() for p in ps),
            key=lambda ip: ip[1].start,
        )
    ):
        lateral = (
            select(*pivot.values)
            .where(
                pivot.response_id == Response.id,
                Response.instrument_id == literal(instrument, literal_execute=True),
                *pivot.where,
            )
            .lateral(f"pivot_{n}")
        )
        lateral_columns = list(lateral.c)
        statement = statement.outerjoin(lateral, true()).add_columns(
            *lateral_columns[: pivot.width]
        )
        columns += range(pivot.start, pivot.start + pivot.width)
        if pivot.coded:
            flag_columns.append(lateral_columns[-1])
            flags.append((pivot.start, pivot.start + pivot.width))
    statement = statement.add_columns(*flag_columns)
    start = columns[0] if columns else 0
    if columns != list(range(start, start + len(columns))):
        raise AssertionError("the item and score columns are side by side in the layout")
    flag_first = first + len(columns)
    placing = _Placing(
        first,
        start,
        len(columns),
        tuple((flag_first + k, a, b) for k, (a, b) in enumerate(flags)),
    )
    return statement, placing


def _driver_batches(connection: Connection, statement: Select[Any]) -> Iterator[list[Any]]:
    """PostgreSQL: the statement's rows in batches straight from a psycopg server-side cursor.

    Plain tuples, without SQLAlchemy's per-row result objects: the export reads every column
    as the driver gives it (texts, numbers, dates, aware timestamps, decoded JSON), which for
    a million rows of a hundred columns is a third of the export's time saved.
    """
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor(name="surveyapp_export") as cursor:
        cursor.execute(str(compiled), compiled.params)
        while batch := cursor.fetchmany(BATCH):
            yield batch


def _started_row(r: Any, width: int, pseudonyms: Pseudonyms, roles: _Roles) -> list[Any]:
    """A wide row with its keys and background filled in, its other columns still empty."""
    row: list[Any] = [*_keys(r, pseudonyms, roles), r[24], r[25], _flag(r[26])]
    row.extend([None] * (width - len(row)))
    return row


def _finished_row(row: list[Any], r: Any) -> tuple[Any, ...]:
    """The row with its last columns: scoring version, imputed or not, and the notes."""
    notes = _notes(r[28])
    row[-3] = r[27]
    row[-2] = int(any(n.startswith("imputed:") for n in notes)) if r[27] else None
    row[-1] = "; ".join(notes) if notes else None
    return tuple(row)


def _joined_rows(
    batches: Iterator[list[Any]],
    export: Layout,
    placing: _Placing,
    pseudonyms: Pseudonyms,
    roles: _Roles,
) -> Iterator[tuple[Any, ...]]:
    by_code = {m.code: m for m in CodedMissing}
    width = len(export.variables)
    first, start, count = placing.first, placing.start, placing.width
    for batch in prefetched(batches):
        for r in batch:
            row = _started_row(r, width, pseudonyms, roles)
            row[start : start + count] = r[first : first + count]
            for flag, a, b in placing.flags:
                if r[flag]:
                    for column in range(a, b):
                        row[column] = by_code.get(row[column], row[column])
            yield _finished_row(row, r)


def _wide_rows(
    connection: Connection,
    result: Any,
    export: Layout,
    pseudonyms: Pseudonyms,
    roles: _Roles,
) -> Iterator[tuple[Any, ...]]:
    pivots = _pivots(export, connection.dialect.name)
    by_code = {m.code: m for m in CodedMissing}
    width = len(export.variables)
    for batch in result.partitions():
        of_instrument: dict[str, list[int]] = defaultdict(list)
        for r in batch:
            of_instrument[r[15]].append(r[0])
        placed: dict[int, list[tuple[_Pivot, Any]]] = defaultdict(list)
        for instrument, ids in of_instrument.items():
            for pivot in pivots.get(instrument, ()):
                for found in connection.execute(pivot.statement, {"ids": ids}).all():
                    placed[found[0]].append((pivot, found))
        for r in batch:
            row = _started_row(r, width, pseudonyms, roles)
            for pivot, found in placed.get(r[0], ()):
                end = pivot.start + pivot.width
                row[pivot.start : end] = found[1 : pivot.width + 1]
                if pivot.coded and found[-1]:
                    for column in range(pivot.start, end):
                        row[column] = by_code.get(row[column], row[column])
            yield _finished_row(row, r)


def _long_rows(
    keys: tuple[Any, ...],
    answers: Sequence[tuple[Any, ...]],
    missing: dict[str, CodedMissing],
    answered: str,
) -> Iterator[tuple[Any, ...]]:
    for item_id, state, value in answers:
        yield (*keys, item_id, state, value if state == answered else missing.get(state))


def record_download(
    session: Session, actor: audit.Actor, query: ExportQuery, fmt: str, rows: int | None
) -> None:
    """Audit an export: format, filters and row count; never any personal data."""
    audit.record(
        session,
        actor,
        "export.download",
        object_type="export",
        details={"format": fmt, **query.details(), "rows": rows},
    )


def is_codebook(fmt: str) -> bool:
    return fmt.startswith("codebook")


def begin_export(
    session: Session, actor: audit.Actor, reach: Reach, query: ExportQuery, fmt: str
) -> int | None:
    """Count the rows and audit the export before any of it leaves; return the count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    rows = None if is_codebook(fmt) else count_rows(session, reach, query)
    covered = query.municipality_ids or reach.municipality_ids
    record_download(session, actor, replace(query, municipality_ids=covered), fmt, rows)
    return rows


def write_export(
    session: Session,
    registry: Registry,
    reach: Reach,
    query: ExportQuery,
    fmt: str,
    target: str | Path | IO[bytes],
    key: bytes,
) -> int | None:
    """Write the export (or its codebook) in `fmt` to a path or binary file; return the rows.

    SPSS and Stata need a path (pyreadstat writes files by name).
    """
    from surveyapp.exports import (
        build_codebook,
        write_codebook_csv,
        write_codebook_json,
        write_csv,
        write_dta,
        write_sav,
        write_xlsx,
    )
    from surveyapp.services import export_csv_sql

    export = export_layout(registry, query)
    if export_csv_sql.applies(session.connection(), export, fmt):
        # PostgreSQL writes the lines itself (the same bytes as the generic path, faster).
        with _binary(target) as out:
            return export_csv_sql.write_csv(session, reach, query, export, out, key, fmt)
    rows = iter_rows(session, reach, query, export, Pseudonyms(key))
    codebook = build_codebook(export)
    if fmt in ("sav", "dta"):
        if not isinstance(target, str | Path):
            raise TypeError("SPSS and Stata files are written to a path")
        writer = write_sav if fmt == "sav" else write_dta
        return writer(export, rows, target, codebook)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    with _binary(target) as out:
        if fmt == "xlsx":
            return write_xlsx(export, rows, out, codebook)
        if fmt == "codebook-csv":
            write_codebook_csv(codebook, out)
            return None
        if fmt == "codebook-json":
            text = io.TextIOWrapper(out, encoding="utf-8")
            write_codebook_json(codebook, export, text)
            text.flush()
            text.detach()
            return None
        return write_csv(export, rows, out, excel_da=fmt == "csv-excel")


def csv_chunks(
    session: Session,
    registry: Registry,
    reach: Reach,
    query: ExportQuery,
    fmt: str,
    key: bytes,
) -> Iterator[bytes]:
    """The CSV export (`fmt` "csv" or "csv-excel") as UTF-8 chunks, for a streaming download:
    written by PostgreSQL where it can (a wide export there), by the Python writer otherwise."""
    from surveyapp.exports import iter_csv
    from surveyapp.services import export_csv_sql

    export = export_layout(registry, query)
    if export_csv_sql.applies(session.connection(), export, fmt):
        yield from export_csv_sql.iter_lines(session, reach, query, export, key, fmt)
        return
    rows = iter_rows(session, reach, query, export, Pseudonyms(key))
    yield from iter_csv(export, rows, excel_da=fmt == "csv-excel")


@contextmanager
def _binary(target: str | Path | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(target, str | Path):
        with open(target, "wb") as out:
            yield out
    else:
        yield target
