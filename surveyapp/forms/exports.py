"""The export filter form (a GET form: it changes nothing, so it carries no CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SelectField
from wtforms.validators import Optional, ValidationError

from surveyapp.forms.base import FlaskForm
from surveyapp.forms.fields import DateField
from surveyapp.forms.staff import MultiCheckboxField, select_choices


class ExportForm(FlaskForm):
    class Meta:
        csrf = False

    rows = RadioField(
        _l("Rows"),
        choices=select_choices(
            [
                ("wide", _l("One row per response (wide)")),
                ("long", _l("One row per answer (long)")),
            ]
        ),
        default="wide",
    )
    instrument = SelectField(
        _l("Questionnaire"),
        default="",
        description=_l(
            "One questionnaire gives one column per question, named as in the import and "
            "batch-scoring files. All questionnaires gives one file with every column."
        ),
    )
    municipality = MultiCheckboxField(
        _l("Municipalities"),
        coerce=int,
        description=_l("None ticked: every municipality you may see."),
    )
    provider = SelectField(_l("Provider"), coerce=int, default=0)
    start_from = DateField(_l("Course start from"), validators=[Optional()])
    start_to = DateField(_l("Course start to"), validators=[Optional()])
    in_progress = BooleanField(_l("Also responses not yet submitted"))
    language = SelectField(
        _l("Labels in"),
        choices=select_choices([("da", "Dansk"), ("en", "English")]),
        default="da",
    )

    def validate_start_to(self, field: DateField) -> None:
        if field.data and self.start_from.data and field.data < self.start_from.data:
            raise ValidationError(_l("The period cannot end before it starts."))
