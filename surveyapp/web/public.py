"""Public pages: the front page and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session
from werkzeug.wrappers import Response

from surveyapp.app import SUPPORTED_LOCALES
from surveyapp.db import database_ok
from surveyapp.web.access import public

bp = Blueprint("public", __name__)


@bp.get("/")
@public
def index() -> str:
    """Say what the service is and where staff log in."""
    return render_template("index.html")


@bp.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    """Answer 200 when the app and its database work, 503 otherwise."""
    ok = database_ok(current_app.extensions["surveyapp.engine"])
    body = {"status": "ok" if ok else "error", "database": "ok" if ok else "error"}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ok else 503


@bp.post("/language")
@public
def set_language() -> Response:
    """Remember the visitor's explicit language choice and go back to the front page."""
    locale = request.form.get("locale", "")
    if locale in SUPPORTED_LOCALES:
        session["locale"] = locale
    return redirect("/", code=303)
