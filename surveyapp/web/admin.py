"""Admin screens: staff users, measurement plans, the audit trail and the status sweep."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.wrappers import Response

from surveyapp.audit_actions import action_name
from surveyapp.enums import Anchor, Respondent, Role
from surveyapp.forms.staff import (
    RESPONDENT_LABELS,
    ActionForm,
    AuditSearchForm,
    KioskPinResetForm,
    MunicipalitySecurityForm,
    PasswordResetForm,
    PlanCopyForm,
    TimepointForm,
    UserCreateForm,
    UserEditForm,
    select_choices,
)
from surveyapp.models import StaffUser
from surveyapp.services import assignments as assignment_service
from surveyapp.services import audit_trail, plans_admin, staff_sessions, two_factor
from surveyapp.services import auth as auth_service
from surveyapp.services import scope as scope_service
from surveyapp.services.links import DEFAULT_VALID_DAYS
from surveyapp.web import registry, unit_of_work
from surveyapp.web.auth import (
    COPENHAGEN,
    current_scope,
    key_secret,
    policy,
    staff_required,
    today,
)
from surveyapp.web.coordinator import _instrument_title
from surveyapp.web.errors import MAX_ID

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")
ADMIN = (Role.ADMIN,)

USER_ERRORS = {
    "invalid_username": _l("Lower-case letters, digits, dot, hyphen or underscore."),
    "username_taken": _l("This username is taken."),
    "password_too_short": _l("At least 12 characters."),
    "password_too_long": _l("At most 256 characters."),
    "password_common": _l(
        "This password is too common: it is on a list of passwords that attackers try first. "
        "Choose another, for example a few unrelated words."
    ),
    "password_monotonous": _l("Use more different characters."),
    "password_contains_username": _l("The password may not contain the username."),
    "invalid_choice": _l("Not a valid choice."),
    "team_not_of_provider": _l("The team does not belong to the chosen provider."),
    "not_yourself": _l("You cannot deactivate your own account."),
    "required": _l("Fill in this field."),
    "last_admin": _l(
        "This is the municipality's last active administrator: make someone else an "
        "administrator first."
    ),
    "beyond_own_reach": _l("You can only place users within your own provider."),
    "bad_pin_format": _l("A kiosk PIN is 4 to 6 digits."),
    "pin_mismatch": _l("The two PINs are not the same."),
}
PLAN_ERRORS = {
    "no_items": _l("Choose at least one questionnaire."),
    "invalid_choice": _l("Not a valid choice."),
    "key_taken": _l("The plan already has a timepoint with this key."),
    "last_timepoint": _l("A plan needs at least one timepoint."),
}


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _checked_action() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


# --- users -----------------------------------------------------------------------------------


def _fill_user_form(
    form: UserEditForm, shown: StaffUser, db: object, scope: scope_service.Scope
) -> None:
    """The user form as the user is now (its choices again after `process` reset them)."""
    form.process(
        data={
            "full_name": shown.full_name,
            "role": shown.role.value,
            "provider_id": shown.provider_id or 0,
            "team_id": shown.team_id or 0,
        }
    )
    _org_choices(form, db, scope)


def _org_choices(
    form: UserCreateForm | UserEditForm, db: object, scope: scope_service.Scope
) -> None:
    form.provider_id.choices = select_choices(
        [(0, _("None (whole municipality)"))]
        + [(p.id, p.name) for p in scope_service.providers(db, scope)]  # type: ignore[arg-type]
    )
    form.team_id.choices = select_choices(
        [(0, _("None"))]
        + [(t.id, f"{t.provider.name}: {t.name}") for t in scope_service.teams(db, scope)]  # type: ignore[arg-type]
    )


@bp.route("/users", methods=["GET", "POST"])
@staff_required(ADMIN)
def users() -> str | Response:
    """List the municipality's staff users and create new ones."""
    scope = current_scope()
    form = UserCreateForm()
    with unit_of_work() as db:
        _org_choices(form, db, scope)
    if form.validate_on_submit():
        new = auth_service.NewUser(
            username=form.username.data or "",
            full_name=form.full_name.data or "",
            role=Role(form.role.data),
            password=form.password.data or "",
            provider_id=form.provider_id.data or None,
            team_id=form.team_id.data or None,
            kiosk_pin=form.kiosk_pin.data or None,
        )
        try:
            with unit_of_work() as db:
                auth_service.create_user(db, scope, new)
        except auth_service.UserError as exc:
            getattr(form, exc.field).errors = [str(USER_ERRORS[str(exc)])]
        else:
            flash(
                _("The user %(username)s is created.", username=new.username.strip().lower()),
                "success",
            )
            return redirect(url_for("admin.users"), 303)
    with unit_of_work() as db:
        listed = auth_service.list_users(db, scope)
    return render_template(
        "staff/admin/users.html",
        form=form,
        users=listed,
        action=ActionForm(),
        now=datetime.now(COPENHAGEN),
    )


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@staff_required(ADMIN)
def reset_password(user_id: int) -> str | Response:
    """Set a new password for a user (their sessions end at once)."""
    scope = current_scope()
    with unit_of_work() as db:
        user = scope_service.get_user(db, scope, user_id)
        username = user.username
    form = PasswordResetForm()
    if form.validate_on_submit():
        try:
            with unit_of_work() as db:
                auth_service.reset_password(db, scope, user_id, form.password.data or "")
        except auth_service.UserError as exc:
            form.password.errors = [str(USER_ERRORS[str(exc)])]
        else:
            flash(_("A new password is set for %(username)s.", username=username), "success")
            return redirect(url_for("admin.users"), 303)
    return render_template("staff/admin/password.html", form=form, username=username)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@staff_required(ADMIN)
