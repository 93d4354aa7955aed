"""Evaluation reports: aggregated in SQL, suppressed, laid out as tables. Aggregates only.

Five reports (`REPORTS`), each a function `(session, report_scope, registry, filters,
threshold) -> ReportResult`:

- coverage: per municipality and provider, the courses with a baseline, an end and a
  follow-up measurement, per instrument and respondent; what became of every planned
  measurement (measured, missed, dropped out by reason, not yet due);
- progression: each reported score from the baseline to the end and to each follow-up, for
  the courses with both measurements, citizens' and relatives' answers apart;
- outcomes: the shares of the options of every reported item of the staff-recorded forms;
- start-meeting: the mean of each per-item score at the baseline and at the next
  measurement, with the number answered and the number ready for follow-up;
- target-group: age, sex and living alone at course start.

Everything about instruments comes from the registry (reported scores, their thresholds and
direction, reported items and their option groups); timepoints are recognised by their role
(`surveyapp.scheduling.timepoint_role`), never by their key. The database does the counting
(GROUP BY with CASE); Python only lays out the few hundred aggregate rows. Courses are
counted, not persons: a citizen with two courses counts twice, once in each.

A course is in a report when its municipality is in the report scope (and the filter), and
it matches the filters on provider, provider kind, team, course start and legal basis.
"""

from __future__ import annotations

import functools
import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from surveyapp.enums import (
    AnswerState,
    AssignmentStatus,
    DropoutReason,
    LegalBasis,
    ProviderKind,
    Respondent,
    Role,
    Sex,
)
from surveyapp.instruments import Instrument, Registry, RespondentKind
from surveyapp.instruments.model import ScoreSpec
from surveyapp.models import (
    Answer,
    Assignment,
    Citizen,
    Course,
    Measurement,
    Municipality,
    PlanItem,
    PlanTimepoint,
    Provider,
    Response,
    Team,
)
from surveyapp.report_tables import (
    AGE_BANDS,
    CellKey,
    CellStore,
    ChartKind,
    ChartSpec,
    Column,
    Label,
    Organisation,
    ReportResult,
    Row,
    Section,
    Table,
    Term,
    add_up,
)
from surveyapp.scheduling import TimepointRole, timepoint_role
from surveyapp.services import audit, measurements
from surveyapp.services.scope import ReportScope, Scope
from surveyapp.statistics import PairedSums, summarise

# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilters:
    """What a report is narrowed to; empty fields mean "all" (within the report scope)."""

    municipality_ids: frozenset[int] = frozenset()
    provider_kind: ProviderKind | None = None
    provider_id: int | None = None
    team_id: int | None = None
    start_from: date | None = None  # course start, inclusive
    start_to: date | None = None  # course start, inclusive
    legal_basis: LegalBasis | None = None
    respondent: Respondent | None = None

    def audit_details(self) -> dict[str, Any]:
        """The filters as the audit trail records them: ids, dates and codes only."""
        details: dict[str, Any] = {}
        if self.municipality_ids:
            details["municipality_ids"] = sorted(self.municipality_ids)
        for name in ("provider_id", "team_id"):
            if getattr(self, name) is not None:
                details[name] = getattr(self, name)
        for name in ("start_from", "start_to"):
            if getattr(self, name) is not None:
                details[name] = getattr(self, name).isoformat()
        for name in ("provider_kind", "legal_basis", "respondent"):
            if getattr(self, name) is not None:
                details[name] = getattr(self, name).value
        return details


class FilterError(ValueError):
    """A filter value that cannot be used; `field` names the filter, `code` says why.

    Codes: not_in_scope (a municipality, provider or team the user may not report on),
    team_not_of_provider, kind_not_of_provider, period (the start is after the end).
    """

    def __init__(self, field_name: str, code: str) -> None:
        super().__init__(f"{field_name}: {code}")
        self.field = field_name
        self.code = code


@dataclass(frozen=True)
class ProviderOption:
    id: int
    municipality_id: int
    name: str
    kind: ProviderKind


@dataclass(frozen=True)
class TeamOption:
    id: int
    provider_id: int
    name: str


@dataclass(frozen=True)
class FilterOptions:
    """What the filters may choose from, within a report scope."""

    municipalities: tuple[tuple[int, str, str], ...]  # id, code, name; by name
    providers: tuple[ProviderOption, ...]
    teams: tuple[TeamOption, ...]

    def municipality(self, mid: int) -> tuple[int, str, str] | None:
        return next((m for m in self.municipalities if m[0] == mid), None)


def filter_options(session: Session, rscope: ReportScope) -> FilterOptions:
    """The municipalities, providers and teams a report scope may filter on."""
    ids = sorted(rscope.municipality_ids)
    municipalities = tuple(
        (m.id, m.code, m.name)
        for m in session.scalars(
            select(Municipality).where(Municipality.id.in_(ids)).order_by(Municipality.name)
        )
    )
    provider_stmt = select(Provider).where(Provider.municipality_id.in_(ids))
    if rscope.provider_id is not None:
        provider_stmt = provider_stmt.where(Provider.id == rscope.provider_id)
    providers = tuple(
        ProviderOption(p.id, p.municipality_id, p.name, p.kind)
        for p in session.scalars(provider_stmt.order_by(Provider.name, Provider.id))
    )
    provider_ids = [p.id for p in providers]
    teams = tuple(
        TeamOption(t.id, t.provider_id, t.name)
        for t in session.scalars(
            select(Team).where(Team.provider_id.in_(provider_ids)).order_by(Team.name, Team.id)
        )
    )
    return FilterOptions(municipalities, providers, teams)


def check_filters(options: FilterOptions, filters: ReportFilters) -> None:
    """Raise FilterError unless every filter value lies within the options."""
    known = {m[0] for m in options.municipalities}
    if not filters.municipality_ids <= known:
        raise FilterError("municipality", "not_in_scope")
    municipalities = filters.municipality_ids or known
    provider = None
    if filters.provider_id is not None:
        provider = next((p for p in options.providers if p.id == filters.provider_id), None)
        if provider is None or provider.municipality_id not in municipalities:
            raise FilterError("provider", "not_in_scope")
        if filters.provider_kind is not None and provider.kind is not filters.provider_kind:
            raise FilterError("provider_kind", "kind_not_of_provider")
    if filters.team_id is not None:
        team = next((t for t in options.teams if t.id == filters.team_id), None)
        if team is None:
            raise FilterError("team", "not_in_scope")
        team_provider = next(p for p in options.providers if p.id == team.provider_id)
        if team_provider.municipality_id not in municipalities:
            raise FilterError("team", "not_in_scope")
        if provider is not None and team.provider_id != provider.id:
            raise FilterError("team", "team_not_of_provider")
    if filters.start_from and filters.start_to and filters.start_from > filters.start_to:
        raise FilterError("start_to", "period")


# --- what every report needs -----------------------------------------------------------------

ANY_FOLLOW_UP = "follow_up_any"
RESPONDENT_ORDER = (Respondent.CITIZEN, Respondent.RELATIVE, Respondent.STAFF)
_ROLE_RANK = {
    TimepointRole.BASELINE: 0,
    TimepointRole.DURING: 1,
    TimepointRole.END: 2,
    TimepointRole.FOLLOW_UP: 3,
}


@dataclass(frozen=True)
class Slot:
    """A timepoint of the evaluation, across plans: the baseline, the end or one follow-up.

    A plan's baseline is its first baseline-role timepoint (course start + 0), its end its
    first end-role timepoint (course end + 0); follow-ups (after the end) are matched
    across plans by their key (fu_3m in one plan is fu_3m in another).
    """

    key: str  # "baseline", "end", or a follow-up's timepoint key
    role: TimepointRole
    label: Label
    timepoint_ids: tuple[int, ...]


