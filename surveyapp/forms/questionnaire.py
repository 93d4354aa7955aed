"""Forms built from instrument definitions, never written by hand per questionnaire.

One field factory per item kind (FIELD_FACTORIES, checked by a test against ITEM_KINDS); a
fresh form class per call; field names are the stable item ids. "Ved ikke / vil ikke svare"
and "Ikke relevant" are extra choices with the values DONT_KNOW and NOT_APPLICABLE, stored as
answer states, never as values.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import Field, IntegerField, RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import UnboundField
from wtforms.validators import AnyOf, InputRequired, NumberRange, Optional, ValidationError
from wtforms.widgets import RadioInput

from surveyapp.enums import AnswerState
from surveyapp.forms.base import FlaskForm
from surveyapp.instruments import Instrument, Item, ItemKind

DONT_KNOW = AnswerState.DONT_KNOW.value
NOT_APPLICABLE = AnswerState.NOT_APPLICABLE.value
SPECIAL_VALUES = (DONT_KNOW, NOT_APPLICABLE)

FieldFactory = Callable[[Instrument, Item, str, Mapping[str, str]], UnboundField]


def special_choices(instrument: Instrument, item: Item, lang: str) -> list[tuple[str, str]]:
    """The extra choices an item allows, with their labels in `lang`."""
    choices = []
    if item.not_applicable and instrument.not_applicable_label:
        choices.append((NOT_APPLICABLE, instrument.not_applicable_label[lang]))
    if item.dont_know and instrument.dont_know_label:
        choices.append((DONT_KNOW, instrument.dont_know_label[lang]))
    return choices


def missing_answer_message(item: Item) -> Any:
    """What a question says when it has no usable answer (the form's and the offline kiosk's)."""
    if item.kind is ItemKind.INTEGER:
        return _l(
            "Please write a whole number from %(low)s to %(high)s.", low=item.min, high=item.max
        )
    return _l("Please choose an answer.")


def _choice_validators(item: Item, choices: list[tuple[str, str]]) -> list[Any]:
    allowed = AnyOf(
        [value for value, _label in choices],
        message=_l("That answer cannot be used. Please choose one of the options."),
    )
    if item.optional:
        return [Optional(), allowed]
    return [InputRequired(message=missing_answer_message(item)), allowed]


class KeptRadioInput(RadioInput):
    """A radio button whose markup is made once per option, attributes and checked state.

    Everything in the markup comes from the definition (name, id, value, the validators'
    flags) and the template's attributes, never from the respondent, so a question page
    re-uses the strings instead of building each button's attributes on every view.
    """

    def __init__(self) -> None:
        self._made: dict[tuple[object, ...], Markup] = {}

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        try:
            key = (field.name, field.id, field._value(), field.checked, *sorted(kwargs.items()))
            made = self._made.get(key)
        except TypeError:  # an attribute that cannot be a key: made as usual
            return super().__call__(field, **kwargs)  # type: ignore[no-any-return]
        if made is None:
            made = self._made[key] = super().__call__(field, **kwargs)
        return made


def _radio(
    instrument: Instrument,
    item: Item,
    lang: str,
    params: Mapping[str, str],
    choices: list[tuple[str, str]],
) -> UnboundField:
    choices = choices + special_choices(instrument, item, lang)
    return RadioField(
        instrument.text(item.id, lang, params),
        choices=[SelectChoice(value, label) for value, label in choices],
        validators=_choice_validators(item, choices),
        validate_choice=False,  # AnyOf above says it in the respondent's language
        option_widget=KeptRadioInput(),
    )


def _single_choice(
    instrument: Instrument, item: Item, lang: str, params: Mapping[str, str]
) -> UnboundField:
    choices = [(str(o.value), o.label[lang].render(params)) for o in item.options]
    return _radio(instrument, item, lang, params, choices)


def _scale(
    instrument: Instrument, item: Item, lang: str, params: Mapping[str, str]
) -> UnboundField:
    choices = [(str(v), str(v)) for v in range(item.min, item.max + 1)]
    return _radio(instrument, item, lang, params, choices)


def _integer(
    instrument: Instrument, item: Item, lang: str, params: Mapping[str, str]
) -> UnboundField:
    message = missing_answer_message(item)
    return IntegerField(
        instrument.text(item.id, lang, params),
        validators=[
            Optional() if item.optional else InputRequired(message=message),
            NumberRange(min=item.min, max=item.max, message=message),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "min": item.min, "max": item.max},
    )


FIELD_FACTORIES: Mapping[ItemKind, FieldFactory] = {
    ItemKind.SINGLE_CHOICE: _single_choice,
    ItemKind.SCALE: _scale,
    ItemKind.INTEGER: _integer,
}


def instrument_form_class(
    instrument: Instrument,
    lang: str,
    params: Mapping[str, str] | None = None,
    items: Iterable[Item] | None = None,
) -> type[FlaskForm]:
    """A new form class with one field per item (all items, or the ones given)."""
    params = params or {}
    fields = {
        item.id: FIELD_FACTORIES[item.kind](instrument, item, lang, params)
        for item in (instrument.items if items is None else items)
    }
    return type(f"{instrument.id}_{lang}_form", (FlaskForm,), fields)


#: Form classes of one question, built once per instrument, item, language and text
#: parameters (the organisation's names), not on every page view: (instrument, class) by key.
_FormKey = tuple[int, str, str, tuple[tuple[str, str], ...]]
_ITEM_FORMS: OrderedDict[_FormKey, tuple[Instrument, type[FlaskForm]]] = OrderedDict()
_ITEM_FORMS_LOCK = threading.Lock()  # threaded workers share it
ITEM_FORMS_KEPT = 2048


def item_form_class(
    instrument: Instrument, item: Item, lang: str, params: Mapping[str, str] | None = None
) -> type[FlaskForm]:
    """The form class for one question on its own screen (built once, then kept).

    A class holds only what the definition, the language and the parameters say; the answer
    and the CSRF token belong to each instance. The key holds the instrument object's identity
    and the entry the object itself, so another registry's instrument never gets this class.
    """
    key = (id(instrument), item.id, lang, tuple(sorted((params or {}).items())))
    with _ITEM_FORMS_LOCK:
        kept = _ITEM_FORMS.get(key)
        if kept is not None and kept[0] is instrument:
            _ITEM_FORMS.move_to_end(key)
            return kept[1]
    form_class = instrument_form_class(instrument, lang, params, items=[item])
    with _ITEM_FORMS_LOCK:
        _ITEM_FORMS[key] = (instrument, form_class)
        if len(_ITEM_FORMS) > ITEM_FORMS_KEPT:
            _ITEM_FORMS.popitem(last=False)
    return form_class


def answer_from_field(item: Item, raw: Any) -> int | AnswerState | None:
    """The answer a field's data stands for: a value, a special state, or None (skipped)."""
    if raw is None or raw == "":
        return None
    if raw in SPECIAL_VALUES:
        return AnswerState(raw)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"{item.id}: not a whole number") from None
    return value


def field_data(item: Item, state: AnswerState | None, value: int | None) -> str | int | None:
    """The form data that shows a stored answer again (e.g. after going back)."""
    if state is None:
        return None
    if state is not AnswerState.ANSWERED:
        return state.value
    return value if item.kind is ItemKind.INTEGER else str(value)


__all__ = [
    "DONT_KNOW",
    "FIELD_FACTORIES",
    "NOT_APPLICABLE",
    "Field",
    "answer_from_field",
    "field_data",
    "instrument_form_class",
    "item_form_class",
    "missing_answer_message",
    "special_choices",
]
