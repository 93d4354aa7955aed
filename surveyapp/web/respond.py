"""The respondent's questionnaire: instruction, one question per screen, thank-you.

The same pages serve two ways in: a link from a letter (a relative's QR code or typed code, a
citizen answering at home, a demo link), and the kiosk on a staff tablet (surveyapp.web.kiosk).
Each way in builds a `Flow` (which questionnaire, which channel, where its pages live) and
calls the shared page functions below. Every answer is saved when it is given; coming back
resumes at the first unanswered question. Pages are never cached and show nothing but this
questionnaire.

The link's token leaves the address bar at once: `GET /svar/<token>` (the QR code) and the
code form at `/k` exchange the token or code for the link's id in the signed session cookie
(one link per browser at a time, for a few hours and never past the link's expiry) and
redirect to token-free pages (`/svar/`, `/svar/1`, ..., `/svar/tak`). Every such page looks
the link up again and refuses calmly once it has expired or been revoked. Unknown, expired and
revoked tokens and codes all get one page with one status code; failed attempts are counted
per client address in the database, and a client over the limit gets the same page with 429.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, format_date, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms.validators import ValidationError

from surveyapp import faults
from surveyapp.app import SUPPORTED_LOCALES
from surveyapp.enums import AssignmentStatus, Channel, Respondent
from surveyapp.forms.questionnaire import answer_from_field, field_data, item_form_class
from surveyapp.forms.respondent import CodeForm
from surveyapp.instruments import Instrument
from surveyapp.models import Assignment, LinkToken, Response, utcnow
from surveyapp.redirects import local_path
from surveyapp.scheduling import DENMARK
from surveyapp.services import links
from surveyapp.services import responses as answering
from surveyapp.suppression import DEFAULT_THRESHOLD
from surveyapp.web import db_session, origin, registry, run_in_transaction
from surveyapp.web.access import public, respondent

bp = Blueprint("respond", __name__)
TEXT_SIZES = (1, 2, 3)
#: The session key holding the one link this browser may answer, and until when.
HELD = "respondent_link"
#: How long one exchange of a token or code lasts in the browser (never past the link).
HOLD_FOR = timedelta(hours=4)


def never_cache(response: WerkzeugResponse) -> WerkzeugResponse:
    """No copy of a respondent page may stay in any cache or history snapshot, or leak on."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


bp.after_request(never_cache)


def now() -> datetime:
    """The current time (tests may set app.config["SURVEYAPP_NOW"] to a callable)."""
    clock = current_app.config.get("SURVEYAPP_NOW")
    return clock() if callable(clock) else utcnow()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Asker:
    """Who asks the respondent of a link, and about whom (never the coordinator's label)."""

    municipality: str
    sender: str | None
    unit: str
    phone: str | None
    email: str | None
    hours: str | None
    first_name: str | None  # only as the coordinator typed it for the letter
    relative: bool  # a relative answers; otherwise the citizen, at home

    @classmethod
    def of(cls, link: LinkToken) -> Asker:
        provider = link.assignment.course.provider
        municipality = provider.municipality
        return cls(
            municipality=municipality.name,
            sender=municipality.letter_sender,
            unit=provider.unit_name,
            phone=municipality.contact_phone,
            email=municipality.contact_email,
            hours=municipality.contact_hours,
            first_name=link.letter_name,
            relative=link.assignment.respondent is not Respondent.CITIZEN,
        )

    @property
    def who(self) -> str:
        return f"{self.municipality}, {self.sender}" if self.sender else self.municipality

    @property
    def phone_link(self) -> str | None:
        return "tel:" + "".join(self.phone.split()) if self.phone else None

    def possessive(self, lang: str) -> str | None:
        """The first name as owner ("Karens", "Lars'"; "Karen's"), or None."""
        name = self.first_name
        if not name:
            return None
        if lang == "da":
            return name + ("'" if name[-1].lower() in "sxz" else "s")
        return name + ("'" if name[-1].lower() == "s" else "'s")


