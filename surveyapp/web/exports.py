"""Exports for analysts and administrators: the filter form and one download per format."""

from __future__ import annotations

import os
import tempfile

from flask import (
    Blueprint,
    abort,
    current_app,
    render_template,
    request,
    send_file,
    stream_with_context,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from surveyapp.config import Settings
from surveyapp.enums import Role
from surveyapp.forms.exports import ExportForm
from surveyapp.forms.staff import select_choices
from surveyapp.services import exports as export_service
from surveyapp.services import scope as scope_service
from surveyapp.web import db_session, registry, unit_of_work
from surveyapp.web.auth import current_scope, staff_required, today

bp = Blueprint("exports", __name__, url_prefix="/staff/exports")
REPORTERS = (Role.ADMIN, Role.ANALYST)

SUFFIX = {
    "csv": "csv",
    "csv-excel": "csv",
    "xlsx": "xlsx",
    "sav": "sav",
    "dta": "dta",
    "codebook-csv": "csv",
    "codebook-json": "json",
}
MIMETYPE = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
    "json": "application/json",
}


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _form(reach: export_service.Reach) -> ExportForm:
    form = ExportForm(request.args)
    if "language" not in request.args:
        locale = get_locale()
        form.language.data = "en" if locale is not None and locale.language == "en" else "da"
    with unit_of_work() as db:
        found = export_service.choices(db, reach)
    lang = form.language.data if form.language.data in ("da", "en") else "da"
    form.instrument.choices = select_choices(
        [("", _("All questionnaires"))]
        + [(i, registry().get(i).title.get(lang) or i) for i in registry().ids()]
    )
    form.municipality.choices = select_choices(found.municipalities)
    form.provider.choices = select_choices([(0, _("All providers"))] + found.providers)
    return form


def _reach() -> scope_service.ReportScope:
    with unit_of_work() as db:
        try:
            return scope_service.report_scope(db, current_scope())
        except scope_service.NotPermitted:
            abort(403)


#: SPSS and Stata files are built whole in memory (pyreadstat cannot append): above this many
#: rows the browser is asked to narrow the export or use `surveyapp export` instead.
IN_MEMORY_FORMATS = ("sav", "dta")
WEB_IN_MEMORY_ROWS = 200_000


@bp.get("/")
@staff_required(REPORTERS)
def index() -> str:
    """The export filters, with a download button per format."""
    reach = _reach()
    form = _form(reach)
    return render_template("exports/index.html", form=form)


def _query(form: ExportForm) -> export_service.ExportQuery:
    return export_service.ExportQuery(
        long=form.rows.data == "long",
        instrument=form.instrument.data or None,
        municipality_ids=frozenset(form.municipality.data or ()),
        provider_id=form.provider.data or None,
        start_from=form.start_from.data,
        start_to=form.start_to.data,
        include_in_progress=bool(form.in_progress.data),
        language=form.language.data or "da",
    )


@bp.get("/download")
@staff_required(REPORTERS)
def download() -> Response | tuple[str, int]:
    """One export file in the chosen format (audited before the first byte is sent)."""
    reach = _reach()
    form = _form(reach)
    fmt = request.args.get("format", "csv")
    if fmt not in export_service.FORMATS or not form.validate():
        return render_template("exports/index.html", form=form, bad_format=fmt), 400
    query = _query(form)
    if fmt in IN_MEMORY_FORMATS:
        with unit_of_work() as db:
            rows = export_service.count_rows(db, reach, query)
        if rows > WEB_IN_MEMORY_ROWS:
            # pyreadstat holds the whole table in memory (about 1 KB a row): not in a web worker.
            return render_template("exports/index.html", form=form, too_large=rows), 413
    with unit_of_work() as db:
        export_service.begin_export(db, reach.actor, reach, query, fmt)
    name = f"surveyapp-{'long' if query.long else 'wide'}-{query.instrument or 'all'}-{today()}"
    if export_service.is_codebook(fmt):
        name += "-codebook"
    download_name = f"{name}.{SUFFIX[fmt]}"
    settings: Settings = current_app.extensions["surveyapp.settings"]
    key = export_service.export_key(settings.cpr_hmac_key)
    if fmt in ("csv", "csv-excel"):
        # PostgreSQL writes a wide CSV itself; everything else is written here row by row.
        body = export_service.csv_chunks(db_session(), registry(), reach, query, fmt, key)
        return Response(
            stream_with_context(body),
            mimetype=MIMETYPE["csv"],
            headers={"Content-Disposition": f'attachment; filename="{download_name}"'},
        )
    # Excel, SPSS and Stata are written to a temporary file, then sent; the file is removed
    # at once (it stays readable through the open handle until send_file closes it).
    handle, path = tempfile.mkstemp(suffix=f".{SUFFIX[fmt]}")
    os.close(handle)
    try:
        export_service.write_export(db_session(), registry(), reach, query, fmt, path, key)
        opened = open(path, "rb")  # noqa: SIM115 - send_file closes it
    finally:
        os.unlink(path)
    mimetype = MIMETYPE["csv" if fmt == "codebook-csv" else SUFFIX[fmt]]
    return send_file(opened, mimetype=mimetype, as_attachment=True, download_name=download_name)
