"""Report tables: counts and statistics, each with its n, suppressed together (pure Python).

A report is built in two steps. First every number goes into a `CellStore` under a key: the
counts (how many citizens), the sum relations readers know hold between them (providers add
up to their municipality, drop-out reasons to the drop-out, the options of a question to the
number who answered it) and the statistics resting on those counts (a share rests on its
numerator and its denominator, a mean on the count of citizens it averages). `resolve` then
applies data discretion to all of them at once, so that one number shown in two tables is
hidden in both or in neither:

- counts: `surveyapp.suppression.suppress` (primary and secondary suppression);
- statistics: hidden when a count they rest on is hidden, or when they rest on 1 to
  `threshold - 1` citizens (`hide_statistic`). A statistic of nobody (n = 0) has no value
  and is not "hidden": there is nothing to protect.

Second, `Table`s lay the cells out for people (rows, columns, labels, a chart) by referring
to their keys. Labels are plain names (a municipality), texts from the data ({"da": ...,
"en": ...}) or `Term`s, fixed words the page translates; nothing here knows a language.
`ReportResult.records` flattens the tables for the command line: the same cells, the same
suppression.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from surveyapp.statistics import PairedSummary
from surveyapp.suppression import SumRelation, hide_statistic, suppress

CellKey = tuple[Hashable, ...]

#: The reports, by the name the command line, the pages and the audit trail use.
REPORT_NAMES = ("coverage", "progression", "outcomes", "start-meeting", "target-group")


@dataclass(frozen=True)
class Term:
    """A fixed UI word or phrase, translated by whoever shows the table."""

    key: str
    params: tuple[tuple[str, Any], ...] = ()  # values: numbers, names or other labels


#: A name shown as it is, a text from the data by language code, or a fixed UI term.
Label = str | Term | Mapping[str, str]


class Kind(StrEnum):
    COUNT = "count"  # citizens (courses) counted
    SHARE = "share"  # count / n, shown as a percentage
    MEAN = "mean"
    CHANGE = "change"  # a mean change with its 95 % confidence interval


@dataclass(frozen=True)
class Cell:
    """One number as it may be shown: hidden cells carry no value and no n at all."""

    kind: Kind
    value: float | None
    n: int | None  # the citizens it rests on (a count: itself; a share: its denominator)
    hidden: bool = False  # suppressed: shown as a dash with the footnote, never as 0
    count: int | None = None  # a share's numerator
    ci_low: float | None = None
    ci_high: float | None = None
    decimals: int = 0

    @property
    def empty(self) -> bool:
        """A statistic of nobody: nothing to show, and nothing hidden."""
        return not self.hidden and self.value is None


@dataclass(frozen=True)
class _Statistic:
    kind: Kind
    value: float | None
    n_key: CellKey
    depends_on: tuple[CellKey, ...]
    decimals: int
    ci: tuple[float | None, float | None] = (None, None)


class CellStore:
    """The counts, relations and statistics of one report, before suppression."""

    def __init__(self) -> None:
        self._counts: dict[CellKey, int] = {}
        self._relations: list[SumRelation[CellKey]] = []
        self._stats: dict[CellKey, _Statistic] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._counts or key in self._stats

    def count(self, key: CellKey, n: int) -> CellKey:
        """Store a count of citizens (or add to it, if the key is already counted)."""
        self._counts[key] = self._counts.get(key, 0) + int(n)
        return key

    def value_of(self, key: CellKey) -> int:
        """The count stored under `key` (0 if nothing was counted)."""
        return self._counts.get(key, 0)

    def ensure(self, key: CellKey) -> CellKey:
        """Make sure `key` is a count (0 if nothing was counted under it)."""
        self._counts.setdefault(key, 0)
        return key

    def total(self, total: CellKey, parts: Sequence[CellKey]) -> None:
        """Declare that the count `total` is the sum of the counts `parts`."""
        if not parts:
            return
        for key in (total, *parts):
            self.ensure(key)
        self._relations.append(SumRelation(total, tuple(parts)))

    def sum_of(self, total: CellKey, parts: Sequence[CellKey]) -> CellKey:
        """Count `total` as the sum of `parts` and declare the relation."""
        self._counts[total] = sum(self.value_of(p) for p in parts)
        self.total(total, parts)
        return total

    def share(self, key: CellKey, numerator: CellKey, denominator: CellKey) -> CellKey:
        """A share `numerator / denominator` of two counts."""
        num, den = self.value_of(self.ensure(numerator)), self.value_of(self.ensure(denominator))
        self._stats[key] = _Statistic(
            Kind.SHARE, num / den if den else None, denominator, (numerator, denominator), 0
        )
        return key

    def mean(
        self, key: CellKey, total: float | None, n_key: CellKey, *, decimals: int = 1
    ) -> CellKey:
        """A mean: `total` (the sum of the values) over the count stored under `n_key`."""
        n = self.value_of(self.ensure(n_key))
        value = total / n if n and total is not None else None
        self._stats[key] = _Statistic(Kind.MEAN, value, n_key, (n_key,), decimals)
        return key

    def change(
        self, key: CellKey, summary: PairedSummary, n_key: CellKey, *, decimals: int = 1
    ) -> CellKey:
        """A mean change with its 95 % confidence interval, resting on the count `n_key`."""
        self.ensure(n_key)
        self._stats[key] = _Statistic(
            Kind.CHANGE,
            summary.mean_change,
            n_key,
            (n_key,),
            decimals,
            (summary.ci_low, summary.ci_high),
        )
        return key

    def resolve(self, threshold: int) -> dict[CellKey, Cell]:
        """Every cell as it may be shown, with data discretion applied to all at once."""
        hidden = suppress(self._counts, self._relations, threshold)
        cells: dict[CellKey, Cell] = {}
        # Cells are immutable: every hidden count is the same cell, and so is every shown
        # count of the same n (a national report has tens of thousands of counts).
        hidden_count = Cell(Kind.COUNT, None, None, hidden=True)
        shown: dict[int, Cell] = {}
        for key, n in self._counts.items():
            if key in hidden:
                cells[key] = hidden_count
            else:
                cell = shown.get(n)
                if cell is None:
                    cell = shown[n] = Cell(Kind.COUNT, float(n), n)
                cells[key] = cell
        for key, stat in self._stats.items():
            n = self._counts[stat.n_key]
            if any(dep in hidden for dep in stat.depends_on) or (
                n > 0 and hide_statistic(n, threshold)
            ):
                cells[key] = Cell(stat.kind, None, None, hidden=True, decimals=stat.decimals)
                continue
            count = None
            if stat.kind is Kind.SHARE:
                count = self._counts[stat.depends_on[0]]
            value = stat.value if n > 0 else None
            cells[key] = Cell(
                stat.kind,
                value,
                n,
                count=count,
                ci_low=stat.ci[0] if value is not None else None,
                ci_high=stat.ci[1] if value is not None else None,
                decimals=stat.decimals,
            )
        return cells


# --- layout ----------------------------------------------------------------------------------

Dims = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Column:
    key: str  # stable, for the command line's output
    label: Label
    group: Label | None = None  # a heading over several columns (e.g. a municipality)
    with_n: bool = True  # show the n (or a share's count) beside means and shares
    dims: Dims = ()


@dataclass(frozen=True)
class Row:
    header: tuple[Label, ...]
    cells: tuple[CellKey | None, ...]  # one per column; None: nothing belongs there
    dims: Dims = ()  # what the row is, for the command line's output
    total: bool = False  # a total row (shown in bold)
    indent: int = 0  # a row under another (e.g. "of whom ...")
    chart: bool = True  # drawn in the table's chart


class ChartKind(StrEnum):
    BARS = "bars"  # horizontal bars: a group of bars per row, one bar per charted column
    CHANGE = "change"  # a point with its confidence interval per row (mean change)


@dataclass(frozen=True)
class ChartSpec:
    kind: ChartKind
    columns: tuple[str, ...]  # keys of the columns drawn (one series each)
    axis: Label
    scale: tuple[float, float] | None = None  # fixed axis range; None: from the data
    percent: bool = False  # shares, drawn as 0-100 %


@dataclass(frozen=True)
class Table:
    key: str
    title: Label
    row_headers: tuple[Label, ...]
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[Label, ...] = ()
    chart: ChartSpec | None = None
    dims: Dims = ()


@dataclass(frozen=True)
class Section:
    title: Label
    tables: tuple[Table, ...]
    notes: tuple[Label, ...] = ()


@dataclass(frozen=True)
class ReportResult:
    name: str
    threshold: int
    sections: tuple[Section, ...]
    cells: Mapping[CellKey, Cell]
    notes: tuple[Label, ...] = ()
    municipalities: tuple[str, ...] = ()  # names, in the order shown

    @property
    def tables(self) -> Iterator[Table]:
        for section in self.sections:
            yield from section.tables

    @property
    def any_hidden(self) -> bool:
        return any(
            self.cells[key].hidden
            for table in self.tables
            for row in table.rows
            for key in row.cells
            if key is not None
        )

    def records(self) -> Iterator[dict[str, Any]]:
        """Every shown cell as a flat record (the command line's CSV, JSON and Excel rows).

        A hidden cell keeps its place with `suppressed` true and no value, no n, no count.
        Values are rounded as the page shows them: shares as whole percentages.
        """
        for table in self.tables:
            for row in table.rows:
                for column, key in zip(table.columns, row.cells, strict=True):
                    if key is None:
                        continue
                    cell = self.cells[key]
                    yield {
                        "table": table.key,
                        **dict(table.dims),
                        **dict(row.dims),
                        **dict(column.dims),
                        "column": column.key,
                        "measure": cell.kind.value,
                        "value": rounded(cell),
                        "n": cell.n,
                        "count": cell.count,
                        "ci_low": _round(cell.ci_low, cell.decimals),
                        "ci_high": _round(cell.ci_high, cell.decimals),
                        "suppressed": cell.hidden,
                    }


# --- the command line's formats ---------------------------------------------------------------

FIXED_FIRST = ("report", "table")
FIXED_LAST = ("column", "measure", "value", "n", "count", "ci_low", "ci_high", "suppressed")


def record_columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns of a report's records: report, table, the dimensions met, the values."""
    dims: list[str] = []
    for record in records:
        for key in record:
            if key not in FIXED_FIRST and key not in FIXED_LAST and key not in dims:
                dims.append(key)
    return [*FIXED_FIRST, *dims, *FIXED_LAST]


def report_records(result: ReportResult) -> list[dict[str, Any]]:
    """The result's records, each led by the report's name."""
    return [{"report": result.name, **record} for record in result.records()]


def write_csv(result: ReportResult, stream: IO[str]) -> None:
    """One row per cell (UTF-8 CSV); a suppressed cell has empty values and suppressed=true."""
    records = report_records(result)
    writer = csv.DictWriter(stream, fieldnames=record_columns(records), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                key: ("true" if value else "false") if isinstance(value, bool) else neutral(value)
                for key, value in record.items()
            }
        )


