"""The columns of an export, built from the instrument registry (pure Python).

A `Layout` is the ordered list of `Variable`s an export writes, with their labels in one
language. The fixed part (keys, organisation, course, timepoint, response, background) is the
same for every export; the item and score columns come from the definition files, so a new
instrument appears in the exports with no code change.

Wide layouts have one row per response. Items are named by their item id (the batch-scoring
and import contract: `S1`, `who5_1`, `sm_1`). A combined layout covers every instrument, one
row per response of any of them (sparse); there an item id that two instruments share is
prefixed by the instrument id (`whodas12_S1`, `whodas12_proxy_S1`). Score columns are the
stored score names, already prefixed (`who5_percent`). Long layouts have one
row per stored answer.

Coded missing values: "Ved ikke" (dont_know) and "Ikke relevant" (not_applicable) are distinct
from a blank (not answered). Writers show them as -8 and -9 declared user-missing in SPSS, as
the extended missing values .a and .b in Stata, and as their label text in CSV and Excel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any

from surveyapp.instruments import Instrument, Registry, score_names
from surveyapp.instruments.model import ItemKind, Texts

#: Stata's longest variable name; SPSS allows 64 bytes, so one rule fits both.
MAX_NAME = 32
LANGUAGES = ("da", "en")


class Kind(StrEnum):
    STRING = "string"
    INTEGER = "integer"  # whole numbers (items, flags, birth year); may hold coded missing
    NUMBER = "number"  # scores: floats
    DATE = "date"


class CodedMissing(Enum):
    """An answer state that is not a value, kept apart from "not answered" (a blank)."""

    DONT_KNOW = ("dont_know", -8, "a")
    NOT_APPLICABLE = ("not_applicable", -9, "b")

    def __init__(self, state: str, code: int, stata_tag: str) -> None:
        self.state = state  # AnswerState value in the database
        self.code = code  # SPSS user-missing code
        self.stata_tag = stata_tag  # Stata extended missing value (.a, .b)

    @classmethod
    def of_state(cls, state: str) -> CodedMissing | None:
        return _BY_STATE.get(state)


_BY_STATE = {m.state: m for m in CodedMissing}

DEFAULT_MISSING_LABELS: Mapping[CodedMissing, Mapping[str, str]] = MappingProxyType(
    {
        CodedMissing.DONT_KNOW: {"da": "Ved ikke", "en": "Don't know"},
        CodedMissing.NOT_APPLICABLE: {"da": "Ikke relevant", "en": "Not applicable"},
    }
)


class Source(StrEnum):
    KEY = "key"  # identifies a row: pseudonyms, organisation, course, timepoint, response
    BACKGROUND = "background"  # the citizen's birth year, sex, living alone
    ITEM = "item"
    SCORE = "score"
    SCORING = "scoring"  # scoring version, imputation flag and notes
    ANSWER = "answer"  # long layout: item id, state and value of one answer


@dataclass(frozen=True)
class Variable:
    """One column of an export, with its labels in the layout's language."""

    name: str
    label: str
    kind: Kind
    source: Source
    value_labels: Mapping[int, str] = field(default_factory=dict)
    missing: Mapping[CodedMissing, str] = field(default_factory=dict)  # allowed, with labels
    instrument: str = ""  # instrument id of an item or score column
    versions: tuple[str, ...] = ()  # instrument versions that have this item or score
    ref: str = ""  # the item id or score name behind the column
    decimals: int | None = None
    codes: str = ""  # for fixed string columns: the codes it may hold, e.g. "kiosk, link"
    # Integer columns: the lowest and highest value (coded missing included), when known,
    # so that writers can pick a compact type.
    low: int | None = None
    high: int | None = None


# name, kind, source, {da, en} label, codes
_Fixed = tuple[str, Kind, Source, Mapping[str, str], str]

_K, _B, _S = Source.KEY, Source.BACKGROUND, Source.SCORING

