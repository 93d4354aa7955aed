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
Dates at the ends of the calendar are refused by the forms' shared date field
(`surveyapp.forms.fields.DateField`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, NotFound
from werkzeug.routing import IntegerConverter

#: The largest id a route accepts: PostgreSQL's and SQLite's integer columns both hold it.
MAX_ID = 2**31 - 1
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
EXPIRED_FORM = _l(
    "The page was open for a long time, so what you sent was not saved. Go back, reload the "
    "page and try again."
)


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
    body = render_template(
        "errors/error.html",
        code=code,
        title=TITLES.get(code, TITLES[400]),
        explanation=EXPIRED_FORM if expired else EXPLANATIONS.get(code, EXPLANATIONS[400]),
    )
    return body, code


def server_error_page(_error: Exception) -> tuple[str, int]:
    """The last resort: a calm page without details (the traceback goes to the log only)."""
    try:
        body = render_template(
            "errors/error.html", code=500, title=SERVER_ERROR_TITLE, explanation=SERVER_ERROR
        )
    except Exception:  # the page itself cannot be made (e.g. the database is gone)
        body = "<!doctype html><title>500</title><p>Internal error / Intern fejl</p>"
    return body, 500


def _handle(error: HTTPException) -> Any:
    if error.code is None or not 400 <= error.code < 500 or isinstance(error, NotFound):
        return error  # redirects, responses given to abort(), 5xx; 404 has its own page
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
    app.register_error_handler(InternalServerError, server_error_page)
