"""Pure scoring: a mapping of item answers in, a small result object out.

`score(instrument, {item_id: value or None})` validates every answer against the instrument's
definition, then applies the definition's scoring rule (named in the file, implemented here).
An item left out of the mapping counts as missing, exactly like None.

Score names are `<instrument id>_<score>` (e.g. `who5_percent`, `whodas12_sum`,
`whodas12_proxy_sum`); every rule returns all of its names on every call, None where a score
cannot be computed, and says why in `notes`. Note codes are short and stable:

- `missing:<item>`                  a scored item was not answered and was not imputed
- `imputed:<item>`                  a missing item was given a value (WHODAS rule below)
- `not_scorable:missing_items:<n>`  too many missing items for the total score
- `not_scorable:domain_missing:<d>` both items of WHODAS domain <d> missing (see below)
- `not_scorable:no_items_answered`  nothing to average

WHODAS 2.0 12-item (rule `whodas12_simple`), from the WHO manual §6.5 as given in
instruments/whodas.md:
- `sum` is the sum of the twelve 1-5 codes (12-60); `percent` is the sum of the 0-4 codes
  x 100 / 48 (0-100), the *simple-scoring* percentage, not WHO's IRT score. Full floats.
- Each domain score (`cognition`, `mobility`, `self_care`, `getting_along`,
  `life_activities`, `participation`) is the sum of its two 1-5 codes (2-10).
- One or two items missing: each gets the mean of the answered items in its own domain (in
  the 12-item version, its domain partner's value), noted `imputed:<item>`.
- Both items of one domain missing: there is no answered item in that domain to take a mean
  from, and the manual gives no other rule, so that domain's score AND the total are not
  computed (`not_scorable:domain_missing:<domain>`); the other, complete domains are.
- More than two missing: nothing is computed. A missing item is never counted as 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from surveyapp.instruments.model import Instrument, Item, ItemKind

Number = int | float


class ScoringError(ValueError):
    """An answer does not fit the instrument: unknown item, wrong type or out of range."""

    def __init__(self, item_id: str, problem: str) -> None:
        super().__init__(f"item {item_id!r}: {problem}")
        self.item_id = item_id
        self.problem = problem


@dataclass(frozen=True)
class ScoreResult:
    scores: dict[str, Number | None]
    notes: tuple[str, ...]
    scoring_version: str  # e.g. "whodas12_simple/1"; stored with the scores
    imputed: bool = False
    scorable: bool = True  # False when the instrument's main score could not be computed


class _Outcome(NamedTuple):
    scores: dict[str, Number | None]  # names without the instrument prefix
    notes: list[str]
    imputed: bool
    scorable: bool


Answers = Mapping[str, int | None]


@dataclass(frozen=True)
class ScoringRule:
    version: str
    compute: Callable[[Instrument, Answers], _Outcome]
    # Return a problem if the instrument cannot be scored by this rule, else None.
    check: Callable[[Instrument], str | None] = field(default=lambda _: None)


def check_answer(item: Item, value: object) -> int | None:
    """Return the answer as an int (or None for missing); raise ScoringError if invalid."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScoringError(
            item.id, f"expected a whole number, got {type(value).__name__} {value!r}"
        )
    if isinstance(value, float):
        if not value.is_integer():
            raise ScoringError(item.id, f"{value!r} is not a whole number")
        value = int(value)
    if not item.min <= value <= item.max:
        raise ScoringError(item.id, f"value {value} is outside {item.min}–{item.max}")
    if value not in item.values:
        allowed = ", ".join(map(str, sorted(item.values)))
        raise ScoringError(item.id, f"value {value} is not one of the options {allowed}")
    return value


def score(instrument: Instrument, answers: Answers) -> ScoreResult:
    """Validate the answers and score them by the instrument's rule."""
    clean: dict[str, int | None] = {}
    for item_id, value in answers.items():
        try:
            item = instrument.item(item_id)
        except KeyError:
            raise ScoringError(item_id, f"not an item of {instrument.id}") from None
        clean[item_id] = check_answer(item, value)
    rule = SCORING_RULES[instrument.scoring]
    out = rule.compute(instrument, clean)
    return ScoreResult(
        scores={f"{instrument.id}_{name}": v for name, v in out.scores.items()},
        notes=tuple(out.notes),
        scoring_version=rule.version,
        imputed=out.imputed,
        scorable=out.scorable,
    )


def score_names(instrument: Instrument) -> tuple[str, ...]:
    """Return the names of the scores the instrument's rule produces, in order."""
    return tuple(score(instrument, {}).scores)


# --- rules -----------------------------------------------------------------------------------

WHO5_ITEMS = tuple(f"who5_{n}" for n in range(1, 6))