_ORGANISATION: tuple[_Fixed, ...] = (
    (
        "response",
        Kind.STRING,
        _K,
        {"da": "Besvarelse (pseudonym)", "en": "Response (pseudonym)"},
        "",
    ),
    ("citizen", Kind.STRING, _K, {"da": "Borger (pseudonym)", "en": "Citizen (pseudonym)"}, ""),
    ("course", Kind.STRING, _K, {"da": "Forløb (pseudonym)", "en": "Course (pseudonym)"}, ""),
    ("municipality_code", Kind.STRING, _K, {"da": "Kommunekode", "en": "Municipality code"}, ""),
    ("municipality", Kind.STRING, _K, {"da": "Kommune", "en": "Municipality"}, ""),
    ("provider", Kind.STRING, _K, {"da": "Leverandør", "en": "Provider"}, ""),
    (
        "provider_kind",
        Kind.STRING,
        _K,
        {"da": "Leverandørtype", "en": "Provider kind"},
        "municipal, private",
    ),
    ("team", Kind.STRING, _K, {"da": "Team", "en": "Team"}, ""),
    (
        "legal_basis",
        Kind.STRING,
        _K,
        {"da": "Lovgrundlag (serviceloven §)", "en": "Legal basis (Social Services Act §)"},
        "83a, 83, 86, 140",
    ),
    ("course_start", Kind.DATE, _K, {"da": "Forløbets start", "en": "Course start"}, ""),
    ("course_end", Kind.DATE, _K, {"da": "Forløbets slut", "en": "Course end"}, ""),
    ("timepoint", Kind.STRING, _K, {"da": "Målepunkt (nøgle)", "en": "Timepoint (key)"}, ""),
    (
        "timepoint_role",
        Kind.STRING,
        _K,
        {"da": "Målepunktets rolle", "en": "Timepoint role"},
        "baseline, during, end, follow_up",
    ),
    ("instrument", Kind.STRING, _K, {"da": "Spørgeskema", "en": "Instrument"}, ""),
    (
        "instrument_version",
        Kind.STRING,
        _K,
        {"da": "Spørgeskemaets version", "en": "Instrument version"},
        "",
    ),
)
_RESPONSE: tuple[_Fixed, ...] = (
    ("text_version", Kind.STRING, _K, {"da": "Tekstversion", "en": "Text version"}, ""),
    (
        "text_verified",
        Kind.INTEGER,
        _K,
        {"da": "Valideret tekst", "en": "Verified text"},
        "",
    ),
    ("language", Kind.STRING, _K, {"da": "Sprog", "en": "Language"}, "da, en"),
    (
        "channel",
        Kind.STRING,
        _K,
        {"da": "Kanal", "en": "Channel"},
        "kiosk, link, paper, staff, import",
    ),
    (
        "respondent",
        Kind.STRING,
        _K,
        {"da": "Besvaret af", "en": "Respondent"},
        "citizen, relative, staff",
    ),
    ("started", Kind.DATE, _K, {"da": "Påbegyndt (dato)", "en": "Started (date)"}, ""),
    (
        "submitted",
        Kind.DATE,
        _K,
        {"da": "Indsendt (dato; tom: ikke indsendt)", "en": "Submitted (date; empty: not yet)"},
        "",
    ),
)
_BACKGROUND: tuple[_Fixed, ...] = (
    ("birth_year", Kind.INTEGER, _B, {"da": "Fødselsår", "en": "Birth year"}, ""),
    ("sex", Kind.STRING, _B, {"da": "Køn", "en": "Sex"}, "female, male"),
    ("lives_alone", Kind.INTEGER, _B, {"da": "Bor alene", "en": "Lives alone"}, ""),
)
_SCORING: tuple[_Fixed, ...] = (
    ("scoring_version", Kind.STRING, _S, {"da": "Scoringsversion", "en": "Scoring version"}, ""),
    (
        "imputed",
        Kind.INTEGER,
        _S,
        {"da": "Manglende svar imputeret", "en": "Missing answers imputed"},
        "",
    ),
    (
        "score_notes",
        Kind.STRING,
        _S,
        {"da": "Scoringsnoter", "en": "Scoring notes"},
        "missing:<item>, imputed:<item>, not_scorable:<why>",
    ),
)
_LONG_ANSWER: tuple[_Fixed, ...] = (
    ("item", Kind.STRING, Source.ANSWER, {"da": "Spørgsmål (id)", "en": "Item (id)"}, ""),
    (
        "state",
        Kind.STRING,
        Source.ANSWER,
        {"da": "Svarets status", "en": "Answer state"},
        "answered, dont_know, not_applicable",
    ),
    ("value", Kind.INTEGER, Source.ANSWER, {"da": "Svar (kode)", "en": "Answer (code)"}, ""),
)

#: Columns that hold 1/0 flags, and their value labels.
YES_NO: Mapping[str, Mapping[int, str]] = MappingProxyType(
    {"da": {1: "Ja", 0: "Nej"}, "en": {1: "Yes", 0: "No"}}
)
_FLAGS = frozenset({"text_verified", "lives_alone", "imputed"})
#: Value ranges of the fixed integer columns (flags are 0/1; any year fits 0-9999).
_RANGES = {"birth_year": (0, 9999)} | dict.fromkeys(_FLAGS, (0, 1))

