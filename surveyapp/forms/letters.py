"""Staff forms for letters: one letter, letters for many rows, and the municipality's settings."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import Field, HiddenField, IntegerField, RadioField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from surveyapp.forms.base import FlaskForm
from surveyapp.forms.staff import select_choices

MAX_SELECTED = 500


class LetterForm(FlaskForm):
    """Issue one letter: the citizen's first name for the letter (optional) and its language."""

    first_name = StringField(
        _l("The citizen's first name, for the letter (optional)"),
        validators=[Optional(), Length(max=40)],
        description=_l(
            'Printed in the letter, e.g. "Inger". Leave it empty and the letter says '
            '"your family member". Never the label or the CPR number.'
        ),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    language = RadioField(
        _l("Language of the letter and the questionnaire"),
        choices=select_choices([("da", "Dansk"), ("en", "English")]),
        default="da",
        validators=[InputRequired()],
    )
    back = HiddenField()
    submit = SubmitField(_l("Issue the link and show the letter"))


class IdListField(Field):
    """Assignment ids ticked on the due list: each box holds one row's ids ("12 13")."""

    data: list[int]

    def process_formdata(self, valuelist: list[Any]) -> None:
        ids: list[int] = []
        for value in valuelist:
            ids += [int(part) for part in re.findall(r"\d{1,12}", str(value))]
        self.data = list(dict.fromkeys(ids))[: MAX_SELECTED + 1]

    def _value(self) -> str:
        return ""


class LettersBatchForm(FlaskForm):
    """Letters for many questionnaires at once, as one PDF: the ticked rows, or all due soon."""

    assignments = IdListField(default=list)
    days = IntegerField(
        _l("Due within (days)"),
        default=14,
        validators=[Optional(), NumberRange(min=0, max=90)],
    )
    print_selected = SubmitField(_l("Print letters for the selected"))
    print_due = SubmitField(_l("Print letters for every relative due soon without a live link"))

    def validate_assignments(self, field: IdListField) -> None:
        if len(field.data) > MAX_SELECTED:
            raise ValueError(str(_l("At most 500 letters at a time.")))


_PHONE = Regexp(r"^[0-9+ ()\-]{4,40}$", message=_l("Digits, spaces, + and - only."))
_EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Not an e-mail address."))


class LetterSettingsForm(FlaskForm):
    """The municipality's sender and contact line, printed in every letter."""

    letter_sender = StringField(
        _l("Sender"),
        validators=[Optional(), Length(max=200)],
        description=_l('Who the letter is from, e.g. "Sundhed og Omsorg, Visitationen".'),
    )
    contact_phone = StringField(
        _l("Phone number for relatives"),
        validators=[Optional(), Length(max=40), _PHONE],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    contact_hours = StringField(
        _l("Telephone hours"),
        validators=[Optional(), Length(max=120)],
        description=_l('E.g. "hverdage kl. 8-12".'),
    )
    contact_email = StringField(
        _l("E-mail for relatives"),
        validators=[Optional(), Length(max=120), _EMAIL],
        render_kw={"inputmode": "email", "autocomplete": "off"},
    )
    submit = SubmitField(_l("Save"))