def user(user_id: int) -> str | Response | tuple[str, int]:
    """One user: change name, role, provider and team; reset the kiosk PIN; see and end the
    user's sessions."""
    scope = current_scope()
    form = UserEditForm()
    with unit_of_work() as db:
        shown = scope_service.get_user(db, scope, user_id)
        _org_choices(form, db, scope)
        if request.method == "GET":
            _fill_user_form(form, shown, db, scope)
        username = shown.username
    status = 200
    if form.validate_on_submit():
        change = auth_service.UserChange(
            full_name=form.full_name.data or "",
            role=Role(form.role.data),
            provider_id=form.provider_id.data or None,
            team_id=form.team_id.data or None,
        )
        try:
            with unit_of_work() as db:
                auth_service.update_user(db, scope, user_id, change)
        except auth_service.UserError as exc:
            getattr(form, exc.field).errors = [str(USER_ERRORS[str(exc)])]
            status = 400
        else:
            flash(_("The changes to %(username)s are saved.", username=username), "success")
            return redirect(url_for("admin.user", user_id=user_id), 303)
    elif request.method == "POST":
        status = 400
    return _user_page(user_id, form, KioskPinResetForm(formdata=None)), status


def _user_page(user_id: int, form: UserEditForm, pin_form: KioskPinResetForm) -> str:
    scope = current_scope()
    with unit_of_work() as db:
        shown = scope_service.get_user(db, scope, user_id)
        rules = policy()
        sessions = staff_sessions.list_open(db, scope, user_id, max_age=rules.max_age)
        return render_template(
            "staff/admin/user.html",
            idle_minutes=int(rules.idle_timeout.total_seconds() // 60),
            max_hours=int(rules.max_age.total_seconds() // 3600),
            shown=shown,
            form=form,
            pin_form=pin_form,
            sessions=sessions,
            action=ActionForm(),
        )


@bp.post("/users/<int:user_id>/kiosk-pin")
@staff_required(ADMIN)
def reset_kiosk_pin(user_id: int) -> str | Response | tuple[str, int]:
    """Set a new kiosk PIN for a user who forgot theirs (audited)."""
    scope = current_scope()
    pin_form = KioskPinResetForm()
    with unit_of_work() as db:
        username = scope_service.get_user(db, scope, user_id).username
    if pin_form.validate_on_submit():
        try:
            with unit_of_work() as db:
                auth_service.reset_kiosk_pin(
                    db, scope, user_id, pin_form.pin.data or "", pin_form.repeated.data or ""
                )
        except auth_service.UserError as exc:
            getattr(pin_form, exc.field).errors = [str(USER_ERRORS[str(exc)])]
        else:
            flash(_("A new kiosk PIN is set for %(username)s.", username=username), "success")
            return redirect(url_for("admin.user", user_id=user_id), 303)
    form = UserEditForm(formdata=None)
    with unit_of_work() as db:
        shown = scope_service.get_user(db, scope, user_id)
        _org_choices(form, db, scope)
        _fill_user_form(form, shown, db, scope)
    return _user_page(user_id, form, pin_form), 400


@bp.post("/users/<int:user_id>/sessions/end")
@staff_required(ADMIN)
def end_sessions(user_id: int) -> Response:
    """End one of a user's sessions (form field `session_id`), or all of them."""
    _checked_action()
    raw = request.form.get("session_id", "")
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= MAX_ID):
        abort(400)
    with unit_of_work() as db:
        shown, ended = staff_sessions.end_by_admin(
            db, current_scope(), user_id, int(raw) if raw else None
        )
        username = shown.username
    flash(
        ngettext(
            "%(num)s session of %(username)s is ended.",
            "%(num)s sessions of %(username)s are ended.",
            ended,
            username=username,
        ),
        "success",
    )
    return redirect(url_for("admin.user", user_id=user_id), 303)


def _user_action(user_id: int, action: str) -> Response:
    _checked_action()
    scope = current_scope()
    try:
        with unit_of_work() as db:
            if action == "unlock":
                user = auth_service.unlock(db, scope, user_id, key_secret=key_secret())
            elif action == "reset_2fa":
                user = two_factor.reset(db, scope, user_id)
            else:
                user = auth_service.set_active(db, scope, user_id, action == "activate")
            username = user.username
    except auth_service.UserError as exc:
        flash(str(USER_ERRORS[str(exc)]), "error")
    else:
        messages = {
            "unlock": _("%(username)s is unlocked.", username=username),
            "reset_2fa": _(
                "The second factor of %(username)s is removed and their sessions have ended. "
                "If they must have one, they set it up again at their next login.",
                username=username,
            ),
            "activate": _("%(username)s is active again.", username=username),
            "deactivate": _("%(username)s is deactivated and logged out.", username=username),
        }
        flash(messages[action], "success")
    return redirect(url_for("admin.users"), 303)


@bp.post("/users/<int:user_id>/deactivate")
@staff_required(ADMIN)
def deactivate_user(user_id: int) -> Response:
    """Deactivate a user: every session of theirs ends at once."""
    return _user_action(user_id, "deactivate")


@bp.post("/users/<int:user_id>/activate")
@staff_required(ADMIN)
def activate_user(user_id: int) -> Response:
    """Reactivate a user."""
    return _user_action(user_id, "activate")


@bp.post("/users/<int:user_id>/unlock")
@staff_required(ADMIN)
def unlock_user(user_id: int) -> Response:
    """Lift a login lockout at once."""
    return _user_action(user_id, "unlock")


@bp.post("/users/<int:user_id>/two-factor/reset")
@staff_required(ADMIN)
def reset_two_factor(user_id: int) -> Response:
    """Remove a user's second factor (lost phone): audited; enrolment again at next login."""
    return _user_action(user_id, "reset_2fa")


@bp.route("/security", methods=["GET", "POST"])
@staff_required(ADMIN)
def security() -> str | Response:
    """The municipality's login rules: must coordinators use a second factor?"""
    scope = current_scope()
    form = MunicipalitySecurityForm()
    if form.validate_on_submit():
        with unit_of_work() as db:
            two_factor.set_coordinator_requirement(
                db, scope, bool(form.coordinator_2fa_required.data)
            )
        flash(_("The login rules are saved."), "success")
        return redirect(url_for("admin.security"), 303)
    with unit_of_work() as db:
        required = two_factor.coordinator_requirement(db, scope)
    if request.method == "GET":
        form.coordinator_2fa_required.data = required
    return render_template("staff/admin/security.html", form=form, required=required)


# --- audit -----------------------------------------------------------------------------------


def _audit_form() -> AuditSearchForm:
    form = AuditSearchForm(request.args)
    with unit_of_work() as db:
        form.user.choices = select_choices(
            [(0, _("Anyone"))]
            + [(u.id, u.username) for u in auth_service.list_users(db, current_scope())]
        )
    return form


#: Events per page of the audit search ("Newer" / "Older"; a page past the last says so).
AUDIT_PAGE = 100


def _audit_query(form: AuditSearchForm) -> auth_service.AuditQuery:
    def local(day: object, plus: int = 0) -> datetime | None:
        if day is None:
            return None
        return datetime.combine(day + timedelta(days=plus), time(0), tzinfo=COPENHAGEN)  # type: ignore[operator]

    return auth_service.AuditQuery(
        action_prefix=(form.action.data or "").strip(),
        user_id=form.user.data or None,
        object_type=form.object_type.data or "",
        object_id=(form.object_id.data or "").strip(),
        since=local(form.date_from.data),
        until=local(form.date_to.data, 1),
        page=form.page.data or 1,
        per_page=AUDIT_PAGE,
    )


def action_label(code: str) -> str:
    """The readable, translated name of an audit action code."""
    return _(action_name(code))


@bp.get("/audit")
@staff_required(ADMIN)
def audit_search() -> str:
    """Search the audit trail of the municipality."""
    scope = current_scope()
    form = _audit_form()
    rows: list[auth_service.AuditRow] = []
    more = False
    if form.validate():
        with unit_of_work() as db:
            rows, more = auth_service.search_audit(db, scope, _audit_query(form))
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "staff/admin/audit.html",
        form=form,
        rows=rows,
        more=more,
        page=form.page.data or 1,
        args=args,
        tz=COPENHAGEN,
        action_label=action_label,
    )


