"""Staff login and logout, the session checks made on every request, and `staff_required`.

Flask-Login keeps the user id in the signed session cookie, beside the random id of a
server-side session (surveyapp.services.staff_sessions). Every request reloads the user and
that session, and refuses it when the user is inactive, the session was ended (logout, an
admin) or is suspended (a kiosk visit on this tablet), the user's session version has changed
(password change or reset, deactivation: every session ends), the session has been idle
longer than STAFF_IDLE_TIMEOUT or is older than STAFF_MAX_SESSION_AGE.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from surveyapp.enums import ActorType, Role
from surveyapp.forms.staff import (
    ActionForm,
    CodeForm,
    EnrolCodeForm,
    LoginForm,
    PasswordChangeForm,
)
from surveyapp.letters import qr_svg
from surveyapp.models import StaffUser, utcnow
from surveyapp.redirects import local_path
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import HasherSlots
from surveyapp.services import audit, staff_sessions, throttle, two_factor
from surveyapp.services import auth as auth_service
from surveyapp.services.scope import NotPermitted, OutOfScope, Scope
from surveyapp.web import unit_of_work
from surveyapp.web.access import mark_staff, public

F = TypeVar("F", bound=Callable[..., Any])
COPENHAGEN = ZoneInfo("Europe/Copenhagen")
SESSION_KEYS = ("staff_sid", "staff_sv", "staff_login_at", "staff_seen_at")
PENDING_KEYS = ("pending_uid", "pending_sv", "pending_at", "pending_next", "pending_step")

bp = Blueprint("auth", __name__)
login_manager = LoginManager()


@dataclass(frozen=True)
class StaffPrincipal(UserMixin):  # type: ignore[misc]
    """The logged-in user as the request sees it: a snapshot, not a database object."""

    id: int
    username: str
    full_name: str
    role: Role
    municipality_id: int
    municipality_name: str
    provider_id: int | None
    provider_name: str | None
    team_id: int | None
    team_name: str | None

    @classmethod
    def of(cls, user: StaffUser) -> StaffPrincipal:
        return cls(
            id=user.id,
            username=user.username,
            full_name=user.full_name,
            role=user.role,
            municipality_id=user.municipality_id,
            municipality_name=user.municipality.name,
            provider_id=user.provider_id,
            provider_name=user.provider.name if user.provider else None,
            team_id=user.team_id,
            team_name=user.team.name if user.team else None,
        )

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def sees_individuals(self) -> bool:
        return self.role in (Role.ADMIN, Role.COORDINATOR)


# --- helpers for every staff view ------------------------------------------------------------


DISPLAY_CHOICES = ("locale", "text_size")


def fresh_session() -> None:
    """Forget everything in the session but the visitor's language and text size."""
    keep = {key: session[key] for key in DISPLAY_CHOICES if key in session}
    session.clear()
    session.update(keep)


def open_session(db: Session, user: StaffUser) -> str:
    """A new server-side session for the user in this browser; its random id."""
    return staff_sessions.open_session(db, user, user_agent=request.user_agent.string)


def begin_staff_session(
    principal: StaffPrincipal, *, session_version: int, login_at: float, sid: str
) -> None:
    """Log a staff user in on a fresh session (after the password, or the kiosk PIN).

    `sid` is the id of the server-side session (`open_session`, or a resumed one): new at
    every login, so nothing from the cookie the browser had before (which an attacker may
    have planted) survives into the logged-in session.
    """
    fresh_session()
    session["staff_sid"] = sid
    session["staff_sv"] = session_version
    session["staff_login_at"] = login_at
    session["staff_seen_at"] = utcnow().timestamp()
    login_user(principal)


def current_scope() -> Scope:
    """The organisational scope of the logged-in user (see surveyapp.services.scope)."""
    user: StaffPrincipal = current_user  # type: ignore[assignment]
    return Scope(
        user_id=user.id,
        role=user.role,
        municipality_id=user.municipality_id,
        provider_id=user.provider_id,
        team_id=user.team_id,
        ip_address=request.remote_addr,
    )


def today() -> date:
    """Today in Denmark (tests may fix it with app.config["SURVEYAPP_TODAY"])."""
    fixed = current_app.config.get("SURVEYAPP_TODAY")
    if fixed is not None:
        return fixed  # type: ignore[no-any-return]
    return today_in_denmark()


