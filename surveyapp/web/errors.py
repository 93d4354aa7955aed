"""Bad input of every kind gets a clear 4xx page in the visitor's language, never a 500.

Handled here once for the whole app, not route by route:
- `<int:...>` in every route only matches 1 to 9 ASCII digits below 2^31 (the database's
  integer), so `/staff/citizens/9223372036854775808` is "not found" before any query runs;
- control characters (NUL, CR, LF, ESC, ...) in the path, a query parameter or a form field
  are refused with 400 before any view reads them (PostgreSQL cannot store NUL; CR/LF has no
  place in a parameter, and no form has a multi-line field: browsers strip line breaks from
  single-line inputs). Only a tab is let through in a form field (it survives pasting);
- a body over the size limit, or one that cannot be parsed (malformed multipart), is refused
  with 413/400 before a view or an error page tries to read it, on known and unknown URLs;
- every other 4xx (403, 405, 429, an expired CSRF token, ...) gets the same calm page, and an
  unexpected error (which the tests and the fuzz run make sure does not happen) a calm 500.
Every error page (403, 404, 500 and the other 4xx) is shown in the layout of where the
visitor is (`page_context`), in their language, with a way back: a logged-in staff user gets
the staff layout and menu and the start page; a citizen in a kiosk visit or on a relative's
link gets the respondent layout, never any staff navigation, and the way back into the
questionnaire (or to the code form); anyone else the public layout and the front page. An
unknown or used-up link keeps its one calm page (surveyapp.web.respond.refusal).
Dates at the ends of the calendar are refused by the forms' shared date field
(`surveyapp.forms.fields.DateField`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask import Flask, current_app, make_response, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, NotFound
from werkzeug.routing import IntegerConverter

#: The largest id a route accepts: PostgreSQL's and SQLite's integer columns both hold it.
MAX_ID = 2**31 - 1
#: How long a client is asked to wait while the database cannot be reached (Retry-After).
RETRY_AFTER_SECONDS = 10
#: SQLite's messages for a database that is busy or cannot be opened (not a bad query).
SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")
#: A pasted tab survives in a single-line input; no other control character can be typed.
FORM_WHITESPACE = frozenset("\t")

TITLES = {
    400: _l("The request could not be used"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    405: _l("The request could not be used"),
    413: _l("Too much data was sent"),
    429: _l("Too many attempts"),
}
EXPLANATIONS = {
    400: _l(
        "Something in the address or the form could not be read. Go back, check what you "
        "typed and try again."
    ),
    403: _l("You do not have access to this page."),
    404: _l("There is nothing at this address."),
    405: _l("This page cannot be used in this way. Go back and use the buttons on the page."),
    413: _l("What was sent is larger than the service accepts. Go back and send less."),
    429: _l("Please wait a while and try again."),
}
SERVER_ERROR_TITLE = _l("Something went wrong")
SERVER_ERROR = _l(
    "Something went wrong on our side, and nothing was saved from this step. Please try again "
    "in a little while."
)
UNAVAILABLE_TITLE = _l("The service is temporarily unavailable")
UNAVAILABLE = _l(
    "The service cannot be used right now. Please try again in a little while. What was "
    "saved before is kept."
)
EXPIRED_FORM = _l(
    "The page was open for a long time, so what you sent was not saved. Go back, reload the "
    "page and try again."
)


#: Addresses of the respondent's side (links, the code form, the kiosk, the text size).
RESPONDENT_PATHS = ("/svar", "/k", "/kiosk", "/visning")
RESPONDENT_BLUEPRINTS = ("respond", "display", "kiosk")
#: Session keys that mean "a citizen or relative is answering in this browser".
KIOSK_GRANT = "kiosk_grant"  # surveyapp.web.kiosk.GRANT
HELD_LINK = "respondent_link"  # surveyapp.web.respond.HELD
STAFF_KIOSK_ENDPOINTS = ("kiosk.start_visit", "kiosk.set_pin")


def _respondent_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in RESPONDENT_PATHS)


def page_context() -> str:
    """Where the visitor is: "respondent" (kiosk visit or link), "staff" or "public"."""
    if KIOSK_GRANT in session:
        return "respondent"  # the tablet is in a citizen's hands, whoever logged in before
    staff_page = request.endpoint in STAFF_KIOSK_ENDPOINTS
    if not staff_page and (
        request.blueprint in RESPONDENT_BLUEPRINTS or _respondent_path(request.path)
    ):
        return "respondent"
    try:
        if current_user.is_authenticated:
            return "staff"
    except Exception:  # noqa: BLE001 - the user cannot be loaded (the database is gone)
        return "public"
    return "public"


def respondent_way_back() -> tuple[str, Any]:
    """The respondent's way back: the kiosk visit, the held questionnaire, or the code form."""
    if KIOSK_GRANT in session:
        return url_for("kiosk.screen"), _l("Back to the questionnaire")
    if HELD_LINK in session:
        return url_for("respond.start"), _l("Back to the questionnaire")
    return url_for("respond.enter_code"), _l("Type the code from the letter")