def to_json(result: ReportResult, about: Mapping[str, Any]) -> str:
    """The result as a JSON document: what was asked (`about`) and one record per cell."""
    document = {
        "report": result.name,
        "threshold": result.threshold,
        **about,
        "records": report_records(result),
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


def write_xlsx(result: ReportResult, stream: IO[bytes], about: Mapping[str, Any]) -> None:
    """An Excel workbook: the records on one sheet, what was asked on another."""
    from openpyxl import Workbook

    records = report_records(result)
    columns = record_columns(records)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(result.name[:31])
    sheet.append(columns)
    for record in records:
        sheet.append([neutral(record.get(column)) for column in columns])
    info = book.create_sheet("about")
    info.append(["report", result.name])
    info.append(["threshold", result.threshold])
    for key, value in about.items():
        info.append(
            [key, json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value]
        )
    book.save(stream)


def neutral(value: Any) -> Any:
    """A text that a spreadsheet would read as a formula, made plain text (numbers as they are)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rounded(cell: Cell) -> float | int | None:
    """The cell's value as the page shows it (a share as a whole percentage)."""
    if cell.value is None:
        return None
    if cell.kind is Kind.COUNT:
        return int(cell.value)
    if cell.kind is Kind.SHARE:
        return round(cell.value * 100)
    return _round(cell.value, cell.decimals)


def _round(value: float | None, decimals: int) -> float | int | None:
    if value is None:
        return None
    return round(value) if decimals == 0 else round(value, decimals)


# --- helpers used by several reports -----------------------------------------------------------


@dataclass(frozen=True)
class AgeBand:
    key: str
    low: int | None  # inclusive; None: no lower bound
    high: int | None  # inclusive; None: no upper bound

    def contains(self, age: int) -> bool:
        return (self.low is None or age >= self.low) and (self.high is None or age <= self.high)


#: Age at course start (the course's year minus the birth year: only the year is known).
AGE_BANDS = (
    AgeBand("under_65", None, 64),
    AgeBand("65_74", 65, 74),
    AgeBand("75_84", 75, 84),
    AgeBand("85_plus", 85, None),
)


def age_band(age: int) -> AgeBand:
    """The band an age falls in (every age falls in exactly one)."""
    return next(band for band in AGE_BANDS if band.contains(age))


@dataclass(frozen=True)
class Group:
    """One row group of a report: a provider, a municipality's total or the grand total."""

    key: tuple[int | None, int | None]  # (municipality id, provider id); None = all
    label: tuple[Label, ...]
    dims: Dims
    total: bool = False

    @property
    def municipality_id(self) -> int | None:
        return self.key[0]


@dataclass
class Organisation:
    """The municipalities and providers a report covers, in the order they are shown."""

    municipalities: list[tuple[int, str, str]] = field(default_factory=list)  # id, code, name
    providers: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # by municipality

    @property
    def several(self) -> bool:
        return len(self.municipalities) > 1

    def municipality_groups(self, *, with_total: bool = True) -> list[Group]:
        """One group per municipality, and the grand total when there are several."""
        groups = [
            Group((m_id, None), (name,), (("municipality", code),), total=False)
            for m_id, code, name in self.municipalities
        ]
        if with_total and self.several:
            groups.append(
                Group((None, None), (Term("all_municipalities"),), (("municipality", "all"),), True)
            )
        return groups

    def provider_groups(self) -> list[Group]:
        """Each municipality's providers, then its total; the grand total if several."""
        groups: list[Group] = []
        for m_id, code, name in self.municipalities:
            for p_id, p_name in self.providers.get(m_id, []):
                groups.append(
                    Group(
                        (m_id, p_id),
                        (name, p_name),
                        (("municipality", code), ("provider", p_name)),
                    )
                )
            groups.append(
                Group(
                    (m_id, None),
                    (name, Term("all_providers")),
                    (("municipality", code), ("provider", "all")),
                    total=True,
                )
            )
        if self.several:
            groups.append(
                Group(
                    (None, None),
                    (Term("all_municipalities"), Term("all_providers")),
                    (("municipality", "all"), ("provider", "all")),
                    total=True,
                )
            )
        return groups


def add_up(
    store: CellStore,
    key_of: Any,
    organisation: Organisation,
    *,
    by_provider: bool,
) -> None:
    """Count the totals of one measure up the organisation and declare the relations.

    `key_of(municipality_id, provider_id)` gives the measure's key in a group (None = all).
    Provider counts must be in the store already (or municipality counts, without providers).
    """
    municipality_keys = []
    for m_id, _code, _name in organisation.municipalities:
        m_key = key_of(m_id, None)
        if by_provider:
            parts = [key_of(m_id, p_id) for p_id, _p in organisation.providers.get(m_id, [])]
            if parts:
                store.sum_of(m_key, parts)
        store.ensure(m_key)
        municipality_keys.append(m_key)
    if organisation.several:
        store.sum_of(key_of(None, None), municipality_keys)
