"""A report table as an SVG chart, drawn with matplotlib (Agg, no pyplot), suppression kept.

Each `Table` says what its chart shows (`ChartSpec`): bars (a group of horizontal bars per
row, one per charted column: counts, shares or means) or mean changes (a point with its 95 %
confidence interval per row, and the zero line). A hidden cell gets no bar and no point, only
a dash where it would have been, and the chart says what the dash means; a cell of nobody
gets nothing. Texts and number formats come in from the caller: nothing here knows Flask.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from surveyapp.report_tables import Cell, CellKey, ChartKind, Label, Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Colour-blind-safe (Okabe-Ito) colours, dark enough on white (as in services/charts.py).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#555555")
GREY = "#555555"


@dataclass(frozen=True)
class ChartText:
    """How the chart writes: labels translated, numbers formatted, the footnote of a dash."""

    text: Callable[[Label], str]
    number: Callable[[float], str]  # axis ticks of counts and means
    percent: Callable[[float], str]  # axis ticks of shares (given 0-100)
    hidden_note: str  # e.g. "–: fewer than 3 citizens, not shown"
    no_data: str


@dataclass(frozen=True)
class Point:
    """One bar or point: its row, its series, its value (None: nothing drawn)."""

    row: int
    series: int
    value: float | None
    hidden: bool
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ChartData:
    categories: tuple[str, ...]  # one per charted row, top to bottom
    series: tuple[str, ...]  # one per charted column
    points: tuple[Point, ...]

    @property
    def any_hidden(self) -> bool:
        return any(p.hidden for p in self.points)

    @property
    def empty(self) -> bool:
        return all(p.value is None for p in self.points)


def chart_data(
    table: Table, cells: Mapping[CellKey, Cell], text: Callable[[Label], str]
) -> ChartData:
    """What the chart of `table` draws: hidden cells come out with no value."""
    spec = table.chart
    if spec is None:
        return ChartData((), (), ())
    index = {c.key: i for i, c in enumerate(table.columns)}
    charted = [index[key] for key in spec.columns if key in index]
    rows = [row for row in table.rows if row.chart]
    labels = [text(table.columns[i].label) for i in charted]
    if len(set(labels)) < len(labels):  # the same label under several headings: say which
        labels = [
            f"{text(group)}: {label}" if (group := table.columns[i].group) is not None else label
            for i, label in zip(charted, labels, strict=True)
        ]
    series = tuple(labels)
    categories = tuple(" · ".join(text(h) for h in row.header) for row in rows)
    points = []
    for r, row in enumerate(rows):
        for s, column in enumerate(charted):
            key = row.cells[column]
            if key is None:
                continue
            cell = cells[key]
            value = cell.value
            if value is not None and spec.percent:
                value *= 100
            points.append(
                Point(
                    r,
                    s,
                    None if cell.hidden else value,
                    cell.hidden,
                    cell.ci_low,
                    cell.ci_high,
                )
            )
    return ChartData(categories, series, tuple(points))


def chart_svg(table: Table, cells: Mapping[CellKey, Cell], text: ChartText) -> str | None:
    """Draw the table's chart and return the SVG document, or None if it has no chart."""
    fig = figure(table, cells, text)
    if fig is None:
        return None
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def figure(table: Table, cells: Mapping[CellKey, Cell], text: ChartText) -> Figure | None:
    """The matplotlib figure of the table's chart (None if the table has none)."""
    spec = table.chart
    if spec is None:
        return None
    data = chart_data(table, cells, text.text)
    if not data.categories or not data.series:
        return None

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    matplotlib.rcParams["svg.hashsalt"] = "surveyapp-reports"  # stable element ids
    matplotlib.rcParams["svg.fonttype"] = "path"  # no font needed in the browser
    n_rows, n_series = len(data.categories), len(data.series)
    per_row = 0.16 * n_series + 0.2 if spec.kind is ChartKind.BARS else 0.45
    height = min(14.0, max(2.6, 1.3 + per_row * n_rows))
    fig = Figure(figsize=(7.5, height), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.set_title(text.text(table.title), loc="left", fontsize=10, fontweight="bold", wrap=True)
    slot = 0.8 / n_series if spec.kind is ChartKind.BARS else 0.0

    def y_of(point: Point) -> float:
        if spec.kind is ChartKind.CHANGE:
            return float(point.row)
        return point.row - 0.4 + slot * (point.series + 0.5)

    span = [p.value for p in data.points if p.value is not None]
    span += [
        v for p in data.points for v in (p.low, p.high) if v is not None and p.value is not None
    ]
    low = min([0.0, *span]) if spec.scale is None else spec.scale[0] * (100 if spec.percent else 1)
    high = max([1.0, *span]) if spec.scale is None else spec.scale[1] * (100 if spec.percent else 1)
    if spec.kind is ChartKind.CHANGE:
        reach = max(abs(low), abs(high), 1.0) * 1.1
        low, high = -reach, reach
        ax.axvline(0, color=GREY, linewidth=1)
    elif spec.scale is None:
        high *= 1.05
    ax.set_xlim(low, high)
    seen_series: set[int] = set()
    for point in data.points:
        y = y_of(point)
        colour = COLOURS[point.series % len(COLOURS)]
        label = data.series[point.series] if point.series not in seen_series else None
        if point.hidden:
            ax.text(
                low + (high - low) * 0.01,
                y,
                "–",
                va="center",
                ha="left",
                color=GREY,
                fontsize=11,
                gid=f"hidden-{point.row}-{point.series}",
            )
            continue
        if point.value is None:
            continue
        seen_series.add(point.series)
        if spec.kind is ChartKind.BARS:
            ax.barh(
                y,
                point.value - max(low, 0.0),
                left=max(low, 0.0),
                height=slot * 0.9,
                color=colour,
                label=label,
                gid=f"bar-{point.row}-{point.series}",
            )
        else:
            errors = None
            if point.low is not None and point.high is not None:
                errors = [[point.value - point.low], [point.high - point.value]]
            ax.errorbar(
                point.value,
                y,
                xerr=errors,
                fmt="o",
                color=colour,
                capsize=4,
                gid=f"point-{point.row}-{point.series}",
            )
    ax.set_yticks(range(n_rows), labels=list(data.categories), fontsize=8)
    ax.set_ylim(n_rows - 0.5, -0.5)  # first row on top, as in the table
    ticks = text.percent if spec.percent else text.number
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: ticks(v)))
    ax.set_xlabel(text.text(spec.axis), fontsize=9)
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    if spec.kind is ChartKind.BARS and n_series > 1 and seen_series:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    notes = []
    if data.any_hidden:
        notes.append(text.hidden_note)
    if data.empty:
        notes.append(text.no_data)
    if notes:
        fig.text(0.01, 0.005, "   ".join(notes), fontsize=8, color=GREY, ha="left", va="bottom")
    return fig


def data_uri(svg: str) -> str:
    """The SVG as a data: address for an <img> (the page's CSP allows data: images)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