#: Names of the fixed columns of every wide export, in order; items and scores follow
#: `lives_alone`, and the scoring columns come last.
WIDE_FIXED = tuple(f[0] for f in (*_ORGANISATION, *_RESPONSE, *_BACKGROUND))
SCORING_COLUMNS = tuple(f[0] for f in _SCORING)
LONG_COLUMNS = tuple(f[0] for f in (*_ORGANISATION, *_RESPONSE, *_LONG_ANSWER))


@dataclass(frozen=True)
class Layout:
    """The variables of one export, and where each item and score goes in a row."""

    long: bool
    language: str
    variables: tuple[Variable, ...]
    instruments: tuple[Instrument, ...]  # every version the item and score columns came from
    # wide: (instrument id, item id) -> column index; score name -> column index
    item_columns: Mapping[tuple[str, str], int] = field(default_factory=dict)
    score_columns: Mapping[str, int] = field(default_factory=dict)
    instrument_filter: str | None = None  # the one instrument of a per-instrument export

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def index(self, name: str) -> int:
        return self.names.index(name)


def _text(texts: Texts | Mapping[str, str] | None, language: str) -> str:
    """A text in `language`, else in the first language it has; raw, placeholders kept."""
    if not texts:
        return ""
    chosen: Any = texts.get(language) or next(iter(texts.values()))
    return chosen if isinstance(chosen, str) else str(chosen.value)


def _fixed(spec: _Fixed, language: str) -> Variable:
    name, kind, source, label, codes = spec
    return Variable(
        name=name,
        label=label[language],
        kind=kind,
        source=source,
        value_labels=dict(YES_NO[language]) if name in _FLAGS else {},
        codes=codes,
        low=_RANGES[name][0] if name in _RANGES else None,
        high=_RANGES[name][1] if name in _RANGES else None,
    )


