"""Kiosk mode: the staff tablet handed to the citizen during a home visit.

While a visit runs, the browser holds only the visit's grant: every other address leads back
to the kiosk, and the staff login is suspended until the coordinator's PIN. Questionnaires
are answered with the shared answering pages (surveyapp.web.respond) under /kiosk/<n>/...
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import HiddenField, PasswordField
from wtforms.validators import InputRequired

from surveyapp.enums import AssignmentStatus, Channel, KioskState, Role
from surveyapp.forms.base import FlaskForm
from surveyapp.forms.questionnaire import missing_answer_message
from surveyapp.instruments import ItemKind
from surveyapp.models import Assignment, KioskSession
from surveyapp.redirects import local_referrer
from surveyapp.services import kiosk as kiosk_service
from surveyapp.services import offline as offline_service
from surveyapp.web import db_session, registry, respond, run_in_transaction
from surveyapp.web import offline as offline_web
from surveyapp.web.access import public, respondent
from surveyapp.web.auth import (
    StaffPrincipal,
    begin_staff_session,
    current_scope,
    fresh_session,
    staff_required,
    today,
)
from surveyapp.web.errors import MAX_ID

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk")
bp.after_request(respond.never_cache)
KIOSK_DIR = Path(__file__).resolve().parents[2] / "kiosk"
GRANT = "kiosk_grant"
STAFF_ROLES = (Role.COORDINATOR, Role.ADMIN)
ALLOWED_OUTSIDE = {"static", "display.text_size", "offline.sync", "offline.status"}
#: The kiosk's scripts and icons (the service worker, kiosk/sw.js, has a route of its own).
SHELL_FILES = frozenset(
    ("kiosk.js", "queue.js", "offline.js", "staff-offline.js", "icon-192.png", "icon-512.png")
)
STAFF_ENDPOINTS = {"kiosk.start_visit", "kiosk.set_pin", "kiosk.summary"}
ID = re.compile(r"[0-9]{1,10}")  # ASCII digits: int() would also take "１２" or " 12"
QUEUE = re.compile(r"[0-9]{1,10}(,[0-9]{1,10}){0,49}")  # the confirmed queue: assignment ids


class StartForm(FlaskForm):
    citizen_id = HiddenField(validators=[InputRequired()])
    # The queue the coordinator confirmed; without it the confirmation page is shown.
    queue = HiddenField()


class PinForm(FlaskForm):
    pin = PasswordField(
        _l("Kiosk PIN"),
        validators=[InputRequired()],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 6},
    )


class SetPinForm(FlaskForm):
    pin = PasswordField(
        _l("New kiosk PIN (4 to 6 digits)"),
        validators=[InputRequired()],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password", "maxlength": 6},
    )
    repeated = PasswordField(
        _l("The same PIN again"),
        validators=[InputRequired()],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password", "maxlength": 6},
    )


def idle_timeout() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("KIOSK_IDLE_SECONDS", 300)))


@bp.before_app_request
def confine_to_the_kiosk() -> WerkzeugResponse | None:
    """While a visit runs in this browser, nothing but the kiosk can be reached."""
    if GRANT not in session:
        return None
    if request.endpoint in ALLOWED_OUTSIDE:
        return None
    if request.blueprint == "kiosk" and request.endpoint not in STAFF_ENDPOINTS:
        return None
    return redirect(url_for("kiosk.screen"), code=303)


def _visit() -> KioskSession:
    visit = kiosk_service.find_visit(db_session(), session.get(GRANT))
    if visit is None:
        session.pop(GRANT, None)
        abort(404)
    return visit


def _touch(visit: KioskSession) -> None:
    """Note activity (POST only; an idle visit is handed back first)."""
    run_in_transaction(lambda: kiosk_service.keep_alive(db_session(), visit, idle=idle_timeout()))


def _settle(visit: KioskSession) -> None:
    """Store the state the screens already show (POST only): idle or done is handed back."""
    run_in_transaction(lambda: kiosk_service.settle(db_session(), visit, idle=idle_timeout()))


def _shown(visit: KioskSession) -> tuple[KioskState, str | None]:
    """The screen to show now, computed without writing (for GET)."""
    return kiosk_service.shown_state(db_session(), visit, idle=idle_timeout())


# --- staff side: start a visit, set one's PIN --------------------------------------------------


def _confirmation(citizen_id: int, *, changed: bool = False) -> str | WerkzeugResponse:
    """The page that lists what the visit will ask, with the button that starts it."""
    try:
        due = kiosk_service.preview(db_session(), current_scope(), citizen_id, today())
    except kiosk_service.KioskError:
        flash(_("Set your kiosk PIN before you hand the tablet over."), "error")
        return redirect(url_for("kiosk.set_pin"), code=303)
    if not due:
        return _nothing_due()
    form = StartForm(
        formdata=None, citizen_id=str(citizen_id), queue=",".join(str(a.id) for a in due)
    )
    return render_template(
        "kiosk/confirm.html",
        form=form,
        due=due,
        citizen_label=due[0].course.citizen.label,
        citizen_id=citizen_id,
        changed=changed,
    )


def _nothing_due() -> WerkzeugResponse:
    flash(_("This citizen has no questionnaires due now, so no kiosk visit was started."), "info")
    back = local_referrer(request.referrer, request.host)
    return redirect(back or url_for("coordinator.home"), code=303)


@bp.post("/start")
@staff_required(STAFF_ROLES)
def start_visit() -> str | WerkzeugResponse:
    """Confirm what the visit will ask, then queue it and hand the tablet over.

    Without a confirmed queue the confirmation page is shown (nothing is written); with one,
    the server checks it is still what is due before anything starts.
    """
    form = StartForm()
    if not form.validate_on_submit() or not ID.fullmatch(str(form.citizen_id.data)):
        abort(400)
    citizen_id = int(form.citizen_id.data)
    if citizen_id > MAX_ID:
        abort(400)
    confirmed = str(form.queue.data or "")
    if not confirmed:
        return _confirmation(citizen_id)
    if not QUEUE.fullmatch(confirmed):
        abort(400)
    expected = [int(i) for i in confirmed.split(",")]
    login_at = datetime.fromtimestamp(session.get("staff_login_at") or 0, tz=UTC)
    try:
        grant = run_in_transaction(
            lambda: kiosk_service.start_visit(
                db_session(),
                current_scope(),
                citizen_id,
                login_at=login_at,
                today=today(),
                staff_sid=session.get("staff_sid"),
                expected=expected,
            )
        )
    except kiosk_service.KioskError as error:
        if error.code == "no_pin":
            flash(_("Set your kiosk PIN before you hand the tablet over."), "error")
            return redirect(url_for("kiosk.set_pin"), code=303)
        if error.code == "queue_changed":
            return _confirmation(citizen_id, changed=True)
        return _nothing_due()
    logout_user()
    fresh_session()
    session[GRANT] = grant
    return redirect(url_for("kiosk.screen"), code=303)


@bp.route("/pin-kode", methods=["GET", "POST"])
@staff_required(STAFF_ROLES)
def set_pin() -> str | WerkzeugResponse:
    """Let staff set their own kiosk PIN."""
    form = SetPinForm()
    if form.validate_on_submit():
        try:
            run_in_transaction(
                lambda: kiosk_service.set_pin(
                    db_session(), current_scope(), form.pin.data or "", form.repeated.data or ""
                )
            )
        except kiosk_service.KioskError as error:
            message = (
                _("The two PINs are not the same.")
                if error.code == "pin_mismatch"
                else _("A kiosk PIN is 4 to 6 digits.")
            )
            form.pin.errors = [message]
        else:
            flash(_("Your kiosk PIN is saved."), "success")
            return redirect(url_for("coordinator.home"), code=303)
    return render_template("kiosk/set_pin.html", form=form)


@bp.get("/besog/<int:visit_id>")
@staff_required(STAFF_ROLES)
def summary(visit_id: int) -> str:
    """After the PIN: what was answered, paused and left at the visit; back to the citizen."""
    found = kiosk_service.visit_summary(db_session(), current_scope(), visit_id, today())
    return render_template(
        "kiosk/summary.html",
        summary=found,
        start_form=StartForm(formdata=None, citizen_id=str(found.citizen_id)),
        question_count=lambda instrument_id: len(registry().get(instrument_id).items),
    )


# --- the tablet in the citizen's hands -----------------------------------------------------------


@bp.get("/")
@respondent
def screen() -> str | WerkzeugResponse:
    """Show the visit's current screen: hand-over, the questionnaire, or hand-back."""
    visit = _visit()
    state, reason = _shown(visit)  # a GET writes nothing: idle or done is shown, not stored
    if state is KioskState.HANDOVER:
        return render_template("kiosk/handover.html", text_size=session.get("text_size", 1))
    if state is KioskState.ANSWERING:
        current = kiosk_service.current_place(db_session(), visit)
        assert current is not None  # shown_state shows the hand-back screen when done
        return redirect(url_for("kiosk.start", position=current.position), code=303)
    return render_template(
        "kiosk/handback.html",
        form=PinForm(),
        reason=reason,
        text_size=session.get("text_size", 1),
    )


