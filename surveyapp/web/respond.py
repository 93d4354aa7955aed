"""The respondent's questionnaire: instruction, one question per screen, thank-you.

Reached through a link token (a relative's QR code, or a demo link). Every answer is saved
when it is given; reload or coming back later resumes at the first unanswered question.
Pages are never cached. No page shows anything but this one questionnaire.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from surveyapp.app import SUPPORTED_LOCALES
from surveyapp.enums import Channel
from surveyapp.forms.questionnaire import answer_from_field, field_data, item_form_class
from surveyapp.instruments import Instrument, default_registry
from surveyapp.models import Assignment
from surveyapp.services import responses as answering
from surveyapp.services.links import LinkInvalid, resolve_link
from surveyapp.web import db_session, run_in_transaction
from surveyapp.web.access import public, respondent

bp = Blueprint("respond", __name__, url_prefix="/svar")
TEXT_SIZES = (1, 2, 3)


@bp.after_request
def _never_cache(response: WerkzeugResponse) -> WerkzeugResponse:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _registry() -> Any:
    from flask import current_app

    return current_app.extensions.get("surveyapp.registry") or default_registry()


def _text_params(assignment: Assignment) -> dict[str, str]:
    course = assignment.course
    return {"unit": course.provider.unit_name, "municipality": course.provider.municipality.name}


def _load(token: str) -> tuple[Session, Assignment, Instrument]:
    db = db_session()
    try:
        assignment = resolve_link(db, token)
        instrument = _registry().get(assignment.instrument_id)
    except LinkInvalid:
        abort(404)
    return db, assignment, instrument


def _language(instrument: Instrument) -> str:
    locale = str(get_locale())
    return locale if locale in instrument.languages else instrument.default_language


def _page(template: str, instrument: Instrument, lang: str, **context: Any) -> str:
    """Render in the questionnaire's language, so that buttons match the questions."""
    with force_locale(lang):
        return render_template(
            f"respond/{template}", instrument=instrument, lang=lang,
            title=instrument.title.get(lang, instrument.title[instrument.default_language]),
            text_size=session.get("text_size", 1), **context,
        )


@bp.get("/<token>")
@respondent
def start(token: str) -> str | WerkzeugResponse:
    """Show the instruction screen (or the thank-you page once answers are sent)."""
    db, assignment, instrument = _load(token)
    response = assignment.response
    if response is not None and response.submitted_at is not None:
        return redirect(url_for(".thanks", token=token))
    lang = response.language if response is not None else _language(instrument)
    params = _text_params(assignment)
    return _page(
        "start.html", instrument, lang, token=token, response=response,
        can_switch_language=response is None or not response.answers,
        resume=answering.resume_position(instrument, response) if response else 1,
        instruction=instrument.text("instruction", lang, params),
        preamble=instrument.text("preamble", lang, params),
    )


@bp.post("/<token>/start")
@respondent
def begin(token: str) -> WerkzeugResponse:
    """Open the response in the chosen language and go to the first unanswered question."""
    db, assignment, instrument = _load(token)
    lang = _language(instrument)

    def action() -> int:
        response = answering.open_response(db, assignment, channel=Channel.LINK, language=lang,
                                           registry=_registry())
        return answering.resume_position(instrument, response)

    try:
        number = run_in_transaction(action)
    except answering.AnswerRejected:
        return redirect(url_for(".thanks", token=token))
    return redirect(url_for(".question", token=token, number=number))


@bp.post("/<token>/sprog")
@respondent
def language(token: str) -> WerkzeugResponse:
    """Switch language on the instruction screen (before the first answer)."""
    db, assignment, _instrument = _load(token)
    locale = request.form.get("locale", "")
    if locale in SUPPORTED_LOCALES:
        session["locale"] = locale
        if assignment.response is not None:
            # Once answering has begun the questionnaire stays in its language.
            with contextlib.suppress(answering.AnswerRejected):
                run_in_transaction(lambda: answering.change_language(
                    assignment.response, locale, registry=_registry()))
    return redirect(url_for(".start", token=token), code=303)


