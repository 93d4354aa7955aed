"""Hand-written staff forms (login, citizens, courses, drop-out, admin), and the labels of
the domain's vocabularies as staff see them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)
from wtforms.widgets import CheckboxInput, ListWidget

from surveyapp.enums import (
    Anchor,
    AssignmentStatus,
    Channel,
    CourseStatus,
    DropoutReason,
    LegalBasis,
    Respondent,
    Role,
    Sex,
)
from surveyapp.forms.base import FlaskForm
from surveyapp.forms.fields import DateField
from surveyapp.instruments import Instrument

# --- vocabularies --------------------------------------------------------------------------

LEGAL_BASIS_LABELS = {
    LegalBasis.SEL_83A: _l("§ 83 a everyday rehabilitation"),
    LegalBasis.SEL_83: _l("§ 83 personal and practical help"),
    LegalBasis.SEL_86: _l("§ 86 rehabilitation and maintenance training"),
    LegalBasis.SEL_140: _l("§ 140 Health Act rehabilitation"),
}
COURSE_STATUS_LABELS = {
    CourseStatus.PLANNED: _l("Planned"),
    CourseStatus.ACTIVE: _l("Active"),
    CourseStatus.ENDED: _l("Ended"),
    CourseStatus.CANCELLED: _l("Cancelled"),
}
ASSIGNMENT_STATUS_LABELS = {
    AssignmentStatus.SCHEDULED: _l("Scheduled"),
    AssignmentStatus.OPEN: _l("Open"),
    AssignmentStatus.IN_PROGRESS: _l("In progress"),
    AssignmentStatus.COMPLETED: _l("Answered"),
    AssignmentStatus.EXPIRED: _l("Missed"),
    AssignmentStatus.DECLINED: _l("Drop-out"),
}
DROPOUT_LABELS = {
    DropoutReason.DECLINED: _l("Declined to take part"),
    DropoutReason.TOO_ILL: _l("Too ill"),
    DropoutReason.HOSPITALISED: _l("Admitted to hospital"),
    DropoutReason.MOVED: _l("Moved away"),
    DropoutReason.DIED: _l("Died"),
    DropoutReason.UNREACHABLE: _l("Could not be reached"),
}
RESPONDENT_LABELS = {
    Respondent.CITIZEN: _l("Citizen"),
    Respondent.RELATIVE: _l("Relative"),
    Respondent.STAFF: _l("Staff"),
}
ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.COORDINATOR: _l("Coordinator"),
    Role.ANALYST: _l("Analyst"),
}
SEX_LABELS = {Sex.FEMALE: _l("Female"), Sex.MALE: _l("Male")}
CHANNEL_LABELS = {
    Channel.KIOSK: _l("Tablet"),
    Channel.LINK: _l("Link"),
    Channel.PAPER: _l("Paper"),
    Channel.STAFF: _l("Staff"),
}
ANCHOR_LABELS = {Anchor.COURSE_START: _l("Course start"), Anchor.COURSE_END: _l("Course end")}

VOCABULARIES: dict[str, dict[Any, Any]] = {
    "legal_basis_labels": LEGAL_BASIS_LABELS,
    "course_status_labels": COURSE_STATUS_LABELS,
    "assignment_status_labels": ASSIGNMENT_STATUS_LABELS,
    "dropout_labels": DROPOUT_LABELS,
    "respondent_labels": RESPONDENT_LABELS,
    "role_labels": ROLE_LABELS,
    "sex_labels": SEX_LABELS,
    "channel_labels": CHANNEL_LABELS,
    "anchor_labels": ANCHOR_LABELS,
}


def select_choices(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """Choices for a select or radio field from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def _choices(labels: dict[Any, Any]) -> list[SelectChoice]:
    return select_choices((key.value, label) for key, label in labels.items())


# --- fields ----------------------------------------------------------------------------------


class NeverEchoedField(StringField):
    """A text input that is always rendered empty: what was typed never comes back."""

    def _value(self) -> str:
        return ""


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# --- questionnaires entered by staff ----------------------------------------------------------


def entry_form_class(
    instrument: Instrument, lang: str, params: Mapping[str, str], *, paper: bool
) -> type[FlaskForm]:
    """The form for typing in a paper questionnaire, or for the staff-recorded outcome.

    Built from the instrument definition by surveyapp.forms.questionnaire. On paper a citizen
    may leave a question unanswered, so every item may be left empty here; the staff member
    confirms that empty questions were unanswered on paper (see `confirm_missing`), and the
    scoring rules decide what that means (e.g. WHO-5 is then not scored).
    """
    from surveyapp.forms.questionnaire import instrument_form_class

    items = [replace(item, optional=True) for item in instrument.items]
    base = instrument_form_class(instrument, lang, params, items=items)
    extra: dict[str, Any] = {
        "answered_on": DateField(
            _l("Date answered") if paper else _l("Date recorded"),
            validators=[InputRequired()],
        ),
        "submit": SubmitField(_l("Save answers") if paper else _l("Save")),
    }
    if paper:
        extra["confirm_missing"] = BooleanField(
            _l("Questions left empty here were not answered on the paper form")
        )
    return type(f"{instrument.id}_{lang}_entry_form", (base,), extra)