@bp.post("/begin")
@respondent
def begin_visit() -> WerkzeugResponse:
    """The citizen has the tablet: show the first questionnaire."""
    visit = _visit()
    _touch(visit)  # answering starts now: the idle timer counts from here
    run_in_transaction(lambda: kiosk_service.begin(visit))
    return redirect(url_for("kiosk.screen"), code=303)


@bp.post("/pause")
@respondent
def pause() -> WerkzeugResponse:
    """ "Give the tablet back": answers so far are kept; the rest waits for later."""
    visit = _visit()
    run_in_transaction(lambda: kiosk_service.hand_back(db_session(), visit, "pause"))
    return redirect(url_for("kiosk.screen"), code=303)


@bp.post("/ping")
@respondent
def ping() -> tuple[str, int]:
    """ "Yes, I am here": the citizen is still answering (keeps the visit from idling)."""
    _touch(_visit())
    return "", 204


@bp.post("/idle")
@respondent
def idle() -> WerkzeugResponse:
    """Nobody answered "Are you still there?": hand the tablet back."""
    visit = _visit()
    run_in_transaction(lambda: kiosk_service.hand_back(db_session(), visit, "idle"))
    return redirect(url_for("kiosk.screen"), code=303)


@bp.post("/pin")
@respondent
def unlock() -> str | WerkzeugResponse:
    """Back to the staff screens with the coordinator's PIN."""
    visit = _visit()
    _settle(visit)  # the hand-back screen may have been shown (idle, done) but not stored
    form = PinForm()
    if visit.state is not KioskState.HANDBACK or not form.validate_on_submit():
        return redirect(url_for("kiosk.screen"), code=303)
    unlocked = run_in_transaction(
        lambda: kiosk_service.unlock(
            db_session(),
            visit,
            form.pin.data or "",
            ip_address=request.remote_addr,
            user_agent=request.user_agent.string,
        )
    )
    if unlocked is not None:
        begin_staff_session(
            StaffPrincipal.of(unlocked.user),
            session_version=unlocked.user.session_version,
            login_at=unlocked.login_at.timestamp(),
            sid=unlocked.sid,
        )
        return redirect(url_for("kiosk.summary", visit_id=unlocked.visit_id), code=303)
    if visit.state is KioskState.ENDED:
        fresh_session()
        flash(_("Too many wrong PINs. Please log in with your username and password."), "error")
        return redirect(url_for("auth.login"), code=303)
    form.pin.errors = [
        ngettext(
            "Wrong PIN. %(num)s try left before the full login is required.",
            "Wrong PIN. %(num)s tries left before the full login is required.",
            kiosk_service.MAX_PIN_FAILURES - visit.pin_failures,
        )
    ]
    return render_template(
        "kiosk/handback.html",
        form=form,
        reason=visit.hand_back_reason,
        text_size=session.get("text_size", 1),
    )