def policy() -> auth_service.LoginPolicy:
    config = current_app.config
    return auth_service.LoginPolicy(
        max_failures=config["LOGIN_MAX_FAILURES"],
        lockout=config["LOGIN_LOCKOUT"],
        ip_max_failures=config["LOGIN_IP_MAX_FAILURES"],
        ip_window=config["LOGIN_IP_WINDOW"],
        code_max_failures=config["LOGIN_CODE_MAX_FAILURES"],
        code_window=config["LOGIN_CODE_WINDOW"],
        idle_timeout=config["STAFF_IDLE_TIMEOUT"],
        max_age=config["STAFF_MAX_SESSION_AGE"],
    )


def key_secret() -> str:
    """The key of the rate-limit counters' hashes (the app's secret key)."""
    return str(current_app.config["SECRET_KEY"])


def staff_required(roles: Iterable[Role] = ()) -> Callable[[F], F]:
    """Require a logged-in staff user (of one of `roles`, if given) and declare the rule."""
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if allowed and current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return mark_staff(allowed)(wrapped)  # type: ignore[return-value]

    return decorate


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never another host) is followed after login."""
    return local_path(target)


def init_app(app: Flask) -> None:
    """Set up Flask-Login and the staff session rules."""
    app.config.setdefault("STAFF_IDLE_TIMEOUT", timedelta(minutes=30))
    app.config.setdefault("STAFF_MAX_SESSION_AGE", timedelta(hours=12))
    app.config.setdefault("LOGIN_MAX_FAILURES", 5)
    app.config.setdefault("LOGIN_LOCKOUT", timedelta(minutes=15))
    app.config.setdefault("LOGIN_IP_MAX_FAILURES", 20)
    app.config.setdefault("LOGIN_IP_WINDOW", timedelta(minutes=15))
    app.config.setdefault("LOGIN_CODE_MAX_FAILURES", 5)
    app.config.setdefault("LOGIN_CODE_WINDOW", timedelta(minutes=15))
    app.config.setdefault("LOGIN_PENDING_TIMEOUT", timedelta(minutes=5))
    # argon2 at once on this host (every process): half the cores, at least one; a login that
    # finds none free within LOGIN_HASHER_WAIT is answered "try again" (surveyapp.security).
    # No wait by default: a sync worker waiting for a slot serves nobody meanwhile, and a
    # burst then holds every worker (one hashing, the others waiting) while citizens queue.
    app.config.setdefault("LOGIN_HASHER_SLOTS", max(1, (os.cpu_count() or 2) // 2))
    app.config.setdefault("LOGIN_HASHER_WAIT", timedelta(0))
    # The slots' lock files; None: a folder of the temporary directory named by the database,
    # so that every process of one installation on this host shares it (and nothing else).
    app.config.setdefault("LOGIN_HASHER_DIR", None)
    app.config.setdefault("CPR_LOOKUP_MAX", 30)
    app.config.setdefault("CPR_LOOKUP_WINDOW", timedelta(minutes=15))
    # Addresses this process has seen over their login limit: refused without the database.
    app.config.setdefault("LOGIN_REFUSALS_FLUSH", timedelta(seconds=1))
    app.extensions["surveyapp.login_over_limit"] = throttle.OverLimit(
        app.config["LOGIN_REFUSALS_FLUSH"].total_seconds()
    )
    # Templates get `current_user` as the lazy proxy, not loaded for every page: a
    # respondent's page never touches it, so it neither reads a user nor, with "strong"
    # session protection, rewrites a session that has no user (a cookie on every answer).
    login_manager.init_app(app, add_context_processor=False)
    app.context_processor(lambda: {"current_user": current_user})
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @app.errorhandler(OutOfScope)
    def _out_of_scope(_exc: OutOfScope) -> tuple[str, int]:
        return render_template("staff/error.html", code=404), 404

    @app.errorhandler(NotPermitted)
    def _not_permitted(_exc: NotPermitted) -> tuple[str, int]:
        return render_template("staff/error.html", code=403), 403


@login_manager.user_loader
def _load_user(user_id: str) -> StaffPrincipal | None:
    try:
        uid = int(user_id)
    except ValueError:
        return None
    now = utcnow()
    with unit_of_work() as db:
        user = auth_service.load_user(db, uid)
        problem = auth_service.session_problem(
            user,
            session_version=session.get("staff_sv"),
            login_at=session.get("staff_login_at"),
            seen_at=session.get("staff_seen_at"),
            policy=policy(),
            now=now,
        )
        if user is not None and problem is None:
            problem = staff_sessions.problem(
                staff_sessions.find(db, session.get("staff_sid")),
                user.id,
                max_age=policy().max_age,
                now=now,
            )
        principal = StaffPrincipal.of(user) if user is not None and problem is None else None
    if principal is None:
        for key in (*SESSION_KEYS, "_user_id", "_fresh", "_id"):
            session.pop(key, None)
        g.staff_session_ended = problem
        return None
    session["staff_seen_at"] = now.timestamp()
    return principal


@login_manager.unauthorized_handler
def _unauthorized() -> Response:
    reason = g.get("staff_session_ended")
    if reason in ("idle", "max_age"):
        flash(_("Your session has expired. Please log in again."), "info")
    elif reason in ("ended", "inactive", "suspended"):
        flash(_("Your session has ended. Please log in again."), "info")
    else:
        flash(_("Please log in to continue."), "info")
    target = None
    if request.method == "GET":
        target = quote(request.path)
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
    return redirect(url_for("auth.login", next=_safe_next(target)))


# --- views -----------------------------------------------------------------------------------


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


LOGIN_REFUSED = _l(
    "Login failed. Check your username, password and code. After several failed attempts, "
    "logging in is paused for up to 15 minutes (with an authenticator app, type its code "
    "together with your password). An administrator can help."
)


LOGIN_BUSY = _l(
    "Many people are logging in right now. Wait a moment and try again: nothing was checked "
    "and nothing counts against you."
)


def hasher_slots() -> HasherSlots:
    """The host's argon2 slots (shared by every process of the app on this machine)."""
    config = current_app.config
    directory = config["LOGIN_HASHER_DIR"]
    if directory is None:
        url = current_app.extensions["surveyapp.engine"].url.render_as_string()
        name = hashlib.sha256(url.encode()).hexdigest()[:16]
        directory = Path(tempfile.gettempdir()) / f"surveyapp-hasher-{os.getuid()}-{name}"
    return HasherSlots(directory, config["LOGIN_HASHER_SLOTS"])


