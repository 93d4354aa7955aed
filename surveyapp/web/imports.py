"""Admins import paper and legacy responses: upload → preview → confirm → done.

The uploaded file is read and checked at once (surveyapp.importing) and checked against the
database in a dry run (services.imports.preview_import); only the checked rows, which hold
pseudonyms and no CPR number, wait for the confirmation in a file of their own (readable by
this user only, deleted on confirmation or cancellation, ignored after an hour).
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from surveyapp.enums import Respondent, Role
from surveyapp.forms.imports import ImportUploadForm
from surveyapp.forms.staff import ActionForm
from surveyapp.importing import (
    MAX_BYTES,
    MAX_ROWS,
    MESSAGES,
    ImportProblem,
    ImportRejected,
    parse,
    problem,
    rows_from_json,
    rows_to_json,
)
from surveyapp.services import imports as import_service
from surveyapp.web import registry, unit_of_work
from surveyapp.web.auth import current_scope, staff_required, today
from surveyapp.web.errors import error_page

bp = Blueprint("imports", __name__, url_prefix="/staff/admin/import")
ADMIN = (Role.ADMIN,)
PENDING_SECONDS = 3600
UPLOAD_OVERHEAD = 64 * 1024  # room for the multipart envelope around a file of MAX_BYTES
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    # Before every other hook (the CSRF check reads the form, and with it the body): an upload
    # may be larger than the app's general request limit.
    app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)


def _upload_limit() -> None:
    if request.endpoint == "imports.upload":
        request.max_content_length = MAX_BYTES + UPLOAD_OVERHEAD
        # Werkzeug spools uploads over 500 KB to a temporary file; this one holds CPR numbers,
        # so it stays in memory (at most MAX_BYTES) and is gone with the request.
        request._get_file_stream = _in_memory  # type: ignore[method-assign]


def _in_memory(*_args: Any, **_kwargs: Any) -> io.BytesIO:
    return io.BytesIO()


@bp.app_errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Any:
    if request.endpoint != "imports.upload":
        return error_page(exc)
    # The body was not read to its end: the page is shown as if nothing had been posted.
    request.form = request.files = ImmutableMultiDict()  # type: ignore[misc]
    limit = MAX_BYTES // (1024 * 1024)
    return _upload_page(
        ImportUploadForm(formdata=None), [problem("file_too_large", limit=limit)], 413
    )


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- rows waiting for confirmation ------------------------------------------------------------


def _pending_dir(*, create: bool = False) -> Path:
    """Where checked rows wait (SURVEYAPP_IMPORT_DIR in the app config, or the instance folder)."""
    configured = current_app.config.get("SURVEYAPP_IMPORT_DIR")
    directory = Path(configured or Path(current_app.instance_path) / "pending-imports")
    if create:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def _pending_path(token: str) -> Path:
    if not _TOKEN.fullmatch(token):
        abort(404)
    return _pending_dir() / f"{token}.json"


def _forget_old() -> None:
    cutoff = time.time() - PENDING_SECONDS
    for path in _pending_dir(create=True).iterdir():
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _keep(payload: dict[str, Any]) -> str:
    token = secrets.token_urlsafe(24)
    path = _pending_dir(create=True) / f"{token}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False)
    return token


def _pending(token: str) -> dict[str, Any]:
    """The rows this user uploaded under this token; 404 for anyone else's or an old one."""
    path = _pending_path(token)
    try:
        if path.stat().st_mtime < time.time() - PENDING_SECONDS:
            path.unlink(missing_ok=True)
            abort(404)
        payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        abort(404)
    scope = current_scope()
    if payload.get("user_id") != scope.user_id or payload.get("municipality_id") != (
        scope.municipality_id
    ):
        abort(404)
    return payload


# --- pages ------------------------------------------------------------------------------------