@dataclass
class _Plans:
    """The timepoints of every plan: their roles, and what each plan gives when."""

    slots: tuple[Slot, ...]
    # (plan id) -> timepoints in time order: (timepoint id, role, ahead-days)
    timeline: dict[int, list[tuple[int, TimepointRole]]]
    items: dict[int, set[tuple[str, Respondent]]]  # timepoint id -> (instrument, respondent)
    baseline_of: dict[int, int]  # plan id -> its baseline timepoint id

    @property
    def slot_ids(self) -> list[int]:
        return sorted({i for s in self.slots for i in s.timepoint_ids})

    @property
    def follow_ups(self) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if s.role is TimepointRole.FOLLOW_UP)

    def narrowed(self, slot: Slot, instrument_id: str) -> Slot:
        """The slot with only the timepoints at which some plan gives this instrument."""
        ids = tuple(
            tp
            for tp in slot.timepoint_ids
            if any(i == instrument_id for i, _r in self.items.get(tp, ()))
        )
        return replace(slot, timepoint_ids=ids)

    def next_after_baseline(self, instrument_id: str, respondent: Respondent) -> tuple[int, ...]:
        """Each plan's first timepoint after its baseline that gives this questionnaire."""
        found = []
        for plan_id, timeline in self.timeline.items():
            baseline = self.baseline_of.get(plan_id)
            if baseline is None or (instrument_id, respondent) not in self.items[baseline]:
                continue
            after = [tp for tp, _role in timeline if tp != baseline]
            later = next(
                (tp for tp in after if (instrument_id, respondent) in self.items.get(tp, set())),
                None,
            )
            if later is not None:
                found.append(later)
        return tuple(sorted(found))


def _plans(session: Session) -> _Plans:
    rows = session.execute(
        select(
            PlanTimepoint.id,
            PlanTimepoint.plan_id,
            PlanTimepoint.key,
            PlanTimepoint.anchor,
            PlanTimepoint.offset_months,
            PlanTimepoint.offset_days,
            PlanTimepoint.sort_order,
            PlanTimepoint.label_da,
            PlanTimepoint.label_en,
        ).order_by(PlanTimepoint.plan_id, PlanTimepoint.sort_order, PlanTimepoint.id)
    ).all()
    timeline: dict[int, list[tuple[int, TimepointRole, int, int]]] = defaultdict(list)
    baseline_ids, end_ids = [], []
    follow_ups: dict[str, list[Any]] = {}
    for tp_id, plan_id, key, anchor, months, days, order, label_da, label_en in rows:
        role = timepoint_role(anchor, months, days)
        ahead = months * 31 + days
        timeline[plan_id].append((tp_id, role, ahead, order))
        if role is TimepointRole.FOLLOW_UP:
            entry = follow_ups.setdefault(key, [ahead, {"da": label_da, "en": label_en}, []])
            entry[2].append(tp_id)
    baseline_of: dict[int, int] = {}
    for plan_id, points in timeline.items():
        points.sort(key=lambda p: (_ROLE_RANK[p[1]], p[2], p[3]))
        baseline = next((p[0] for p in points if p[1] is TimepointRole.BASELINE), None)
        end = next((p[0] for p in points if p[1] is TimepointRole.END), None)
        if baseline is not None:
            baseline_ids.append(baseline)
            baseline_of[plan_id] = baseline
        if end is not None:
            end_ids.append(end)
    slots = [
        Slot("baseline", TimepointRole.BASELINE, Term("slot.baseline"), tuple(baseline_ids)),
        Slot("end", TimepointRole.END, Term("slot.end"), tuple(end_ids)),
    ]
    for key, (_ahead, label, ids) in sorted(follow_ups.items(), key=lambda kv: (kv[1][0], kv[0])):
        slot_key = key if key not in ("baseline", "end", ANY_FOLLOW_UP) else f"follow_up:{key}"
        slots.append(Slot(slot_key, TimepointRole.FOLLOW_UP, label, tuple(ids)))
    items: dict[int, set[tuple[str, Respondent]]] = defaultdict(set)
    for tp_id, instrument_id, respondent in session.execute(
        select(PlanItem.timepoint_id, PlanItem.instrument_id, PlanItem.respondent)
    ):
        items[tp_id].add((instrument_id, respondent))
    return _Plans(
        slots=tuple(slots),
        timeline={plan: [(p[0], p[1]) for p in points] for plan, points in timeline.items()},
        items=items,
        baseline_of=baseline_of,
    )


@dataclass
class _Context:
    session: Session
    rscope: ReportScope
    registry: Registry
    filters: ReportFilters
    threshold: int
    options: FilterOptions
    organisation: Organisation
    where: list[ColumnElement[bool]]
    plans: _Plans
    store: CellStore = field(default_factory=CellStore)
    covers_everything: bool = False  # every course of the installation is in the report

    def course_ids(self) -> Any:
        """The ids of the courses in the report (for `course_id IN (...)`)."""
        return select(Course.id).where(*self.where)

    def narrowing(self, course_id: Any = Assignment.course_id) -> list[ColumnElement[bool]]:
        """The course filter again, for the per-course subqueries, when it leaves courses out.

        A report of one municipality then reads only that municipality's assignments (through
        the course_id index) instead of every municipality's; a national report, which reads
        everything anyway, is not slowed down by the extra IN.
        """
        return [] if self.covers_everything else [course_id.in_(self.course_ids())]

    def respondent_where(self, column: Any) -> list[ColumnElement[bool]]:
        return [] if self.filters.respondent is None else [column == self.filters.respondent]

    def result(
        self, name: str, sections: list[Section], notes: Iterable[Label] = ()
    ) -> ReportResult:
        return ReportResult(
            name=name,
            threshold=self.threshold,
            sections=tuple(sections),
            cells=self.store.resolve(self.threshold),
            notes=tuple(notes),
            municipalities=tuple(m[2] for m in self.organisation.municipalities),
        )


def _context(
    session: Session,
    rscope: ReportScope,
    registry: Registry,
    filters: ReportFilters,
    threshold: int,
) -> _Context:
    options = filter_options(session, rscope)
    check_filters(options, filters)
    chosen = filters.municipality_ids or {m[0] for m in options.municipalities}
    providers = [
        p
        for p in options.providers
        if p.municipality_id in chosen
        and (filters.provider_id is None or p.id == filters.provider_id)
        and (filters.provider_kind is None or p.kind is filters.provider_kind)
    ]
    if filters.team_id is not None:
        team = next(t for t in options.teams if t.id == filters.team_id)
        providers = [p for p in providers if p.id == team.provider_id]
    narrowed = filters.provider_id or filters.provider_kind or filters.team_id
    with_providers = {p.municipality_id for p in providers}
    organisation = Organisation(
        municipalities=[
            m
            for m in options.municipalities
            if m[0] in chosen and (not narrowed or m[0] in with_providers)
        ],
        providers={},
    )
    for p in providers:
        organisation.providers.setdefault(p.municipality_id, []).append((p.id, p.name))
    where: list[ColumnElement[bool]] = [
        rscope.course_filter(),
        Course.municipality_id.in_(sorted(chosen)),
        Course.provider_id.in_([p.id for p in providers]),
    ]
    if filters.team_id is not None:
        where.append(Course.team_id == filters.team_id)
    if filters.start_from is not None:
        where.append(Course.start_date >= filters.start_from)
    if filters.start_to is not None:
        where.append(Course.start_date <= filters.start_to)
    if filters.legal_basis is not None:
        where.append(Course.legal_basis == filters.legal_basis)
    unfiltered = (
        filters.team_id is None
        and filters.start_from is None
        and filters.start_to is None
        and filters.legal_basis is None
        and filters.provider_id is None
        and filters.provider_kind is None
        and rscope.provider_id is None
    )
    everything = unfiltered and len(chosen) == session.scalar(
        select(func.count()).select_from(Municipality)
    )
    if everything:
        # Every municipality of the installation, each with all its providers, no other
        # filter: the conditions hold for every course, and a national report would test
        # them on each of half a million grouped rows for nothing.
        where = []
    return _Context(
        session,
        rscope,
        registry,
        filters,
        threshold,
        options,
        organisation,
        where,
        _plans(session),
        covers_everything=everything,
    )


def instruments(registry: Registry) -> list[Instrument]:
    """The newest version of every instrument, in the registry's order."""
    return [registry.get(instrument_id) for instrument_id in registry.ids()]


def per_item_scores(instrument: Instrument) -> tuple[ScoreSpec, ...]:
    """The reported scores that are one item each (named `<instrument id>_<item id>`)."""
    by_name = {f"{instrument.id}_{item.id}": item for item in instrument.items}
    order = {name: index for index, name in enumerate(by_name)}
    found = [s for s in instrument.reported_scores if s.name in by_name]
    return tuple(sorted(found, key=lambda s: order[s.name]))


def mean_decimals(spec: ScoreSpec) -> int:
    """Means are shown with the score's decimals, and at least one."""
    return max(1, spec.decimals)


def _title(instrument_id: str, registry: Registry) -> Label:
    try:
        return registry.get(instrument_id).title
    except KeyError:
        return instrument_id


def _respondent(r: Respondent) -> Term:
    return Term(f"respondent.{r.value}")


