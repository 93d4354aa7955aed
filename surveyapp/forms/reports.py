"""The report filter form (GET, bookmarkable) and the analyst grant form."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from surveyapp.enums import LegalBasis, ProviderKind, Respondent
from surveyapp.forms.base import FlaskForm, PlainForm
from surveyapp.forms.fields import DateField
from surveyapp.forms.staff import (
    LEGAL_BASIS_LABELS,
    RESPONDENT_LABELS,
    MultiCheckboxField,
    select_choices,
)
from surveyapp.services.reports import FilterOptions, ReportFilters

PROVIDER_KIND_LABELS = {
    ProviderKind.MUNICIPAL: _l("Municipal providers"),
    ProviderKind.PRIVATE: _l("Private providers"),
}
INVALID_CHOICE = _l("Not a valid choice.")
INVALID_DATE = _l("Not a date: write it as YYYY-MM-DD.")


class ReportFilterForm(PlainForm):
    """Filters read from the query string, so that a filtered report can be bookmarked.

    A plain WTForms form: a GET form changes nothing and carries no CSRF token. Every
    validation message is our own (translated), whatever WTForms would say.
    """

    municipality = MultiCheckboxField(_l("Municipalities"), coerce=int, validators=[Optional()])
    provider_kind = SelectField(_l("Kind of provider"), validators=[Optional()])
    provider = SelectField(_l("Provider"), coerce=int, default=0)
    team = SelectField(_l("Team"), coerce=int, default=0)
    start_from = DateField(_l("Course started on or after"), validators=[Optional()])
    start_to = DateField(_l("Course started on or before"), validators=[Optional()])
    legal_basis = SelectField(_l("Legal basis"), validators=[Optional()])
    respondent = SelectField(_l("Who answered"), validators=[Optional()])

    def set_options(self, options: FilterOptions) -> None:
        """Offer only what the user's report scope holds."""
        several = len(options.municipalities) > 1
        names = {m[0]: m[2] for m in options.municipalities}
        self.municipality.choices = select_choices((m[0], m[2]) for m in options.municipalities)
        self.provider_kind.choices = select_choices(
            [("", _l("All kinds"))] + [(k.value, v) for k, v in PROVIDER_KIND_LABELS.items()]
        )
        self.provider.choices = select_choices(
            [(0, _l("All providers"))]
            + [
                (p.id, f"{names[p.municipality_id]}: {p.name}" if several else p.name)
                for p in options.providers
            ]
        )
        provider_names = {p.id: p.name for p in options.providers}
        self.team.choices = select_choices(
            [(0, _l("All teams"))]
            + [(t.id, f"{provider_names[t.provider_id]}: {t.name}") for t in options.teams]
        )
        self.legal_basis.choices = select_choices(
            [("", _l("All"))] + [(k.value, v) for k, v in LEGAL_BASIS_LABELS.items()]
        )
        self.respondent.choices = select_choices(
            [("", _l("Everyone"))] + [(k.value, v) for k, v in RESPONDENT_LABELS.items()]
        )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if field.errors:
                message = INVALID_DATE if isinstance(field, DateField) else INVALID_CHOICE
                field.errors = [message]
        return valid

    def filters(self) -> ReportFilters:
        """The validated filters (call after `validate`)."""
        return ReportFilters(
            municipality_ids=frozenset(self.municipality.data or ()),
            provider_kind=ProviderKind(self.provider_kind.data)
            if self.provider_kind.data
            else None,
            provider_id=self.provider.data or None,
            team_id=self.team.data or None,
            start_from=_day(self.start_from.data),
            start_to=_day(self.start_to.data),
            legal_basis=LegalBasis(self.legal_basis.data) if self.legal_basis.data else None,
            respondent=Respondent(self.respondent.data) if self.respondent.data else None,
        )

    def field_named(self, name: str) -> Any:
        """The form field a service's FilterError names."""
        return self[name]


def _day(value: object) -> date | None:
    return value if isinstance(value, date) else None


class GrantForm(FlaskForm):
    username = StringField(
        _l("Analyst's username"),
        validators=[DataRequired(message=_l("Write a username.")), Length(max=80)],
        description=_l(
            "An analyst of any municipality. They will see this municipality's reports."
        ),
    )
    submit = SubmitField(_l("Give access"))