@dataclass(frozen=True)
class _Attempted:
    result: auth_service.LoginResult
    principal: StaffPrincipal | None = None
    session_version: int | None = None
    sid: str | None = None  # the new server-side session of a login that is complete


def _attempt_login(form: LoginForm) -> _Attempted:
    """The attempt in three steps, in a hasher slot if one is free: reserved on the counters
    (committed), the hasher (no transaction open), then concluded in a second transaction."""
    wait = current_app.config["LOGIN_HASHER_WAIT"].total_seconds()
    password = form.password.data or ""
    with hasher_slots().hold(wait) as free:
        with unit_of_work() as db:
            attempt = auth_service.begin_login(
                db,
                form.username.data or "",
                code=form.code.data or "",
                policy=policy(),
                key_secret=key_secret(),
                ip_address=request.remote_addr,
                over=current_app.extensions["surveyapp.login_over_limit"],
                hasher_free=free,
            )
        if isinstance(attempt, auth_service.LoginResult):
            return _Attempted(attempt)
        verified = auth_service.verify_attempt(attempt, password)
    with unit_of_work() as db:
        result = auth_service.finish_login(
            db, attempt, verified, password, policy=policy(), key_secret=key_secret()
        )
        user = result.user
        if user is None:
            return _Attempted(result)
        complete = result.outcome is auth_service.LoginOutcome.OK
        return _Attempted(
            result,
            StaffPrincipal.of(user),
            user.session_version,
            open_session(db, user) if complete else None,
        )


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Log a staff user in: the password (and a code if given), then the second factor."""
    if current_user.is_authenticated:
        return redirect(url_for("coordinator.home"))
    form = LoginForm()
    if form.validate_on_submit():
        next_url = _safe_next(request.args.get("next"))
        attempted = _attempt_login(form)
        result, principal, version, sid = (
            attempted.result,
            attempted.principal,
            attempted.session_version,
            attempted.sid,
        )
        outcome = auth_service.LoginOutcome
        if principal is not None and sid is not None and result.outcome is outcome.OK:
            begin_staff_session(
                principal,
                session_version=version,  # type: ignore[arg-type]
                login_at=utcnow().timestamp(),
                sid=sid,
            )
            return redirect(next_url or url_for("coordinator.home"))
        if principal is not None and result.outcome in (
            outcome.NEEDS_CODE,
            outcome.NEEDS_ENROLMENT,
        ):
            step = "code" if result.outcome is outcome.NEEDS_CODE else "enrol"
            _begin_pending(principal.id, version, step, next_url)  # type: ignore[arg-type]
            return redirect(url_for("auth.second_factor" if step == "code" else "auth.enrol"), 303)
        busy = result.outcome is outcome.BUSY
        form.form_errors.append(str(LOGIN_BUSY if busy else LOGIN_REFUSED))
        form.password.data = ""
        form.code.data = ""
        page = render_template("staff/login.html", form=form)
        if busy:
            return page, 503, {"Retry-After": "2"}
        return page, 200
    return render_template("staff/login.html", form=form)


# --- the second factor: between the password and the session ---------------------------------


_STEP_VIEWS = {"code": "second_factor", "enrol": "enrol"}


def _begin_pending(user_id: int, session_version: int, step: str, next_url: str | None) -> None:
    """The password was right: remember who, for a few minutes, on a fresh session."""
    fresh_session()
    session["pending_uid"] = user_id
    session["pending_sv"] = session_version
    session["pending_at"] = utcnow().timestamp()
    session["pending_step"] = step
    session["pending_next"] = next_url


def _pending(step: str) -> tuple[int, int, str | None] | None:
    """(user id, session version, next) of a password step that is still fresh, else None."""
    started = session.get("pending_at")
    limit = current_app.config["LOGIN_PENDING_TIMEOUT"].total_seconds()
    if (
        session.get("pending_step") != step
        or not isinstance(started, int | float)
        or utcnow().timestamp() - started > limit
    ):
        return None
    return session["pending_uid"], session["pending_sv"], session.get("pending_next")


def _start_again() -> Response:
    """Back to the password (or on to the step that is actually pending)."""
    step = session.get("pending_step")
    if (
        step in ("code", "enrol")
        and request.endpoint != f"auth.{_STEP_VIEWS[step]}"
        and _pending(step) is not None
    ):
        return redirect(url_for(f"auth.{_STEP_VIEWS[step]}"), 303)
    fresh_session()
    flash(_("Please log in again."), "info")
    return redirect(url_for("auth.login"), 303)


def _finish(db: Session, user: StaffUser) -> None:
    begin_staff_session(
        StaffPrincipal.of(user),
        session_version=user.session_version,
        login_at=utcnow().timestamp(),
        sid=open_session(db, user),
    )


@bp.route("/login/code", methods=["GET", "POST"])
@public
def second_factor() -> Response | str | tuple[str, int]:
    """The code from the authenticator app (or a recovery code) after a right password."""
    if current_user.is_authenticated:
        return redirect(url_for("coordinator.home"))
    pending = _pending("code")
    if pending is None:
        return _start_again()
    user_id, version, next_url = pending
    form = CodeForm()
    if form.validate_on_submit():
        with unit_of_work() as db:
            checked, user = auth_service.second_step(
                db,
                user_id,
                version,
                form.code.data or "",
                policy=policy(),
                key_secret=key_secret(),
                ip_address=request.remote_addr,
            )
            if user is not None:
                _finish(db, user)
        if user is not None:
            return redirect(next_url or url_for("coordinator.home"))
        if checked is two_factor.CodeCheck.TOO_MANY:
            fresh_session()
            flash(
                _(
                    "Too many wrong codes. Wait 15 minutes and log in again, or ask an "
                    "administrator."
                ),
                "error",
            )
            return redirect(url_for("auth.login"), 303)
        form.code.errors = [_("The code is wrong or has been used. Type the newest code.")]
        form.code.data = ""
        return render_template("staff/login_code.html", form=form), 200
    return render_template("staff/login_code.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
@public
def enrol() -> Response | str | tuple[str, int]:
    """Set up the authenticator app: required before anything else for this user."""
    if current_user.is_authenticated:
        return redirect(url_for("coordinator.home"))
    pending = _pending("enrol")
    if pending is None:
        return _start_again()
    user_id, version, next_url = pending
    form = EnrolCodeForm()
    with unit_of_work() as db:
        user = db.get(StaffUser, user_id)
        if user is None or not user.active or user.session_version != version:
            return _start_again()
        actor = audit.Actor(ActorType.ANONYMOUS, None, user.municipality_id, request.remote_addr)
        if two_factor.is_enrolled(user):
            return _start_again()
        if request.method == "POST" and request.form.get("start") and ActionForm().validate():
            two_factor.begin_enrolment(db, user, actor)
            return redirect(url_for("auth.enrol"), 303)
        enrolment = two_factor.pending_enrolment(user)
        if enrolment is not None and form.validate_on_submit():
            codes = two_factor.confirm_enrolment(db, user, form.code.data or "", actor)
            if codes is not None:
                auth_service.complete_login(
                    db, user, None, request.remote_addr, key_secret=key_secret()
                )
                _finish(db, user)
                return render_template(
                    "staff/recovery_codes.html",
                    codes=codes,
                    next_url=next_url or url_for("coordinator.home"),
                )
            form.code.errors = [_("The code is wrong. Type the code the app shows now.")]
            form.code.data = ""
    return render_template(
        "staff/enrol.html",
        form=form,
        start_form=ActionForm(),
        enrolment=enrolment,
        qr=qr_svg(enrolment.uri) if enrolment is not None else None,
    )


@bp.route("/staff/account/two-factor", methods=["GET", "POST"])
@staff_required()
def account_two_factor() -> Response | str | tuple[str, int]:
    """Set up an authenticator app of one's own accord (or see that it is set up)."""
    form = EnrolCodeForm()
    scope = current_scope()
    with unit_of_work() as db:
        user = db.get(StaffUser, scope.user_id)
        assert user is not None
        if two_factor.is_enrolled(user):
            left = two_factor.recovery_codes_left(db, user.id)
            return render_template("staff/account_two_factor.html", left=left)
        if request.method == "POST" and request.form.get("start") and ActionForm().validate():
            two_factor.begin_enrolment(db, user, scope.actor)
            return redirect(url_for("auth.account_two_factor"), 303)
        enrolment = two_factor.pending_enrolment(user)
        if enrolment is not None and form.validate_on_submit():
            codes = two_factor.confirm_enrolment(db, user, form.code.data or "", scope.actor)
            if codes is not None:
                return render_template(
                    "staff/recovery_codes.html", codes=codes, next_url=url_for("coordinator.home")
                )
            form.code.errors = [_("The code is wrong. Type the code the app shows now.")]
            form.code.data = ""
    return render_template(
        "staff/enrol.html",
        form=form,
        start_form=ActionForm(),
        enrolment=enrolment,
        qr=qr_svg(enrolment.uri) if enrolment is not None else None,
        voluntary=True,
    )