def _flow(position: int, *, touch: bool = False) -> respond.Flow:
    """The queued questionnaire's flow; `touch` (POST) notes activity, a GET writes nothing."""
    return _visit_flow(position, touch=touch)[1]


def _visit_flow(position: int, *, touch: bool = False) -> tuple[KioskSession, respond.Flow]:
    visit = _visit()
    assignment = kiosk_service.place(db_session(), visit, position)
    if assignment is None:
        abort(404)  # nothing at this place in the queue: refused before anything is noted
    if touch:
        _touch(visit)
        state = visit.state
    else:
        state, _reason = _shown(visit)
    if state is not KioskState.ANSWERING:
        abort(redirect(url_for("kiosk.screen"), code=303))
    instrument = registry().get(assignment.instrument_id)
    queue_length = len(visit.assignment_ids)
    return visit, respond.Flow(
        assignment,
        instrument,
        Channel.KIOSK,
        "kiosk",
        {"position": position},
        extra={
            "kiosk": {
                "idle_seconds": int(idle_timeout().total_seconds()),
                "position": position,
                "queue_length": queue_length,
            }
        },
    )


@bp.get("/<int:position>")
@respondent
def start(position: int) -> str | WerkzeugResponse:
    """The instruction screen of the queued questionnaire."""
    return respond.show_start(_flow(position))


@bp.post("/<int:position>/start")
@respondent
def begin(position: int) -> WerkzeugResponse:
    """Begin or resume answering."""
    return respond.begin_answering(_flow(position, touch=True))


@bp.post("/<int:position>/sprog")
@respondent
def language(position: int) -> WerkzeugResponse:
    """Switch the questionnaire's language."""
    return respond.switch_language(_flow(position, touch=True))


@bp.get("/<int:position>/<int:number>")
@respondent
def question(position: int, number: int) -> str | WerkzeugResponse:
    """Show one question."""
    return respond.show_question(_flow(position), number)