def _combos(found: Iterable[tuple[str, Respondent]], registry: Registry) -> list[Any]:
    """(instrument id, respondent) pairs found in the data, in registry then respondent order."""
    ids = list(registry.ids())

    def order(combo: tuple[str, Respondent]) -> tuple[int, str, int]:
        i, r = combo
        return (ids.index(i) if i in ids else len(ids), i, RESPONDENT_ORDER.index(r))

    return sorted(set(found), key=order)


def _group_headers(org: Organisation, *, providers: bool) -> tuple[Label, ...]:
    return (Term("municipality"), Term("provider")) if providers else (Term("municipality"),)


# --- 1. coverage -----------------------------------------------------------------------------

PENDING = frozenset(
    {AssignmentStatus.SCHEDULED, AssignmentStatus.OPEN, AssignmentStatus.IN_PROGRESS}
)
_STATUS_CATEGORY = {
    AssignmentStatus.COMPLETED: "measured",
    AssignmentStatus.EXPIRED: "missed",
    AssignmentStatus.DECLINED: "dropped_out",
    **dict.fromkeys(PENDING, "pending"),
}
CATEGORIES = ("measured", "missed", "dropped_out", "pending")
NO_REASON = "not_given"
_MEASURED, _MISSED, _PENDING, _NO_REASON = 1, 2, 3, 9
_REASON_CODE = {why: 10 + index for index, why in enumerate(DropoutReason)}
# The coverage report packs one code per slot into an integer: 5 bits each, 12 to a 64-bit sum.
_CODE_BASE, _SLOTS_PER_PACK = 32, 12
assert max(_REASON_CODE.values()) < _CODE_BASE


#: What one combination of packed codes counts: (kind, slot key, what) for each slot with a
#: code ("measured", key, None), ("status", key, category), ("reason", key, why); and
#: whether any follow-up was measured.
_SlotCodes = tuple[list[tuple[str, str, Any]], bool]
_REASON_OF = {code: why for why, code in _REASON_CODE.items()}


