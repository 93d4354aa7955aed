"""Evaluation reports for analysts and administrators: aggregates only, never a citizen."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request, url_for
from flask_babel import format_decimal, format_percent, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from surveyapp.enums import Role
from surveyapp.forms.reports import ReportFilterForm
from surveyapp.forms.staff import DROPOUT_LABELS, SEX_LABELS
from surveyapp.report_tables import Cell, Column, Kind, Label, ReportResult, Table, Term
from surveyapp.services import report_charts
from surveyapp.services import reports as report_service
from surveyapp.services.scope import report_scope
from surveyapp.web import registry, unit_of_work
from surveyapp.web.auth import current_scope, staff_required

bp = Blueprint("reports", __name__, url_prefix="/staff/reports")
REPORTERS = (Role.ADMIN, Role.ANALYST)


# --- the reports, as the menu shows them -------------------------------------------------------

PAGES = {
    "coverage": (
        _l("Measurement coverage"),
        _l(
            "Per municipality and provider: the courses with a baseline, an end and a follow-up "
            "measurement, per questionnaire, and what became of the measurements not taken."
        ),
    ),
    "progression": (
        _l("Progression"),
        _l(
            "Each reported score from the baseline to the end and to each follow-up, for the "
            "courses with both measurements: mean change with its confidence interval, and the "
            "shares improved, unchanged and worse."
        ),
    ),
    "outcomes": (
        _l("Course outcomes"),
        _l(
            "What staff recorded at the end of the course and at the follow-ups: need for "
            "help, self-sufficiency, quality of life."
        ),
    ),
    "start-meeting": (
        _l("Start-meeting satisfaction"),
        _l(
            "The mean of each question at the baseline and at the next measurement, with the "
            "number of start meetings answered and the number ready for follow-up."
        ),
    ),
    "target-group": (
        _l("Target group"),
        _l("Age, sex and living alone at the start of the course, by municipality and provider."),
    ),
}
ENDPOINTS = {name: "reports." + name.replace("-", "_") for name in PAGES}

FILTER_ERRORS = {
    "not_in_scope": _l("Not a valid choice."),
    "team_not_of_provider": _l("The team does not belong to the chosen provider."),
    "kind_not_of_provider": _l("The chosen provider is not of this kind."),
    "period": _l("The end of the period is before its start."),
}

#: Every fixed word the report tables use (`Term` keys), with its English source text.
TERMS: dict[str, Any] = {
    "slot.baseline": _l("Baseline"),
    "slot.end": _l("End of course"),
    "slot.follow_up_any": _l("Any follow-up"),
    "slot.follow_up_each": _l("Each follow-up"),
    "slot.next": _l("Next measurement"),
    "all_municipalities": _l("All municipalities"),
    "all_providers": _l("All providers"),
    "municipality": _l("Municipality"),
    "provider": _l("Provider"),
    "timepoint": _l("Timepoint"),
    "comparison": _l("Comparison"),
    "question": _l("Question"),
    "respondent.citizen": _l("citizens' own answers"),
    "respondent.relative": _l("relatives' answers"),
    "respondent.staff": _l("recorded by staff"),
    "section.instrument_respondent": _l("%(instrument)s: %(respondent)s"),
    "table.coverage_measured": _l("Courses with a measurement"),
    "table.coverage_status": _l("Planned measurements and what became of them"),
    "status.planned": _l("Planned"),
    "status.measured": _l("Measured"),
    "status.missed": _l("Missed"),
    "status.dropped_out": _l("Drop-out"),
    "status.dropped_out_by_reason": _l("Drop-out by reason"),
    "status.pending": _l("Not yet answered"),
    **{f"reason.{reason.value}": label for reason, label in DROPOUT_LABELS.items()},
    f"reason.{report_service.NO_REASON}": _l("No reason given"),
    "axis.courses": _l("Courses"),
    "axis.measurements": _l("Measurements"),
    "axis.mean_change": _l("Mean change with confidence interval (95 %)"),
    "axis.share": _l("Share"),
    "axis.mean": _l("Mean"),
    "col.n_pairs": _l("n with both measurements"),
    "col.mean_baseline": _l("Mean at baseline"),
    "col.mean_after": _l("Mean at the later measurement"),
    "col.mean_change": _l("Mean change (confidence interval 95 %)"),
    "col.by_threshold": _l("By the score's threshold"),
    "change.improved": _l("Improved"),
    "change.unchanged": _l("Unchanged"),
    "change.worsened": _l("Worse"),
    "pair": _l("Baseline → %(after)s"),
    "table.progression": _l("%(score)s: %(respondent)s"),
    "direction.higher": _l("Higher is better."),
    "direction.lower": _l("Lower is better."),
    "note.threshold": _l(
        "Improved or worse: a change of at least %(threshold)s points in that direction. "
        "Threshold: %(source)s."
    ),
    "note.no_threshold": _l("This score has no threshold: changes are not classified."),
    "note.courses_counted": _l(
        "Courses are counted: a citizen with two courses in the period counts in each."
    ),
    "note.coverage_categories": _l(
        "Measured: answered. Missed: the answer window closed without an answer. Drop-out: "
        "recorded by staff, with the reason. Not yet answered: not yet due, open or begun."
    ),
    "note.progression_pairs": _l(
        "Only courses with both measurements by the same kind of respondent: citizens' own "
        "answers and relatives' answers are never pooled. The confidence interval is the "
        "paired t interval of the mean change."
    ),
    "out.records": _l("Forms completed"),
    "out.answered": _l("Answered the question (n)"),
    "out.of_whom": _l("of whom: %(option)s"),
    "out.dont_know": _l("Don't know (not in the shares)"),
    "out.not_applicable": _l("Not applicable (not in the shares)"),
    "out.blank": _l("Left blank (not in the shares)"),
    "out.answer": _l("Answer"),
    "note.dont_know_apart": _l(
        'Shares are of those who answered the question. "Don\'t know", "not applicable" '
        "and questions left blank are counted apart and are not in any share; the shares "
        '"of whom" are of the group above them.'
    ),
    "table.start_meeting": _l("%(instrument)s: %(respondent)s"),
    "sm.answered": _l("Number answered"),
    "sm.ready": _l("Ready for follow-up"),
    "note.start_meeting_next": _l(
        "Next measurement: the first timepoint after the baseline at which the plan gives the "
        "same questionnaire to the same respondent. The means are of all answers at each "
        "timepoint (the paired change is in the progression report)."
    ),
    "note.start_meeting_ready": _l(
        "Number answered at baseline: start meetings answered. Ready for follow-up: of those, "
        "the courses whose next measurement has come (its answer window has opened: open, "
        "begun, answered or missed); not yet due and drop-out are not ready."
    ),
    "note.dont_know_mean": _l('"Don\'t know" is left out of the means (and out of their n).'),
    "section.target_group": _l("Target group"),
    "table.age": _l("Age at course start"),
    "table.sex": _l("Sex"),
    "table.alone": _l("Living alone"),
    "col.courses": _l("Courses"),
    "age.under_65": _l("Under 65"),
    "age.65_74": _l("65–74"),
    "age.75_84": _l("75–84"),
    "age.85_plus": _l("85 and over"),
    **{f"sex.{sex.value}": label for sex, label in SEX_LABELS.items()},
    "alone.yes": _l("Lives alone"),
    "alone.no": _l("Does not live alone"),
    "alone.unknown": _l("Not known"),
    "note.age": _l("Age: the year of the course start minus the year of birth."),
}


# --- turning labels and cells into text ------------------------------------------------------


def _lang() -> str:
    locale = get_locale()
    return "da" if locale is None or locale.language == "da" else "en"


def label_text(label: Label | None) -> str:
    """A table label in the page's language."""
    if label is None:
        return ""
    if isinstance(label, str):
        return label
    if isinstance(label, Term):
        template = TERMS[label.key]
        if not label.params:
            return str(template)
        return str(template) % {name: _param(value) for name, value in label.params}
    return label.get(_lang()) or next(iter(label.values()), "")


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return str(format_decimal(value, format="#,##0.##"))
    return label_text(value)