@dataclass
class Flow:
    """One questionnaire being answered, and where its pages are."""

    assignment: Assignment
    instrument: Instrument
    channel: Channel
    endpoints: str  # blueprint name of the pages: "respond" or "kiosk"
    url_args: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the kiosk's pause button
    opens_on: date | None = None  # the window opens later: nothing can be answered yet
    #: Run in the same transaction as a taken answer (the kiosk notes activity and hands the
    #: tablet back after the last questionnaire); not for an answer refused or re-shown.
    after_answer: Callable[[], None] | None = None

    def url(self, page: str, **values: Any) -> str:
        return url_for(f"{self.endpoints}.{page}", **self.url_args, **values)

    def go(self, page: str, **values: Any) -> WerkzeugResponse:
        return redirect(self.url(page, **values), code=303)

    @property
    def text_params(self) -> dict[str, str]:
        provider = self.assignment.course.provider
        return {"unit": provider.unit_name, "municipality": provider.municipality.name}


def language_for(instrument: Instrument) -> str:
    """The language a questionnaire not yet begun is shown in."""
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
    lang = response.language if response is not None else language_for(flow.instrument)
    if flow.opens_on is not None:
        with force_locale(lang):
            opens = format_date(flow.opens_on, "long")
        return _page(flow, "not_yet.html", lang, opens=opens)
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
    if flow.opens_on is not None:
        return flow.go("start")
    lang = language_for(flow.instrument)

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


def answered_items(response: Response | None) -> set[str]:
    """The ids of the questions that have an answer (never the answers)."""
    return set(answering.answers_by_item(response))


def question_screen(
    flow: Flow, number: int, lang: str, form: Any = None, message: str | None = None
) -> dict[str, Any]:
    """What respond/_question.html needs to show question `number` (a blank form if none)."""
    item = flow.instrument.items[number - 1]
    params = flow.text_params
    if form is None:
        form_class = item_form_class(flow.instrument, item, lang, params)
        # The offline kiosk shows every question in one page: ids must differ between them.
        form = form_class(formdata=None, prefix=f"p{flow.url_args.get('position', 0)}-")
    return {
        "form": form,
        "field": form[item.id],
        "item": item,
        "number": number,
        "total": len(flow.instrument.items),
        "message": message,
        # Only the items that belong to it are shown under the stem ("... haft med at:").
        "stem": flow.instrument.text("stem", lang, params) if item.under_stem else "",
        "min_label": item.min_label[lang].render(params) if item.min_label else None,
        "max_label": item.max_label[lang].render(params) if item.max_label else None,
        "submission_key": uuid.uuid4().hex,
    }


def _question_page(flow: Flow, number: int, form: Any, message: str | None = None) -> str:
    response = flow.assignment.response
    lang = response.language if response else language_for(flow.instrument)
    return _page(flow, "question.html", lang, **question_screen(flow, number, lang, form, message))


def _checked_number(flow: Flow, number: int) -> int:
    if not 1 <= number <= len(flow.instrument.items):
        abort(404)
    return number


def show_question(flow: Flow, number: int) -> str | WerkzeugResponse:
    """One question, with the answer given earlier already chosen."""
    number = _checked_number(flow, number)
    response = flow.assignment.response
    if response is None or flow.opens_on is not None:
        return flow.go("start")
    if response.submitted_at is not None:
        return flow.go("thanks")
    item = flow.instrument.items[number - 1]
    earlier = answering.answers_by_item(response).get(item.id)
    data = field_data(item, earlier.state, earlier.value) if earlier else None
    form_class = item_form_class(flow.instrument, item, response.language, flow.text_params)
    return _question_page(flow, number, form_class(formdata=None, data={item.id: data}))


def fault(point: str) -> None:
    """A fault point of the submission (surveyapp.faults; tests only, never in production)."""
    faults.reach(current_app.extensions["surveyapp.fault_point"], point)


