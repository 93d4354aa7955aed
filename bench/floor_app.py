"""The floor of the load benchmark: a bare Flask app that answers the same requests as a whole
WHO-5 by link, and does the least a real one must.

    gunicorn -c gunicorn.conf.py bench.floor_app:app     (FLOOR_DATABASE_URL=..., see below)

The same 14 requests with the same statuses as surveyapp's link path (bench/loadkit.walk_who5):
GET /svar/<token> (303, the token into the cookie session), GET /svar/ (the start page with a
hidden CSRF-like field), POST /svar/start (303), five times GET /svar/<n> (a page of about
FLOOR_PAGE_BYTES, the size of the app's question page) and POST /svar/<n> (the field checked
against the session, ONE INSERT into `floor_answer`, 303), GET /svar/tak. Flask's signed cookie
session, Jinja rendering, no-store headers. No ORM, no instrument, no scoring: what Flask,
gunicorn and the database driver cost by themselves. The table is made by the benchmark
(`FLOOR_TABLE`) before gunicorn starts.
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Any

from flask import Flask, abort, redirect, render_template_string, request, session
from sqlalchemy import text

from surveyapp.db import make_engine

ITEMS = 5
FLOOR_TABLE = (
    "CREATE TABLE IF NOT EXISTS floor_answer ("
    " id {serial} PRIMARY KEY, token VARCHAR(64) NOT NULL, item INTEGER NOT NULL,"
    " value INTEGER NOT NULL)"
)

PAGE = """<!doctype html>
<html lang="da"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{{ title }}</h1>
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf_token" value="{{ csrf }}">
{% for value, label in options %}<label><input type="radio" name="{{ field }}" value="{{ value }}">
{{ label }}</label>
{% endfor %}<button type="submit">Næste</button></form>
<p>{{ filler }}</p></main></body></html>"""

OPTIONS = [(str(v), f"Svarmulighed nummer {v}") for v in range(5, -1, -1)]


def table_sql(url: str) -> str:
    """The floor's table, in the dialect of `url`."""
    serial = "SERIAL" if url.startswith("postgresql") else "INTEGER"
    return FLOOR_TABLE.format(serial=serial)


def create_floor_app(url: str, page_bytes: int = 6000, secret_key: str = "floor-" * 8) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret_key
    engine = make_engine(url)
    app.extensions["floor.engine"] = engine
    insert = text("INSERT INTO floor_answer (token, item, value) VALUES (:token, :item, :value)")
    filler = "x" * max(0, page_bytes - 900)

    def page(title: str, action: str, field: str, options: list[tuple[str, str]]) -> str:
        return render_template_string(
            PAGE,
            title=title,
            action=action,
            csrf=session["csrf"],
            field=field,
            options=options,
            filler=filler,
        )

    def checked() -> str:
        token = session.get("token")
        if not token:
            abort(404)
        sent = request.form.get("csrf_token", "")
        if request.method == "POST" and not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400)
        return str(token)

    @app.after_request
    def no_store(response: Any) -> Any:
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/svar/<token>")
    def open_link(token: str) -> Any:
        session.clear()
        session["token"] = token
        session["csrf"] = secrets.token_urlsafe(32)
        return redirect("/svar/", code=303)

    @app.get("/svar/")
    def start() -> str:
        checked()
        return page("WHO-5 Trivselsindeks", "/svar/start", "begin", [])

    @app.post("/svar/start")
    def begin() -> Any:
        checked()
        return redirect("/svar/1", code=303)

    @app.get("/svar/<int:number>")
    def question(number: int) -> str:
        checked()
        if not 1 <= number <= ITEMS:
            abort(404)
        return page(f"Spørgsmål {number} af {ITEMS}", f"/svar/{number}", f"who5_{number}", OPTIONS)

    @app.post("/svar/<int:number>")
    def answer(number: int) -> Any:
        token = checked()
        value = request.form.get(f"who5_{number}", "")
        if not 1 <= number <= ITEMS or value not in {v for v, _ in OPTIONS}:
            abort(400)
        with engine.begin() as connection:
            connection.execute(insert, {"token": token, "item": number, "value": int(value)})
        return redirect("/svar/tak" if number == ITEMS else f"/svar/{number + 1}", code=303)

    @app.get("/svar/tak")
    def thanks() -> str:
        checked()
        return page("Tak for dine svar", "/", "none", [])

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


if os.environ.get("FLOOR_DATABASE_URL"):
    app = create_floor_app(
        os.environ["FLOOR_DATABASE_URL"], int(os.environ.get("FLOOR_PAGE_BYTES") or "6000")
    )
