"""A course's scores over time as an SVG chart, drawn with matplotlib (Agg, no pyplot).

Three panels sharing the time axis: WHO-5 (0-100) with the 50 line (poor well-being at or
below it) and a band of +/-10 points around the baseline (a change of 10 points is a
significant change); WHODAS-12 percentage (citizen's own and the relative's proxy answer);
and the four start-meeting items (0-10). Texts come in translated: nothing here knows Flask.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from surveyapp.enums import AssignmentStatus, Respondent
from surveyapp.services.citizens import CourseView

Point = tuple[date, float]


@dataclass(frozen=True)
class ChartLabels:
    who5: str
    who5_axis: str
    line_50: str
    band: str
    whodas: str
    whodas_axis: str
    whodas_self: str
    whodas_proxy: str
    start_meeting: str
    start_meeting_axis: str
    start_meeting_items: tuple[str, str, str, str]
    no_data: str
    date_format: str = "%d.%m.%Y"
    number: Callable[[float], str] = field(default=lambda v: f"{v:g}")


@dataclass
class ChartSeries:
    who5: list[Point] = field(default_factory=list)
    who5_baseline: float | None = None
    whodas_self: list[Point] = field(default_factory=list)
    whodas_proxy: list[Point] = field(default_factory=list)
    start_meeting: dict[str, list[Point]] = field(default_factory=dict)  # sm_1..sm_4 (citizen)

    @property
    def empty(self) -> bool:
        return not (self.who5 or self.whodas_self or self.whodas_proxy or self.start_meeting)


def series_of(view: CourseView) -> ChartSeries:
    """The points of a course's answered questionnaires, by date answered."""
    series = ChartSeries()
    for tp in view.timepoints:
        for a in tp.assignments:
            response = a.response
            if (
                a.status is not AssignmentStatus.COMPLETED
                or response is None
                or response.submitted_at is None
            ):
                continue
            day = response.submitted_at.date()
            scores = {s.name: s.value for s in response.scores}
            if a.instrument_id == "who5" and scores.get("who5_percent") is not None:
                value = float(scores["who5_percent"])  # type: ignore[arg-type]
                series.who5.append((day, value))
                if tp.key == "baseline":
                    series.who5_baseline = value
            elif a.instrument_id == "whodas12" and scores.get("whodas12_percent") is not None:
                series.whodas_self.append((day, float(scores["whodas12_percent"])))  # type: ignore[arg-type]
            elif (
                a.instrument_id == "whodas12_proxy"
                and scores.get("whodas12_proxy_percent") is not None
            ):
                series.whodas_proxy.append((day, float(scores["whodas12_proxy_percent"])))  # type: ignore[arg-type]
            elif a.instrument_id == "start_meeting" and a.respondent is Respondent.CITIZEN:
                for n in range(1, 5):
                    value = scores.get(f"start_meeting_sm_{n}")
                    if value is not None:
                        series.start_meeting.setdefault(f"sm_{n}", []).append((day, float(value)))
    for points in (
        series.who5,
        series.whodas_self,
        series.whodas_proxy,
        *series.start_meeting.values(),
    ):
        points.sort()
    if series.who5_baseline is None and series.who5:
        series.who5_baseline = series.who5[0][1]
    return series


# Colour-blind-safe (Okabe-Ito) colours, dark enough on white.
BLUE, ORANGE, GREEN, PURPLE, GREY = "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#555555"
MARKERS = ("o", "s", "^", "D")


def chart_svg(series: ChartSeries, labels: ChartLabels) -> str:
    """Draw the three panels and return the SVG document as text."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    matplotlib.rcParams["svg.hashsalt"] = "surveyapp"  # stable element ids
    matplotlib.rcParams["svg.fonttype"] = "path"  # no font needed in the browser
    fig = Figure(figsize=(8, 8.4), dpi=100, layout="constrained")
    ax_who5, ax_whodas, ax_sm = fig.subplots(3, 1, sharex=True)
    number = FuncFormatter(lambda v, _pos: labels.number(v))

    def plot(ax: object, points: list[Point], **kwargs: object) -> None:
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, **kwargs)  # type: ignore[attr-defined]

    # WHO-5
    ax_who5.set_title(labels.who5, loc="left", fontsize=11, fontweight="bold")
    ax_who5.set_ylim(0, 100)
    ax_who5.set_ylabel(labels.who5_axis)
    ax_who5.axhline(50, color=GREY, linestyle="--", linewidth=1.2, label=labels.line_50)
    if series.who5_baseline is not None:
        base = series.who5_baseline
        ax_who5.axhspan(
            max(0, base - 10), min(100, base + 10), color=BLUE, alpha=0.12, label=labels.band
        )
    plot(ax_who5, series.who5, color=BLUE, marker="o", linewidth=2, label=labels.who5)
    # WHODAS-12
    ax_whodas.set_title(labels.whodas, loc="left", fontsize=11, fontweight="bold")
    ax_whodas.set_ylim(0, 100)
    ax_whodas.set_ylabel(labels.whodas_axis)
    plot(
        ax_whodas,
        series.whodas_self,
        color=ORANGE,
        marker="s",
        linewidth=2,
        label=labels.whodas_self,
    )
    plot(
        ax_whodas,
        series.whodas_proxy,
        color=PURPLE,
        marker="D",
        linewidth=1.5,
        linestyle=":",
        label=labels.whodas_proxy,
    )
    # Start meeting
    ax_sm.set_title(labels.start_meeting, loc="left", fontsize=11, fontweight="bold")
    ax_sm.set_ylim(0, 10.5)
    ax_sm.set_ylabel(labels.start_meeting_axis)
    colours = (GREEN, BLUE, ORANGE, PURPLE)
    for n in range(4):
        plot(
            ax_sm,
            series.start_meeting.get(f"sm_{n + 1}", []),
            color=colours[n],
            marker=MARKERS[n],
            linewidth=1.2,
            label=labels.start_meeting_items[n],
        )
    panels = (
        (ax_who5, bool(series.who5)),
        (ax_whodas, bool(series.whodas_self or series.whodas_proxy)),
        (ax_sm, bool(series.start_meeting)),
    )
    for ax, has_data in panels:
        ax.yaxis.set_major_formatter(number)
        ax.grid(axis="y", color="#dddddd", linewidth=0.8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)
        if not has_data:
            ax.text(
                0.5,
                0.5,
                labels.no_data,
                transform=ax.transAxes,
                ha="center",
                va="center",
                color=GREY,
            )
    days = sorted(
        d
        for points in (
            series.who5,
            series.whodas_self,
            series.whodas_proxy,
            *series.start_meeting.values(),
        )
        for d, _v in points
    )
    if days:  # a little room either side; never a multi-year axis for one answer
        pad = max(timedelta(days=14), (days[-1] - days[0]) / 20)
        ax_sm.set_xlim(days[0] - pad, days[-1] + pad)
        ax_sm.xaxis.set_major_locator(
            mdates.AutoDateLocator(minticks=3, maxticks=7, interval_multiples=False)
        )
    ax_sm.xaxis.set_major_formatter(mdates.DateFormatter(labels.date_format))
    fig.autofmt_xdate()
    if series.empty:
        ax_sm.set_xticks([])
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