def token_valid() -> bool:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def take_answer(flow: Flow, number: int) -> str | WerkzeugResponse | tuple[str, int]:
    """Save one answer, then go on (or send the questionnaire after the last question)."""
    number = _checked_number(flow, number)
    instrument, response = flow.instrument, flow.assignment.response
    if response is None or flow.opens_on is not None or response.submitted_at is not None:
        # Nothing to re-show with the answer kept: a missing or wrong token is refused here.
        if not token_valid():
            abort(400)
        if flow.after_answer is not None:
            run_in_transaction(flow.after_answer)
        return flow.go("start" if response is None or flow.opens_on else "thanks")
    item = instrument.items[number - 1]
    form_class = item_form_class(instrument, item, response.language, flow.text_params)
    # Skipping an optional question is the same validated submit (CSRF token included) with
    # the question's own field left out; a required question cannot be skipped.
    skipped = item.optional and request.form.get("skip") == "1"
    formdata = request.form
    if skipped:
        formdata = MultiDict([(k, v) for k, v in request.form.items(multi=True) if k != item.id])
    form = form_class(formdata=formdata)
    if not form.validate():
        if "csrf_token" in form.errors:
            message = _(
                "The page was open for a long time, so your answer was not saved yet. "
                "Please press the button again."
            )
            # The answer is kept on the page; nothing is saved without a valid token.
            return _question_page(flow, number, form, str(message)), 400
        message = form.errors[item.id][0] if item.id in form.errors else None
        return _question_page(flow, number, form, str(message or ""))
    given = None if skipped else answer_from_field(item, form[item.id].data)
    last = number == len(instrument.items)

    def action() -> bool:
        sent = store()
        if flow.after_answer is not None:
            flow.after_answer()
        return sent

    def store() -> bool:
        if last:
            fault("before_insert")
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
            answering.save_answer(db, current, item.id, given, registry=registry(), flush=not last)
        if last and not answering.missing_required(instrument, current):
            answering.submit_response(
                db, current, registry=registry(), submission_key=request.form.get("submission_key")
            )
            fault("before_commit")
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
        fault("after_commit")
        return flow.go("thanks")
    next_number = number + 1 if not last else answering.resume_position(instrument, response)
    return flow.go("question", number=next_number)


def show_thanks(flow: Flow) -> str | WerkzeugResponse:
    """Thank the respondent; the answers themselves are never shown again."""
    response = flow.assignment.response
    if response is None or response.submitted_at is None:
        return flow.go("start")
    return _page(flow, "thanks.html", response.language)


# --- the way in by letter: QR code (token) or typed code, exchanged for the cookie ----------


def refusal(status: int = 404) -> WerkzeugResponse:
    """The one calm page for every link or code that does not lead to a questionnaire.

    It is the same for unknown, expired, revoked and used-up links (byte for byte), so it
    names no municipality: the letter itself has the phone number.
    """
    body = render_template(
        "respond/problem.html",
        text_size=session.get("text_size", 1),
        text_size_next=url_for("respond.start"),
    )
    return never_cache(make_response(body, status))


def _client() -> str:
    return links.client_key(current_app.config["SECRET_KEY"], request.remote_addr)


def _hold(link: LinkToken) -> None:
    """Let this browser answer this link (only this one) for a few hours."""
    until = min(now() + HOLD_FOR, link.expires_at)
    session[HELD] = {"link": link.id, "until": until.timestamp()}
    session.setdefault("locale", link.language)


def _open(token: str | None = None, code: str | None = None) -> LinkToken | links.Refusal:
    def action() -> LinkToken | links.Refusal:
        return links.open_link(db_session(), _client(), token=token, code=code, now=now())

    opened = run_in_transaction(action)
    if isinstance(opened, links.Refusal):
        session.pop(HELD, None)
    else:
        _hold(opened)
    return opened


@bp.get("/svar/<token>")
@respondent
def open_link(token: str) -> WerkzeugResponse:
    """Exchange the QR code's token for the cookie, then leave the token-bearing address."""
    opened = _open(token=token)
    if opened is links.Refusal.TOO_MANY:
        return refusal(429)
    if isinstance(opened, links.Refusal):
        return refusal(404)
    return redirect(url_for("respond.start"), code=303)


@bp.route("/k", methods=["GET", "POST"])
@respondent
def enter_code() -> str | WerkzeugResponse | tuple[str, int]:
    """The short address printed in the letter: type the code instead of scanning."""
    form = CodeForm()
    message, status = None, 200
    if request.method == "POST":
        if form.validate():
            opened = _open(code=form.code.data or "")
            if not isinstance(opened, links.Refusal):
                return redirect(url_for("respond.start"), code=303)
            # Unknown, expired, revoked or used up: one message, one status (as for links).
            status = 429 if opened is links.Refusal.TOO_MANY else 404
            message = _(
                "We could not find a questionnaire with this code. Please check the code in "
                "the letter and try again."
            )
        elif "csrf_token" in form.errors:
            # Refused (400), and the form shown again: nothing is looked up or counted.
            message = _("The page was open for a long time. Please press the button again.")
            status = 400
    body = render_template(
        "respond/code.html", form=form, message=message, text_size=session.get("text_size", 1)
    )
    return body, status