def _slot_codes(
    numbers: tuple[Any, ...], used: list[Any], places: list[tuple[int, int]]
) -> _SlotCodes:
    found: list[tuple[str, str, Any]] = []
    any_follow_up = False
    for s, (chunk, place) in zip(used, places, strict=True):
        value = (int(numbers[chunk] or 0) // _CODE_BASE**place) % _CODE_BASE
        if not value:
            continue
        if value == _MEASURED:
            found.append(("measured", s.key, None))
            any_follow_up = any_follow_up or s.role is TimepointRole.FOLLOW_UP
        elif value == _MISSED:
            found.append(("status", s.key, "missed"))
        elif value == _PENDING:
            found.append(("status", s.key, "pending"))
        else:
            found.append(("status", s.key, "dropped_out"))
            found.append(("reason", s.key, _REASON_OF.get(value, NO_REASON)))
    return found, any_follow_up


def coverage(
    session: Session,
    rscope: ReportScope,
    registry: Registry,
    filters: ReportFilters,
    threshold: int,
) -> ReportResult:
    """Courses measured at the baseline, the end and the follow-ups, and what became of the rest.

    Per instrument and respondent: for each provider (and the municipality's and the grand
    total) the courses with a completed measurement at each timepoint and at any follow-up;
    per municipality and timepoint every planned measurement as measured, missed (its window
    passed unanswered), dropped out (by reason) or not yet due (scheduled, open or begun).
    """
    ctx = _context(session, rscope, registry, filters, threshold)
    slots = ctx.plans.slots
    placed = any(s.timepoint_ids for s in slots)
    sections: list[Section] = []
    if not placed:
        return ctx.result("coverage", sections)
    # One row per (instrument, course, respondent) with the status code of each slot packed
    # into one integer (5 bits a slot: the schema allows one assignment per course, timepoint,
    # instrument and respondent, and each plan has one timepoint per slot). SQLite builds it
    # in the order of ix_assignment_report without sorting; the outer query counts the
    # courses with each combination, which are few, and they are unpacked here.
    code = case(
        (Assignment.status == AssignmentStatus.COMPLETED, _MEASURED),
        (Assignment.status == AssignmentStatus.EXPIRED, _MISSED),
        (Assignment.status.in_(sorted(PENDING)), _PENDING),
        *((Assignment.dropout_reason == why, code) for why, code in _REASON_CODE.items()),
        else_=_NO_REASON,
    )
    used = [s for s in slots if s.timepoint_ids]
    chunks = [used[k : k + _SLOTS_PER_PACK] for k in range(0, len(used), _SLOTS_PER_PACK)]
    packs = [
        func.sum(
            code
            * case(
                {
                    tp: literal(_CODE_BASE**place, BigInteger)
                    for place, s in enumerate(chunk)
                    for tp in s.timepoint_ids
                },
                value=Assignment.timepoint_id,
                else_=literal(0, BigInteger),
            )
        ).label(f"p{index}")
        for index, chunk in enumerate(chunks)
    ]
    per_course = (
        select(
            Assignment.instrument_id.label("i"),
            Assignment.course_id.label("c"),
            Assignment.respondent.label("r"),
            *packs,
        )
        .where(
            Assignment.timepoint_id.in_(ctx.plans.slot_ids),
            *ctx.respondent_where(Assignment.respondent),
            *ctx.narrowing(),
        )
        .group_by(Assignment.instrument_id, Assignment.course_id, Assignment.respondent)
        .subquery()
    )
    pc = per_course.c
    packed = [pc[f"p{index}"] for index in range(len(chunks))]
    has_follow_ups = any(s.role is TimepointRole.FOLLOW_UP for s in used)
    rows = (
        session.connection()
        .execute(  # Core rows: no ORM processing of 40,000 rows
            select(Course.municipality_id, Course.provider_id, pc.i, pc.r, func.count(), *packed)
            .join(Course, Course.id == pc.c)
            .where(*ctx.where)
            .group_by(Course.municipality_id, Course.provider_id, pc.i, pc.r, *packed)
        )
        .all()
    )
    store = ctx.store
    org = ctx.organisation
    # Unpack each combination of codes once (there are a few hundred), add up here, and
    # hand the store one count per cell (a national report has tens of thousands of rows).
    places = [divmod(index, _SLOTS_PER_PACK) for index in range(len(used))]
    decoded: dict[tuple[Any, ...], _SlotCodes] = {}
    tally: dict[CellKey, int] = defaultdict(int)
    for m, p, i, r, n, *numbers in rows:
        packs = tuple(numbers)
        found = decoded.get(packs)
        if found is None:
            found = decoded[packs] = _slot_codes(packs, used, places)
        for kind, slot, what in found[0]:
            if kind == "measured":
                tally[("measured", i, r, slot, m, p)] += n
            else:
                tally[(kind, i, r, slot, what, m)] += n
        if has_follow_ups:
            tally[("measured", i, r, ANY_FOLLOW_UP, m, p)] += n if found[1] else 0
    no_reason = any(
        kind == "reason" and why == NO_REASON
        for codes, _f in decoded.values()
        for kind, _s, why in codes
    )
    for key, n in tally.items():
        store.count(key, n)
    reasons: list[Any] = list(DropoutReason)
    if no_reason:
        reasons.append(NO_REASON)
    combos = _combos([(row[2], row[3]) for row in rows], registry)
    slot_keys = [s.key for s in slots]
    for i, r in combos:
        for key in [*slot_keys, ANY_FOLLOW_UP]:
            add_up(
                store,
                lambda m, p, i=i, r=r, k=key: ("measured", i, r, k, m, p),
                org,
                by_provider=True,
            )
        for key in slot_keys:
            for m_id in [*(m[0] for m in org.municipalities), None]:
                if m_id is None and not org.several:
                    continue
                measured = ("measured", i, r, key, m_id, None)
                parts = [measured] + [("status", i, r, key, cat, m_id) for cat in CATEGORIES[1:]]
                reason_keys = [("reason", i, r, key, why, m_id) for why in reasons]
                if m_id is None:
                    for part in parts[1:] + reason_keys:
                        store.sum_of(part, [(*part[:-1], mm[0]) for mm in org.municipalities])
                store.sum_of(("planned", i, r, key, m_id), parts)
                store.total(("status", i, r, key, "dropped_out", m_id), reason_keys)
        sections.append(_coverage_section(ctx, i, r, reasons))
    return ctx.result(
        "coverage",
        sections,
        notes=(Term("note.courses_counted"), Term("note.coverage_categories")),
    )


def _coverage_section(ctx: _Context, i: str, r: Respondent, reasons: list[Any]) -> Section:
    org, store = ctx.organisation, ctx.store
    top = None if org.several else (org.municipalities[0][0] if org.municipalities else None)
    # Only the timepoints at which this questionnaire is planned for this respondent.
    slots = [s for s in ctx.plans.slots if store.value_of(("planned", i, r, s.key, top))]
    follow_ups = [s for s in slots if s.role is TimepointRole.FOLLOW_UP]
    columns = [
        Column(s.key, s.label, dims=(("timepoint", s.key),))
        for s in slots
        if s.role is not TimepointRole.FOLLOW_UP
    ]
    if follow_ups:
        columns.append(
            Column(ANY_FOLLOW_UP, Term("slot.follow_up_any"), dims=(("timepoint", ANY_FOLLOW_UP),))
        )
    columns += [
        Column(s.key, s.label, group=Term("slot.follow_up_each"), dims=(("timepoint", s.key),))
        for s in follow_ups
    ]
    rows = [
        Row(
            group.label,
            tuple(("measured", i, r, col.key, *group.key) for col in columns),
            dims=group.dims,
            total=group.total,
        )
        for group in org.provider_groups()
    ]
    dims = (("instrument", i), ("respondent", r.value))
    measured = Table(
        key=f"coverage.measured.{i}.{r.value}",
        title=Term("table.coverage_measured"),
        row_headers=_group_headers(org, providers=True),
        columns=tuple(columns),
        rows=tuple(rows),
        chart=ChartSpec(ChartKind.BARS, tuple(c.key for c in columns), Term("axis.courses")),
        dims=dims,
    )
    status_columns = [
        Column("planned", Term("status.planned")),
        Column("measured", Term("status.measured")),
        Column("missed", Term("status.missed")),
        Column("dropped_out", Term("status.dropped_out")),
        *(
            Column(
                f"reason.{why}",
                Term(f"reason.{why}"),
                group=Term("status.dropped_out_by_reason"),
                dims=(("reason", str(why)),),
            )
            for why in reasons
        ),
        Column("pending", Term("status.pending")),
    ]
    status_rows = []
    for group in org.municipality_groups():
        m_id = group.municipality_id
        for s in slots:
            keys: list[CellKey | None] = [
                ("planned", i, r, s.key, m_id),
                ("measured", i, r, s.key, m_id, None),
                ("status", i, r, s.key, "missed", m_id),
                ("status", i, r, s.key, "dropped_out", m_id),
                *(("reason", i, r, s.key, why, m_id) for why in reasons),
                ("status", i, r, s.key, "pending", m_id),
            ]
            status_rows.append(
                Row(
                    (*group.label, s.label),
                    tuple(keys),
                    dims=(*group.dims, ("timepoint", s.key)),
                    total=group.total,
                )
            )
    what_became = Table(
        key=f"coverage.status.{i}.{r.value}",
        title=Term("table.coverage_status"),
        row_headers=(Term("municipality"), Term("timepoint")),
        columns=tuple(status_columns),
        rows=tuple(status_rows),
        chart=ChartSpec(
            ChartKind.BARS,
            ("measured", "missed", "dropped_out", "pending"),
            Term("axis.measurements"),
        ),
        dims=dims,
    )
    return Section(
        Term(
            "section.instrument_respondent",
            (("instrument", _title(i, ctx.registry)), ("respondent", _respondent(r))),
        ),
        (measured, what_became),
    )


# --- 2. progression --------------------------------------------------------------------------


def progression(
    session: Session,
    rscope: ReportScope,
    registry: Registry,
    filters: ReportFilters,
    threshold: int,
) -> ReportResult:
    """Each reported score from the baseline to the end and to each follow-up, paired.

    Only courses with both measurements count, and only pairs of the same respondent: a
    citizen's own answers and a relative's answers are never pooled. Per municipality: n, the
    mean at each end, the mean change with its 95 % paired confidence interval, and how many
    improved, stayed unchanged or worsened by the score's threshold (from its definition
    file). The sums are aggregated in SQL; `surveyapp.statistics.summarise` does the rest.
    """
    ctx = _context(session, rscope, registry, filters, threshold)
    specs = [(inst, spec) for inst in instruments(registry) for spec in inst.reported_scores]
    slots = ctx.plans.slots
    later = [s for s in slots if s.role is not TimepointRole.BASELINE and s.timepoint_ids]
    placed = any(s.timepoint_ids for s in slots)
    sections: list[Section] = []
    if not specs or not placed or not later:
        return ctx.result("progression", sections)
    sums: dict[tuple[str, Respondent, str], dict[int | None, PairedSums]] = defaultdict(dict)
    by_instrument: dict[str, list[ScoreSpec]] = defaultdict(list)
    for inst, spec in specs:
        by_instrument[inst.id].append(spec)
    for instrument_id, instrument_specs in by_instrument.items():
        for (name, r, slot_key, m), found in _paired_sums(
            ctx, instrument_id, instrument_specs, later
        ).items():
            sums[(name, r, slot_key)][m] = found
    for inst, spec in specs:
        tables = []
        for r in RESPONDENT_ORDER:
            pairs = [s for s in later if sums.get((spec.name, r, s.key))]
            if pairs:
                tables.append(_progression_table(ctx, inst, spec, r, pairs, sums))
        if tables:
            sections.append(Section(spec.label, tuple(tables)))
    return ctx.result(
        "progression",
        sections,
        notes=(Term("note.courses_counted"), Term("note.progression_pairs")),
    )


def _per_course_values(
    ctx: _Context, instrument_id: str, names: list[str], slots: list[Slot]
) -> Any:
    """One row per (course, respondent) of one instrument: each score at each slot.

    Read from the measurement table (one row per submitted response, its primary key in the
    order of this GROUP BY, so SQLite streams it without a sort). A reported score with no
    stored position has no values yet (`surveyapp migrate` fills them).
    """
    stored = measurements.layout(ctx.session, instrument_id)
    every = sorted({i for s in slots for i in s.timepoint_ids})
    columns = [
        (
            func.max(
                case(
                    (
                        Measurement.timepoint_id.in_(s.timepoint_ids),
                        measurements.value_column(stored[name]),
                    ),
                    else_=None,
                )
            )
            if name in stored
            else cast(null(), Float)
        ).label(f"v{n_index}_{s_index}")
        for n_index, name in enumerate(names)
        for s_index, s in enumerate(slots)
    ]
    return (
        select(
            Measurement.instrument_id.label("i"),
            Measurement.course_id.label("c"),
            Measurement.respondent.label("r"),
            *columns,
        )
        .where(
            Measurement.instrument_id == instrument_id,
            Measurement.timepoint_id.in_(every),
            *ctx.respondent_where(Measurement.respondent),
            *ctx.narrowing(Measurement.course_id),
        )
        .group_by(Measurement.instrument_id, Measurement.course_id, Measurement.respondent)
        .subquery()
    )


def _paired_sums(
    ctx: _Context, instrument_id: str, specs: list[ScoreSpec], later: list[Slot]
) -> dict[tuple[str, Respondent, str, int], PairedSums]:
    """The paired sums of each score from the baseline to each later slot, by municipality."""
    baseline = next(s for s in ctx.plans.slots if s.role is TimepointRole.BASELINE)
    baseline = ctx.plans.narrowed(baseline, instrument_id)
    later = [ctx.plans.narrowed(s, instrument_id) for s in later]
    later = [s for s in later if s.timepoint_ids]
    if not baseline.timepoint_ids or not later:
        return {}
    slots = [baseline, *later]
    names = [spec.name for spec in specs]
    pivot = _per_course_values(ctx, instrument_id, names, slots).c
    aggregates: list[Any] = []
    for n_index, spec in enumerate(specs):
        before = pivot[f"v{n_index}_0"]
        for s_index in range(1, len(slots)):
            after = pivot[f"v{n_index}_{s_index}"]
            both = and_(before.is_not(None), after.is_not(None))
            diff = after - before
            aggregates += [
                func.sum(case((both, 1), else_=0)),
                func.sum(case((both, before), else_=None)),
                func.sum(case((both, after), else_=None)),
                func.sum(case((both, diff), else_=None)),
                func.sum(case((both, diff * diff), else_=None)),
            ]
            if spec.change_threshold is None:
                aggregates += [literal_column("0"), literal_column("0"), literal_column("0")]
                continue
            gain = diff if spec.higher_is_better else -diff
            limit = float(spec.change_threshold)
            aggregates += [
                func.sum(case((and_(both, gain >= limit), 1), else_=0)),
                func.sum(case((and_(both, gain > -limit, gain < limit), 1), else_=0)),
                func.sum(case((and_(both, gain <= -limit), 1), else_=0)),
            ]
    rows = ctx.session.execute(
        select(Course.municipality_id, pivot.r, *aggregates)
        .join(Course, Course.id == pivot.c)
        .where(*ctx.where)
        .group_by(Course.municipality_id, pivot.r)
    ).all()
    found: dict[tuple[str, Respondent, str, int], PairedSums] = {}
    for m, r, *numbers in rows:
        chunks = [numbers[k : k + 8] for k in range(0, len(numbers), 8)]
        for index, chunk in enumerate(chunks):
            spec, slot = specs[index // len(later)], later[index % len(later)]
            n = int(chunk[0] or 0)
            if n:
                found[(spec.name, r, slot.key, m)] = PairedSums(
                    n,
                    float(chunk[1] or 0),
                    float(chunk[2] or 0),
                    float(chunk[3] or 0),
                    float(chunk[4] or 0),
                    int(chunk[5] or 0),
                    int(chunk[6] or 0),
                    int(chunk[7] or 0),
                )
    return found


def _threshold_notes(spec: ScoreSpec) -> tuple[Label, ...]:
    direction = Term("direction.higher") if spec.higher_is_better else Term("direction.lower")
    if spec.change_threshold is None:
        return (direction, Term("note.no_threshold"))
    return (
        direction,
        Term(
            "note.threshold",
            (("threshold", spec.change_threshold), ("source", spec.threshold_source or "–")),
        ),
    )


_CHANGES = ("improved", "unchanged", "worsened")


def _progression_table(
    ctx: _Context,
    inst: Instrument,
    spec: ScoreSpec,
    r: Respondent,
    pairs: list[Slot],
    sums: Mapping[tuple[str, Respondent, str], Mapping[int | None, PairedSums]],
) -> Table:
    store, org = ctx.store, ctx.organisation
    classified = spec.change_threshold is not None
    columns = [
        Column("n", Term("col.n_pairs")),
        Column("mean_before", Term("col.mean_baseline"), with_n=False),
        Column("mean_after", Term("col.mean_after"), with_n=False),
        Column("mean_change", Term("col.mean_change"), with_n=False),
    ]
    if classified:
        columns += [
            Column(c, Term(f"change.{c}"), group=Term("col.by_threshold")) for c in _CHANGES
        ]
    rows = []
    base = ("prog", spec.name, r)
    for s in pairs:
        by_m = sums[(spec.name, r, s.key)]
        groups = org.municipality_groups()
        for m_id, _code, _name in org.municipalities:
            found = by_m.get(m_id)
            if found is not None:
                store.count((*base, s.key, "n", m_id), found.n)
                for c, value in zip(
                    _CHANGES, (found.improved, found.unchanged, found.worsened), strict=True
                ):
                    store.count((*base, s.key, c, m_id), value)
        add_up(store, lambda m, _p, k=s.key: (*base, k, "n", m), org, by_provider=False)
        for c in _CHANGES:
            add_up(store, lambda m, _p, k=s.key, c=c: (*base, k, c, m), org, by_provider=False)
        for group in groups:
            group_id = group.municipality_id
            n_key = (*base, s.key, "n", group_id)
            if classified:
                store.total(n_key, [(*base, s.key, c, group_id) for c in _CHANGES])
            total = (
                _total_sums([by_m.get(mm[0]) for mm in org.municipalities])
                if group_id is None
                else by_m.get(group_id)
            )
            summary = summarise(total or PairedSums(0, 0, 0, 0, 0))
            before = (*base, s.key, "mean_before", group_id)
            after = (*base, s.key, "mean_after", group_id)
            change = (*base, s.key, "mean_change", group_id)
            n = summary.n
            places = mean_decimals(spec)
            store.mean(before, (summary.mean_before or 0) * n, n_key, decimals=places)
            store.mean(after, (summary.mean_after or 0) * n, n_key, decimals=places)
            store.change(change, summary, n_key, decimals=places)
            keys: list[CellKey | None] = [n_key, before, after, change]
            if classified:
                for c in _CHANGES:
                    share = (*base, s.key, f"share_{c}", group_id)
                    store.share(share, (*base, s.key, c, group_id), n_key)
                    keys.append(share)
            rows.append(
                Row(
                    (Term("pair", (("after", s.label),)), *group.label),
                    tuple(keys),
                    dims=(("comparison", f"baseline-{s.key}"), *group.dims),
                    total=group.total,
                )
            )
    return Table(
        key=f"progression.{spec.name}.{r.value}",
        title=Term("table.progression", (("score", spec.label), ("respondent", _respondent(r)))),
        row_headers=(Term("comparison"), Term("municipality")),
        columns=tuple(columns),
        rows=tuple(rows),
        chart=ChartSpec(ChartKind.CHANGE, ("mean_change",), Term("axis.mean_change")),
        dims=(("instrument", inst.id), ("score", spec.name), ("respondent", r.value)),
        notes=_threshold_notes(spec),
    )


def _total_sums(parts: Iterable[PairedSums | None]) -> PairedSums | None:
    found = [p for p in parts if p is not None]
    if not found:
        return None
    return PairedSums(
        sum(p.n for p in found),
        sum(p.sum_before for p in found),
        sum(p.sum_after for p in found),
        sum(p.sum_diff for p in found),
        sum(p.sum_diff_sq for p in found),
        sum(p.improved for p in found),
        sum(p.unchanged for p in found),
        sum(p.worsened for p in found),
    )


# --- 3. course outcomes ----------------------------------------------------------------------


def outcomes(
    session: Session,
    rscope: ReportScope,
    registry: Registry,
    filters: ReportFilters,
    threshold: int,
) -> ReportResult:
    """The shares of the options of every reported item of the staff-recorded forms.

    Per item and timepoint: the forms completed, the number who answered the item (the
    denominator of every share), each option's share, each option group's share (e.g. still
    needs help) and the shares of its options within the group ("of whom"). "Don't know" and
    "not applicable" are counted apart and are not in any denominator; an item left blank on
    a completed form is counted as not answered.
    """
    ctx = _context(session, rscope, registry, filters, threshold)
    forms = [
        (inst, [item for item in inst.items if item.reported])
        for inst in instruments(registry)
        if inst.respondent is RespondentKind.STAFF
    ]
    forms = [(inst, items) for inst, items in forms if items]
    slots = ctx.plans.slots
    placed = any(s.timepoint_ids for s in slots)
    sections: list[Section] = []
    if not forms or not placed:
        return ctx.result("outcomes", sections)
    slots_with_data: dict[str, set[str]] = defaultdict(set)
    for inst, items in forms:
        for (m, slot_key, item_id, what, value), n in _outcome_counts(ctx, inst, items).items():
            if item_id == "*":
                slots_with_data[inst.id].add(slot_key)
            ctx.store.count(("out", inst.id, item_id, slot_key, what, value, m), n)
    for inst, items in forms:
        used = [s for s in slots if s.key in slots_with_data[inst.id]]
        if not used:
            continue
        tables = [_outcome_table(ctx, inst, item, used) for item in items]
        sections.append(Section(inst.title, tuple(tables)))
    return ctx.result(
        "outcomes",
        sections,
        notes=(Term("note.courses_counted"), Term("note.dont_know_apart")),
    )


_STATE_CODE = {AnswerState.ANSWERED: 1, AnswerState.DONT_KNOW: 2, AnswerState.NOT_APPLICABLE: 3}


def _outcome_counts(
    ctx: _Context, inst: Instrument, items: list[Any]
) -> dict[tuple[int, str, str, str, int | None], int]:
    """Per municipality, slot and item: the forms completed and the answers by value and state.

    Keys: (municipality, slot, item id or "*" for the forms, what, value) where what is
    "records", "value" (with the value) or an answer state ("dont_know", "not_applicable").
    """
    slots = [ctx.plans.narrowed(s, inst.id) for s in ctx.plans.slots]
    slots = [s for s in slots if s.timepoint_ids]
    if not slots:
        return {}
    state = case(*((Answer.state == st, code) for st, code in _STATE_CODE.items()), else_=None)
    columns = []
    for k, slot in enumerate(slots):
        at = Assignment.timepoint_id.in_(slot.timepoint_ids)
        columns.append(func.max(case((at, 1), else_=None)).label(f"rec{k}"))
        for j, item in enumerate(items):
            here = and_(at, Answer.item_id == item.id)
            columns.append(
                func.max(
                    case((and_(here, Answer.state == AnswerState.ANSWERED), Answer.value))
                ).label(f"val{k}_{j}")
            )
            columns.append(func.max(case((here, state))).label(f"st{k}_{j}"))
    pivot = (
        select(
            Assignment.instrument_id.label("i"),
            Assignment.course_id.label("c"),
            Assignment.respondent.label("r"),
            *columns,
        )
        .join(Response, Response.assignment_id == Assignment.id)
        .outerjoin(
            Answer,
            and_(Answer.response_id == Response.id, Answer.item_id.in_([i.id for i in items])),
        )
        .where(
            Assignment.instrument_id == inst.id,
            Assignment.status == AssignmentStatus.COMPLETED,
            Assignment.timepoint_id.in_(sorted({i for s in slots for i in s.timepoint_ids})),
            *ctx.respondent_where(Assignment.respondent),
            *ctx.narrowing(),
        )
        .group_by(Assignment.instrument_id, Assignment.course_id, Assignment.respondent)
        .subquery()
    ).c
    sums: list[Any] = []
    keys: list[Any] = []
    for k, slot in enumerate(slots):
        sums.append(func.sum(func.coalesce(pivot[f"rec{k}"], 0)))
        keys.append((slot.key, "*", "records", None))
        for j, item in enumerate(items):
            for option in item.options:
                sums.append(func.sum(case((pivot[f"val{k}_{j}"] == option.value, 1), else_=0)))
                keys.append((slot.key, item.id, "value", option.value))
            for st in (AnswerState.DONT_KNOW, AnswerState.NOT_APPLICABLE):
                sums.append(func.sum(case((pivot[f"st{k}_{j}"] == _STATE_CODE[st], 1), else_=0)))
                keys.append((slot.key, item.id, st.value, None))
    rows = ctx.session.execute(
        select(Course.municipality_id, *sums)
        .join(Course, Course.id == pivot.c)
        .where(*ctx.where)
        .group_by(Course.municipality_id)
    ).all()
    found: dict[tuple[int, str, str, str, int | None], int] = {}
    for m, *numbers in rows:
        for (slot_key, item_id, what, value), n in zip(keys, numbers, strict=True):
            if n:
                found[(m, slot_key, item_id, what, value)] = int(n)
    return found


def _outcome_table(ctx: _Context, inst: Any, item: Any, used: list[Slot]) -> Table:
    store, org = ctx.store, ctx.organisation
    groups = org.municipality_groups()
    columns = []
    for s in used:
        for group in groups:
            columns.append(
                Column(
                    f"{s.key}.{group.dims[0][1]}",
                    group.label[0] if org.several else s.label,
                    group=s.label if org.several else None,
                    dims=(("timepoint", s.key), *group.dims),
                )
            )

    def key(s: Slot, what: str, value: int | None, m: int | None) -> CellKey:
        return ("out", inst.id, item.id, s.key, what, value, m)

    def record(s: Slot, m: int | None) -> CellKey:
        return ("out", inst.id, "*", s.key, "records", None, m)

    for s in used:
        for m_id in [*(mm[0] for mm in org.municipalities)]:
            options = [key(s, "value", o.value, m_id) for o in item.options]
            store.sum_of(key(s, "answered", None, m_id), options)
            apart = [
                key(s, AnswerState.DONT_KNOW.value, None, m_id),
                key(s, AnswerState.NOT_APPLICABLE.value, None, m_id),
            ]
            for k in apart:
                store.ensure(k)
            blank = store.value_of(record(s, m_id)) - sum(
                store.value_of(k) for k in [key(s, "answered", None, m_id), *apart]
            )
            store.count(key(s, "blank", None, m_id), max(0, blank))
            store.total(
                record(s, m_id),
                [key(s, "answered", None, m_id), *apart, key(s, "blank", None, m_id)],
            )
            for g_index, g in enumerate(item.option_groups):
                store.sum_of(
                    key(s, f"group{g_index}", None, m_id),
                    [key(s, "value", v, m_id) for v in g.values],
                )
        if org.several:
            keys_to_add = [(s, "value", o.value) for o in item.options] + [
                (s, what, None)
                for what in (
                    "answered",
                    AnswerState.DONT_KNOW.value,
                    AnswerState.NOT_APPLICABLE.value,
                    "blank",
                    *(f"group{g}" for g in range(len(item.option_groups))),
                )
            ]
            for ss, what, value in keys_to_add:
                store.sum_of(
                    key(ss, what, value, None),
                    [key(ss, what, value, mm[0]) for mm in org.municipalities],
                )
            store.sum_of(record(s, None), [record(s, mm[0]) for mm in org.municipalities])
            store.total(
                key(s, "answered", None, None),
                [key(s, "value", o.value, None) for o in item.options],
            )
            store.total(
                record(s, None),
                [
                    key(s, what, None, None)
                    for what in (
                        "answered",
                        AnswerState.DONT_KNOW.value,
                        AnswerState.NOT_APPLICABLE.value,
                        "blank",
                    )
                ],
            )
            for g_index, g in enumerate(item.option_groups):
                store.total(
                    key(s, f"group{g_index}", None, None),
                    [key(s, "value", v, None) for v in g.values],
                )

    def cells(make: Callable[[Slot, int | None], CellKey | None]) -> tuple[CellKey | None, ...]:
        return tuple(make(s, g.municipality_id) for s in used for g in groups)

    def share_of(
        what: str, value: int | None, denominator: str
    ) -> Callable[[Slot, int | None], CellKey]:
        def make(s: Slot, m: int | None) -> CellKey:
            return store.share(
                ("out-share", inst.id, item.id, s.key, what, value, denominator, m),
                key(s, what, value, m),
                key(s, denominator, None, m),
            )

        return make

    rows = [
        Row((Term("out.records"),), cells(record), dims=(("row", "records"),), chart=False),
        Row(
            (Term("out.answered"),),
            cells(lambda s, m: key(s, "answered", None, m)),
            dims=(("row", "answered"),),
            chart=False,
        ),
    ]
    for o in item.options:
        rows.append(
            Row(
                (_option_label(o),),
                cells(share_of("value", o.value, "answered")),
                dims=(("option", str(o.value)),),
            )
        )
    for g_index, g in enumerate(item.option_groups):
        rows.append(
            Row(
                (g.label,),
                cells(share_of(f"group{g_index}", None, "answered")),
                dims=(("option_group", str(g_index)),),
                total=True,
            )
        )
        for v in g.values:
            option = next(o for o in item.options if o.value == v)
            rows.append(
                Row(
                    (Term("out.of_whom", (("option", _option_label(option)),)),),
                    cells(share_of("value", v, f"group{g_index}")),
                    dims=(("within_group", str(g_index)), ("of_whom", str(v))),
                    indent=1,
                    chart=False,
                )
            )
    if item.dont_know:
        rows.append(
            Row(
                (Term("out.dont_know"),),
                cells(lambda s, m: key(s, AnswerState.DONT_KNOW.value, None, m)),
                dims=(("row", "dont_know"),),
                chart=False,
            )
        )
    if item.not_applicable:
        rows.append(
            Row(
                (Term("out.not_applicable"),),
                cells(lambda s, m: key(s, AnswerState.NOT_APPLICABLE.value, None, m)),
                dims=(("row", "not_applicable"),),
                chart=False,
            )
        )
    if any(store.value_of(key(s, "blank", None, m[0])) for s in used for m in org.municipalities):
        rows.append(
            Row(
                (Term("out.blank"),),
                cells(lambda s, m: key(s, "blank", None, m)),
                dims=(("row", "blank"),),
                chart=False,
            )
        )
    return Table(
        key=f"outcomes.{inst.id}.{item.id}",
        title={code: text.value for code, text in item.text.items()},
        row_headers=(Term("out.answer"),),
        columns=tuple(columns),
        rows=tuple(rows),
        chart=ChartSpec(
            ChartKind.BARS,
            tuple(c.key for c in columns),
            Term("axis.share"),
            (0.0, 1.0),
            percent=True,
        ),
        dims=(("instrument", inst.id), ("item", item.id)),
    )


def _option_label(option: Any) -> Mapping[str, str]:
    return {code: text.value for code, text in option.label.items()}


# --- 4. start-meeting satisfaction -----------------------------------------------------------

READY = frozenset(
    {
        AssignmentStatus.OPEN,
        AssignmentStatus.IN_PROGRESS,
        AssignmentStatus.COMPLETED,
        AssignmentStatus.EXPIRED,
    }
)


def start_meeting(
    session: Session,
    rscope: ReportScope,
    registry: Registry,
    filters: ReportFilters,
    threshold: int,
) -> ReportResult:
    """Mean per question at the baseline and at the next measurement (the Hedensted table).

    For every instrument whose reported scores include per-item scores (a score named
    `<instrument id>_<item id>`: each question scored on its own), per respondent kind:
    - the mean of each per-item score over the completed baseline responses, and over the
      completed responses at the next measurement (each plan's first timepoint after its
      baseline that gives the same questionnaire to the same respondent), each with its n
      (unpaired: the paired change is in the progression report);
    - answered: the completed baseline responses (start meetings answered);
    - ready for follow-up: of those, the courses whose next measurement has come: its window
      has opened (open, begun, answered, or missed). A next measurement not yet due or
      dropped out is not ready.
    """
    ctx = _context(session, rscope, registry, filters, threshold)
    found = [(inst, per_item_scores(inst)) for inst in instruments(registry)]
    found = [(inst, specs) for inst, specs in found if specs]
    baseline = next(s for s in ctx.plans.slots if s.key == "baseline")
    sections: list[Section] = []
    if not found or not baseline.timepoint_ids:
        return ctx.result("start-meeting", sections)
    combos = [(inst.id, r) for inst, _specs in found for r in RESPONDENT_ORDER]
    next_ids = {combo: ctx.plans.next_after_baseline(*combo) for combo in combos}

    store = ctx.store
    sums: dict[CellKey, float] = defaultdict(float)
    present: set[tuple[str, Respondent]] = set()
    for inst, specs in found:
        nexts = {r: next_ids[(inst.id, r)] for r in RESPONDENT_ORDER}
        for (m, r, name, phase, what), value in _start_meeting_sums(
            ctx, inst.id, specs, ctx.plans.narrowed(baseline, inst.id), nexts
        ).items():
            if what == "sum":
                sums[(inst.id, r, name, phase, m)] += value
            elif value:
                store.count(("sm", inst.id, r, name, phase, what, m), int(value))
                present.add((inst.id, r))
    for inst, specs in found:
        tables = []
        for r in RESPONDENT_ORDER:
            if (inst.id, r) in present:
                tables.append(_start_meeting_table(ctx, inst, specs, r, sums))
        if tables:
            sections.append(Section(inst.title, tuple(tables)))
    return ctx.result(
        "start-meeting",
        sections,
        notes=(
            Term("note.start_meeting_next"),
            Term("note.start_meeting_ready"),
            Term("note.dont_know_mean"),
        ),
    )


# The status of a start-meeting questionnaire's next measurement, as the report needs it.
_ANSWERED, _READY_NOT_ANSWERED, _NOT_READY = 1, 2, 3


def _start_meeting_sums(
    ctx: _Context,
    instrument_id: str,
    specs: tuple[ScoreSpec, ...],
    baseline: Slot,
    nexts: Mapping[Respondent, tuple[int, ...]],
) -> dict[tuple[int, Respondent, str, str, str], float]:
    """Per municipality and respondent: n and sum of each per-item score at the baseline and
    at the next measurement, the number answered at each, and the number ready for follow-up.

    Keys: (municipality, respondent, score name or "*", "baseline" or "next", what) with what
    "n", "sum", "answered" or "ready".
    """
    at_baseline = Assignment.timepoint_id.in_(baseline.timepoint_ids)
    at_next = or_(
        false(),
        *(
            and_(Assignment.respondent == r, Assignment.timepoint_id.in_(ids))
            for r, ids in nexts.items()
            if ids
        ),
    )
    status = case(
        (Assignment.status == AssignmentStatus.COMPLETED, _ANSWERED),
        (Assignment.status.in_(sorted(READY)), _READY_NOT_ANSWERED),
        else_=_NOT_READY,
    )
    names = [spec.name for spec in specs]
    stored = measurements.layout(ctx.session, instrument_id)
    columns = [
        func.max(case((at_baseline, status))).label("b"),
        func.max(case((at_next, status))).label("x"),
    ]
    for index, name in enumerate(names):
        for phase, where in (("b", at_baseline), ("x", at_next)):
            value = (
                func.max(case((where, measurements.value_column(stored[name]))))
                if name in stored
                else cast(null(), Float)
            )
            columns.append(value.label(f"{phase}{index}"))
    every = sorted({*baseline.timepoint_ids, *(i for ids in nexts.values() for i in ids)})
    pivot = (
        select(
            Assignment.instrument_id.label("i"),
            Assignment.course_id.label("c"),
            Assignment.respondent.label("r"),
            *columns,
        )
        .outerjoin(
            Measurement,
            and_(
                Measurement.instrument_id == Assignment.instrument_id,
                Measurement.course_id == Assignment.course_id,
                Measurement.respondent == Assignment.respondent,
                Measurement.timepoint_id == Assignment.timepoint_id,
            ),
        )
        .where(
            Assignment.instrument_id == instrument_id,
            Assignment.timepoint_id.in_(every),
            *ctx.respondent_where(Assignment.respondent),
            *ctx.narrowing(),
        )
        .group_by(Assignment.instrument_id, Assignment.course_id, Assignment.respondent)
        .subquery()
    ).c
    sums: list[Any] = []
    keys: list[Any] = []
    for phase, column in (("baseline", pivot.b), ("next", pivot.x)):
        sums.append(func.sum(case((column == _ANSWERED, 1), else_=0)))
        keys.append(("*", phase, "answered"))
    sums.append(
        func.sum(case((and_(pivot.b == _ANSWERED, pivot.x <= _READY_NOT_ANSWERED), 1), else_=0))
    )
    keys.append(("*", "next", "ready"))
    for index, name in enumerate(names):
        for phase, prefix in (("baseline", "b"), ("next", "x")):
            value = pivot[f"{prefix}{index}"]
            sums += [func.count(value), func.sum(value)]
            keys += [(name, phase, "n"), (name, phase, "sum")]
    rows = ctx.session.execute(
        select(Course.municipality_id, pivot.r, *sums)
        .join(Course, Course.id == pivot.c)
        .where(*ctx.where)
        .group_by(Course.municipality_id, pivot.r)
    ).all()
    found: dict[tuple[int, Respondent, str, str, str], float] = {}
    for m, r, *numbers in rows:
        for (name, phase, what), value in zip(keys, numbers, strict=True):
            found[(m, r, name, phase, what)] = float(value or 0)
    return found


def _start_meeting_table(
    ctx: _Context,
    inst: Instrument,
    specs: tuple[ScoreSpec, ...],
    r: Respondent,
    sums: Mapping[CellKey, float],
) -> Table:
    store, org = ctx.store, ctx.organisation
    groups = org.municipality_groups()
    phases = (("baseline", Term("slot.baseline")), ("next", Term("slot.next")))
    columns = [
        Column(
            f"{phase}.{g.dims[0][1]}",
            label,
            group=g.label[0] if org.several else None,
            dims=(("timepoint", phase), *g.dims),
        )
        for g in groups
        for phase, label in phases
    ]

    def k(name: str, phase: str, what: str, m: int | None) -> CellKey:
        return ("sm", inst.id, r, name, phase, what, m)

    for phase, _label in phases:
        for spec in specs:
            add_up(
                store, lambda m, _p, s=spec.name, ph=phase: k(s, ph, "n", m), org, by_provider=False
            )
        add_up(store, lambda m, _p, ph=phase: k("*", ph, "answered", m), org, by_provider=False)
    add_up(store, lambda m, _p: k("*", "next", "ready", m), org, by_provider=False)
    rows = []
    for spec in specs:
        keys: list[CellKey | None] = []
        for g in groups:
            m_id = g.municipality_id
            for phase, _label in phases:
                if m_id is None:
                    total = sum(
                        sums.get((inst.id, r, spec.name, phase, mm[0]), 0.0)
                        for mm in org.municipalities
                    )
                else:
                    total = sums.get((inst.id, r, spec.name, phase, m_id), 0.0)
                keys.append(
                    store.mean(
                        k(spec.name, phase, "mean", m_id),
                        total,
                        k(spec.name, phase, "n", m_id),
                        decimals=mean_decimals(spec),
                    )
                )
        rows.append(Row((spec.label,), tuple(keys), dims=(("score", spec.name),)))
    rows.append(
        Row(
            (Term("sm.answered"),),
            tuple(
                k("*", phase, "answered", g.municipality_id) for g in groups for phase, _l in phases
            ),
            dims=(("row", "answered"),),
            total=True,
            chart=False,
        )
    )
    rows.append(
        Row(
            (Term("sm.ready"),),
            tuple(
                k("*", "next", "ready", g.municipality_id) if phase == "next" else None
                for g in groups
                for phase, _l in phases
            ),
            dims=(("row", "ready_for_follow_up"),),
            total=True,
            chart=False,
        )
    )
    low = min(spec.min for spec in specs)
    high = max(spec.max for spec in specs)
    return Table(
        key=f"start-meeting.{inst.id}.{r.value}",
        title=Term(
            "table.start_meeting", (("instrument", inst.title), ("respondent", _respondent(r)))
        ),
        row_headers=(Term("question"),),
        columns=tuple(columns),
        rows=tuple(rows),
        chart=ChartSpec(
            ChartKind.BARS, tuple(c.key for c in columns), Term("axis.mean"), (low, high)
        ),
        dims=(("instrument", inst.id), ("respondent", r.value)),
    )


# --- 5. target group -------------------------------------------------------------------------


def target_group(
    session: Session,
    rscope: ReportScope,
    registry: Registry,
    filters: ReportFilters,
    threshold: int,
) -> ReportResult:
    """Age band, sex and living alone at course start, by municipality and provider.

    Age is the year of the course start minus the birth year (only the year is kept). The
    respondent filter does not apply: these are facts about the course's citizen.
    """
    ctx = _context(session, rscope, registry, filters, threshold)
    age = func.extract("year", Course.start_date) - Citizen.birth_year
    band = case(
        *(
            (
                age <= b.high
                if b.low is None
                else (age >= b.low if b.high is None else and_(age >= b.low, age <= b.high)),
                b.key,
            )
            for b in AGE_BANDS
        ),
        else_=AGE_BANDS[-1].key,
    )
    inner = (
        select(
            Course.municipality_id.label("m"),
            Course.provider_id.label("p"),
            band.label("band"),
            Citizen.sex.label("sex"),
            Citizen.lives_alone.label("alone"),
        )
        .join(Citizen, Course.citizen_id == Citizen.id)
        .where(*ctx.where)
        .subquery()
    )
    c = inner.c
    rows = session.execute(
        select(c.m, c.p, c.band, c.sex, c.alone, func.count()).group_by(
            c.m, c.p, c.band, c.sex, c.alone
        )
    ).all()
    store, org = ctx.store, ctx.organisation
    families: dict[str, list[tuple[str, Label]]] = {
        "age": [(b.key, Term(f"age.{b.key}")) for b in AGE_BANDS],
        "sex": [(s.value, Term(f"sex.{s.value}")) for s in Sex],
        "alone": [
            ("yes", Term("alone.yes")),
            ("no", Term("alone.no")),
            ("unknown", Term("alone.unknown")),
        ],
    }
    for m, p, band_key, sex, alone, n in rows:
        store.count(("tg", "courses", None, m, p), n)
        store.count(("tg", "age", band_key, m, p), n)
        store.count(("tg", "sex", sex.value, m, p), n)
        store.count(
            ("tg", "alone", "unknown" if alone is None else ("yes" if alone else "no"), m, p), n
        )
    add_up(store, lambda m, p: ("tg", "courses", None, m, p), org, by_provider=True)
    for family, values in families.items():
        for value, _label in values:
            add_up(store, lambda m, p, f=family, v=value: ("tg", f, v, m, p), org, by_provider=True)
    groups = org.provider_groups()
    for g in groups:
        for family, values in families.items():
            store.total(
                ("tg", "courses", None, *g.key), [("tg", family, v, *g.key) for v, _l in values]
            )
    titles = {"age": Term("table.age"), "sex": Term("table.sex"), "alone": Term("table.alone")}
    tables = []
    for family, values in families.items():
        columns = [Column("courses", Term("col.courses"))] + [
            Column(value, label, dims=((family, value),)) for value, label in values
        ]
        table_rows = []
        for g in groups:
            keys: list[CellKey | None] = [("tg", "courses", None, *g.key)]
            for value, _label in values:
                keys.append(
                    store.share(
                        ("tg-share", family, value, *g.key),
                        ("tg", family, value, *g.key),
                        ("tg", "courses", None, *g.key),
                    )
                )
            table_rows.append(Row(g.label, tuple(keys), dims=g.dims, total=g.total))
        tables.append(
            Table(
                key=f"target-group.{family}",
                title=titles[family],
                row_headers=_group_headers(org, providers=True),
                columns=tuple(columns),
                rows=tuple(table_rows),
                chart=ChartSpec(
                    ChartKind.BARS,
                    tuple(v for v, _l in values),
                    Term("axis.share"),
                    (0.0, 1.0),
                    percent=True,
                ),
            )
        )
    return ctx.result(
        "target-group",
        [Section(Term("section.target_group"), tuple(tables))],
        notes=(Term("note.courses_counted"), Term("note.age")),
    )


# --- running a report ------------------------------------------------------------------------

ReportFunction = Callable[[Session, ReportScope, Registry, ReportFilters, int], ReportResult]


def _collector_paused(report: ReportFunction) -> ReportFunction:
    """The report with Python's cycle collector paused while it runs.

    A national report makes a few hundred thousand small objects that all live until it
    returns (cell keys, relations, rows), none of them in reference cycles. The collector
    would walk all of them again and again as they pile up (about 40 % of the Python time
    of the national coverage report); reference counting frees everything as before, and
    the collector resumes when the report is done. (Process-wide: a report running in
    another thread meanwhile just runs without it for that long, which is harmless.)
    """

    @functools.wraps(report)
    def run(*args: Any) -> ReportResult:
        if not gc.isenabled():
            return report(*args)
        gc.disable()
        try:
            return report(*args)
        finally:
            gc.enable()

    return run


#: The reports by the name the command line and the audit trail use, in menu order.
REPORTS: Mapping[str, ReportFunction] = {
    name: _collector_paused(report)
    for name, report in (
        ("coverage", coverage),
        ("progression", progression),
        ("outcomes", outcomes),
        ("start-meeting", start_meeting),
        ("target-group", target_group),
    )
}


class UnknownName(LookupError):
    """A municipality or provider named on the command line that does not exist (or is
    ambiguous); the message says which."""


def installation_scope(session: Session, municipalities: Iterable[str] = ()) -> ReportScope:
    """The reach of a report run by the installation itself (the command line): like an
    administrator of every municipality named (by name or code, case-insensitive), or of
    all of them. Its audit events carry the system actor (see `run_report`)."""
    rows = session.execute(select(Municipality.id, Municipality.code, Municipality.name)).all()
    wanted = [text.strip() for text in municipalities if text.strip()]
    if not wanted:
        ids = {row.id for row in rows}
    else:
        ids = set()
        for text in wanted:
            found = [r.id for r in rows if text == r.code or text.casefold() == r.name.casefold()]
            if not found:
                raise UnknownName(f"no municipality has the name or code {text!r}")
            ids.update(found)
    if not ids:
        raise UnknownName("the database holds no municipality")
    actor = Scope(user_id=0, role=Role.ADMIN, municipality_id=min(ids))
    return ReportScope(actor, frozenset(ids))


def provider_named(session: Session, rscope: ReportScope, text: str) -> int:
    """The id of the provider with this name or id within the report scope."""
    stmt = select(Provider.id, Provider.name).where(
        Provider.municipality_id.in_(sorted(rscope.municipality_ids))
    )
    rows = session.execute(stmt).all()
    found = [r.id for r in rows if str(r.id) == text.strip()]
    found = found or [r.id for r in rows if r.name.casefold() == text.strip().casefold()]
    if not found:
        raise UnknownName(f"no provider named {text!r} in the chosen municipalities")
    if len(found) > 1:
        raise UnknownName(
            f"several providers are named {text!r}: give --municipality, or the provider's id"
        )
    return int(found[0])


def tune_for_reports(session: Session) -> None:
    """On PostgreSQL, for this transaction only: sort and hash aggregates of a million answers
    in memory, and skip the JIT compile (it costs more than it saves on one-off queries)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        session.execute(text("SET LOCAL jit = off"))


def run_report(
    session: Session,
    rscope: ReportScope,
    registry: Registry,
    name: str,
    filters: ReportFilters,
    threshold: int,
    *,
    actor: audit.Actor | None = None,
    channel: str = "web",
) -> ReportResult:
    """Run the named report and record that it was viewed (report name and filters only)."""
    try:
        report = REPORTS[name]
    except KeyError:
        raise ValueError(f"unknown report {name!r} (known: {', '.join(REPORTS)})") from None
    tune_for_reports(session)
    result = report(session, rscope, registry, filters, threshold)
    audit.record(
        session,
        actor or rscope.actor,
        "report.view",
        object_type="report",
        object_id=name,
        details={
            "report": name,
            "channel": channel,
            "threshold": threshold,
            "municipality_ids": sorted(filters.municipality_ids or rscope.municipality_ids),
            "filters": filters.audit_details(),
        },
    )
    return result