def _messages(problems: list[ImportProblem]) -> list[tuple[int | None, str | None, str]]:
    """(row, column, message in the page's language) for every problem."""
    shown = []
    for p in problems:
        params = dict(p.params)
        if "limit" in params:  # a number of ours (a cell's value is echoed as written)
            params["limit"] = format_decimal(int(params["limit"]))
        shown.append((p.row, p.column, _(MESSAGES[p.code], **params)))
    return shown


def _upload_page(form: ImportUploadForm, problems: list[ImportProblem], status: int = 200) -> Any:
    return (
        render_template(
            "imports/upload.html",
            form=form,
            problems=_messages(problems),
            max_mb=MAX_BYTES // (1024 * 1024),
            max_rows=MAX_ROWS,
        ),
        status,
    )


def _summary_view(details: dict[str, Any]) -> dict[str, Any]:
    responses = []
    for key, count in details["responses"].items():
        instrument_id, _sep, respondent = key.partition("/")
        responses.append((instrument_id, Respondent(respondent), count))
    return {**details, "response_rows": responses, "response_count": sum(c for *_, c in responses)}


@bp.route("", methods=["GET", "POST"])
@staff_required(ADMIN)
def upload() -> Any:
    """Upload a file of responses; check it, then show what the import would do."""
    form = ImportUploadForm()
    if not form.validate_on_submit():
        return _upload_page(form, [])
    scope = current_scope()
    data = form.file.data.read(MAX_BYTES + 1)
    try:
        rows = parse(
            data,
            registry=registry(),
            hmac_key=current_app.extensions["surveyapp.settings"].cpr_hmac_key,
            today=today(),
        )
        del data  # the CPR numbers go no further
        with unit_of_work() as db:
            summary = import_service.preview_import(
                db, rows, registry=registry(), today=today(), scope=scope
            )
    except ImportRejected as exc:
        return _upload_page(form, exc.problems, 422)
    _forget_old()
    token = _keep(
        {
            "user_id": scope.user_id,
            "municipality_id": scope.municipality_id,
            "summary": summary.details(),
            "rows": rows_to_json(rows),
        }
    )
    return redirect(url_for("imports.preview", token=token), 303)


@bp.get("/<token>")
@staff_required(ADMIN)
def preview(token: str) -> str:
    """What the checked file will create; confirm to import it, all at once."""
    payload = _pending(token)
    return render_template(
        "imports/preview.html",
        token=token,
        summary=_summary_view(payload["summary"]),
        action=ActionForm(),
    )


@bp.post("/<token>")
@staff_required(ADMIN)
def confirm(token: str) -> Any:
    """Import the previewed rows in one transaction (checked again against the database)."""
    payload = _pending(token)
    if not ActionForm().validate_on_submit():
        abort(400)
    path = _pending_path(token)
    claimed = path.with_suffix(".importing")
    try:
        path.rename(claimed)  # atomic: a second click (or tab) finds nothing to import
    except FileNotFoundError:
        abort(404)
    try:
        with unit_of_work() as db:
            summary = import_service.import_responses(
                db,
                rows_from_json(payload["rows"]),
                registry=registry(),
                today=today(),
                scope=current_scope(),
            )
    except ImportRejected as exc:
        return _upload_page(ImportUploadForm(formdata=None), exc.problems, 409)
    finally:
        claimed.unlink(missing_ok=True)
    session["import_done"] = summary.details()
    return redirect(url_for("imports.done"), 303)


@bp.post("/<token>/cancel")
@staff_required(ADMIN)
def cancel(token: str) -> Response:
    """Drop the previewed rows without importing anything."""
    _pending(token)
    if not ActionForm().validate_on_submit():
        abort(400)
    _pending_path(token).unlink(missing_ok=True)
    flash(_("Nothing was imported."), "info")
    return redirect(url_for("imports.upload"), 303)


@bp.get("/done")
@staff_required(ADMIN)
def done() -> Any:
    """What the last import stored."""
    details = session.get("import_done")
    if not details:
        return redirect(url_for("imports.upload"))
    return render_template("imports/done.html", summary=_summary_view(details))