# --- forms -----------------------------------------------------------------------------------


class ActionForm(FlaskForm):
    """A button that posts (logout, deactivate, unlock): only the CSRF token."""


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(), Length(max=80)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        _l("Code from your authenticator app (if you use one)"),
        validators=[Optional(), Length(max=80)],
        description=_l(
            "You may leave this empty: the code is asked for after the password. While an "
            "account is under attack, it logs in only with the password and the code together."
        ),
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )
    submit = SubmitField(_l("Log in"))


class CodeForm(FlaskForm):
    """The second step of a login, and the confirmation of a new authenticator app."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=80)],
        description=_l("The 6 digits your authenticator app shows now, or a recovery code."),
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )
    submit = SubmitField(_l("Continue"))


class EnrolCodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=20)],
        description=_l("The 6 digits the app shows for surveyapp now."),
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )
    submit = SubmitField(_l("Confirm"))


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Your current password"),
        validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(max=256)],
        description=_l(
            "At least 12 characters and not a common password: a few unrelated words are good."
        ),
        render_kw={"autocomplete": "new-password"},
    )
    password_again = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change password"))


class MunicipalitySecurityForm(FlaskForm):
    coordinator_2fa_required = BooleanField(
        _l("Coordinators must log in with a second factor (an authenticator app)")
    )
    submit = SubmitField(_l("Save"))


class _LivesAlone:
    """The "lives alone" question of registering a citizen (a part of two forms)."""

    lives_alone = RadioField(
        _l("Lives alone"),
        choices=select_choices(
            [("unknown", _l("Not known")), ("yes", _l("Yes")), ("no", _l("No"))]
        ),
        default="unknown",
    )

    def lives_alone_value(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.lives_alone.data or "")


class FindCitizenForm(_LivesAlone, FlaskForm):
    cpr = NeverEchoedField(
        _l("CPR number"),
        validators=[DataRequired(), Length(max=20)],
        description=_l("10 digits, DDMMYY-XXXX. Never stored: only a pseudonym is kept."),
        render_kw={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"},
    )
    label = StringField(
        _l("Label (only when registering a new citizen)"),
        validators=[Optional(), Length(max=40)],
        description=_l("Your own short label, e.g. initials. Not the name or the CPR number."),
        render_kw={"autocomplete": "off"},
    )
    submit = SubmitField(_l("Find or register"))


class RegisterCitizenForm(_LivesAlone, FlaskForm):
    """The registration step after a CPR look-up that found no one (the number is kept)."""

    label = StringField(
        _l("Label"),
        validators=[DataRequired(), Length(max=40)],
        description=_l("Your own short label, e.g. initials. Not the name or the CPR number."),
        render_kw={"autocomplete": "off"},
    )
    register = SubmitField(_l("Register citizen"))  # not "submit": the page has two forms


class CitizenSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Label contains"), validators=[Optional(), Length(max=40)])


class CourseForm(FlaskForm):
    provider_id = SelectField(_l("Provider"), coerce=int, validators=[InputRequired()])
    team_id = SelectField(_l("Team"), coerce=int, validators=[Optional()])
    legal_basis = SelectField(
        _l("Legal basis"), choices=_choices(LEGAL_BASIS_LABELS), default=LegalBasis.SEL_83A.value
    )
    plan_id = SelectField(_l("Measurement plan"), coerce=int, validators=[InputRequired()])
    start_date = DateField(_l("Start date"), validators=[InputRequired()])
    end_date = DateField(
        _l("End date"),
        validators=[Optional()],
        description=_l(
            "Leave empty if not yet known; the end measurements are dated when it is set."
        ),
    )
    confirm_overlap = BooleanField(
        _l("Yes, register this course beside the other one"),
        description=_l(
            "Only if the citizen really has two courses at once, e.g. with two providers."
        ),
    )
    submit = SubmitField(_l("Register course"))


class CourseEditForm(FlaskForm):
    end_date = DateField(
        _l("End date"),
        validators=[Optional()],
        description=_l(
            "Moving the end date moves the end and follow-up measurements not yet answered."
        ),
    )
    status = SelectField(_l("Status"), choices=_choices(COURSE_STATUS_LABELS))
    submit = SubmitField(_l("Save"))


class DropoutForm(FlaskForm):
    reason = RadioField(
        _l("Reason"), choices=_choices(DROPOUT_LABELS), validators=[InputRequired()]
    )
    later_too = BooleanField(
        _l("Also every later measurement of this respondent in this course (e.g. moved or died)")
    )
    submit = SubmitField(_l("Record drop-out"))


class DueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    team = SelectField(_l("Team"), coerce=int, default=0, validators=[Optional()])
    respondent = SelectField(
        _l("Respondent"),
        choices=[SelectChoice("", _l("Everyone")), *_choices(RESPONDENT_LABELS)],
        default="",
        validators=[Optional()],
    )
    q = StringField(_l("Citizen label contains"), validators=[Optional(), Length(max=60)])
    submit = SubmitField(_l("Show"))


class UserCreateForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(), Length(min=2, max=80)],
        description=_l("Lower-case letters, digits, dot, hyphen or underscore."),
        render_kw={"autocomplete": "off", "autocapitalize": "none"},
    )
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=_choices(ROLE_LABELS), default=Role.COORDINATOR.value)
    provider_id = SelectField(_l("Provider"), coerce=int, default=0, validators=[Optional()])
    team_id = SelectField(_l("Team"), coerce=int, default=0, validators=[Optional()])
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=256)],
        description=_l(
            "At least 12 characters and not a common password: a few unrelated words are good."
        ),
        render_kw={"autocomplete": "new-password"},
    )
    password_again = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    kiosk_pin = PasswordField(
        _l("Kiosk PIN (optional)"),
        # The rule of the kiosk's unlock: a longer PIN could never be typed there.
        validators=[Optional(), Regexp(r"\A[0-9]{4,6}\Z", message=_l("4 to 6 digits."))],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Create user"))


class UserEditForm(FlaskForm):
    """An admin changes a user's name, role, provider and team."""

    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=_choices(ROLE_LABELS))
    provider_id = SelectField(_l("Provider"), coerce=int, default=0, validators=[Optional()])
    team_id = SelectField(_l("Team"), coerce=int, default=0, validators=[Optional()])
    submit = SubmitField(_l("Save changes"))


