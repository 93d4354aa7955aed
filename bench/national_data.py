"""A national-scale dataset for benchmarking the reports and exports, loaded fast.

    python bench/national_data.py --url sqlite:////tmp/national.sqlite3 --responses 1000000
    python bench/national_data.py --url postgresql+psycopg://... --responses 1000000 --seed 7

Fills a migrated, empty database (it runs the migrations first) with `--municipalities`
fictitious municipalities, each with 2 to 4 providers (the first municipal, often a private
one) of 1 to 3 teams, citizens born 1920-1960, courses starting over the last `--years` years
(mostly under § 83 a) on the shared default plan, every planned measurement as an assignment
(completed, expired, declined with a reason, open, in progress or scheduled, as the day and
the course's progress make it) and about `--responses` responses with their answers, their
scores from the real scoring rules and their measurement rows. The rows are the app's own:
a course's assignments come from `services.courses.planned_assignments` (windows and
statuses as `create_course` makes them) and measurement rows from
`services.measurements.row_values`, as the demo loader makes them; afterwards `sync` (what
`surveyapp migrate` runs) must find nothing to rebuild.
Citizens improve on the course: WHO-5 rises about 8 points from baseline to end, WHODAS
falls, follow-ups keep part of the gain.

Speed: the organisations and the plan go through the ORM (a few hundred rows, and the plan is
made by the app's own `default_plan`); everything else is written in bulk through the
package's own bulk writer (`surveyapp.bulkload`, the demo loader's path: ids handed out up
front, `executemany` on SQLite, with `synchronous=OFF` and an in-memory journal for the load
only, WAL restored afterwards, and `COPY` on PostgreSQL, the id sequences moved afterwards).
Scoring a million responses one by one would dominate, so each instrument gets a pool of
scored answer sets per latent level (`POOL_PER_LEVEL`), and a response takes one from the
level its citizen is at.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from surveyapp import auditchain
from surveyapp.bulkload import BulkWriter
from surveyapp.db import make_engine, upgrade
from surveyapp.enums import (
    AnswerState,
    AssignmentStatus,
    Channel,
    CourseStatus,
    DropoutReason,
    LegalBasis,
    ProviderKind,
    Respondent,
    Role,
    Sex,
)
from surveyapp.instruments import Instrument, Registry, default_registry, score
from surveyapp.models import (
    MEASUREMENT_VALUES,
    AnalystGrant,
    Base,
    Course,
    MeasurementPlan,
    Municipality,
    Provider,
    Response,
    StaffUser,
    Team,
)
from surveyapp.scheduling import TimepointRole, timepoint_role, today_in_denmark
from surveyapp.security import hash_secret
from surveyapp.services import audit, measurements
from surveyapp.services.courses import default_plan, planned_assignments, rule_of

POOL_PER_LEVEL = 250  # scored answer sets per instrument and latent level
LEVELS = 21  # latent levels 0, 5, ..., 100 (a WHO-5 or WHODAS percentage)
BATCH_COURSES = 2000  # courses generated, then written and committed together
CHUNK_ROWS = 10_000  # rows per executemany call
BULK_TABLES = ("citizen", "course", "assignment", "response", "answer", "score")  # with ids
DERIVED_TABLES = ("measurement",)  # one row per submitted response, as the app writes it
WRITTEN_TABLES = (*BULK_TABLES, *DERIVED_TABLES)
BENCH_USERS = (("bench-admin", Role.ADMIN), ("bench-analyst", Role.ANALYST))
BENCH_PASSWORD = "bench-password"  # noqa: S105 - a throw-away benchmark database

# Share of measurements answered once their window has opened (the rest are missed).
COMPLETION = {
    TimepointRole.BASELINE: 0.93,
    TimepointRole.DURING: 0.85,
    TimepointRole.END: 0.86,
    TimepointRole.FOLLOW_UP: 0.72,
}
RELATIVE_COMPLETION = 0.55
STAFF_COMPLETION = 0.92
DROPOUT_PER_TIMEPOINT = 0.04  # a citizen drops out before a later measurement
DROPOUT_WEIGHTS = {
    DropoutReason.DECLINED: 30,
    DropoutReason.TOO_ILL: 25,
    DropoutReason.HOSPITALISED: 15,
    DropoutReason.MOVED: 5,
    DropoutReason.DIED: 10,
    DropoutReason.UNREACHABLE: 15,
}
LEGAL_BASES = {
    LegalBasis.SEL_83A: 85,
    LegalBasis.SEL_86: 8,
    LegalBasis.SEL_83: 4,
    LegalBasis.SEL_140: 3,
}
IN_PROGRESS_SHARE = 0.05  # of measurements open today: started, not yet sent

NAME_HEADS = [
    "Nord",
    "Syd",
    "Øst",
    "Vest",
    "Sønder",
    "Vester",
    "Øster",
    "Store",
    "Lille",
    "Ny",
    "Gammel",
    "Hav",
    "Skov",
    "Eng",
    "Å",
    "Sø",
    "Bjerg",
    "Dal",
    "Lyng",
    "Mose",
    "Klint",
    "Strand",
    "Fjord",
    "Bro",
    "Kirke",
    "Mølle",
    "Hede",
    "Holm",
]
NAME_TAILS = [
    "by",
    "lund",
    "borg",
    "rup",
    "sted",
    "løse",
    "bæk",
    "høj",
    "vig",
    "næs",
    "havn",
    "holm",
    "ager",
]


@dataclass(frozen=True)
class PoolEntry:
    """One scored answer set, ready to write."""

    answers: tuple[tuple[str, str, int | None], ...]  # (item id, state, value)
    scores: tuple[tuple[str, float | None], ...]
    notes_json: str
    scoring_version: str


@dataclass(frozen=True)
class FixedMunicipality:
    """A municipality of a fixed number of courses, whatever the national total (benchmarks
    of one municipality's pages in a growing database: bench/scale_bench.py)."""

    code: str
    name: str
    courses: int


@dataclass
class _Org:
    municipality_id: int
    providers: list[tuple[int, list[int], int]]  # (provider id, team ids, weight)
    citizens: list[int] = field(default_factory=list)
    hmacs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Timepoint:
    id: int
    key: str
    rule: Any
    role: TimepointRole
    phase: float  # how much of the course's gain shows at this timepoint


# ---------------------------------------------------------------------------------------
# Answer sets


def _clip(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


class AnswerPools:
    """Scored answer sets per (instrument, bucket), drawn once and sampled for every response."""

    def __init__(
        self, registry: Registry, rng: random.Random, per_level: int = POOL_PER_LEVEL
    ) -> None:
        self.registry = registry
        self.rng = rng
        self.per_level = per_level
        self._pools: dict[tuple[str, object], list[PoolEntry]] = {}

    def draw(self, instrument_id: str, bucket: object) -> PoolEntry:
        pool = self._pools.get((instrument_id, bucket))
        if pool is None:
            instrument = self.registry.get(instrument_id)
            pool = [self._entry(instrument, bucket) for _ in range(self.per_level)]
            self._pools[(instrument_id, bucket)] = pool
        return pool[int(self.rng.random() * len(pool))]

    def _entry(self, instrument: Instrument, bucket: object) -> PoolEntry:
        values = self._values(instrument, bucket)
        allowed = {item.id: set(item.values) for item in instrument.items}
        answers: list[tuple[str, str, int | None]] = []
        for item in instrument.items:
            value = values.get(item.id)
            if value is None:
                continue
            if isinstance(value, AnswerState):
                answers.append((item.id, value.value, None))
            else:
                if value not in allowed[item.id]:
                    raise ValueError(f"{instrument.id}.{item.id}: generated {value}")
                answers.append((item.id, AnswerState.ANSWERED.value, value))
        numbers = {item_id: value for item_id, state, value in answers if value is not None}
        result = score(
            instrument, {item_id: numbers.get(item_id) for item_id in instrument.item_ids}
        )
        return PoolEntry(
            answers=tuple(answers),
            scores=tuple(
                (name, None if v is None else float(v)) for name, v in result.scores.items()
            ),
            notes_json=json.dumps(list(result.notes)),
            scoring_version=result.scoring_version,
        )

    def _values(self, instrument: Instrument, bucket: object) -> dict[str, int | AnswerState]:
        """Answers like the demo data's, around a latent level (0-100) or for a timepoint."""
        rng = self.rng
        out: dict[str, int | AnswerState] = {}
        if instrument.id == "who5":
            level = float(bucket)  # type: ignore[arg-type]
            for i in range(1, 6):
                out[f"who5_{i}"] = _clip(round(level / 20 + rng.gauss(0, 0.8)), 0, 5)
        elif instrument.id in ("whodas12", "whodas12_proxy"):
            level = float(bucket)  # type: ignore[arg-type]
            for i in range(1, 13):
                out[f"S{i}"] = _clip(round(1 + level / 25 + rng.gauss(0, 0.8)), 1, 5)
            if rng.random() < 0.7:
                out["S12"] = AnswerState.NOT_APPLICABLE  # retired: no work or school
            if rng.random() < 0.03:
                out.pop(f"S{rng.randint(1, 11)}")  # one item skipped: imputed
            if instrument.id == "whodas12":
                days = _clip(round(level / 3 + rng.gauss(0, 4)), 0, 30)
                out.update(H1=days, H2=_clip(days // 4, 0, days), H3=_clip(days // 2, 0, days))
            else:
                out["H4"] = rng.choice((1, 3, 3, 3, 4, 5, 6))
        elif instrument.id == "start_meeting":
            base = 6.0 if bucket == TimepointRole.BASELINE else 7.4
            for i in range(1, 5):
                out[f"sm_{i}"] = _clip(round(rng.gauss(base, 1.9)), 0, 10)
            if rng.random() < 0.08:
                out[f"sm_{rng.randint(1, 4)}"] = AnswerState.DONT_KNOW
        elif instrument.id == "course_outcome":
            role, months = cast(tuple[TimepointRole, int], bucket)
            need = 0 if rng.random() < 0.55 else rng.choices((1, 2, 3), weights=(40, 39, 21))[0]
            sufficient = 0.55 if role == TimepointRole.END else max(0.4, 0.5 - months * 0.003)
            if role == TimepointRole.END:
                out["co_quality_of_life"] = rng.choices((1, 2, 3), weights=(61, 32, 7))[0]
            out["co_help_need"] = need
            out["co_self_sufficient"] = int(rng.random() < sufficient)
            out["co_pre_contact"] = rng.choices((1, 2, 3), weights=(57, 10, 33))[0]
        else:  # an instrument added later: a plausible answer to every item
            for item in instrument.items:
                out[item.id] = rng.choice(item.values)
        return out


# ---------------------------------------------------------------------------------------
# Writing rows


class _Sink:
    """Writes rows of the bulk tables on the raw DBAPI connection."""

    columns: dict[str, tuple[str, ...]] = {
        "citizen": (
            "id",
            "municipality_id",
            "cpr_hmac",
            "label",
            "birth_year",
            "sex",
            "lives_alone",
            "created_at",
        ),
        "course": (
            "id",
            "citizen_id",
            "municipality_id",
            "provider_id",
            "team_id",
            "plan_id",
            "legal_basis",
            "start_date",
            "end_date",
            "status",
            "created_at",
        ),
        "assignment": (
            "id",
            "course_id",
            "timepoint_id",
            "timepoint_key",
            "instrument_id",
            "respondent",
            "channel",
            "due_date",
            "window_start",
            "window_end",
            "status",
            "dropout_reason",
            "status_changed_at",
            "created_at",
        ),
        "response": (
            "id",
            "assignment_id",
            "instrument_id",
            "instrument_version",
            "language",
            "text_version",
            "text_verified",
            "channel",
            "respondent",
            "started_at",
            "last_answer_at",
            "submitted_at",
            "scoring_version",
            "score_notes",
        ),
        "answer": ("id", "response_id", "item_id", "state", "value", "answered_at"),
        "score": ("id", "response_id", "name", "value"),
        "measurement": (
            "instrument_id",
            "course_id",
            "respondent",
            "response_id",
            "timepoint_id",
            *(f"v{position}" for position in range(MEASUREMENT_VALUES)),
        ),
        "audit_event": (
            "seq",
            "occurred_at",
            "actor_type",
            "action",
            "object_type",
            "object_id",
            "municipality_id",
            "details",
            "prev_hash",
            "hash",
        ),
    }

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dbapi = conn.connection.dbapi_connection
        # The package's bulk writer, as the demo loader uses it: COPY on PostgreSQL.
        self.writer = BulkWriter(conn, copy=True, chunk_rows=CHUNK_ROWS)
        # The column types' own conversions, so that the rows read as if the ORM wrote them.
        self.writer.use_types(
            datetime_column=(Response.__table__, "submitted_at"),
            date_column=(Course.__table__, "start_date"),
        )
        self.dt = self.writer.dt
        self.day = self.writer.day
        self.flag = self.writer.flag

    def ids(self, table: str) -> Iterator[int]:
        """The ids for the table's new rows (from its highest id on)."""
        return self.writer.ids(Base.metadata.tables[table])

    def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        self.writer.write(table, self.columns[table], rows)

    #: Audit events per transaction. PostgreSQL's chain trigger updates the one chain-head
    #: row for every event: within one transaction each update adds a row version the next
    #: has to step over, so long transactions slow down quadratically.
    audit_batch = CHUNK_ROWS * 5

    def chain_head(self) -> tuple[int, str, datetime]:
        """The audit chain head: seq, hash and time of the last event."""
        cursor = self.dbapi.cursor()
        cursor.execute("SELECT seq, hash FROM audit_chain_head WHERE id = 1")
        seq, digest = cursor.fetchone()
        cursor.close()
        # The last event was written through the ORM just before the load, at most now.
        return int(seq), str(digest), datetime.now(UTC)

    def commit(self) -> None:
        if self.conn.in_transaction():
            self.conn.commit()
        self.dbapi.commit()  # what went straight to the driver (COPY)

    def begin_load(self) -> None:
        """Set up the connection for a fast load."""

    def end_load(self) -> None:
        """Restore the connection's settings and bring the planner's statistics up to date."""


class _SQLiteSink(_Sink):
    def begin_load(self) -> None:
        self.commit()
        cursor = self.dbapi.cursor()
        cursor.execute("PRAGMA journal_mode=MEMORY")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-200000")  # 200 MB of page cache for the load
        cursor.close()

    def end_load(self) -> None:
        self.commit()
        cursor = self.dbapi.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-2000")
        cursor.execute("ANALYZE")
        cursor.close()
        self.dbapi.commit()


class _PostgresSink(_Sink):
    audit_batch = 1000

    def end_load(self) -> None:
        self.commit()
        self.writer.finish()  # the id sequences past the ids used
        self.commit()
        with self.dbapi.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.dbapi.commit()
        # Every chained event updated the chain head's one row: vacuum its dead versions
        # (outside a transaction), or every later append reads through them.
        self.dbapi.autocommit = True
        try:
            with self.dbapi.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE audit_chain_head")
        finally:
            self.dbapi.autocommit = False


# ---------------------------------------------------------------------------------------
# The generator


class NationalData:
    def __init__(
        self,
        engine: Engine,
        *,
        responses: int,
        municipalities: int,
        seed: int,
        today: date,
        years: float,
        registry: Registry,
        pool_per_level: int = POOL_PER_LEVEL,
        fixed: Sequence[FixedMunicipality] = (),
        audit_events: int = 0,
    ) -> None:
        self.engine = engine
        self.fixed = tuple(fixed)
        self.fixed_orgs: list[_Org] = []
        self.audit_events = audit_events
        self.courses_of: dict[int, int] = {}  # municipality id -> courses made
        self.target = responses
        self.municipality_count = municipalities
        self.rng = random.Random(seed)
        self.today = today
        self.cutoff = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(
            minutes=1
        )
        self.seed = seed
        self.days = int(years * 365)
        self.registry = registry
        self.pools = AnswerPools(registry, random.Random(seed + 1), pool_per_level)
        self.ids: dict[str, Iterator[int]] = {}
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in WRITTEN_TABLES}
        self.made = dict.fromkeys(WRITTEN_TABLES, 0)
        self.layouts: dict[str, dict[str, int]] = {}  # instrument id -> its stored layout
        self._values: dict[int, tuple[float | None, ...]] = {}  # id(pool entry) -> v0, v1...
        self.orgs: list[_Org] = []
        self.org_weights: list[float] = []
        self.instruments = {i.id: i for i in (registry.get(x) for x in registry.ids())}

    # -- the small part, through the ORM ----------------------------------------------------

    def organisations(self, session: Session) -> None:
        if session.scalar(select(func.count()).select_from(Municipality)):
            raise SystemExit("the database already holds data: load into an empty one")
        rng = self.rng
        names = [f"{head}{tail}" for head in NAME_HEADS for tail in NAME_TAILS]
        rng.shuffle(names)
        if self.municipality_count > min(len(names), 899):
            raise SystemExit(f"at most {min(len(names), 899)} municipalities")
        made = []
        for index in range(self.municipality_count):
            name = names[index].capitalize()
            municipality = Municipality(code=f"{101 + index}", name=f"{name} Kommune")
            count = rng.choice((2, 2, 3, 3, 3, 4))
            for number in range(count):
                if number == 0:
                    kind, provider_name = ProviderKind.MUNICIPAL, f"{name} Hjemmepleje"
                elif number == 1 and rng.random() < 0.8:
                    kind, provider_name = ProviderKind.PRIVATE, f"{name} Omsorg ApS"
                elif rng.random() < 0.5:
                    kind, provider_name = ProviderKind.PRIVATE, f"Privat Træning {number} ApS"
                else:
                    kind, provider_name = ProviderKind.MUNICIPAL, f"{name} Træningsenhed {number}"
                provider = Provider(
                    municipality=municipality,
                    name=provider_name,
                    kind=kind,
                    unit_name=provider_name.split(" ApS")[0],
                )
                provider.teams = [
                    Team(name=f"Team {chr(65 + t)}") for t in range(rng.randint(1, 3))
                ]
            made.append(municipality)
        fixed = [_fixed_municipality(f) for f in self.fixed]
        session.add_all([*made, *fixed])
        session.flush()
        for municipality in made:
            self.orgs.append(_Org(municipality.id, _providers(municipality)))
            # Population-like sizes: a few large municipalities, many small ones.
            self.org_weights.append(rng.lognormvariate(0, 0.8))
        self.fixed_orgs = [_Org(m.id, _providers(m)) for m in fixed]
        self._users(session, made)

    def _users(self, session: Session, municipalities: Sequence[Municipality]) -> None:
        """An admin and an analyst granted every municipality, to try the reports with."""
        home = municipalities[0]
        password = hash_secret(BENCH_PASSWORD)
        users = {}
        for username, role in BENCH_USERS:
            users[role] = StaffUser(
                username=username,
                full_name=username,
                role=role,
                municipality=home,
                password_hash=password,
            )
        session.add_all(users.values())
        session.flush()
        session.add_all(
            AnalystGrant(
                user_id=users[Role.ANALYST].id,
                municipality_id=m.id,
                granted_by_id=users[Role.ADMIN].id,
            )
            for m in municipalities[1:]
        )

    def plan(self, session: Session) -> dict[int, _Timepoint]:
        """The default plan (kept for `planned_assignments`) and its timepoints by id."""
        plan: MeasurementPlan = default_plan(session)
        timepoints = {}
        for tp in plan.timepoints:
            role = timepoint_role(tp.anchor, tp.offset_months, tp.offset_days)
            months = tp.offset_months + tp.offset_days / 30
            phase = {
                TimepointRole.BASELINE: 0.0,
                TimepointRole.DURING: 0.5,
                TimepointRole.END: 1.0,
            }.get(role, max(0.4, 1.0 - 0.025 * months))
            timepoints[tp.id] = _Timepoint(tp.id, tp.key, rule_of(tp), role, phase)
            assert tp.items  # loaded now: planned_assignments reads them after the session
        self.plan_id = plan.id
        self.plan_row = plan
        # Each instrument's measurement layout, positions handed out now (stored_layout).
        self.layouts = {
            key: measurements.stored_layout(session, instrument)
            for key, instrument in self.instruments.items()
        }
        return timepoints

    # -- the large part, in bulk --------------------------------------------------------------

    def run(self, progress: Callable[[str], None]) -> dict[str, int]:
        started = time.perf_counter()
        with self.engine.connect() as conn:
            # The plan's rows stay readable after the commit (planned_assignments reads them).
            with Session(bind=conn, expire_on_commit=False) as session:
                self.organisations(session)
                timepoints = self.plan(session)
                audit.record(
                    session,
                    audit.SYSTEM,
                    "bench.national_data",
                    details={"responses": self.target, "seed": self.seed},
                )
                session.commit()
            sink: _Sink
            if self.engine.dialect.name == "sqlite":
                sink = _SQLiteSink(conn)
            else:
                sink = _PostgresSink(conn)
            sink.begin_load()
            self.sink = sink
            self.ids = {table: sink.ids(table) for table in BULK_TABLES}
            courses = 0
            while self.made["response"] + len(self.rows["response"]) < self.target:
                self._course(timepoints)
                courses += 1
                if courses % BATCH_COURSES == 0:
                    self._flush()
                    elapsed = time.perf_counter() - started
                    progress(f"{self.made['response']:>9} responses  {elapsed:6.1f} s")
            for org, spec in zip(self.fixed_orgs, self.fixed, strict=True):
                for _ in range(spec.courses):
                    self._course(timepoints, org)
            self._flush()
            if self.audit_events:
                self._audit_events(sink, self.audit_events)
            sink.end_load()
        # The measurement rows were written with the scores (measurements.row_values, as the
        # demo loader writes them); `sync` (what `surveyapp migrate` runs) must find nothing
        # to rebuild, or the generator's rows differ from what the app would store.
        with Session(self.engine) as session, session.begin():
            rebuilt = [
                r.instrument_id for r in measurements.sync(session, self.registry) if r.rebuilt
            ]
        if rebuilt:
            raise RuntimeError(f"measurement rows had to be rebuilt for {rebuilt}")
        progress(f"checked       {time.perf_counter() - started:6.1f} s")
        return dict(self.made)

    def _audit_events(self, sink: _Sink, count: int) -> None:
        """`count` audit events (views of the staff pages), chained as the app chains them.

        Spread over the municipalities as their courses are. The chain's triggers accept only
        the server's time, so every event is stamped with the time it is written (a few
        microseconds apart), not with the day of the course.
        """
        head = sink.chain_head()
        seq, prev = head[0], head[1]
        municipalities = list(self.courses_of)
        weights = [self.courses_of[m] for m in municipalities]
        rng = random.Random(self.seed + 2)
        actions = (
            ("citizen.view", "citizen"),
            ("due_list.view", None),
            ("assignment.view", "assignment"),
        )
        last = head[2]
        written = 0
        while written < count:
            batch = min(sink.audit_batch, count - written)
            now = max(datetime.now(UTC), last + timedelta(microseconds=1))
            rows = []
            chosen = rng.choices(municipalities, weights=weights, k=batch)
            for index, municipality_id in enumerate(chosen):
                moment = now + timedelta(microseconds=index)
                action, object_type = actions[int(rng.random() * len(actions))]
                object_id = None if object_type is None else str(rng.randint(1, 10**6))
                details = None if object_type else {"rows": rng.randint(0, 40)}
                seq += 1
                fields = {
                    "seq": seq,
                    "prev_hash": prev,
                    "occurred_at": moment,
                    "actor_type": "system",
                    "actor_user_id": None,
                    "action": action,
                    "object_type": object_type,
                    "object_id": object_id,
                    "municipality_id": municipality_id,
                    "ip_digest": None,
                    "details": details,
                }
                digest = auditchain.event_hash(fields)
                rows.append(
                    (
                        seq,
                        sink.dt(moment),
                        "system",
                        action,
                        object_type,
                        object_id,
                        municipality_id,
                        None if details is None else json.dumps(details),
                        prev,
                        digest,
                    )
                )
                prev = digest
                last = moment
            sink.write("audit_event", rows)
            sink.commit()
            written += batch
        self.made["audit_event"] = written

    def _flush(self) -> None:
        for table in WRITTEN_TABLES:
            rows = self.rows[table]
            if rows:
                self.sink.write(table, rows)
                self.made[table] += len(rows)
                self.rows[table] = []
        self.sink.commit()

    def _at(self, day: date) -> datetime:
        """A working-hours moment on `day` (UTC), never later than the start of today."""
        moment = datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC) + timedelta(
            minutes=self.rng.randrange(0, 9 * 60)
        )
        return min(moment, self.cutoff)

    def _citizen(self, org: _Org, created: datetime) -> int:
        rng = self.rng
        if org.citizens and rng.random() < 0.08:  # a second course for someone known
            return org.citizens[int(rng.random() * len(org.citizens))]
        while True:
            hmac = f"{rng.getrandbits(256):064x}"
            if hmac not in org.hmacs:
                org.hmacs.add(hmac)
                break
        citizen_id = next(self.ids["citizen"])
        sex = Sex.FEMALE if rng.random() < 0.62 else Sex.MALE
        alone = (
            None if rng.random() < 0.02 else rng.random() < (0.62 if sex is Sex.FEMALE else 0.45)
        )
        self.rows["citizen"].append(
            (
                citizen_id,
                org.municipality_id,
                hmac,
                f"B{citizen_id}",
                int(rng.triangular(1920, 1961, 1942)),
                sex.value,
                self.sink.flag(alone),
                self.sink.dt(created),
            )
        )
        org.citizens.append(citizen_id)
        return citizen_id

    def _course(self, timepoints: Mapping[int, _Timepoint], org: _Org | None = None) -> None:
        rng, sink, today = self.rng, self.sink, self.today
        org = org or rng.choices(self.orgs, weights=self.org_weights)[0]
        provider_id, team_ids, _ = rng.choices(
            org.providers, weights=[p[2] for p in org.providers]
        )[0]
        team_id = rng.choice(team_ids)
        start = today - timedelta(days=rng.randrange(-14, self.days))
        end = start + timedelta(weeks=rng.randint(6, 12))
        known_end = end if end <= today + timedelta(weeks=2) else None
        created = self._at(start - timedelta(days=rng.randint(0, 14)))
        citizen_id = self._citizen(org, created)
        if start > today:
            status = CourseStatus.PLANNED
        elif known_end is not None and known_end < today:
            status = CourseStatus.ENDED
        else:
            status = CourseStatus.ACTIVE
        course_id = next(self.ids["course"])
        self.courses_of[org.municipality_id] = self.courses_of.get(org.municipality_id, 0) + 1
        legal = rng.choices(list(LEGAL_BASES), weights=list(LEGAL_BASES.values()))[0]
        self.rows["course"].append(
            (
                course_id,
                citizen_id,
                org.municipality_id,
                provider_id,
                team_id,
                self.plan_id,
                legal.value,
                sink.day(start),
                sink.day(known_end),
                status.value,
                sink.dt(created),
            )
        )
        wellbeing = min(95.0, max(8.0, rng.gauss(46, 17)))  # WHO-5 percentage at baseline
        disability = min(90.0, max(2.0, rng.gauss(36, 15)))  # WHODAS-12 percentage at baseline
        gain = rng.gauss(9, 13)
        dropout: DropoutReason | None = None
        created_at = sink.dt(created)
        levels: dict[str, float] = {}
        tp: _Timepoint | None = None
        # The app's own assignments of a course with these dates (as create_course and the
        # demo loader make them), in the plan's order: a timepoint's items follow each other.
        for planned in planned_assignments(self.plan_row, start, known_end, today=today):
            if tp is None or tp.id != planned["timepoint_id"]:
                tp = timepoints[planned["timepoint_id"]]
                opened = planned["window_start"] is not None and planned["window_start"] <= today
                if (
                    opened
                    and dropout is None
                    and tp.role is not TimepointRole.BASELINE
                    and rng.random() < DROPOUT_PER_TIMEPOINT
                ):
                    dropout = rng.choices(
                        list(DROPOUT_WEIGHTS), weights=list(DROPOUT_WEIGHTS.values())
                    )[0]
                levels = {
                    "who5": wellbeing + gain * tp.phase,
                    "whodas12": disability - 0.8 * gain * tp.phase,
                }
            self._assignment(course_id, tp, planned, dropout, levels, created_at)

    def _assignment(
        self,
        course_id: int,
        tp: _Timepoint,
        planned: dict[str, Any],
        dropout: DropoutReason | None,
        levels: dict[str, float],
        created_at: Any,
    ) -> None:
        """One planned assignment's row, moved on as the day and the citizen make it: answered
        (completed or in progress), declined after a drop-out, else as the app's status_on
        leaves it (scheduled, open or expired)."""
        rng, sink, today = self.rng, self.sink, self.today
        assignment_id = next(self.ids["assignment"])
        instrument_id: str = planned["instrument_id"]
        respondent: Respondent = planned["respondent"]
        status: AssignmentStatus = planned["status"]
        reason, channel = None, None
        changed_at = created_at
        response: tuple[datetime, datetime | None] | None = None  # (started, submitted)
        window_start: date | None = planned["window_start"]
        window_end: date | None = planned["window_end"]
        if window_start is not None and window_end is not None and window_start <= today:
            if dropout is not None and tp.role is not TimepointRole.BASELINE:
                status, reason = AssignmentStatus.DECLINED, dropout
                changed_at = sink.dt(self._at(min(window_start, today - timedelta(days=1))))
            else:
                share = {
                    Respondent.CITIZEN: COMPLETION[tp.role],
                    Respondent.RELATIVE: RELATIVE_COMPLETION,
                    Respondent.STAFF: STAFF_COMPLETION,
                }[respondent]
                last_day = min(window_end, today - timedelta(days=1))
                window_open = status is AssignmentStatus.OPEN  # else expired: its window passed
                if rng.random() < share and last_day >= window_start:
                    day = window_start + timedelta(
                        days=rng.randint(0, (last_day - window_start).days)
                    )
                    submitted = self._at(day)
                    response = (submitted - timedelta(minutes=rng.randint(3, 15)), submitted)
                    status = AssignmentStatus.COMPLETED
                    changed_at = sink.dt(submitted)
                elif window_open and rng.random() < IN_PROGRESS_SHARE:
                    began = self._at(max(window_start, today - timedelta(days=1)))
                    response = (began, None)
                    status = AssignmentStatus.IN_PROGRESS
                    changed_at = sink.dt(began)
                elif window_open:
                    changed_at = sink.dt(self._at(min(window_start, today - timedelta(days=1))))
                else:
                    changed_at = sink.dt(self._at(window_end + timedelta(days=1)))
        if response is not None:
            channel = {
                Respondent.CITIZEN: Channel.KIOSK if rng.random() < 0.8 else Channel.PAPER,
                Respondent.RELATIVE: Channel.LINK,
                Respondent.STAFF: Channel.STAFF,
            }[respondent]
        self.rows["assignment"].append(
            (
                assignment_id,
                course_id,
                tp.id,
                tp.key,
                instrument_id,
                respondent.value,
                channel.value if channel else None,
                sink.day(planned["due_date"]),
                sink.day(window_start),
                sink.day(window_end),
                status.value,
                reason.value if reason else None,
                changed_at,
                created_at,
            )
        )
        if response is not None and channel is not None:
            self._response(
                assignment_id, course_id, instrument_id, respondent, channel, tp, levels, *response
            )

    def _bucket(self, instrument_id: str, tp: _Timepoint, levels: dict[str, float]) -> object:
        if instrument_id == "who5":
            return _level(levels["who5"])
        if instrument_id in ("whodas12", "whodas12_proxy"):
            return _level(levels["whodas12"])
        if instrument_id == "start_meeting":
            return tp.role if tp.role is TimepointRole.BASELINE else TimepointRole.END
        if instrument_id == "course_outcome":
            return (tp.role, tp.rule.offset_months)
        return None

    def _response(
        self,
        assignment_id: int,
        course_id: int,
        instrument_id: str,
        respondent: Respondent,
        channel: Channel,
        tp: _Timepoint,
        levels: dict[str, float],
        started: datetime,
        submitted: datetime | None,
    ) -> None:
        rng, sink = self.rng, self.sink
        instrument = self.instruments[instrument_id]
        language = "en" if rng.random() < 0.03 and "en" in instrument.languages else None
        language = language or instrument.default_language
        info = instrument.languages[language]
        entry = self.pools.draw(instrument_id, self._bucket(instrument_id, tp, levels))
        response_id = next(self.ids["response"])
        answers = entry.answers
        if submitted is None:  # in progress: the first few answers only
            answers = answers[: rng.randint(1, max(1, len(answers) - 1))]
        last = submitted or started + timedelta(minutes=2)
        stamp = sink.dt(last)
        self.rows["response"].append(
            (
                response_id,
                assignment_id,
                instrument.id,
                instrument.version,
                language,
                info.text_version,
                sink.flag(info.verified),
                channel.value,
                respondent.value,
                sink.dt(started),
                stamp,
                None if submitted is None else stamp,
                None if submitted is None else entry.scoring_version,
                None if submitted is None else entry.notes_json,
            )
        )
        answer_ids, rows = self.ids["answer"], self.rows["answer"]
        for item_id, state, value in answers:
            rows.append((next(answer_ids), response_id, item_id, state, value, stamp))
        if submitted is not None:
            score_ids, score_rows = self.ids["score"], self.rows["score"]
            for name, number in entry.scores:
                score_rows.append((next(score_ids), response_id, name, number))
            if self.layouts[instrument_id]:  # a form that reports no score has no row
                self.rows["measurement"].append(
                    (instrument_id, course_id, respondent.value, response_id, tp.id)
                    + self._measured(instrument_id, entry)
                )

    def _measured(self, instrument_id: str, entry: PoolEntry) -> tuple[float | None, ...]:
        """The value columns v0, v1, ... of a response with the entry's scores (made once)."""
        values = self._values.get(id(entry))
        if values is None:
            filled = measurements.row_values(self.layouts[instrument_id], dict(entry.scores))
            values = tuple(filled.get(f"v{p}") for p in range(MEASUREMENT_VALUES))
            self._values[id(entry)] = values
        return values


def _fixed_municipality(spec: FixedMunicipality) -> Municipality:
    """A fixed-size municipality: one municipal provider of two teams, one private of one."""
    municipality = Municipality(code=spec.code, name=spec.name)
    for kind, name, teams in (
        (ProviderKind.MUNICIPAL, f"{spec.name} Hjemmepleje", 2),
        (ProviderKind.PRIVATE, f"{spec.name} Omsorg ApS", 1),
    ):
        provider = Provider(
            municipality=municipality, name=name, kind=kind, unit_name=name.split(" ApS")[0]
        )
        provider.teams = [Team(name=f"Team {chr(65 + t)}") for t in range(teams)]
    return municipality


def _providers(municipality: Municipality) -> list[tuple[int, list[int], int]]:
    """(provider id, team ids, weight) of a municipality: municipal providers weigh more."""
    return [
        (p.id, [t.id for t in p.teams], 5 if p.kind is ProviderKind.MUNICIPAL else 2)
        for p in municipality.providers
    ]


def _level(value: float) -> int:
    """The latent level bucket (0, 5, ..., 100) nearest to a percentage."""
    return int(min(100.0, max(0.0, value)) / 5 + 0.5) * 5


def generate(
    url: str,
    *,
    responses: int,
    municipalities: int = 98,
    seed: int = 2026,
    today: date | None = None,
    years: float = 2.0,
    registry: Registry | None = None,
    pool_per_level: int = POOL_PER_LEVEL,
    fixed: Sequence[FixedMunicipality] = (),
    audit_events: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, int]:
    """Migrate the database at `url` and fill it; return the rows written per bulk table."""
    upgrade(url)
    engine = make_engine(url)
    try:
        data = NationalData(
            engine,
            responses=responses,
            municipalities=municipalities,
            seed=seed,
            today=today or today_in_denmark(),
            years=years,
            registry=registry or default_registry(),
            pool_per_level=pool_per_level,
            fixed=fixed,
            audit_events=audit_events,
        )
        return data.run(progress)
    finally:
        engine.dispose()


def table_counts(url: str) -> dict[str, int]:
    """Rows per table of the database at `url`."""
    engine = make_engine(url)
    tables = (
        "municipality",
        "provider",
        "team",
        "plan_item",
        "staff_user",
        *BULK_TABLES,
        *DERIVED_TABLES,
    )
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())  # noqa: S608
                for t in tables
            }
    finally:
        engine.dispose()


def _rows(items: Iterator[tuple[str, int]]) -> str:
    return "\n".join(f"  {name:<14}{count:>12,}" for name, count in items)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of an empty database")
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--municipalities", type=int, default=98)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--years", type=float, default=2.0, help="courses start over this span")
    parser.add_argument("--today", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    parser.add_argument(
        "--audit-events", type=int, default=0, help="audit events (page views) to chain in"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generate(
        args.url,
        responses=args.responses,
        municipalities=args.municipalities,
        seed=args.seed,
        today=args.today,
        years=args.years,
        audit_events=args.audit_events,
        progress=lambda line: print(line, flush=True),
    )
    loaded = time.perf_counter() - started
    counts = table_counts(args.url)
    print(_rows(iter(counts.items())))
    print(
        f"loaded in {loaded:.1f} s (row counts in {time.perf_counter() - started - loaded:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