def _decimal(value: float, decimals: int, *, signed: bool = False) -> str:
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    if signed:
        pattern = f"+{pattern};-{pattern}"
    return str(format_decimal(value, format=pattern))


def _count(n: int | None) -> Markup:
    return Markup('<span class="n">{}</span>').format(format_decimal(n or 0, format="#,##0"))


def cell_html(cell: Cell | None, column: Column) -> Markup:
    """A cell's text: a dash with the footnote when hidden, nothing when there is no value."""
    if cell is None:
        return Markup("")
    if cell.hidden:
        return Markup(
            '<span class="hidden-cell">–<a href="#fn-hidden" class="fn" aria-label="{}">*</a>'
            "</span>"
        ).format(_("not shown"))
    if cell.value is None:
        return Markup("")
    if cell.kind is Kind.COUNT:
        return _count(cell.n)
    if cell.kind is Kind.SHARE:
        text = escape(format_percent(cell.value))
        if column.with_n:
            detail = escape(_("%(count)s of %(n)s")) % {
                "count": _count(cell.count),
                "n": _count(cell.n),
            }
            return Markup('{} <span class="detail">({})</span>').format(text, detail)
        return Markup("{}").format(text)
    if cell.kind is Kind.MEAN:
        text = escape(_decimal(cell.value, cell.decimals))
        if column.with_n:
            detail = escape(_("n = %(n)s")) % {"n": _count(cell.n)}
            return Markup('{} <span class="detail">({})</span>').format(text, detail)
        return Markup("{}").format(text)
    text = escape(_decimal(cell.value, cell.decimals, signed=True))
    if cell.ci_low is None or cell.ci_high is None:
        return Markup("{}").format(text)
    ci = _(
        "%(low)s to %(high)s",
        low=_decimal(cell.ci_low, cell.decimals),
        high=_decimal(cell.ci_high, cell.decimals),
    )
    return Markup('{} <span class="detail">({})</span>').format(text, ci)