@bp.get("/audit/export.csv")
@staff_required(ADMIN)
def audit_export() -> Response | tuple[str, int]:
    """Download every event of the search as CSV (the export is itself audited)."""
    form = _audit_form()
    if not form.validate():
        return render_template(
            "staff/admin/audit.html",
            form=form,
            rows=[],
            more=False,
            page=1,
            args={},
            tz=COPENHAGEN,
            action_label=action_label,
        ), 400
    with unit_of_work() as db:
        text = audit_trail.export_csv(
            db, current_scope(), _audit_query(form), name_of=action_label, tz=COPENHAGEN
        )
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


# --- status sweep ----------------------------------------------------------------------------


@bp.post("/sweep")
@staff_required(ADMIN)
def sweep() -> Response:
    """Update every measurement's status to today (open, missed) at once."""
    _checked_action()
    with unit_of_work() as db:
        changed = assignment_service.refresh_statuses(
            db, current_scope().municipality_id, today=today()
        )
    flash(_("Statuses are up to date (%(count)s changed).", count=changed), "success")
    return redirect(url_for("admin.plans"), 303)


# --- measurement plans -----------------------------------------------------------------------


@bp.get("/plans")
@staff_required(ADMIN)
def plans() -> str:
    """The measurement plans offered to the municipality."""
    with unit_of_work() as db:
        listed = plans_admin.list_plans(db, current_scope())
    return render_template("staff/admin/plans.html", plans=listed, action=ActionForm())


