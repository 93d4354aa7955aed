"""Admin screens of the GDPR duties: a citizen's access request and erasure."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from surveyapp.enums import Role
from surveyapp.forms.privacy import EraseForm, PrivacyRequestForm
from surveyapp.pseudonym import InvalidCPR
from surveyapp.services import privacy
from surveyapp.services.scope import OutOfScope, require_admin
from surveyapp.web import unit_of_work
from surveyapp.web.auth import current_scope, staff_required, today

bp = Blueprint("privacy", __name__, url_prefix="/staff/admin/privacy")
ADMIN = (Role.ADMIN,)


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/", methods=["GET", "POST"])
@staff_required(ADMIN)
def index() -> str | Response | tuple[str, int]:
    """Find a citizen by CPR number for an access request or an erasure (never echoed)."""
    form = PrivacyRequestForm()
    if not form.validate_on_submit():
        return render_template("staff/admin/privacy.html", form=form), (
            400 if form.is_submitted() else 200
        )
    scope = current_scope()
    require_admin(scope)
    settings = current_app.extensions["surveyapp.settings"]
    purpose = form.purpose.data or "access"
    found = archive = None
    counts: dict[str, int] = {}
    label = ""
    try:
        with unit_of_work() as db:
            try:
                found = privacy.find_citizen(
                    db,
                    scope.actor,
                    scope.municipality_id,
                    form.cpr.data or "",
                    hmac_key=settings.cpr_hmac_key,
                    today=today(),
                    purpose="access_request" if purpose == "access" else "erasure",
                ).id
            except OutOfScope:
                found = None  # the failed look-up is audited and committed
            if found is not None and purpose == "access":
                archive = privacy.access_request(db, scope.actor, scope.municipality_id, found)
            elif found is not None:
                counts = privacy.erasure_preview(db, scope.municipality_id, found)
                label = privacy.citizen_in(db, scope.municipality_id, found).label
    except InvalidCPR:
        form.cpr.errors = [
            _("Not a CPR number: write 10 digits, DDMMYY-XXXX, with a real date of birth.")
        ]
        return render_template("staff/admin/privacy.html", form=form), 400
    if found is None:
        form.form_errors.append(_("No citizen with this CPR number is registered."))
        return render_template("staff/admin/privacy.html", form=form), 404
    citizen_id = found
    if purpose == "access":
        return Response(
            archive,
            mimetype="application/zip",
            headers={"Content-Disposition": f'attachment; filename="indsigt-{citizen_id}.zip"'},
        )
    return render_template(
        "staff/admin/erase.html",
        form=EraseForm(formdata=None),
        citizen_id=citizen_id,
        label=label,
        counts=counts,
    )


@bp.post("/citizens/<int:citizen_id>/erase")
@staff_required(ADMIN)
def erase(citizen_id: int) -> str | Response | tuple[str, int]:
    """Erase one citizen of the municipality after the confirmation box is ticked."""
    scope = current_scope()
    form = EraseForm()
    try:
        with unit_of_work() as db:
            if not form.validate_on_submit():
                counts = privacy.erasure_preview(db, scope.municipality_id, citizen_id)
                label = privacy.citizen_in(db, scope.municipality_id, citizen_id).label
                return render_template(
                    "staff/admin/erase.html",
                    form=form,
                    citizen_id=citizen_id,
                    label=label,
                    counts=counts,
                ), 400
            privacy.erase_citizen(db, scope.actor, scope.municipality_id, citizen_id)
    except OutOfScope:
        abort(404)
    flash(_("The citizen and everything about them are erased."), "success")
    return redirect(url_for("privacy.index"), 303)