def _held_link() -> LinkToken:
    """The link this browser holds, if it is still live; otherwise the calm refusal."""
    held = session.get(HELD)
    if not isinstance(held, dict) or float(held.get("until", 0)) <= now().timestamp():
        session.pop(HELD, None)
        abort(refusal())
    try:
        return links.live_link(db_session(), int(held["link"]), now=now())
    except (links.LinkInvalid, KeyError, TypeError, ValueError):
        session.pop(HELD, None)
        abort(refusal())


def _opens_on(assignment: Assignment) -> date | None:
    """The day the window opens, if the questionnaire cannot be answered yet."""
    today = now().astimezone(DENMARK).date()
    start = assignment.window_start
    if assignment.status is AssignmentStatus.SCHEDULED and start is not None and start > today:
        return start
    return None


def _link_flow() -> Flow:
    link = _held_link()
    assignment = link.assignment
    response = assignment.response
    sent = response is not None and response.submitted_at is not None
    if assignment.status is AssignmentStatus.DECLINED and not sent:
        abort(refusal())  # dropped out: nothing to answer, and nothing to say about why
    instrument = registry().get(assignment.instrument_id)
    return Flow(
        assignment,
        instrument,
        Channel.LINK,
        "respond",
        extra={"asker": Asker.of(link)},
        opens_on=_opens_on(assignment),
    )


@bp.get("/svar/")
@respondent
def start() -> str | WerkzeugResponse:
    """Show who asks, and the instruction screen of the link's questionnaire."""
    return show_start(_link_flow())


@bp.post("/svar/start")
@respondent
def begin() -> WerkzeugResponse:
    """Begin (or resume) answering."""
    return begin_answering(_link_flow())


@bp.post("/svar/sprog")
@respondent
def language() -> WerkzeugResponse:
    """Switch the questionnaire's language."""
    return switch_language(_link_flow())


@bp.get("/svar/<int:number>")
@respondent
def question(number: int) -> str | WerkzeugResponse:
    """Show one question."""
    return show_question(_link_flow(), number)


@bp.post("/svar/<int:number>")
@respondent
def answer(number: int) -> str | WerkzeugResponse | tuple[str, int]:
    """Save one answer."""
    return take_answer(_link_flow(), number)


@bp.get("/svar/tak")
@respondent
def thanks() -> str | WerkzeugResponse:
    """Thank the respondent."""
    return show_thanks(_link_flow())


@bp.get("/svar/om")
@respondent
def about() -> str:
    """About the survey: who asks, how the answers are used, privacy, whom to call."""
    flow = _link_flow()
    response = flow.assignment.response
    lang = response.language if response is not None else language_for(flow.instrument)
    return _page(flow, "about.html", lang, group_size=DEFAULT_THRESHOLD)


def not_found(_error: Exception) -> tuple[str, int]:
    """One calm page for unknown, used-up and expired links, and any unknown address on the
    respondent's side (surveyapp.web.errors.not_found_page decides)."""
    body = render_template(
        "respond/problem.html",
        text_size=session.get("text_size", 1),
        text_size_next=url_for("respond.start"),
    )
    return body, 404


display = Blueprint("display", __name__)


@display.post("/visning/tekst")
@public
def text_size() -> WerkzeugResponse:
    """Remember the chosen text size (three steps) and go back to the page (POST only).

    The form carries no CSRF token, so that pages that must be the same byte for byte (the
    refusal page) can offer it; instead the browser's Sec-Fetch-Site/Origin header must say
    that the POST comes from our own page (the exempt list in surveyapp.app names this view).
    """
    if not origin.same_origin():
        abort(400)
    size = request.form.get("size", "")
    if size in {str(s) for s in TEXT_SIZES}:
        session["text_size"] = int(size)
    target = local_path(request.form.get("next")) or "/"
    return redirect(target, code=303)