def render_error(code: int, title: Any, explanation: Any) -> str:
    """The error page in the layout of `page_context`."""
    context = page_context()
    if context == "staff":
        return render_template("staff/error.html", code=code, title=title, explanation=explanation)
    if context == "respondent":
        back_url, back_label = respondent_way_back()
        return render_template(
            "respond/error.html",
            code=code,
            title=title,
            explanation=explanation,
            back_url=back_url,
            back_label=back_label,
            text_size=session.get("text_size", 1),
            text_size_next=back_url,
        )
    return render_template("errors/error.html", code=code, title=title, explanation=explanation)


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` that matches only ASCII digits of ids the database can hold."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def refuse_unreadable_input() -> None:
    """Refuse a request whose path, parameters or form cannot be used (before any view)."""
    try:
        form = request.form
        request.files  # noqa: B018 - parse the whole body now, with the size limit
    except HTTPException:
        # 413 or a malformed body: nobody may try to read it again (not even an error page).
        request.form = request.files = ImmutableMultiDict()  # type: ignore[misc]
        raise
    if any(_is_control(c) for c in request.path):
        raise BadRequest()
    for key, value in request.args.items(multi=True):
        if any(_is_control(c) for c in key + value):
            raise BadRequest()
    for key, value in form.items(multi=True):
        if any(_is_control(c) for c in key) or any(
            _is_control(c) and c not in FORM_WHITESPACE for c in value
        ):
            raise BadRequest()


def error_page(error: HTTPException) -> tuple[str, int]:
    """The calm page for a 4xx, in the visitor's language."""
    code = error.code or 400
    try:
        request.form  # noqa: B018
    except HTTPException:
        request.form = request.files = ImmutableMultiDict()  # type: ignore[misc]
    expired = isinstance(error, CSRFError)
    body = render_error(
        code,
        TITLES.get(code, TITLES[400]),
        EXPIRED_FORM if expired else EXPLANATIONS.get(code, EXPLANATIONS[400]),
    )
    return body, code


def not_found_page(error: NotFound) -> tuple[str, int]:
    """An unknown address: the respondent's one calm page on the respondent's side (outside a
    kiosk visit, so that it stays the same for every link that leads nowhere), else the page of
    the visitor's context."""
    if page_context() == "respondent" and KIOSK_GRANT not in session:
        from surveyapp.web.respond import not_found

        return not_found(error)
    return error_page(error)


def server_error_page(error: Exception) -> Any:
    """The last resort: a calm page without details (the traceback goes to the log only).

    A database out of reach outside a view (e.g. while the session is opened) is still 503.
    """
    original = getattr(error, "original_exception", None)
    if original is not None and database_unavailable(original):
        return unavailable_page(original)
    try:
        body = render_error(500, SERVER_ERROR_TITLE, SERVER_ERROR)
    except Exception:  # the page itself cannot be made (e.g. the database is gone)
        body = "<!doctype html><title>500</title><p>Internal error / Intern fejl</p>"
    return body, 500


def database_unavailable(error: BaseException) -> bool:
    """True for an error that means the database cannot be reached or used just now: it is
    down or restarting, a connection was cut, the pool has no free connection, or (SQLite)
    the file is locked. Not for errors of the request itself (a constraint, bad SQL)."""
    if isinstance(error, OperationalError) and type(error.orig).__module__ == "sqlite3":
        # SQLite says OperationalError for a missing table too: only a busy or missing file.
        message = str(error.orig).lower()
        return any(sign in message for sign in SQLITE_UNAVAILABLE)
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def unavailable_page(error: Exception) -> Any:
    """503 with Retry-After while the database is out of reach, in the visitor's layout.

    The request's transaction is gone with its connection (the pool checks connections
    before use and replaces cut ones, so the app recovers by itself once the database is
    back); the client tries the same step again, which the app stores once.
    """
    if not database_unavailable(error):
        raise error
    original = getattr(error, "orig", None) or error
    first_line = (str(original).splitlines() or [""])[0][:200]
    # The class and the first line only: the SQL and its parameters stay out of the log.
    current_app.logger.warning("database unavailable (%s): %s", type(original).__name__, first_line)
    try:
        body = render_error(503, UNAVAILABLE_TITLE, UNAVAILABLE)
    except Exception:  # noqa: BLE001 - the page itself cannot be made
        body = (
            "<!doctype html><title>503</title><p>The service is temporarily unavailable / "
            "Tjenesten er midlertidigt utilg\u00e6ngelig</p>"
        )
    response = make_response(body, 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _handle(error: HTTPException) -> Any:
    if error.code is None or not 400 <= error.code < 500:
        return error  # redirects, responses given to abort(), 5xx
    if isinstance(error, NotFound):
        return not_found_page(error)
    return error_page(error)


def install_converters(app: Flask) -> None:
    """Bound `<int:...>` app-wide (call before any blueprint is registered)."""
    app.url_map.converters["int"] = BoundedIntConverter


def init_app(app: Flask) -> None:
    """Refuse unreadable input first (after the upload limit) and show 4xx pages (call last)."""
    hooks = app.before_request_funcs.setdefault(None, [])
    # The import upload's own, larger size limit must be set before the body is read.
    position = next(
        (i + 1 for i, hook in enumerate(hooks) if getattr(hook, "__name__", "") == "_upload_limit"),
        0,
    )
    hooks.insert(position, refuse_unreadable_input)
    app.register_error_handler(HTTPException, _handle)
    app.register_error_handler(NotFound, not_found_page)
    app.register_error_handler(InternalServerError, server_error_page)
    # Any other DBAPIError reaches server_error_page, which still answers 503 for a cut
    # connection (`connection_invalidated`).
    for kind in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(kind, unavailable_page)
