"""The coordinator workspace: due list, citizens found by CPR, courses, drop-out and charts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_date, format_decimal, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from surveyapp.enums import AnswerState, CourseStatus, DropoutReason, LegalBasis, Respondent, Role
from surveyapp.forms.questionnaire import answer_from_field
from surveyapp.forms.staff import (
    VOCABULARIES,
    ActionForm,
    CitizenSearchForm,
    CourseEditForm,
    CourseForm,
    DropoutForm,
    DueFilterForm,
    FindCitizenForm,
    RegisterCitizenForm,
    entry_form_class,
    select_choices,
)
from surveyapp.services import assignments as assignment_service
from surveyapp.services import charts, throttle
from surveyapp.services import citizens as citizen_service
from surveyapp.services import kiosk as kiosk_service
from surveyapp.services import letters as letter_service
from surveyapp.services import offline as offline_service
from surveyapp.services import scope as scope_service
from surveyapp.services.responses import AnswerRejected
from surveyapp.web import registry, unit_of_work
from surveyapp.web.auth import COPENHAGEN, current_scope, staff_required, today

bp = Blueprint("coordinator", __name__, url_prefix="/staff")
WORKERS = (Role.ADMIN, Role.COORDINATOR)

COURSE_ERRORS = {
    "invalid_choice": _l("Not a valid choice."),
    "team_not_of_provider": _l("The team does not belong to the chosen provider."),
    "ends_before_start": _l("The course cannot end before it starts."),
    "end_date_required": _l("An end date cannot be removed once set; move it instead."),
    "open_course_at_provider": _l(
        "The citizen already has an open course at this provider in the same period. Open "
        "that course and set its end date or status instead of registering another."
    ),
    "overlap_unconfirmed": _l(
        "The citizen already has a course in the same period. Its measurements will be asked "
        "as well as this course's. Tick the box if both courses are right."
    ),
}


NOTHING_ANSWERED = _l(
    "Nothing is filled in, so nothing was saved. Choose at least one answer. If the "
    "questionnaire was not answered at all, record a drop-out instead."
)


def _lang() -> str:
    locale = get_locale()
    return "da" if locale is None or locale.language == "da" else "en"


def _local(obj: Any, name: str = "label") -> str:
    """An object's Danish or English text (`label_da` / `label_en`) in the page language."""
    return str(getattr(obj, f"{name}_{_lang()}"))


def _instrument_title(instrument_id: str) -> str:
    try:
        title = registry().get(instrument_id).title
    except KeyError:
        return instrument_id
    return title.get(_lang()) or next(iter(title.values()))


def _local_label(labels: Any) -> str:
    """A da/en label from a definition file in the UI language."""
    return str(labels.get(_lang()) or next(iter(labels.values())))


def _score_column_label(column: citizen_service.ScoreColumn) -> str:
    if column.spec is not None:
        label = _local_label(column.spec.label)
    else:
        label = column.item.text[_lang()].value  # type: ignore[union-attr]
    if column.respondent is Respondent.RELATIVE:
        label = f"{label} {_('(relative)')}"
    return label


def _score_value(column: citizen_service.ScoreColumn, value: float | None) -> str:
    if value is None:
        return "–"
    if column.spec is not None:
        return _number(value, column.spec.decimals)
    for option in column.item.options:  # type: ignore[union-attr]
        if option.value == value:
            return option.label[_lang()].value
    return _number(value, 0)


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern)


def _date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(COPENHAGEN).date()
    return format_date(value, format="medium")


