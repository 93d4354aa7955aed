"""The respondent's questionnaire: instruction, one question per screen, thank-you.

The same pages serve two ways in: a link token (a relative's QR code, a demo link), here
under /svar/<token>, and the kiosk on a staff tablet (surveyapp.web.kiosk). Each way in
builds a `Flow` (which questionnaire, which channel, where its pages live) and calls the
shared page functions below. Every answer is saved when it is given; coming back resumes at
the first unanswered question. Pages are never cached and show nothing but this questionnaire.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from surveyapp.app import SUPPORTED_LOCALES
from surveyapp.enums import Channel
from surveyapp.forms.questionnaire import answer_from_field, field_data, item_form_class
from surveyapp.instruments import Instrument
from surveyapp.models import Assignment
from surveyapp.services import responses as answering
from surveyapp.services.links import LinkInvalid, resolve_link
from surveyapp.web import db_session, registry, run_in_transaction
from surveyapp.web.access import public, respondent

bp = Blueprint("respond", __name__, url_prefix="/svar")
TEXT_SIZES = (1, 2, 3)


def never_cache(response: WerkzeugResponse) -> WerkzeugResponse:
    """No copy of a respondent page may stay in any cache or history snapshot."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


bp.after_request(never_cache)


@dataclass
class Flow:
    """One questionnaire being answered, and where its pages are."""

    assignment: Assignment
    instrument: Instrument
    channel: Channel
    endpoints: str  # blueprint name of the pages: "respond" or "kiosk"
    url_args: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the kiosk's pause button

    def url(self, page: str, **values: Any) -> str:
        return url_for(f"{self.endpoints}.{page}", **self.url_args, **values)

    def go(self, page: str, **values: Any) -> WerkzeugResponse:
        return redirect(self.url(page, **values), code=303)

    @property
    def text_params(self) -> dict[str, str]:
        provider = self.assignment.course.provider
        return {"unit": provider.unit_name, "municipality": provider.municipality.name}


def _language(instrument: Instrument) -> str:
    locale = str(get_locale())
    return locale if locale in instrument.languages else instrument.default_language


def _page(flow: Flow, template: str, lang: str, **context: Any) -> str:
    """Render in the questionnaire's language, so that buttons match the questions."""
    instrument = flow.instrument
    with force_locale(lang):
        return render_template(
            f"respond/{template}",
            flow=flow,
            instrument=instrument,
            lang=lang,
            title=instrument.title.get(lang, instrument.title[instrument.default_language]),
            text_size=session.get("text_size", 1),
            **flow.extra,
            **context,
        )


def show_start(flow: Flow) -> str | WerkzeugResponse:
    """The instruction screen (or the thank-you page once the answers are sent)."""
    response = flow.assignment.response
    if response is not None and response.submitted_at is not None:
        return flow.go("thanks")
    lang = response.language if response is not None else _language(flow.instrument)
    params = flow.text_params
    return _page(
        flow,
        "start.html",
        lang,
        response=response,
        can_switch_language=response is None or not response.answers,
        instruction=flow.instrument.text("instruction", lang, params),
        preamble=flow.instrument.text("preamble", lang, params),
    )


def begin_answering(flow: Flow) -> WerkzeugResponse:
    """Open the response in the chosen language and go to the first unanswered question."""
    lang = _language(flow.instrument)

    def action() -> int:
        response = answering.open_response(
            db_session(), flow.assignment, channel=flow.channel, language=lang, registry=registry()
        )
        return answering.resume_position(flow.instrument, response)

    try:
        number = run_in_transaction(action)
    except answering.AnswerRejected:
        return flow.go("thanks")
    return flow.go("question", number=number)


def switch_language(flow: Flow) -> WerkzeugResponse:
    """Switch language on the instruction screen (until the first answer)."""
    locale = request.form.get("locale", "")
    response = flow.assignment.response
    if locale in SUPPORTED_LOCALES:
        session["locale"] = locale
        if response is not None:
            # Once answering has begun the questionnaire stays in its language.
            with contextlib.suppress(answering.AnswerRejected):
                run_in_transaction(
                    lambda: answering.change_language(response, locale, registry=registry())
                )
    return flow.go("start")


def _question_page(flow: Flow, number: int, form: Any, message: str | None = None) -> str:
    response = flow.assignment.response
    item = flow.instrument.items[number - 1]
    lang = response.language if response else _language(flow.instrument)
    params = flow.text_params
    return _page(
        flow,
        "question.html",
        lang,
        form=form,
        field=form[item.id],
        item=item,
        number=number,
        total=len(flow.instrument.items),
        message=message,
        stem=flow.instrument.text("stem", lang, params),
        min_label=item.min_label[lang].render(params) if item.min_label else None,
        max_label=item.max_label[lang].render(params) if item.max_label else None,
        submission_key=uuid.uuid4().hex,
    )


