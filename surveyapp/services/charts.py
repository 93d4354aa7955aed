"""A course's scores over time as an SVG chart, drawn with matplotlib (Agg, no pyplot).

One panel per chart panel named in the definition files (`chart = "..."` on a score), sharing
the time axis: each declared score's range, its reference lines, and a band of +/- its change
threshold around the baseline where the file asks for one. A citizen's own answers are drawn,
and a relative's answers to a proxy form (about the citizen); a relative's own view (e.g. their
start-meeting satisfaction) is in the table only. Texts come in translated or from the
definition files: nothing here knows Flask or names an instrument.

Drawing takes a few hundred milliseconds, so a drawn chart is kept (`ChartCache`, bounded,
in this process) under `chart_key`: a digest of everything the drawing reads (the panels,
their points and labels, the texts, the caller's context such as the course and the
language, and `CHART_VERSION`). New answers, changed scores or labels, another language or
another course give another key, so a kept chart is never stale and never another course's.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

from surveyapp.enums import Respondent
from surveyapp.instruments import RespondentKind, ScoreSpec
from surveyapp.scheduling import TimepointRole
from surveyapp.services.citizens import CourseView, completed_responses

Point = tuple[date, float]


@dataclass(frozen=True)
class ChartLabels:
    no_data: str
    band: Callable[[float], str]  # the label of the band, given the threshold
    respondent: Mapping[Respondent, str]  # added to a series label, e.g. "(relative)"
    date_format: str = "%d.%m.%Y"
    number: Callable[[float], str] = field(default=lambda v: f"{v:g}")


@dataclass
class Series:
    label: str
    points: list[Point] = field(default_factory=list)
    baseline: float | None = None


@dataclass
class Panel:
    key: str
    title: str
    low: float
    high: float
    specs: list[ScoreSpec] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    lines: list[tuple[float, str]] = field(default_factory=list)  # reference lines, labelled

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


def panels_of(view: CourseView, lang: str, labels: ChartLabels) -> list[Panel]:
    """The chart panels of a course's reported scores, in the order they are given."""
    panels: dict[str, Panel] = {}
    series: dict[tuple[str, str], Series] = {}
    for column in view.scores.columns:
        spec = column.spec
        if spec is None or spec.chart is None:
            continue
        if not (
            column.respondent is Respondent.CITIZEN
            or column.instrument.respondent is RespondentKind.PROXY
        ):
            continue
        panel = panels.get(spec.chart)
        if panel is None:
            title = (spec.chart_label or spec.label)[lang]
            panel = panels[spec.chart] = Panel(spec.chart, title, spec.min, spec.max)
        panel.low, panel.high = min(panel.low, spec.min), max(panel.high, spec.max)
        panel.specs.append(spec)
        for ref in spec.reference_lines:
            if (ref.value, ref.label[lang]) not in panel.lines:
                panel.lines.append((ref.value, ref.label[lang]))
        label = spec.label[lang]
        if column.respondent is not Respondent.CITIZEN:
            label = f"{label} {labels.respondent[column.respondent]}"
        series[column.key] = Series(label)
        panel.series.append(series[column.key])
    for tp in view.timepoints:
        for a, response in completed_responses(tp):
            stored = {sc.name: sc.value for sc in response.scores}
            for (name, respondent), line in series.items():
                value = stored.get(name)
                if respondent != a.respondent.value or value is None:
                    continue
                line.points.append((response.submitted_at.date(), float(value)))  # type: ignore[union-attr]
                if tp.role is TimepointRole.BASELINE and line.baseline is None:
                    line.baseline = float(value)
    for line in series.values():
        line.points.sort()
        if line.baseline is None and line.points:
            line.baseline = line.points[0][1]
    return list(panels.values())


def no_data_position(panel: Panel) -> float:
    """Where (a fraction of the panel's height) "no answers yet" keeps clear of every line.

    The middle when it is clear; otherwise the height nearest the middle that is clear of
    every reference line (e.g. WHO-5's 50 sits in the middle of its axis), or failing that the
    one farthest from them. The text also gets a white box, so a line never strikes it.
    """
    top = panel.high + (panel.high - panel.low) * 0.05  # the axis is padded as in chart_svg
    span = top - panel.low
    lines = [(value - panel.low) / span for value, _label in panel.lines]
    if not lines:
        return 0.5
    candidates = (0.5, 0.65, 0.35, 0.75, 0.25, 0.85, 0.15)  # nearest the middle first

    def clearance(y: float) -> float:
        return min(abs(y - v) for v in lines)

    clear = [y for y in candidates if clearance(y) >= 0.15]
    return clear[0] if clear else max(candidates, key=clearance)


# Colour-blind-safe (Okabe-Ito) colours, dark enough on white.
BLUE, ORANGE, GREEN, PURPLE, GREY = "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#555555"
SKY, VERMILION = "#56B4E9", "#E69F00"
MARKERS = ("o", "s", "^", "D", "v", "P")


