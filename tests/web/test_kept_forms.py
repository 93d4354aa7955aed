"""Question form classes and radio buttons are made once and re-used (issue 13's answer path),
and what they render is exactly what freshly made ones render."""

from __future__ import annotations

from flask import Flask
from wtforms.widgets import RadioInput

from surveyapp.forms.questionnaire import KeptRadioInput, item_form_class
from surveyapp.instruments import default_registry
from surveyapp.instruments.loader import load_registry

PARAMS = {"unit": "Hjemmetræning Nord", "municipality": "Testkommune"}


def test_a_question_form_class_is_made_once_per_instrument_item_language_and_names() -> None:
    who5 = default_registry().get("who5")
    item = who5.items[0]
    kept = item_form_class(who5, item, "da", PARAMS)
    assert item_form_class(who5, item, "da", dict(PARAMS)) is kept
    assert item_form_class(who5, item, "en", PARAMS) is not kept
    assert item_form_class(who5, who5.items[1], "da", PARAMS) is not kept
    assert item_form_class(who5, item, "da", {**PARAMS, "unit": "Syd"}) is not kept
    # Another registry's instrument of the same id and version never gets this class.
    other = load_registry().get("who5")
    assert other is not who5 and (other.id, other.version) == (who5.id, who5.version)
    assert item_form_class(other, other.items[0], "da", PARAMS) is not kept


def test_kept_buttons_render_as_the_library_renders_them_checked_or_not(app: Flask) -> None:
    who5 = default_registry().get("who5")
    item = who5.items[2]
    form_class = item_form_class(who5, item, "da", PARAMS)
    plain = RadioInput()
    attributes = {"aria-describedby": "who5_3-min who5_3-max"}
    with app.test_request_context("/"):
        for data in (None, "3", "0", "3"):
            for _round in range(2):  # the second round comes from what was kept
                field = form_class(formdata=None, data={item.id: data})[item.id]
                assert isinstance(field.option_widget, KeptRadioInput)
                rendered = [str(option(**attributes)) for option in field]
                assert rendered == [str(plain(option, **attributes)) for option in field]
                assert sum("checked" in r for r in rendered) == (data is not None), rendered