def _safe_name(name: str) -> str:
    """A name Stata and SPSS accept (at most 32 characters), stable for the same input."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:4]
    return f"{name[: MAX_NAME - 5]}_{digest}"


def _unique(name: str, taken: set[str], fallback: str) -> str:
    """`name`, else `fallback`, else the fallback with a number: never a name in `taken`."""
    for candidate in (name, fallback):
        candidate = _safe_name(candidate)
        if candidate not in taken:
            return candidate
    n = 2
    while _safe_name(f"{fallback}_{n}") in taken:
        n += 1
    return _safe_name(f"{fallback}_{n}")


def _prefixed(instrument_id: str, item_id: str) -> str:
    return item_id if item_id.startswith(f"{instrument_id}_") else f"{instrument_id}_{item_id}"


def _selected(registry: Registry, instrument_id: str | None) -> list[list[Instrument]]:
    """Every version of each selected instrument, newest first, grouped by id."""
    ids = [instrument_id] if instrument_id else list(registry.ids())
    if instrument_id and instrument_id not in registry:
        raise KeyError(f"unknown instrument {instrument_id!r}")
    return [[registry.get(i, v) for v in reversed(registry.versions(i))] for i in ids]


def _missing_labels(instrument: Instrument, language: str) -> dict[CodedMissing, str]:
    own = {
        CodedMissing.DONT_KNOW: instrument.dont_know_label,
        CodedMissing.NOT_APPLICABLE: instrument.not_applicable_label,
    }
    return {m: _text(own[m], language) or DEFAULT_MISSING_LABELS[m][language] for m in CodedMissing}


def _item_ids(versions: Sequence[Instrument]) -> list[str]:
    found: list[str] = []
    for instrument in reversed(versions):  # oldest first, so columns keep their order
        found += [i for i in instrument.item_ids if i not in found]
    return found


def _item_variables(
    versions: Sequence[Instrument], language: str, shared: set[str], taken: set[str]
) -> list[tuple[Variable, str]]:
    newest = versions[0]
    labels = _missing_labels(newest, language)
    found: list[tuple[Variable, str]] = []
    for item_id in _item_ids(versions):
        having = [v for v in versions if item_id in v.item_ids]
        item = having[0].item(item_id)  # the newest definition labels the column
        if item.kind is ItemKind.SINGLE_CHOICE:
            value_labels = {o.value: _text(o.label, language) for o in item.options}
        elif item.kind is ItemKind.SCALE:
            value_labels = {
                item.min: _text(item.min_label, language),
                item.max: _text(item.max_label, language),
            }
            value_labels = {k: v for k, v in value_labels.items() if v}
        else:
            value_labels = {}
        allowed = {
            CodedMissing.DONT_KNOW: any(v.item(item_id).dont_know for v in having),
            CodedMissing.NOT_APPLICABLE: any(v.item(item_id).not_applicable for v in having),
        }
        prefixed = _prefixed(newest.id, item_id)
        name = _unique(prefixed if item_id in shared else item_id, taken, prefixed)
        taken.add(name)
        missing_codes = [m.code for m, ok in allowed.items() if ok]
        variable = Variable(
            name=name,
            label=_text(item.text, language),
            kind=Kind.INTEGER,
            source=Source.ITEM,
            value_labels=value_labels,
            missing={m: labels[m] for m, ok in allowed.items() if ok},
            instrument=newest.id,
            versions=tuple(v.version for v in having),
            ref=item_id,
            low=min([*(v.item(item_id).min for v in having), *missing_codes]),
            high=max(v.item(item_id).max for v in having),
        )
        found.append((variable, item_id))
    return found


def _score_variables(
    versions: Sequence[Instrument], language: str, taken: set[str]
) -> list[Variable]:
    names: list[str] = []
    for instrument in reversed(versions):
        names += [n for n in score_names(instrument) if n not in names]
    found = []
    for score_name in names:
        having = [v for v in versions if score_name in score_names(v)]
        spec = next((s for v in having if (s := v.score_spec(score_name))), None)
        title = _text(versions[0].title, language)
        label = _text(spec.label, language) if spec else ""
        name = _unique(score_name, taken, f"{score_name}_score")
        taken.add(name)
        found.append(
            Variable(
                name=name,
                label=label or f"{title}: {score_name}",
                kind=Kind.NUMBER,
                source=Source.SCORE,
                instrument=versions[0].id,
                versions=tuple(v.version for v in having),
                ref=score_name,
                decimals=spec.decimals if spec else None,
            )
        )
    return found


def wide_layout(
    registry: Registry, *, instrument: str | None = None, language: str = "da"
) -> Layout:
    """One row per response; item and score columns of `instrument`, or of every instrument."""
    _check_language(language)
    groups = _selected(registry, instrument)
    fixed = [_fixed(f, language) for f in (*_ORGANISATION, *_RESPONSE, *_BACKGROUND)]
    scoring = [_fixed(f, language) for f in _SCORING]
    taken = {v.name for v in (*fixed, *scoring)}
    variables = list(fixed)
    item_columns: dict[tuple[str, str], int] = {}
    score_columns: dict[str, int] = {}
    seen: set[str] = set()
    shared: set[str] = set()
    for versions in groups:
        ids = set(_item_ids(versions))
        shared |= ids & seen
        seen |= ids
    for versions in groups:
        for variable, item_id in _item_variables(versions, language, shared, taken):
            item_columns[(versions[0].id, item_id)] = len(variables)
            variables.append(variable)
    for versions in groups:
        for variable in _score_variables(versions, language, taken):
            score_columns[variable.ref] = len(variables)
            variables.append(variable)
    variables += scoring
    return Layout(
        long=False,
        language=language,
        variables=tuple(variables),
        instruments=tuple(i for versions in groups for i in versions),
        item_columns=MappingProxyType(item_columns),
        score_columns=MappingProxyType(score_columns),
        instrument_filter=instrument,
    )


def long_layout(
    registry: Registry, *, instrument: str | None = None, language: str = "da"
) -> Layout:
    """One row per stored answer: the response's keys, then item id, state and value."""
    _check_language(language)
    groups = _selected(registry, instrument)
    variables = [_fixed(f, language) for f in (*_ORGANISATION, *_RESPONSE, *_LONG_ANSWER)]
    value = variables[-1]
    # Any item may hold a coded missing value; each label is the one most instruments use.
    labels: dict[CodedMissing, str] = {}
    for versions in groups:
        for m, text in _missing_labels(versions[0], language).items():
            labels.setdefault(m, text)
    for m in CodedMissing:
        labels.setdefault(m, DEFAULT_MISSING_LABELS[m][language])
    every = [i for versions in groups for v in versions for i in v.items]
    variables[-1] = Variable(
        name=value.name,
        label=value.label,
        kind=value.kind,
        source=value.source,
        missing=labels,
        low=min([*(i.min for i in every), *(m.code for m in CodedMissing)]),
        high=max((i.max for i in every), default=0),
    )
    return Layout(
        long=True,
        language=language,
        variables=tuple(variables),
        instruments=tuple(i for versions in groups for i in versions),
        instrument_filter=instrument,
    )


def layout(
    registry: Registry, *, long: bool = False, instrument: str | None = None, language: str = "da"
) -> Layout:
    """The wide or long layout (see `wide_layout` and `long_layout`)."""
    build = long_layout if long else wide_layout
    return build(registry, instrument=instrument, language=language)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"labels are in {' or '.join(LANGUAGES)}, not {language!r}")


def variables_by_source(layout: Layout, sources: Iterable[Source]) -> list[Variable]:
    wanted = set(sources)
    return [v for v in layout.variables if v.source in wanted]
