"""Public pages: the front page and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session
from werkzeug.wrappers import Response

from surveyapp.app import SUPPORTED_LOCALES
from surveyapp.db import database_ok
from surveyapp.redirects import local_path, local_referrer
from surveyapp.web.access import public
from surveyapp.web.errors import RETRY_AFTER_SECONDS

bp = Blueprint("public", __name__)


@bp.get("/")
@public
def index() -> str:
    """Say what the service is and where staff log in."""
    return render_template("index.html")


@bp.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    """Answer 200 when the app and its database work, else 503 saying the database is down."""
    ok = database_ok(current_app.extensions["surveyapp.engine"])
    body = {"status": "ok" if ok else "error", "database": "ok" if ok else "down"}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    if not ok:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, 200 if ok else 503


def language_return_path() -> str | None:
    """The page the language switch comes back to: this one, if it can be shown again.

    Only a GET page is shown again (a page rendered by a POST may not exist as a GET), never
    an address that holds a link token, and only a path `local_path` accepts.
    """
    if request.method != "GET" or "token" in (request.view_args or {}):
        return None
    path = request.full_path.removesuffix("?")
    return local_path(path)


@bp.app_context_processor
def _language_switch() -> dict[str, object]:
    return {"language_return_path": language_return_path}


@bp.post("/language")
@public
def set_language() -> Response:
    """Remember the visitor's explicit language choice and show the same page again.

    The page is the form's `next` (the path the switch was pressed on), else the Referer if
    it names this site, else the front page; both go through surveyapp.redirects.
    """
    locale = request.form.get("locale", "")
    if locale in SUPPORTED_LOCALES:
        session["locale"] = locale
    back = local_path(request.form.get("next")) or local_referrer(request.referrer, request.host)
    return redirect(back or "/", code=303)