PASSWORD_CHANGE_ERRORS = {
    "current_password_wrong": _l("This is not your current password."),
    "current_password_locked": _l(
        "Too many wrong passwords for this account. Wait 15 minutes and try again."
    ),
}


@bp.route("/staff/account/password", methods=["GET", "POST"])
@staff_required()
def change_password() -> Response | str | tuple[str, int]:
    """Change one's own password (the current one first); other sessions end, 2FA stays."""
    from surveyapp.web.admin import USER_ERRORS

    form = PasswordChangeForm()
    if form.validate_on_submit():
        with unit_of_work() as db:
            user, error = auth_service.change_own_password(
                db,
                current_scope(),
                form.current_password.data or "",
                form.password.data or "",
                policy=policy(),
                key_secret=key_secret(),
            )
            if user is not None:
                principal, version = StaffPrincipal.of(user), user.session_version
                sid = open_session(db, user)
        if error is not None or user is None:
            messages = {**USER_ERRORS, **PASSWORD_CHANGE_ERRORS}
            field = error.field if error is not None else "current_password"
            text = messages.get(str(error), messages["current_password_wrong"])
            getattr(form, field).errors = [str(text)]
            return render_template("staff/password_change.html", form=form), 200
        # This browser goes on, on a fresh session; every other session of the user has ended.
        begin_staff_session(
            principal, session_version=version, login_at=utcnow().timestamp(), sid=sid
        )
        flash(_("Your password is changed. You have been logged out everywhere else."), "success")
        return redirect(url_for("coordinator.home"), 303)
    return render_template("staff/password_change.html", form=form)


@bp.post("/logout")
@staff_required()
def logout() -> Response:
    """Log out: this browser's session ends (the user's other devices stay logged in)."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    with unit_of_work() as db:
        auth_service.logout(
            db, current_user.id, sid=session.get("staff_sid"), ip_address=request.remote_addr
        )
    logout_user()
    fresh_session()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))
