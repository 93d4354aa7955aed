"""Admin screen: which analysts of other municipalities may see this municipality's reports."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from surveyapp.enums import Role
from surveyapp.forms.reports import GrantForm
from surveyapp.forms.staff import ActionForm
from surveyapp.services import grants as grant_service
from surveyapp.web import unit_of_work
from surveyapp.web.auth import current_scope, staff_required

bp = Blueprint("grants", __name__, url_prefix="/staff/admin/grants")
ADMIN = (Role.ADMIN,)

GRANT_ERRORS = {
    "no_such_analyst": _l("No active analyst has this username."),
    "own_municipality": _l(
        "This analyst belongs to your municipality and sees its reports already."
    ),
    "already_granted": _l("This analyst has access already."),
}


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("", methods=["GET", "POST"])
@staff_required(ADMIN)
def index() -> str | Response:
    """List the analysts given access to this municipality's reports; give one access."""
    scope = current_scope()
    form = GrantForm()
    if form.validate_on_submit():
        try:
            with unit_of_work() as db:
                grant_service.grant(db, scope, form.username.data or "")
        except grant_service.GrantError as exc:
            form.username.errors = [str(GRANT_ERRORS[str(exc)])]
        else:
            flash(
                _(
                    "%(username)s may now see this municipality's reports.",
                    username=(form.username.data or "").strip().lower(),
                ),
                "success",
            )
            return redirect(url_for("grants.index"), 303)
    with unit_of_work() as db:
        rows = grant_service.list_grants(db, scope)
    return render_template("staff/admin/grants.html", form=form, grants=rows, action=ActionForm())


@bp.post("/<int:grant_id>/revoke")
@staff_required(ADMIN)
def revoke(grant_id: int) -> Response:
    """Take an analyst's access back (a grant of another municipality is not found)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    with unit_of_work() as db:
        username = grant_service.revoke(db, current_scope(), grant_id)
    flash(
        _("%(username)s no longer sees this municipality's reports.", username=username), "success"
    )
    return redirect(url_for("grants.index"), 303)