def _day(value: date | datetime | None) -> str:
    """A date without the year ("5. dec." / "5 Dec"): the due list's dates are weeks apart."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(COPENHAGEN).date()
    return format_date(value, format="d. MMM" if _lang() == "da" else "d MMM")


def _time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(COPENHAGEN).strftime("%H:%M")


def _datetime(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(COPENHAGEN).strftime("%Y-%m-%d %H:%M:%S")


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    app.jinja_env.globals.update(
        local_text=_local,
        local_label=_local_label,
        instrument_title=_instrument_title,
        fmt_number=_number,
        score_column_label=_score_column_label,
        score_value=_score_value,
        status_today=lambda a: assignment_service.status_today(a, today()),
        course_status_today=lambda c: assignment_service.course_status_today(c, today()),
        can_undo_dropout=lambda a: assignment_service.can_undo_dropout(a, today()),
    )
    app.jinja_env.filters.update(
        staff_date=_date, staff_day=_day, staff_time=_time, staff_datetime=_datetime
    )


@bp.app_context_processor
def _staff_context() -> dict[str, Any]:
    return {
        **VOCABULARIES,
        "logout_form": ActionForm(),
    }


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _course_url(citizen_id: int, course_id: int) -> str:
    """The citizen page at one course (#course-N), where this request's messages will be shown.

    The jump to the course would hide messages shown at the top of the page, so the page shows
    them inside the course it jumps to (see `citizen`).
    """
    session[FLASH_COURSE_KEY] = course_id
    return url_for("coordinator.citizen", citizen_id=citizen_id, _anchor=f"course-{course_id}")


FLASH_COURSE_KEY = "flash_course"


# --- home and due list -----------------------------------------------------------------------


@bp.get("/")
@staff_required()
def home() -> str | Response:
    """Send coordinators to their due list; say what analysts will find here."""
    if current_scope().sees_individuals:
        return redirect(url_for("coordinator.due_list"))
    return render_template("staff/home.html")


#: Visits shown per section of the due list before "Show all" (`?show=<section>`): the
#: week's work in full for a team's usual load, the next four weeks as a preview.
DUE_LIMITS = {"overdue": 25, "today": 25, "this_week": 25, "upcoming": 6}
DUE_SECTIONS = tuple(DUE_LIMITS)
#: Visits per page of a section shown whole ("Show all" is a paged list, `page`).
DUE_PAGE = 50


def _page_of(items: list[Any], page: int, per_page: int) -> tuple[list[Any], int, int]:
    """The items of page `page` (1-based; past the last page: the last one), the page shown
    and the number of pages."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page, 1), pages)
    return items[(page - 1) * per_page : page * per_page], page, pages


@bp.get("/due")
@staff_required(WORKERS)
def due_list() -> str:
    """What is due: overdue, today, this week and upcoming, one row per citizen and visit.

    Filtered by team, respondent and label; each section shows its first DUE_LIMITS visits
    and a link to the rest (`show`), so that a week's work fits on a few tablet screens. The
    rest is paged (`page`, DUE_PAGE visits a page; a page past the end shows the last one).
    """
    scope = current_scope()
    form = DueFilterForm(request.args)
    show = request.args.get("show", "")
    show = show if show in DUE_SECTIONS else ""
    page = request.args.get("page", 1, type=int)
    pages = 1
    with unit_of_work() as db:
        teams = scope_service.teams(db, scope)
        form.team.choices = select_choices([(0, _("All teams"))] + [(t.id, t.name) for t in teams])
        if "team" not in request.args and scope.team_id:
            form.team.data = scope.team_id
        valid = form.validate()
        team_id = form.team.data if valid and form.team.data else None
        respondent = Respondent(form.respondent.data) if valid and form.respondent.data else None
        label = form.q.data if valid and form.q.data else ""
        due = assignment_service.due_list(
            db,
            scope,
            today=today(),
            team_id=team_id,
            respondent=respondent,
            label=label,
            load=False,
        )
        shown = {}
        for key, visits in due.sections:
            if key == show:
                shown[key], page, pages = _page_of(visits, page, DUE_PAGE)
            else:
                shown[key] = visits[: DUE_LIMITS[key]]
        assignment_service.load_assignments(db, [v for vs in shown.values() for v in vs])
        ids = [a.id for visits in shown.values() for visit in visits for a in visit.assignments]
        links = letter_service.link_statuses(db, ids)
    filters = {k: v for k, v in request.args.items() if k in ("team", "respondent", "q") and v}
    return render_template(
        "staff/due_list.html",
        form=form,
        due=due,
        shown=shown,
        show=show,
        page=page,
        pages=pages,
        filters=filters,
        links=links,
    )


# --- citizens --------------------------------------------------------------------------------


@bp.get("/citizens")
@staff_required(WORKERS)
def citizens() -> str:
    """Citizens in the user's caseload, searchable by label."""
    form = CitizenSearchForm(request.args)
    label = form.q.data if form.validate() and form.q.data else ""
    with unit_of_work() as db:
        rows = citizen_service.list_citizens(db, current_scope(), label=label)
    return render_template("staff/citizens.html", form=form, rows=rows, find_form=FindCitizenForm())


@bp.route("/citizens/find", methods=["GET", "POST"])
@staff_required(WORKERS)
def find_citizen() -> str | Response | tuple[str, int]:
    """Find a citizen by CPR number, or register a new one (POST only; never echoed)."""
    form = FindCitizenForm()
    if form.validate_on_submit():
        settings = current_app.extensions["surveyapp.settings"]
        with unit_of_work() as db:
            result = citizen_service.find_or_register(
                db,
                current_scope(),
                form.cpr.data or "",
                hmac_key=settings.cpr_hmac_key,
                label=form.label.data or "",
                lives_alone=form.lives_alone_value(),
                today=today(),
                limit=throttle.Limit(
                    "cpr_lookup",
                    current_app.config["CPR_LOOKUP_MAX"],
                    current_app.config["CPR_LOOKUP_WINDOW"],
                ),
                key_secret=current_app.config["SECRET_KEY"],
            )
        outcome = citizen_service.LookupOutcome
        found = _to_the_citizen(result)
        if found is not None:
            return found
        if result.outcome is outcome.INVALID:
            form.cpr.errors = [
                _("Not a CPR number: write 10 digits, DDMMYY-XXXX, with a real date of birth.")
            ]
            return _find_again(form)
        if result.outcome is outcome.THROTTLED:
            minutes = int(current_app.config["CPR_LOOKUP_WINDOW"].total_seconds() // 60)
            form.form_errors.append(
                ngettext(
                    "You have looked up many CPR numbers in a short time. Wait up to "
                    "%(num)s minute and try again.",
                    "You have looked up many CPR numbers in a short time. Wait up to "
                    "%(num)s minutes and try again.",
                    minutes,
                )
            )
            return _find_again(form, 429)
        # Not registered, or registered but outside the user's caseload: the same answer.
        # The look-up is kept on the server; the session holds only its opaque handle.
        session[HANDOFF_KEY] = result.handle
        return _find_again(FindCitizenForm(formdata=None), register=RegisterCitizenForm())
    if request.method == "POST":
        return _find_again(form)
    return render_template("staff/find_citizen.html", form=form)


HANDOFF_KEY = "cpr_handoff"


def _find_again(
    form: FindCitizenForm, status: int = 200, register: RegisterCitizenForm | None = None
) -> tuple[str, int]:
    form.cpr.data = ""
    form.cpr.raw_data = []
    return render_template(
        "staff/find_citizen.html",
        form=form,
        register=register,
        minutes=citizen_service.HANDOFF_MINUTES,
    ), status


@bp.post("/citizens/register")
@staff_required(WORKERS)
def register_citizen() -> str | Response | tuple[str, int]:
    """Register the citizen of the last CPR look-up (kept on the server for a few minutes)."""
    form = RegisterCitizenForm()
    if not form.validate_on_submit():
        if session.get(HANDOFF_KEY):
            return _find_again(FindCitizenForm(formdata=None), register=form)
        return _kept_look_up_gone()
    with unit_of_work() as db:
        result = citizen_service.register_kept(
            db,
            current_scope(),
            session.pop(HANDOFF_KEY, None),
            label=form.label.data or "",
            lives_alone=form.lives_alone_value(),
        )
    return _to_the_citizen(result) or _kept_look_up_gone()


def _to_the_citizen(result: Any) -> Response | None:
    """A look-up that found the citizen goes to their page; one that registered them, on to
    their first course; anything else: None."""
    outcome = citizen_service.LookupOutcome
    if result.outcome is outcome.FOUND:
        return redirect(url_for("coordinator.citizen", citizen_id=result.citizen_id), 303)
    if result.outcome is outcome.CREATED:
        flash(_("The citizen is registered. Now register the course."), "success")
        return redirect(url_for("coordinator.new_course", citizen_id=result.citizen_id), 303)
    return None


def _kept_look_up_gone() -> tuple[str, int]:
    session.pop(HANDOFF_KEY, None)
    form = FindCitizenForm(formdata=None)
    form.form_errors.append(
        ngettext(
            "The CPR number is kept for %(num)s minute and for one registration only. "
            "Please type the CPR number again and give a label.",
            "The CPR number is kept for %(num)s minutes and for one registration only. "
            "Please type the CPR number again and give a label.",
            citizen_service.HANDOFF_MINUTES,
        )
    )
    return _find_again(form)


@bp.get("/citizens/<int:citizen_id>")
@staff_required(WORKERS)
def citizen(citizen_id: int) -> str:
    """A citizen's courses: timeline of every measurement, chart and table of scores."""
    scope = current_scope()
    with unit_of_work() as db:
        page = citizen_service.citizen_page(db, scope, citizen_id, registry())
        ids = [a.id for cv in page.courses for tp in cv.timepoints for a in tp.assignments]
        links = letter_service.link_statuses(db, ids)
        # "Start on this tablet" only when the kiosk has something to ask now.
        kiosk_due = len(kiosk_service.visit_queue(db, scope, citizen_id, today()))
        # Kiosk visits from which tablet answers never arrived or could not be used.
        offline_problems = offline_service.offline_problems(db, scope, citizen_id)
    flash_course = session.pop(FLASH_COURSE_KEY, None)
    return render_template(
        "staff/citizen.html",
        page=page,
        today=today(),
        links=links,
        flash_course=flash_course,
        kiosk_due=kiosk_due,
        offline_problems=offline_problems,
        offline_max_days=current_app.extensions["surveyapp.settings"].offline_max_days,
    )


@bp.get("/courses/<int:course_id>/chart.svg")
@staff_required(WORKERS)
def course_chart(course_id: int) -> Response:
    """The course's scores over time as an SVG image (matplotlib)."""
    with unit_of_work() as db:  # access is checked (and the view audited) before the cache
        view = citizen_service.course_chart_data(db, current_scope(), course_id, registry())
        labels = _chart_labels()
        panels = charts.panels_of(view, _lang(), labels)
    cache = current_app.extensions.setdefault("surveyapp.charts", charts.ChartCache())
    key = charts.chart_key(panels, labels, "course", course_id, get_locale())
    svg = cache.svg(key, lambda: charts.chart_svg(panels, labels))
    response = current_app.response_class(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _chart_labels() -> charts.ChartLabels:
    return charts.ChartLabels(
        no_data=_("No answers yet"),
        band=lambda t: _("Baseline ±%(points)s points", points=_number(t, 1)),
        respondent={
            Respondent.CITIZEN: "",
            Respondent.RELATIVE: _("(relative)"),
            Respondent.STAFF: _("(staff)"),
        },
        date_format="%d.%m.%Y" if _lang() == "da" else "%Y-%m-%d",
        number=lambda v: _number(v, 0),
    )


# --- courses ---------------------------------------------------------------------------------


def _course_choices(form: CourseForm, db: Any, scope: scope_service.Scope) -> None:
    providers = scope_service.providers(db, scope)
    form.provider_id.choices = select_choices([(p.id, p.name) for p in providers])
    form.team_id.choices = select_choices(
        [(0, _("No team"))]
        + [(t.id, f"{t.provider.name}: {t.name}") for t in scope_service.teams(db, scope)]
    )
    form.plan_id.choices = select_choices([(p.id, p.name) for p in scope_service.plans(db, scope)])


@bp.route("/citizens/<int:citizen_id>/courses/new", methods=["GET", "POST"])
@staff_required(WORKERS)
def new_course(citizen_id: int) -> str | Response:
    """Register a course (forløb); its measurements are scheduled from the plan."""
    scope = current_scope()
    form = CourseForm()
    with unit_of_work() as db:
        subject = scope_service.get_citizen(db, scope, citizen_id)
        label = subject.label
        _course_choices(form, db, scope)
        if request.method == "GET":
            form.start_date.data = today()
            if scope.provider_id:
                form.provider_id.data = scope.provider_id
            if scope.team_id:
                form.team_id.data = scope.team_id
    if form.validate_on_submit():
        new = citizen_service.NewCourse(
            provider_id=form.provider_id.data,
            team_id=form.team_id.data or None,
            plan_id=form.plan_id.data,
            legal_basis=LegalBasis(form.legal_basis.data),
            start_date=form.start_date.data,
            end_date=form.end_date.data,
            confirm_overlap=bool(form.confirm_overlap.data),
        )
        try:
            with unit_of_work() as db:
                course = citizen_service.register_course(db, scope, citizen_id, new, today=today())
                course_id = course.id
        except citizen_service.CourseError as exc:
            getattr(form, exc.field).errors = [str(COURSE_ERRORS[exc.code])]
        else:
            flash(_("The course is registered and its measurements are scheduled."), "success")
            return redirect(
                _course_url(citizen_id, course_id),
                303,
            )
    return render_template("staff/course_form.html", form=form, citizen_id=citizen_id, label=label)


@bp.route("/courses/<int:course_id>/edit", methods=["GET", "POST"])
@staff_required(WORKERS)
def edit_course(course_id: int) -> str | Response:
    """Set or move the end date and change the status of a course."""
    scope = current_scope()
    with unit_of_work() as db:
        course = scope_service.get_course(db, scope, course_id)
        citizen_id, label = course.citizen_id, course.citizen.label
        start, end, status = course.start_date, course.end_date, course.status
    form = CourseEditForm(data={"end_date": end, "status": status.value})
    if form.validate_on_submit():
        try:
            with unit_of_work() as db:
                citizen_service.update_course(
                    db,
                    scope,
                    course_id,
                    end_date=form.end_date.data,
                    status=CourseStatus(form.status.data),
                    today=today(),
                )
        except citizen_service.CourseError as exc:
            getattr(form, exc.field).errors = [str(COURSE_ERRORS[exc.code])]
        else:
            flash(_("The course is saved."), "success")
            return redirect(
                _course_url(citizen_id, course_id),
                303,
            )
    return render_template(
        "staff/course_edit.html", form=form, citizen_id=citizen_id, label=label, start=start
    )


# --- drop-out --------------------------------------------------------------------------------


@bp.route("/assignments/<int:assignment_id>/dropout", methods=["GET", "POST"])
@staff_required(WORKERS)
def dropout(assignment_id: int) -> str | Response:
    """Record drop-out with a reason (declined, too ill, hospitalised, moved, died, unreachable)."""
    scope = current_scope()
    with unit_of_work() as db:
        info = assignment_service.describe(db, scope, assignment_id, registry())
    form = DropoutForm()
    back = _course_url(info.citizen_id, info.course_id)
    if info.closed:
        flash(_("This measurement is already answered or closed."), "info")
        return redirect(back, 303)
    if form.validate_on_submit():
        try:
            with unit_of_work() as db:
                changed = assignment_service.record_dropout(
                    db,
                    scope,
                    assignment_id,
                    DropoutReason(form.reason.data),
                    later_too=form.later_too.data,
                )
                count = len(changed)
                started = sum(1 for a in changed if a.response is not None)
        except assignment_service.AssignmentClosed:
            flash(_("This measurement is already answered or closed."), "info")
        else:
            flash(
                ngettext(
                    "Drop-out recorded for %(num)s questionnaire.",
                    "Drop-out recorded for %(num)s questionnaires.",
                    count,
                ),
                "success",
            )
            if started:
                flash(
                    ngettext(
                        "%(num)s started questionnaire was closed; the answers given are kept "
                        "and come back if you undo the drop-out.",
                        "%(num)s started questionnaires were closed; the answers given are kept "
                        "and come back if you undo the drop-out.",
                        started,
                    ),
                    "info",
                )
        return redirect(back, 303)
    return render_template("staff/dropout.html", form=form, info=info)


DROPOUT_UNDO_ERRORS = {
    "not_dropped_out": _l("This measurement is not a drop-out; nothing was changed."),
    "window_closed": _l(
        "The drop-out cannot be undone: the measurement's window has closed. Nothing was changed."
    ),
}


@bp.post("/assignments/<int:assignment_id>/dropout/undo")
@staff_required(WORKERS)
def undo_dropout(assignment_id: int) -> Response:
    """Undo a drop-out while the measurement's window is open (audited)."""
    scope = current_scope()
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with unit_of_work() as db:
            restored = assignment_service.undo_dropout(db, scope, assignment_id, today=today())
            citizen_id, course_id = restored[0].course.citizen_id, restored[0].course_id
            count = len(restored)
    except assignment_service.DropoutNotUndoable as exc:
        with unit_of_work() as db:
            info = assignment_service.describe(db, scope, assignment_id)
        flash(str(DROPOUT_UNDO_ERRORS[exc.code]), "error")
        citizen_id, course_id = info.citizen_id, info.course_id
    else:
        flash(
            ngettext(
                "Drop-out undone for %(num)s questionnaire.",
                "Drop-out undone for %(num)s questionnaires.",
                count,
            ),
            "success",
        )
    return redirect(_course_url(citizen_id, course_id), 303)


# --- paper entry and staff-recorded outcome ---------------------------------------------------


@bp.route("/assignments/<int:assignment_id>/answers", methods=["GET", "POST"])
@staff_required(WORKERS)
def enter_answers(assignment_id: int) -> str | Response:
    """Type in a paper questionnaire (channel "paper") or record the staff-completed outcome."""
    scope = current_scope()
    with unit_of_work() as db:
        info = assignment_service.describe(db, scope, assignment_id)
    if info.answered:
        flash(_("This measurement is already answered or closed."), "info")
        return redirect(url_for("coordinator.citizen", citizen_id=info.citizen_id), 303)
    instrument = registry().get(info.instrument_id)
    paper = info.respondent is not Respondent.STAFF
    wanted = request.args.get("lang") if paper else _lang()
    lang = wanted if wanted in instrument.languages else instrument.default_language
    form = entry_form_class(instrument, lang, info.text_params, paper=paper)()
    if request.method == "GET":
        form.answered_on.data = today()
    if form.validate_on_submit():
        answers: dict[str, int | AnswerState] = {}
        for item in instrument.items:
            answer = answer_from_field(item, form[item.id].data)
            if answer is not None:
                answers[item.id] = answer
        missing = len(instrument.items) - len(answers)
        if not answers:
            form.form_errors.append(str(NOTHING_ANSWERED))
        elif form.answered_on.data > today():
            form.answered_on.errors = [_("The date cannot lie in the future.")]
        elif paper and missing and not form.confirm_missing.data:
            form.confirm_missing.errors = [
                ngettext(
                    "%(num)s question has no answer. If it was left unanswered on the "
                    "paper form, tick this box.",
                    "%(num)s questions have no answer. If they were left unanswered on the "
                    "paper form, tick this box.",
                    missing,
                )
            ]
        else:
            try:
                with unit_of_work() as db:
                    assignment_service.enter_answers(
                        db,
                        scope,
                        assignment_id,
                        answers,
                        registry=registry(),
                        language=lang,
                        answered_on=form.answered_on.data,
                    )
            except assignment_service.NothingAnswered:
                form.form_errors.append(str(NOTHING_ANSWERED))
                return _entry_page(form, info, instrument, lang, paper)
            except (assignment_service.AssignmentClosed, AnswerRejected):
                flash(_("This measurement is already answered or closed."), "info")
            else:
                flash(_("The answers are saved and scored."), "success")
            return redirect(
                _course_url(info.citizen_id, info.course_id),
                303,
            )
    return _entry_page(form, info, instrument, lang, paper)


def _entry_page(
    form: Any,
    info: assignment_service.AssignmentInfo,
    instrument: Any,
    lang: str,
    paper: bool,
) -> str:
    other_languages = [code for code in instrument.languages if code != lang] if paper else []
    return render_template(
        "staff/enter_answers.html",
        form=form,
        info=info,
        instrument=instrument,
        lang=lang,
        paper=paper,
        other_languages=other_languages,
    )


__all__ = ["ActionForm", "bp"]
