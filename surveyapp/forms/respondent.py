"""Hand-written forms on the respondent's side: the typed code from the letter."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from surveyapp.forms.base import FlaskForm


class CodeForm(FlaskForm):
    """The code printed in the letter (case, spaces and dashes do not matter)."""

    code = StringField(
        _l("The code from the letter"),
        validators=[
            InputRequired(message=_l("Please type the code from the letter.")),
            Length(max=80),
        ],
        render_kw={
            "autocapitalize": "characters",
            "inputmode": "text",
            "autocomplete": "off",
            "autocorrect": "off",
            "spellcheck": "false",
            "maxlength": 40,
        },
    )