def chart_svg(panels: list[Panel], labels: ChartLabels) -> str:
    """Draw one panel per chart panel and return the SVG document as text."""
    with _no_cycle_collection():
        return _draw(panels, labels)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while drawing (a tenth of the time went to it, walking
    the whole process's objects for the figure's many short-lived ones); it runs afterwards.
    Only the call that paused it resumes it, so it is never left off."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _draw(panels: list[Panel], labels: ChartLabels) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter

    matplotlib.rcParams["svg.hashsalt"] = "surveyapp"  # stable element ids
    matplotlib.rcParams["svg.fonttype"] = "path"  # no font needed in the browser
    rows = max(1, len(panels))
    fig = Figure(figsize=(8, 0.6 + 2.6 * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    number = FuncFormatter(lambda v, _pos: labels.number(v))
    colours = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILION)
    days: list[date] = []
    for ax, panel in zip(axes, panels, strict=False):
        # y given: where matplotlib would put it anyway (the x axis is at the bottom), without
        # its search for overlapping tick labels on every layout pass and draw.
        ax.set_title(panel.title, loc="left", fontsize=11, fontweight="bold", y=1.0)
        pad = (panel.high - panel.low) * 0.05
        ax.set_ylim(panel.low, panel.high + pad)
        for value, label in panel.lines:
            ax.axhline(value, color=GREY, linestyle="--", linewidth=1.2, label=label)
        for n, (spec, line) in enumerate(zip(panel.specs, panel.series, strict=True)):
            colour = colours[n % len(colours)]
            if spec.baseline_band and spec.change_threshold and line.baseline is not None:
                t = spec.change_threshold
                ax.axhspan(
                    max(spec.min, line.baseline - t),
                    min(spec.max, line.baseline + t),
                    color=colour,
                    alpha=0.12,
                    label=labels.band(t),
                )
            if line.points:
                xs, ys = zip(*line.points, strict=True)
                ax.plot(
                    xs,
                    ys,
                    color=colour,
                    marker=MARKERS[n % len(MARKERS)],
                    linewidth=2 if n == 0 else 1.5,
                    linestyle="-" if n < 4 else ":",
                    label=line.label,
                )
                days.extend(xs)
        ax.yaxis.set_major_formatter(number)
        ax.grid(axis="y", color="#dddddd", linewidth=0.8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)
        if panel.empty:
            ax.text(
                0.5,
                no_data_position(panel),
                labels.no_data,
                transform=ax.transAxes,
                ha="center",
                va="center",
                color=GREY,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 4},
                zorder=5,
            )
    if not panels:
        axes[0].text(0.5, 0.5, labels.no_data, ha="center", va="center", color=GREY)
        axes[0].set_yticks([])
    last = axes[-1]
    if days:  # a little room either side; never a multi-year axis for one answer
        days.sort()
        pad_days = max(timedelta(days=14), (days[-1] - days[0]) / 20)
        last.set_xlim(days[0] - pad_days, days[-1] + pad_days)
        # The automatic date ticks depend on the limits only: found once, not on every pass.
        auto = mdates.AutoDateLocator(minticks=3, maxticks=7, interval_multiples=False)
        last.xaxis.set_major_locator(auto)
        last.xaxis.set_major_locator(FixedLocator(auto()))
        last.xaxis.set_major_formatter(mdates.DateFormatter(labels.date_format))
        fig.autofmt_xdate()
    else:
        last.set_xticks([])
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


#: Changed whenever chart_svg draws the same panels differently. (The cache lives in the
#: process, so a new release starts empty anyway; this keeps the key honest if it ever lives
#: longer.)
CHART_VERSION = "1"

#: Values the number formatter is asked about in the key: its output for them stands for its
#: output for the axis ticks (which only the drawing knows), e.g. the decimal separator.
_NUMBER_PROBES = (0.0, 0.5, 2.5, 12.5, 50.0, 1234.5, -1.0)


def chart_key(panels: list[Panel], labels: ChartLabels, *context: object) -> str:
    """A digest of everything `chart_svg(panels, labels)` draws, and of the caller's context.

    The context names what the chart is of (e.g. the course) and how it is told (e.g. the
    locale), so the same key can only come from the same drawing for the same course.
    """
    thresholds = sorted({s.change_threshold for p in panels for s in p.specs if s.change_threshold})
    content = {
        "version": CHART_VERSION,
        "context": [str(c) for c in context],
        "panels": [
            {
                "key": p.key,
                "title": p.title,
                "range": [p.low, p.high],
                "lines": p.lines,
                "specs": [[s.min, s.max, s.baseline_band, s.change_threshold] for s in p.specs],
                "series": [
                    [line.label, line.baseline, [[d.isoformat(), v] for d, v in line.points]]
                    for line in p.series
                ],
            }
            for p in panels
        ],
        "labels": {
            "no_data": labels.no_data,
            "band": [[t, labels.band(t)] for t in thresholds],
            "respondent": sorted((r.value, text) for r, text in labels.respondent.items()),
            "date_format": labels.date_format,
            "number": [labels.number(v) for v in _NUMBER_PROBES],
        },
    }
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


class ChartCache:
    """Drawn charts by key, least recently used first out, within `max_bytes` (compressed).

    One per process (each gunicorn worker has its own); safe to share between threads.
    """

    def __init__(self, max_bytes: int = 16 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def size(self) -> int:
        """Bytes kept (compressed SVG)."""
        return self._size

    def get(self, key: str) -> str | None:
        with self._lock:
            packed = self._kept.get(key)
            if packed is None:
                return None
            self._kept.move_to_end(key)
        return zlib.decompress(packed).decode()

    def put(self, key: str, svg: str) -> None:
        packed = zlib.compress(svg.encode(), 6)
        if len(packed) > self.max_bytes:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._kept[key] = packed
            self._size += len(packed)
            while self._size > self.max_bytes:
                _key, dropped = self._kept.popitem(last=False)
                self._size -= len(dropped)

    def svg(self, key: str, draw: Callable[[], str]) -> str:
        """The chart kept under the key, or `draw()`'s, kept from now on."""
        kept = self.get(key)
        if kept is None:
            kept = draw()
            self.put(key, kept)
        return kept
