"""Every validation message is in the user's language, the form library's own ones included.

WTForms writes "This field is required." and "Field must be between 10 and 200 characters
long." in English and has no Danish catalogue; the app's form base classes
(surveyapp.forms.base) look them up in the app's own catalogue. These tests walk every form
class of the app with bad input in Danish and in English and fail on any message that is the
same in both (an untranslated message), and on any form class that bypasses the base.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from wtforms import Form, SelectFieldBase

import surveyapp.forms
import surveyapp.web
from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.forms import base
from surveyapp.forms.questionnaire import instrument_form_class
from surveyapp.forms.staff import entry_form_class
from tests.support.i18n import merged_translations
from tests.support.staff import login, token

#: English messages WTForms and Flask-WTF write themselves (start of each).
LIBRARY_ENGLISH = (
    "This field is required",
    "Field must be",
    "Field cannot be longer",
    "Not a valid",
    "Number must be",
    "Date must be",
    "Invalid",
    "The CSRF",
    "is not a valid choice",
)

#: Bad input of several kinds: nothing, far too long, not a number or a date, negative.
BAD_INPUTS = ("", "x" * 5000, "not-a-number", "-1", "2024-02-30")
#: The text parameters of the start-meeting questions.
PARAMS = {"municipality": "Sølvstrand Kommune", "unit": "Hjemmeplejen"}


@pytest.fixture
def app(settings: Settings, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        settings, BABEL_TRANSLATION_DIRECTORIES=str(merged_translations(tmp_path / "i18n"))
    )
    yield app
    app.extensions["surveyapp.engine"].dispose()


def _modules() -> None:
    for package in (surveyapp.forms, surveyapp.web):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _app_form_classes(app: Flask) -> list[type[Form]]:
    _modules()
    classes = {
        c
        for c in _subclasses(Form)
        if c.__module__.startswith("surveyapp.") and c not in (base.FlaskForm, base.PlainForm)
    }
    registry = app.extensions["surveyapp.registry"]
    for instrument in registry:
        classes.add(instrument_form_class(instrument, "da", PARAMS))
        classes.add(entry_form_class(instrument, "da", PARAMS, paper=True))
        classes.add(entry_form_class(instrument, "da", PARAMS, paper=False))
    return sorted(classes, key=lambda c: (c.__module__, c.__qualname__))


def _errors(form: Form) -> list[str]:
    found: list[str] = []
    for field in form:
        errors = field.errors
        if isinstance(errors, dict):  # a FormField
            errors = [e for sub in errors.values() for e in sub]
        found.extend(str(e) for e in errors)
    found.extend(str(e) for e in getattr(form, "form_errors", []))
    return found


def _walk(app: Flask, cls: type[Form], locale: str, value: str) -> list[str]:
    """The messages of a form of class `cls` with `value` in every field, in `locale`."""
    headers = {"Accept-Language": locale}
    with app.test_request_context("/", method="POST", headers=headers):
        probe = cls(formdata=None, meta={"csrf": False})
        data = MultiDict()
        for field in probe:
            data.add(field.name, value)
        form = cls(formdata=data, meta={"csrf": False})
        for field in form:
            if isinstance(field, SelectFieldBase) and getattr(field, "choices", None) is None:
                field.choices = [("1", "one")]
        try:
            form.validate()
        except (TypeError, ValueError):  # a form that needs choices from its view
            return []
        return _errors(form)


def test_every_form_class_uses_the_app_base(app: Flask) -> None:
    classes = _app_form_classes(app)
    assert len(classes) > 20
    stray = [
        f"{c.__module__}.{c.__qualname__}"
        for c in classes
        if not issubclass(c, (base.FlaskForm, base.PlainForm))
    ]
    assert stray == []


def test_bad_input_in_danish_gives_no_english_message(app: Flask) -> None:
    english: list[str] = []
    seen = 0
    for cls in _app_form_classes(app):
        for value in BAD_INPUTS:
            danish = _walk(app, cls, "da", value)
            same = set(danish) & set(_walk(app, cls, "en", value))
            seen += len(danish)
            english += [f"{cls.__qualname__} {value[:12]!r}: {m}" for m in sorted(same)]
            english += [
                f"{cls.__qualname__} {value[:12]!r}: {m}"
                for m in danish
                if m.startswith(LIBRARY_ENGLISH) and m not in same
            ]
    assert seen > 100  # the walk really produced messages
    assert english == []


@pytest.mark.parametrize(
    ("singular", "plural"),
    [m for m in base.LIBRARY_MESSAGES if isinstance(m, tuple)],
)
def test_library_plurals_have_danish_forms(app: Flask, singular: str, plural: str) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "da"}):
        one = base.TRANSLATIONS.ngettext(singular, plural, 1)
        many = base.TRANSLATIONS.ngettext(singular, plural, 5)
    assert one not in (singular, plural)
    assert many not in (singular, plural)


def test_a_posted_form_shows_danish_messages(app: Flask) -> None:
    client: FlaskClient = app.test_client()
    from tests.support.staff import load_small_demo

    load_small_demo(app.extensions["surveyapp.sessions"], app.extensions["surveyapp.settings"])
    page = client.post("/login", data={"username": "", "password": "", "csrf_token": token(client)})
    assert "This field is required" not in page.text
    assert "skal udfyldes" in page.text
    login(client, "admin")
    created = client.post(
        "/staff/admin/users",
        data={"username": "x" * 300, "csrf_token": token(client, "/staff/admin/users")},
    )
    text: Any = created.text
    assert created.status_code in (200, 400)
    assert not any(e in text for e in LIBRARY_ENGLISH[:6]), text