@bp.route("/plans/<int:plan_id>", methods=["GET", "POST"])
@staff_required(ADMIN)
def plan(plan_id: int) -> str | Response:
    """A plan's timepoints; a shared plan can be copied to make an editable one."""
    scope = current_scope()
    with unit_of_work() as db:
        shown = plans_admin.plan_detail(db, scope, plan_id)
        editable = shown.municipality_id == scope.municipality_id
        name = shown.name
    form = PlanCopyForm()
    if request.method == "GET":
        form.name.data = _("%(name)s (copy)", name=name)
    if form.validate_on_submit():
        with unit_of_work() as db:
            copy = plans_admin.copy_plan(db, scope, plan_id, form.name.data or name)
            copy_id = copy.id
        flash(_("The copy is made. Its timepoints can be edited."), "success")
        return redirect(url_for("admin.plan", plan_id=copy_id), 303)
    return render_template(
        "staff/admin/plan.html", plan=shown, editable=editable, form=form, action=ActionForm()
    )


def _item_choices() -> list[tuple[str, str]]:
    return [
        (
            f"{instrument_id}:{respondent.value}",
            f"{_instrument_title(instrument_id)} – {RESPONDENT_LABELS[respondent]}",
        )
        for instrument_id, respondent in plans_admin.item_choices(registry())
    ]


def _change_of(form: TimepointForm, key: str) -> plans_admin.TimepointChange:
    items = []
    for value in form.items.data or []:
        instrument_id, _sep, respondent = value.partition(":")
        items.append((instrument_id, Respondent(respondent)))
    return plans_admin.TimepointChange(
        key=key,
        label_da=(form.label_da.data or "").strip(),
        label_en=(form.label_en.data or "").strip(),
        anchor=Anchor(form.anchor.data),
        offset_months=form.offset_months.data or 0,
        offset_days=form.offset_days.data or 0,
        window_before_days=form.window_before_days.data or 0,
        window_after_days=form.window_after_days.data or 0,
        items=tuple(items),
        link_valid_days=form.link_valid_days.data or DEFAULT_VALID_DAYS,
    )


