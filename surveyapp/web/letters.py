"""Letters with links for relatives: issue, re-issue and revoke; the print view; PDFs.

A letter's link and code exist only while the letter is made, so the print view is the answer
to the POST that issues the link: printing again means issuing again (the old link stops).
The PDF holds one letter per page for many questionnaires at once. Both come from one
template (`letters/_letter.html`) and one style sheet (`static/letter.css`).
"""

from __future__ import annotations

from pathlib import Path
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
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.wrappers import Response

from surveyapp import pdf
from surveyapp.enums import Respondent, Role
from surveyapp.forms.letters import LetterForm, LettersBatchForm, LetterSettingsForm
from surveyapp.forms.staff import ActionForm
from surveyapp.letters import Letter
from surveyapp.notify import notifier_for
from surveyapp.services import assignments as assignment_service
from surveyapp.services import letters as letter_service
from surveyapp.web import registry, unit_of_work
from surveyapp.web.auth import current_scope, staff_required, today

bp = Blueprint("letters", __name__, url_prefix="/staff")
WORKERS = (Role.ADMIN, Role.COORDINATOR)
LETTER_CSS = Path(__file__).resolve().parent.parent / "static" / "letter.css"

REFUSALS = {
    "staff_form": _l("Staff record this form themselves: it has no letter."),
    "closed": _l("This questionnaire is answered or closed: it needs no letter."),
    "not_dated": _l("This questionnaire has no date yet (set the course's end date first)."),
    "language": _l("Not a valid choice."),
    "public_url": _l(
        "Letters need the public address of this service: set SURVEYAPP_PUBLIC_URL to its "
        "https address."
    ),
}


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    app.jinja_env.globals.update(letter_issuable=letter_service.can_issue)
    app.jinja_env.tests["letter_issuable"] = letter_service.can_issue


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _context() -> letter_service.LetterContext:
    """What letters need; refused in production until the public https address is set."""
    settings = current_app.extensions["surveyapp.settings"]
    if settings.is_production and not settings.public_url.startswith("https://"):
        raise letter_service.LetterRefused("public_url")
    return letter_service.LetterContext(
        public_url=settings.public_url,
        registry=registry(),
        notifier=notifier_for(settings),
    )


def render_letter(letter: Letter) -> Markup:
    """One letter as HTML, in the letter's own language."""
    with force_locale(letter.language):
        html = render_template("letters/_letter.html", letter=letter)
    return Markup(html)  # noqa: S704 - the output of an autoescaped template


def letters_document(letters: list[Letter]) -> str:
    """A complete HTML document of letters, one per A4 page, with its CSS inline (for PDF)."""
    return render_template(
        "letters/document.html",
        letters=[render_letter(letter) for letter in letters],
        css=Markup(LETTER_CSS.read_text(encoding="utf-8")),  # noqa: S704 - our own file
    )


def _print_view(letter: Letter, back: str) -> str:
    return render_template("letters/print.html", letter_html=render_letter(letter), back=back)


def _back_url(kind: str | None, citizen_id: int) -> str:
    if kind == "due":
        return url_for("coordinator.due_list")
    return url_for("coordinator.citizen", citizen_id=citizen_id)


def _refused(code: str, citizen_id: int, back: str | None) -> Response:
    flash(str(REFUSALS.get(code, REFUSALS["closed"])), "error")
    return redirect(_back_url(back, citizen_id), 303)


# --- one letter -----------------------------------------------------------------------------


@bp.route("/assignments/<int:assignment_id>/letter", methods=["GET", "POST"])
@staff_required(WORKERS)
def issue(assignment_id: int) -> str | Response:
    """Issue a link for one questionnaire and show its letter, ready to print."""
    scope = current_scope()
    with unit_of_work() as db:
        page = letter_service.letter_page(db, scope, assignment_id)
    form = LetterForm()
    if request.method == "GET":
        form.back.data = request.args.get("back", "")
        if page.last is not None:
            form.first_name.data = page.last.first_name
            form.language.data = page.last.language
    if page.info.respondent is Respondent.CITIZEN:
        form.first_name.label.text = _("The citizen's first name, for the greeting (optional)")
        form.first_name.description = _(
            'Printed in the greeting, e.g. "Dear Inger". Leave it empty for "Dear citizen". '
            "Never the label or the CPR number."
        )
    if page.refusal is not None:
        return _refused(page.refusal, page.info.citizen_id, form.back.data)
    if form.validate_on_submit():
        choice = letter_service.LetterChoice(
            language=form.language.data or "da", first_name=form.first_name.data
        )
        try:
            with unit_of_work() as db:
                letter = letter_service.issue_letter(db, scope, assignment_id, choice, _context())
                html = _print_view(letter, _back_url(form.back.data, page.info.citizen_id))
        except letter_service.LetterRefused as exc:
            return _refused(exc.code, page.info.citizen_id, form.back.data)
        return html
    return render_template("letters/issue.html", form=form, page=page, action=ActionForm())