@bp.post("/<int:position>/<int:number>")
@respondent
def answer(position: int, number: int) -> str | WerkzeugResponse | tuple[str, int]:
    """Save one answer (the view checks the CSRF token itself: see respond.take_answer)."""
    visit, flow = _visit_flow(position)

    def taken() -> None:
        # Taken (a refused answer re-shows the page and notes nothing): the citizen is active,
        # and after the last questionnaire the tablet is handed back; in the answer's own
        # transaction.
        kiosk_service.keep_alive(db_session(), visit, idle=idle_timeout())
        kiosk_service.settle(db_session(), visit, idle=idle_timeout())

    flow.after_answer = taken
    return respond.take_answer(flow, number)


@bp.get("/<int:position>/tak")
@respondent
def thanks(position: int) -> WerkzeugResponse:
    """A questionnaire is sent: on to the next one, or the hand-back screen."""
    _flow(position)
    return redirect(url_for("kiosk.screen"), code=303)


# --- offline: the runner page and the service worker (see kiosk/offline.js) -------------------


@bp.get("/offline")
@respondent
def offline_runner() -> str:
    """The visit's questionnaires as one page that answers without the network.

    The service worker keeps the latest copy and shows it when a kiosk address cannot be
    reached: every screen is an inert <template> (the same markup as the online pages), the
    citizen's choices stay in page memory, and each answer leaves the page only encrypted to
    the server's public key (surveyapp.offline_keys) into the tablet's queue. The page holds
    no answer: only which questions already have one. Once the tablet is handed back the page
    holds no questionnaire either.
    """
    visit = _visit()
    keys = offline_web.keyring()
    if keys is None:
        abort(404)  # no key configured: the kiosk works online only
    state, _reason = _shown(visit)
    places = []
    if state in (KioskState.HANDOVER, KioskState.ANSWERING):
        for position, assignment in enumerate(kiosk_service.queue(db_session(), visit), start=1):
            places.append(_offline_place(position, assignment))
    data = {
        "visit": visit.id,
        "credential": offline_service.credential_for(current_app.config["SECRET_KEY"], visit.id),
        "kid": keys.current_kid,
        "spki": keys.public_spki_b64,
        "state": "answering" if places else "handback",
        "places": [place["data"] for place in places],
    }
    return render_template(
        "kiosk/offline.html",
        data=data,
        places=places,
        idle_seconds=int(idle_timeout().total_seconds()),
        text_size=session.get("text_size", 1),
    )


def _offline_place(position: int, assignment: Assignment) -> dict[str, Any]:
    """One queued questionnaire's screens (rendered in its language) and what the page needs."""
    instrument = registry().get(assignment.instrument_id)
    response = assignment.response
    lang = response.language if response is not None else respond.language_for(instrument)
    flow = respond.Flow(assignment, instrument, Channel.KIOSK, "kiosk", {"position": position})
    params = flow.text_params
    answered = sorted(respond.answered_items(response))
    done = assignment.status is AssignmentStatus.DECLINED or (
        response is not None and response.submitted_at is not None
    )
    items = []
    with force_locale(lang):
        screens = render_template(
            "kiosk/_offline_place.html",
            flow=flow,
            instrument=instrument,
            lang=lang,
            position=position,
            title=instrument.title.get(lang, instrument.title[instrument.default_language]),
            questions=[
                respond.question_screen(flow, number, lang)
                for number in range(1, len(instrument.items) + 1)
            ]
            if not done
            else [],
            instruction=instrument.text("instruction", lang, params),
            preamble=instrument.text("preamble", lang, params),
            resumed=bool(answered),
        )
        for number, item in enumerate(instrument.items, start=1):
            entry: dict[str, Any] = {
                "id": item.id,
                "number": number,
                "optional": item.optional,
                "message": str(missing_answer_message(item)),
            }
            if item.kind is ItemKind.INTEGER:
                entry.update(min=item.min, max=item.max)
            items.append(entry)
    return {
        "screens": Markup(screens),  # noqa: S704 - our own template's output
        "data": {
            "position": position,
            "assignment": assignment.id,
            "language": lang,
            "done": done,
            "answered": answered,
            "items": items,
        },
    }


@bp.get("/sw.js")
@public
def service_worker() -> WerkzeugResponse:
    """The service worker: served from here, it may control every page of the tablet."""
    response = send_from_directory(KIOSK_DIR, "sw.js", mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- the PWA shell ---------------------------------------------------------------------------


@bp.get("/manifest.webmanifest")
@public
def manifest() -> WerkzeugResponse:
    """The web app manifest that installs the kiosk full-screen on the tablet."""
    return send_from_directory(
        KIOSK_DIR, "manifest.webmanifest", mimetype="application/manifest+json"
    )


@bp.get("/app/<path:filename>")
@public
def shell_file(filename: str) -> WerkzeugResponse:
    """The kiosk script and icons (from the top-level kiosk/ folder)."""
    if filename not in SHELL_FILES:
        abort(404)
    return send_from_directory(KIOSK_DIR, filename)