@bp.route(
    "/plans/<int:plan_id>/timepoints/new", methods=["GET", "POST"], defaults={"timepoint_id": None}
)
@bp.route("/plans/<int:plan_id>/timepoints/<int:timepoint_id>", methods=["GET", "POST"])
@staff_required(ADMIN)
def timepoint(plan_id: int, timepoint_id: int | None) -> str | Response:
    """Edit or add a timepoint: preview what changes in open courses, then apply it."""
    scope = current_scope()
    form = TimepointForm()
    form.items.choices = _item_choices()
    with unit_of_work() as db:
        plan_obj = scope_service.get_own_plan(db, scope, plan_id)
        plan_name = plan_obj.name
        existing = (
            scope_service.get_own_timepoint(db, scope, plan_id, timepoint_id)
            if timepoint_id
            else None
        )
        if existing is not None:
            form.key.data = existing.key  # fixed once made
            if request.method == "GET":
                form.process(
                    data={
                        "key": existing.key,
                        "label_da": existing.label_da,
                        "label_en": existing.label_en,
                        "anchor": existing.anchor.value,
                        "offset_months": existing.offset_months,
                        "offset_days": existing.offset_days,
                        "window_before_days": existing.window_before_days,
                        "window_after_days": existing.window_after_days,
                        "link_valid_days": existing.link_valid_days,
                        "items": [
                            f"{i.instrument_id}:{i.respondent.value}" for i in existing.items
                        ],
                    }
                )
                form.items.choices = _item_choices()
    impact = None
    if form.validate_on_submit():
        change = _change_of(form, form.key.data or "")
        wants_apply = bool(form.apply.data) and form.preview_digest.data == change.digest()
        try:
            with unit_of_work() as db:
                if wants_apply:
                    impact = plans_admin.apply_timepoint(
                        db, scope, plan_id, timepoint_id, change, registry=registry(), today=today()
                    )
                else:
                    impact = plans_admin.preview_timepoint(
                        db, scope, plan_id, timepoint_id, change, registry=registry(), today=today()
                    )
        except plans_admin.PlanError as exc:
            getattr(form, exc.field).errors = [str(PLAN_ERRORS[exc.code])]
            impact = None
        else:
            if wants_apply:
                flash(
                    " ".join(
                        [
                            _("The timepoint is saved."),
                            ngettext(
                                "%(num)s measurement added, %(moved)s moved, %(removed)s removed.",
                                "%(num)s measurements added, %(moved)s moved, %(removed)s removed.",
                                len(impact.added),
                                moved=len(impact.moved),
                                removed=len(impact.removed),
                            ),
                        ]
                    ),
                    "success",
                )
                return redirect(url_for("admin.plan", plan_id=plan_id), 303)
            form.preview_digest.data = change.digest()
    return render_template(
        "staff/admin/timepoint.html",
        form=form,
        plan_id=plan_id,
        plan_name=plan_name,
        timepoint_id=timepoint_id,
        impact=impact,
    )


@bp.route("/plans/<int:plan_id>/timepoints/<int:timepoint_id>/delete", methods=["GET", "POST"])
@staff_required(ADMIN)
def delete_timepoint(plan_id: int, timepoint_id: int) -> str | Response:
    """Take a timepoint off a plan, after showing what goes with it."""
    scope = current_scope()
    form = ActionForm()
    if form.validate_on_submit():
        try:
            with unit_of_work() as db:
                impact = plans_admin.delete_timepoint(
                    db, scope, plan_id, timepoint_id, today=today()
                )
        except plans_admin.PlanError as exc:
            flash(str(PLAN_ERRORS[exc.code]), "error")
        else:
            flash(
                ngettext(
                    "The timepoint is removed (%(num)s measurement removed).",
                    "The timepoint is removed (%(num)s measurements removed).",
                    len(impact.removed),
                ),
                "success",
            )
        return redirect(url_for("admin.plan", plan_id=plan_id), 303)
    with unit_of_work() as db:
        tp = scope_service.get_own_timepoint(db, scope, plan_id, timepoint_id)
        label = tp
        impact = plans_admin.preview_delete(db, scope, plan_id, timepoint_id, today=today())
    return render_template(
        "staff/admin/timepoint_delete.html",
        form=form,
        plan_id=plan_id,
        timepoint=label,
        impact=impact,
    )