def _checked_number(flow: Flow, number: int) -> int:
    if not 1 <= number <= len(flow.instrument.items):
        abort(404)
    return number


def show_question(flow: Flow, number: int) -> str | WerkzeugResponse:
    """One question, with the answer given earlier already chosen."""
    number = _checked_number(flow, number)
    response = flow.assignment.response
    if response is None:
        return flow.go("start")
    if response.submitted_at is not None:
        return flow.go("thanks")
    item = flow.instrument.items[number - 1]
    earlier = answering.answers_by_item(response).get(item.id)
    data = field_data(item, earlier.state, earlier.value) if earlier else None
    form_class = item_form_class(flow.instrument, item, response.language, flow.text_params)
    return _question_page(flow, number, form_class(formdata=None, data={item.id: data}))


def take_answer(flow: Flow, number: int) -> str | WerkzeugResponse:
    """Save one answer, then go on (or send the questionnaire after the last question)."""
    number = _checked_number(flow, number)
    instrument, response = flow.instrument, flow.assignment.response
    if response is None:
        return flow.go("start")
    if response.submitted_at is not None:
        return flow.go("thanks")
    item = instrument.items[number - 1]
    form = item_form_class(instrument, item, response.language, flow.text_params)()
    skipped = item.optional and request.form.get("skip") == "1"
    if not skipped and not form.validate():
        if "csrf_token" in form.errors:
            message = _(
                "The page was open for a long time, so your answer was not saved yet. "
                "Please press the button again."
            )
        else:
            message = form.errors[item.id][0] if item.id in form.errors else None
        return _question_page(flow, number, form, str(message or ""))
    given = None if skipped else answer_from_field(item, form[item.id].data)
    last = number == len(instrument.items)

    def action() -> bool:
        db = db_session()
        current = answering.open_response(
            db,
            flow.assignment,
            channel=flow.channel,
            language=response.language,
            registry=registry(),
        )
        if current.submitted_at is not None:
            return True
        if given is not None:
            answering.save_answer(db, current, item.id, given, registry=registry())
        if last and not answering.missing_required(instrument, current):
            answering.submit_response(
                db, current, registry=registry(), submission_key=request.form.get("submission_key")
            )
            return True
        return False

    try:
        sent = run_in_transaction(action)
    except answering.AnswerRejected as rejected:
        if rejected.code == "closed":
            return flow.go("thanks")
        return _question_page(
            flow, number, form, _("That answer cannot be used. Please choose one of the options.")
        )
    if sent:
        return flow.go("thanks")
    next_number = number + 1 if not last else answering.resume_position(instrument, response)
    return flow.go("question", number=next_number)


def show_thanks(flow: Flow) -> str | WerkzeugResponse:
    """Thank the respondent; the answers themselves are never shown again."""
    response = flow.assignment.response
    if response is None or response.submitted_at is None:
        return flow.go("start")
    return _page(flow, "thanks.html", response.language)


# --- the way in by link token ---------------------------------------------------------------


def _link_flow(token: str) -> Flow:
    db = db_session()
    try:
        assignment = resolve_link(db, token)
    except LinkInvalid:
        abort(404)
    instrument = registry().get(assignment.instrument_id)
    return Flow(assignment, instrument, Channel.LINK, "respond", {"token": token})


@bp.get("/<token>")
@respondent
def start(token: str) -> str | WerkzeugResponse:
    """Show the instruction screen of the link's questionnaire."""
    return show_start(_link_flow(token))


@bp.post("/<token>/start")
@respondent
def begin(token: str) -> WerkzeugResponse:
    """Begin (or resume) answering."""
    return begin_answering(_link_flow(token))


@bp.post("/<token>/sprog")
@respondent
def language(token: str) -> WerkzeugResponse:
    """Switch the questionnaire's language."""
    return switch_language(_link_flow(token))


@bp.get("/<token>/<int:number>")
@respondent
def question(token: str, number: int) -> str | WerkzeugResponse:
    """Show one question."""
    return show_question(_link_flow(token), number)


@bp.post("/<token>/<int:number>")
@respondent
def answer(token: str, number: int) -> str | WerkzeugResponse:
    """Save one answer."""
    return take_answer(_link_flow(token), number)


@bp.get("/<token>/tak")
@respondent
def thanks(token: str) -> str | WerkzeugResponse:
    """Thank the respondent."""
    return show_thanks(_link_flow(token))


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