class KioskPinResetForm(FlaskForm):
    """An admin sets a new kiosk PIN for a user (the same rule as the kiosk's unlock)."""

    pin = PasswordField(
        _l("New kiosk PIN (4 to 6 digits)"),
        validators=[DataRequired()],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password", "maxlength": 6},
    )
    repeated = PasswordField(
        _l("The same PIN again"),
        validators=[DataRequired()],
        render_kw={"inputmode": "numeric", "autocomplete": "new-password", "maxlength": 6},
    )
    submit = SubmitField(_l("Set kiosk PIN"))


class PasswordResetForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(max=256)],
        description=_l(
            "At least 12 characters and not a common password. The user's sessions end at "
            "once; their second factor (authenticator app) stays as it is."
        ),
        render_kw={"autocomplete": "new-password"},
    )
    password_again = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Set new password"))


class AuditSearchForm(FlaskForm):
    class Meta:
        csrf = False

    action = StringField(_l("Action begins with"), validators=[Optional(), Length(max=60)])
    user = SelectField(_l("User"), coerce=int, default=0, validators=[Optional()])
    object_type = SelectField(
        _l("Record type"),
        choices=select_choices(
            [
                ("", _l("Any")),
                ("citizen", _l("Citizen")),
                ("course", _l("Course")),
                ("assignment", _l("Measurement")),
                ("response", _l("Response")),
                ("staff_user", _l("Staff user")),
                ("measurement_plan", _l("Measurement plan")),
            ]
        ),
        default="",
        validators=[Optional()],
    )
    object_id = StringField(_l("Record number"), validators=[Optional(), Length(max=40)])
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    page = IntegerField(default=1, validators=[Optional(), NumberRange(min=1, max=10000)])
    submit = SubmitField(_l("Search"))


class PlanCopyForm(FlaskForm):
    name = StringField(_l("Name of the new plan"), validators=[DataRequired(), Length(max=120)])
    submit = SubmitField(_l("Make an editable copy"))


class TimepointForm(FlaskForm):
    key = StringField(
        _l("Key"),
        validators=[
            DataRequired(),
            Regexp(
                r"^[a-z][a-z0-9_]{0,39}$", message=_l("Lower-case letters, digits and underscore.")
            ),
        ],
        description=_l("A short stable name, e.g. fu_6m. It cannot be changed later."),
    )
    label_da = StringField(_l("Name in Danish"), validators=[DataRequired(), Length(max=80)])
    label_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=80)])
    anchor = RadioField(
        _l("Counted from"), choices=_choices(ANCHOR_LABELS), validators=[InputRequired()]
    )
    offset_months = IntegerField(
        _l("Offset in months"), default=0, validators=[InputRequired(), NumberRange(min=0, max=120)]
    )
    offset_days = IntegerField(
        _l("Offset in days"),
        default=0,
        validators=[InputRequired(), NumberRange(min=-365, max=365)],
    )
    window_before_days = IntegerField(
        _l("Window opens, days before"),
        default=7,
        validators=[InputRequired(), NumberRange(min=0, max=365)],
    )
    window_after_days = IntegerField(
        _l("Window closes, days after"),
        default=14,
        validators=[InputRequired(), NumberRange(min=0, max=365)],
    )
    link_valid_days = IntegerField(
        _l("Letters' links work for (days)"),
        default=14,
        validators=[Optional(), NumberRange(min=1, max=90)],
        description=_l(
            "Counted from when the letter is issued, or from when the window opens if later."
        ),
    )
    items = MultiCheckboxField(_l("Questionnaires and who answers"), validators=[InputRequired()])
    preview_digest = HiddenField()
    preview = SubmitField(_l("Show what will change"))
    apply = SubmitField(_l("Apply the changes"))