def column_groups(table: Table) -> list[tuple[Label | None, int]]:
    """Runs of neighbouring columns under one heading: (heading, how many)."""
    runs: list[tuple[Label | None, int]] = []
    for column in table.columns:
        if runs and runs[-1][0] == column.group:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((column.group, 1))
    return runs


def _chart_text(threshold: int) -> report_charts.ChartText:
    return report_charts.ChartText(
        text=label_text,
        number=lambda v: str(format_decimal(v, format="#,##0.#")),
        percent=lambda v: str(format_percent(v / 100)),
        hidden_note=ngettext(
            "–: fewer than %(num)s citizen, not shown",
            "–: fewer than %(num)s citizens, not shown",
            threshold,
        ),
        no_data=_("No answers yet"),
    )


def _charts(result: ReportResult) -> dict[str, str]:
    text = _chart_text(result.threshold)
    charts = {}
    for table in result.tables:
        svg = report_charts.chart_svg(table, result.cells, text)
        if svg is not None:
            charts[table.key] = report_charts.data_uri(svg)
    return charts


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    app.jinja_env.globals.update(
        report_label=label_text, report_cell=cell_html, report_column_groups=column_groups
    )


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- views -----------------------------------------------------------------------------------


def report_menu() -> list[tuple[str, str, str]]:
    """(address, title, description) of every report, in menu order."""
    return [
        (url_for(ENDPOINTS[name]), str(title), str(text)) for name, (title, text) in PAGES.items()
    ]


@bp.app_context_processor
def _menu() -> dict[str, Any]:
    return {"report_menu": report_menu}


@bp.get("/")
@staff_required(REPORTERS)
def index() -> str:
    """The list of reports."""
    with unit_of_work() as db:
        rscope = report_scope(db, current_scope())
        options = report_service.filter_options(db, rscope)
    return render_template(
        "reports/index.html",
        municipalities=options.municipalities,
        threshold=current_app.extensions["surveyapp.settings"].suppression_threshold,
    )


def _page(name: str) -> tuple[str, int]:
    """Validate the filters, run one report (audited), render its tables and charts."""
    settings = current_app.extensions["surveyapp.settings"]
    with unit_of_work() as db:
        rscope = report_scope(db, current_scope())
        options = report_service.filter_options(db, rscope)
    form = ReportFilterForm(request.args)
    form.set_options(options)
    result = None
    status = 400
    if form.validate():
        try:
            with unit_of_work() as db:
                result = report_service.run_report(
                    db,
                    rscope,
                    registry(),
                    name,
                    form.filters(),
                    settings.suppression_threshold,
                )
            status = 200
        except report_service.FilterError as exc:
            form.field_named(exc.field).errors = [str(FILTER_ERRORS[exc.code])]
    title, description = PAGES[name]
    return (
        render_template(
            "reports/report.html",
            name=name,
            title=title,
            description=description,
            form=form,
            several=len(options.municipalities) > 1,
            result=result,
            charts=_charts(result) if result is not None else {},
            threshold=settings.suppression_threshold,
            exports_url=url_for("exports.index"),
        ),
        status,
    )


@bp.get("/coverage")
@staff_required(REPORTERS)
def coverage() -> tuple[str, int]:
    """Measurement coverage and drop-out (the national trial's Table 1)."""
    return _page("coverage")


@bp.get("/progression")
@staff_required(REPORTERS)
def progression() -> tuple[str, int]:
    """Change in each reported score, paired, with its confidence interval."""
    return _page("progression")


@bp.get("/outcomes")
@staff_required(REPORTERS)
def outcomes() -> tuple[str, int]:
    """Course outcomes recorded by staff (the Ishøj status report)."""
    return _page("outcomes")


@bp.get("/start-meeting")
@staff_required(REPORTERS)
def start_meeting() -> tuple[str, int]:
    """Start-meeting satisfaction at the baseline and the next measurement (Hedensted)."""
    return _page("start-meeting")


@bp.get("/target-group")
@staff_required(REPORTERS)
def target_group() -> tuple[str, int]:
    """Age, sex and living alone of the courses' citizens."""
    return _page("target-group")
