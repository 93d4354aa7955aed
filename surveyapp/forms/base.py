"""Every form's messages in the user's language: the base classes of all forms in the app.

WTForms and Flask-WTF write their own validation messages in English ("This field is
required.", "Field must be between 10 and 200 characters long.", "Not a valid choice.").
WTForms ships no Danish catalogue, so Flask-WTF's WTF_I18N_ENABLED alone leaves them in
English. Instead every form here looks its library messages up in the app's own catalogue
(translations/*/LC_MESSAGES/messages.po, through Flask-Babel): `LIBRARY_MESSAGES` below lists
them so that `make i18n-update` extracts them and the catalogue carries their Danish.

Use `FlaskForm` (a form posted with a CSRF token) and `PlainForm` (a GET filter form without
one) from this module, never the library classes; tests/unit/test_form_messages.py checks
that every form class in the app derives from one of them and that no English message is
left in the Danish UI.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_babel import get_translations
from flask_wtf import FlaskForm as _FlaskForm
from wtforms import Form as _Form


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, don't translate"
    """Mark a message for extraction; it is translated where it is shown."""
    return message


def ngettext(singular: str, plural: str, _n: int = 2) -> tuple[str, str]:
    """Mark a plural message for extraction (see `N_`)."""
    return singular, plural


#: The messages WTForms and Flask-WTF may show, as the libraries write them (their msgids).
LIBRARY_MESSAGES = (
    N_("Field must be equal to %(other_name)s."),
    ngettext(
        "Field must be at least %(min)d character long.",
        "Field must be at least %(min)d characters long.",
    ),
    ngettext(
        "Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters.",
    ),
    ngettext(
        "Field must be exactly %(max)d character long.",
        "Field must be exactly %(max)d characters long.",
    ),
    N_("Field must be between %(min)d and %(max)d characters long."),
    N_("Number must be at least %(min)s."),
    N_("Number must be at most %(max)s."),
    N_("Number must be between %(min)s and %(max)s."),
    N_("Date must be at least %(min)s."),
    N_("Date must be at most %(max)s."),
    N_("Date must be between %(min)s and %(max)s."),
    N_("This field is required."),
    N_("Invalid input."),
    N_("Invalid email address."),
    N_("Invalid URL."),
    N_("Invalid UUID."),
    N_("Invalid value, must be one of: %(values)s."),
    N_("Invalid value, can't be any of: %(values)s."),
    N_("This field cannot be edited."),
    N_("This field is disabled and cannot have a value."),
    N_("Invalid Choice: could not coerce."),
    N_("Choices cannot be None."),
    N_("Not a valid choice."),
    N_("Invalid choice(s): one or more data inputs could not be coerced."),
    ngettext(
        "'%(value)s' is not a valid choice for this field.",
        "'%(value)s' are not valid choices for this field.",
    ),
    N_("Not a valid datetime value."),
    N_("Not a valid date value."),
    N_("Not a valid time value."),
    N_("Not a valid week value."),
    N_("Not a valid integer value."),
    N_("Not a valid decimal value."),
    N_("Not a valid float value."),
    # Flask-WTF's CSRF check (shown on the views that check the token themselves)
    N_("The CSRF token is missing."),
    N_("The CSRF session token is missing."),
    N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."),
    N_("The CSRF tokens do not match."),
)


class AppTranslations:
    """WTForms' translations object, answered from the app's catalogue in the user's locale.

    Outside a request (a form built in a script or a test) the message stays as written.
    """

    def gettext(self, string: str) -> str:
        if not has_request_context():
            return string
        return str(get_translations().ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        if not has_request_context():
            return singular if n == 1 else plural
        return str(get_translations().ungettext(singular, plural, n))


TRANSLATIONS = AppTranslations()


class FlaskForm(_FlaskForm):
    """Flask-WTF's form (CSRF token included) with every message in the user's language."""

    class Meta(_FlaskForm.Meta):
        def get_translations(self, form: Any) -> AppTranslations:
            return TRANSLATIONS

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        _translate_csrf_errors(self)
        return valid


class PlainForm(_Form):
    """A plain WTForms form (a GET filter without CSRF) with messages in the user's language."""

    class Meta(_Form.Meta):
        def get_translations(self, form: Any) -> AppTranslations:
            return TRANSLATIONS


def _translate_csrf_errors(form: _FlaskForm) -> None:
    """Flask-WTF raises its CSRF messages untranslated: translate them where they are kept."""
    field = getattr(form, "csrf_token", None)
    if field is None or not getattr(field, "errors", None):
        return
    field.errors = [TRANSLATIONS.gettext(e) if isinstance(e, str) else e for e in field.errors]


__all__ = ["LIBRARY_MESSAGES", "FlaskForm", "PlainForm"]