@bp.post("/assignments/<int:assignment_id>/letter/reissue")
@staff_required(WORKERS)
def reissue(assignment_id: int) -> str | Response:
    """Issue a new letter like the last one (the old link stops working) and show it."""
    if not ActionForm().validate_on_submit():
        abort(400)
    scope = current_scope()
    back = request.form.get("back")
    with unit_of_work() as db:
        citizen_id = assignment_service.describe(db, scope, assignment_id).citizen_id
    try:
        with unit_of_work() as db:
            letter = letter_service.reissue_letter(db, scope, assignment_id, _context())
            html = _print_view(letter, _back_url(back, citizen_id))
    except letter_service.LetterRefused as exc:
        return _refused(exc.code, citizen_id, back)
    return html


@bp.post("/assignments/<int:assignment_id>/letter/revoke")
@staff_required(WORKERS)
def revoke(assignment_id: int) -> Response:
    """Stop the questionnaire's link from working (its letter and code)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    scope = current_scope()
    with unit_of_work() as db:
        citizen_id = assignment_service.describe(db, scope, assignment_id).citizen_id
        revoked = letter_service.revoke_letter(db, scope, assignment_id)
    if revoked:
        flash(_("The link is revoked: the letter and its code no longer work."), "success")
    else:
        flash(_("There was no link that still worked."), "info")
    return redirect(_back_url(request.form.get("back"), citizen_id), 303)


# --- many letters: one PDF ------------------------------------------------------------------


@bp.post("/letters.pdf")
@staff_required(WORKERS)
def letters_pdf() -> Response | tuple[str, int]:
    """One PDF of letters (a page each): the ticked rows, or every relative due soon."""
    form = LettersBatchForm()
    if not form.validate_on_submit() or not (form.print_due.data or form.assignments.data):
        flash(_("Choose the questionnaires to print letters for."), "error")
        return redirect(url_for("coordinator.due_list"), 303)
    if not pdf.available():
        return render_template("letters/unavailable.html", hint=pdf.MISSING_HINT), 503
    scope = current_scope()
    days = form.days.data if form.days.data is not None else letter_service.DEFAULT_DUE_WITHIN
    try:
        with unit_of_work() as db:
            if form.print_due.data:
                letters = letter_service.letters_for_due(
                    db, scope, _context(), today=today(), within_days=days
                )
            else:
                letters = letter_service.letters_for_selection(
                    db, scope, form.assignments.data, _context()
                )
            if not letters:
                flash(_("No questionnaires need a letter."), "info")
                return redirect(url_for("coordinator.due_list"), 303)
            document = pdf.html_to_pdf(letters_document(letters))
    except letter_service.LetterRefused as exc:
        flash(str(REFUSALS[exc.code]), "error")
        return redirect(url_for("coordinator.due_list"), 303)
    except pdf.PdfUnavailable:
        return render_template("letters/unavailable.html", hint=pdf.MISSING_HINT), 503
    response = current_app.response_class(document, mimetype="application/pdf")
    name = f"breve-{today().isoformat()}-{len(letters)}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- the municipality's letter settings -----------------------------------------------------


@bp.route("/admin/letters", methods=["GET", "POST"])
@staff_required((Role.ADMIN,))
def settings() -> str | Response:
    """The sender and contact line printed in the municipality's letters."""
    scope = current_scope()
    with unit_of_work() as db:
        current = letter_service.letter_settings(db, scope)
    form = LetterSettingsForm(data=current)
    if form.validate_on_submit():
        with unit_of_work() as db:
            letter_service.save_letter_settings(
                db,
                scope,
                {name: form[name].data for name in letter_service.SETTINGS_FIELDS},
            )
        flash(_("The letter settings are saved."), "success")
        return redirect(url_for("letters.settings"), 303)
    return render_template("letters/settings.html", form=form)


# --- the command line's batch ---------------------------------------------------------------


def batch_letters_pdf(
    app: Flask,
    *,
    municipality: str | None = None,
    within_days: int = letter_service.DEFAULT_DUE_WITHIN,
    reissue: bool = False,
) -> tuple[int, bytes | None]:
    """`surveyapp letters`: issue the batch's links and make its PDF in one transaction.

    Returns the number of letters and the PDF (None when no questionnaire needs a letter).
    If the PDF cannot be made, no link is issued (PdfUnavailable).
    """
    with app.test_request_context():
        if not pdf.available():
            raise pdf.PdfUnavailable(pdf.MISSING_HINT)
        with unit_of_work() as db:
            letters = letter_service.letters_for_batch_job(
                db,
                _context(),
                today=today(),
                municipality=municipality,
                within_days=within_days,
                reissue=reissue,
            )
            if not letters:
                return 0, None
            return len(letters), pdf.html_to_pdf(letters_document(letters))