def _question_page(token: str, assignment: Assignment, instrument: Instrument, number: int,
                   form: Any, message: str | None = None) -> str:
    response = assignment.response
    item = instrument.items[number - 1]
    lang = response.language if response else _language(instrument)
    params = _text_params(assignment)
    return _page(
        "question.html", instrument, lang, token=token, form=form, field=form[item.id],
        item=item, number=number, total=len(instrument.items), message=message,
        stem=instrument.text("stem", lang, params),
        min_label=item.min_label[lang].render(params) if item.min_label else None,
        max_label=item.max_label[lang].render(params) if item.max_label else None,
        submission_key=uuid.uuid4().hex,
    )


def _question_number(instrument: Instrument, number: int) -> int:
    if not 1 <= number <= len(instrument.items):
        abort(404)
    return number


@bp.get("/<token>/<int:number>")
@respondent
def question(token: str, number: int) -> str | WerkzeugResponse:
    """Show one question, with the answer given earlier already chosen."""
    _db, assignment, instrument = _load(token)
    number = _question_number(instrument, number)
    response = assignment.response
    if response is None:
        return redirect(url_for(".start", token=token))
    if response.submitted_at is not None:
        return redirect(url_for(".thanks", token=token))
    item = instrument.items[number - 1]
    earlier = answering.answers_by_item(response).get(item.id)
    data = field_data(item, earlier.state, earlier.value) if earlier else None
    form_class = item_form_class(instrument, item, response.language, _text_params(assignment))
    form = form_class(formdata=None, data={item.id: data})
    return _question_page(token, assignment, instrument, number, form)


@bp.post("/<token>/<int:number>")
@respondent
def answer(token: str, number: int) -> str | WerkzeugResponse:
    """Save one answer, then go on (or send the questionnaire after the last question)."""
    db, assignment, instrument = _load(token)
    number = _question_number(instrument, number)
    response = assignment.response
    if response is None:
        return redirect(url_for(".start", token=token))
    if response.submitted_at is not None:
        return redirect(url_for(".thanks", token=token))
    item = instrument.items[number - 1]
    form = item_form_class(instrument, item, response.language, _text_params(assignment))()
    skipped = item.optional and request.form.get("skip") == "1"
    if not skipped and not form.validate():
        if "csrf_token" in form.errors:
            message = _("The page was open for a long time, so your answer was not saved yet. "
                        "Please press the button again.")
        else:
            message = form.errors[item.id][0] if item.id in form.errors else None
        return _question_page(token, assignment, instrument, number, form, str(message or ""))
    given = None if skipped else answer_from_field(item, form[item.id].data)
    registry = _registry()
    last = number == len(instrument.items)

    def action() -> bool:
        current = answering.open_response(db, assignment, channel=Channel.LINK,
                                          language=response.language, registry=registry)
        if current.submitted_at is not None:
            return True
        if given is not None:
            answering.save_answer(db, current, item.id, given, registry=registry)
        if last and not answering.missing_required(instrument, current):
            answering.submit_response(db, current, registry=registry,
                                      submission_key=request.form.get("submission_key"))
            return True
        return False

    try:
        sent = run_in_transaction(action)
    except answering.AnswerRejected as rejected:
        if rejected.code == "closed":
            return redirect(url_for(".thanks", token=token))
        return _question_page(token, assignment, instrument, number, form,
                              _("That answer cannot be used. Please choose one of the options."))
    if sent:
        return redirect(url_for(".thanks", token=token), code=303)
    next_number = number + 1 if not last else answering.resume_position(instrument, response)
    return redirect(url_for(".question", token=token, number=next_number), code=303)


@bp.get("/<token>/tak")
@respondent
def thanks(token: str) -> str | WerkzeugResponse:
    """Thank the respondent; the answers themselves are never shown again."""
    _db, assignment, instrument = _load(token)
    response = assignment.response
    if response is None or response.submitted_at is None:
        return redirect(url_for(".start", token=token))
    return _page("thanks.html", instrument, response.language)


@bp.app_errorhandler(404)
def not_found(_error: Exception) -> tuple[str, int]:
    """One calm page for unknown, used-up and expired links (and any unknown address)."""
    return render_template("respond/problem.html", text_size=session.get("text_size", 1)), 404


display = Blueprint("display", __name__)


@display.get("/visning/tekst/<int:size>")
@public
def text_size(size: int) -> WerkzeugResponse:
    """Remember the chosen text size (three steps) and go back to the page."""
    if size in TEXT_SIZES:
        session["text_size"] = size
    target = request.args.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    return redirect(target, code=303)
