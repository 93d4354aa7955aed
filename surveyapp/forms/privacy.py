"""Forms of the GDPR screens: a citizen found by CPR number, and the erasure's confirmation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from surveyapp.forms.base import FlaskForm
from surveyapp.forms.staff import NeverEchoedField, select_choices


class PrivacyRequestForm(FlaskForm):
    cpr = NeverEchoedField(
        _l("CPR number"),
        validators=[DataRequired(), Length(max=20)],
        description=_l("10 digits, DDMMYY-XXXX. Never stored: only a pseudonym is kept."),
        render_kw={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"},
    )
    purpose = RadioField(
        _l("What the citizen asks for"),
        choices=select_choices(
            [
                ("access", _l("Access: everything we hold about them (a zip of CSV files)")),
                ("erase", _l("Erasure: delete the citizen and everything about them")),
            ]
        ),
        validators=[InputRequired()],
    )
    submit = SubmitField(_l("Continue"))


class EraseForm(FlaskForm):
    confirm_erase = BooleanField(
        _l("The municipality has decided that this citizen's data shall be erased"),
        validators=[DataRequired()],
    )
    submit = SubmitField(_l("Erase for good"))