def _who5(instrument: Instrument, answers: Answers) -> _Outcome:
    names = ("raw", "percent", "poor_wellbeing", "likely_depression", "low_item")
    missing = [i for i in WHO5_ITEMS if answers.get(i) is None]
    if missing:
        notes = [f"not_scorable:missing_items:{len(missing)}", *(f"missing:{i}" for i in missing)]
        return _Outcome(dict.fromkeys(names), notes, imputed=False, scorable=False)
    values = [v for i in WHO5_ITEMS if (v := answers.get(i)) is not None]
    raw = sum(values)
    percent = raw * 4
    scores: dict[str, Number | None] = {
        "raw": raw,
        "percent": percent,
        "poor_wellbeing": int(percent <= 50),
        "likely_depression": int(percent <= 28),
        "low_item": int(min(values) <= 1),
    }
    return _Outcome(scores, [], imputed=False, scorable=True)


def _check_who5(instrument: Instrument) -> str | None:
    ok = all(
        i in instrument.item_ids and (instrument.item(i).min, instrument.item(i).max) == (0, 5)
        for i in WHO5_ITEMS
    )
    return None if ok else "needs items who5_1 … who5_5 with values 0–5"


def _domains(instrument: Instrument) -> dict[str, list[Item]]:
    return {d: [i for i in instrument.items if i.domain == d] for d in instrument.domains}


def _whodas12(instrument: Instrument, answers: Answers) -> _Outcome:
    domains = _domains(instrument)
    scored = [item for item in instrument.items if item.domain]
    names = ("sum", "percent", *domains)
    missing = [i.id for i in scored if answers.get(i.id) is None]
    if len(missing) > 2:
        notes = [f"not_scorable:missing_items:{len(missing)}", *(f"missing:{i}" for i in missing)]
        return _Outcome(dict.fromkeys(names), notes, imputed=False, scorable=False)

    values: dict[str, Number] = {i.id: v for i in scored if (v := answers.get(i.id)) is not None}
    scores: dict[str, Number | None] = dict.fromkeys(names)
    not_scorable: list[str] = []
    filled: set[str] = set()
    for domain, items in domains.items():
        answered = [values[i.id] for i in items if i.id in values]
        if not answered:
            not_scorable.append(f"not_scorable:domain_missing:{domain}")
            continue
        mean = sum(answered) / len(answered)
        for item in items:
            if item.id not in values:
                values[item.id] = _tidy(mean)
                filled.add(item.id)
        scores[domain] = _tidy(sum(values[i.id] for i in items))
    if not not_scorable:
        total = _tidy(sum(values.values()))
        scores["sum"] = total
        lowest = sum(i.min for i in scored)
        scores["percent"] = (total - lowest) * 100 / sum(i.max - i.min for i in scored)
    notes = not_scorable + [f"imputed:{m}" for m in missing if m in filled]
    notes += [f"missing:{m}" for m in missing if m not in filled]
    return _Outcome(scores, notes, imputed=bool(filled), scorable=not not_scorable)


def _check_whodas12(instrument: Instrument) -> str | None:
    domains = _domains(instrument)
    scored = [item for items in domains.values() for item in items]
    if sorted(i.id for i in scored) != sorted(f"S{n}" for n in range(1, 13)):
        return "needs exactly the items S1 … S12 to have a domain"
    if any((i.min, i.max) != (1, 5) for i in scored):
        return "needs S1 … S12 coded 1–5"
    if any(len(items) != 2 for items in domains.values()):
        return "needs exactly two items in every domain"
    return None


def _start_meeting_mean(instrument: Instrument, answers: Answers) -> _Outcome:
    scores: dict[str, Number | None] = {i.id: answers.get(i.id) for i in instrument.items}
    answered = [v for v in scores.values() if v is not None]
    notes = [f"missing:{item_id}" for item_id, v in scores.items() if v is None]
    if not answered:
        notes.insert(0, "not_scorable:no_items_answered")
    scores["mean"] = sum(answered) / len(answered) if answered else None
    scores["n"] = len(answered)
    return _Outcome(scores, notes, imputed=False, scorable=bool(answered))


def _check_numeric(instrument: Instrument) -> str | None:
    if not instrument.items or any(i.kind is ItemKind.SINGLE_CHOICE for i in instrument.items):
        return "needs at least one item, all of kind scale or integer"
    return None


def _none(instrument: Instrument, answers: Answers) -> _Outcome:
    return _Outcome({}, [], imputed=False, scorable=True)


def _tidy(value: Number) -> Number:
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: Scoring rules by the name a definition file gives in `scoring = "..."`.
SCORING_RULES: Mapping[str, ScoringRule] = {
    "who5": ScoringRule("who5/1", _who5, _check_who5),
    "whodas12_simple": ScoringRule("whodas12_simple/1", _whodas12, _check_whodas12),
    "start_meeting_mean": ScoringRule("start_meeting_mean/1", _start_meeting_mean, _check_numeric),
    # The same arithmetic for any instrument of numeric items: each item, their mean and n.
    "item_mean": ScoringRule("item_mean/1", _start_meeting_mean, _check_numeric),
    "none": ScoringRule("none/1", _none),
}
