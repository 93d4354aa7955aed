"""Load instrument definition files (TOML) into frozen objects, and keep them in a registry.

Every problem in a file raises DefinitionError naming the file and the problem. The shipped
definitions live in `definitions/`; a directory given to `load_registry` (a municipality's
licensed official texts) may add instruments or versions, and a file there with the same id
and version as a shipped one REPLACES it. A replacement may change texts, text versions,
`verified` flags, licence and citation, but not the items, values or scoring: those are what
stored responses mean, so changing them needs a new version.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from surveyapp.instruments.model import (
    INSTRUMENT_TEXTS,
    ITEM_KINDS,
    PLACEHOLDER,
    Instrument,
    Item,
    ItemKind,
    LanguageInfo,
    Option,
    OptionGroup,
    ReferenceLine,
    RespondentKind,
    ScoreSpec,
    Text,
    Texts,
)
from surveyapp.instruments.scoring import SCORING_RULES, score_names

DEFINITIONS_DIR = Path(__file__).parent / "definitions"

T = TypeVar("T")
Table = dict[str, Any]

_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_ITEM_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}$")
_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")
_LANG = re.compile(r"^[a-z]{2}$")
_TYPE_NAMES = {
    str: "text in quotes",
    int: "a whole number",
    bool: "true or false",
    dict: "a table",
    list: "a list",
}
_TOP_FIELDS = {
    *("id", "version", "title", "respondent", "languages", "licence", "citation", "scoring"),
    *("items", "licence_note", "scoring_note", "codes", "parameters", "option_sets"),
    *("dont_know_label", "not_applicable_label", "domains", "scores", *INSTRUMENT_TEXTS),
}
_ITEM_FIELDS = {
    *("id", "kind", "text", "min", "max", "options", "min_label", "max_label"),
    *("optional", "dont_know", "not_applicable", "domain", "reported", "option_groups"),
    "under_stem",
}
_SCORE_FIELDS = {
    *("name", "label", "min", "max", "higher_is_better", "change_threshold", "reported"),
    *("threshold_source", "reference_lines", "chart", "chart_label", "baseline_band"),
    *("decimals", "shown_beside"),
}


class DefinitionError(ValueError):
    """A definition file (or directory) is unusable; the message names the file and why."""


class _Problem(Exception):
    """A problem inside one file; load_definition adds the file name."""


def _field(table: Table, key: str, kind: type[T], where: str = "") -> T:
    if key not in table:
        raise _Problem(f"{where}missing required field '{key}'")
    return _typed(table, key, kind, where)


def _optional(table: Table, key: str, kind: type[T], default: T, where: str = "") -> T:
    return _typed(table, key, kind, where) if key in table else default


def _typed(table: Table, key: str, kind: type[T], where: str) -> T:
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Problem(
            f"{where}field '{key}' must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {value!r}"
        )
    return value


def _number(table: Table, key: str, where: str) -> float:
    """A required number (whole or decimal), as a float."""
    if key not in table:
        raise _Problem(f"{where}missing required field '{key}'")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Problem(f"{where}field '{key}' must be a number, not {value!r}")
    return float(value)


def _optional_number(table: Table, key: str, where: str) -> float | None:
    return _number(table, key, where) if key in table else None


def _no_unknown(table: Table, allowed: set[str], where: str = "") -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _Problem(
            f"{where}unknown field '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})"
        )


class _Parser:
    """Turns one parsed TOML document into an Instrument."""

    def __init__(self, data: Table, path: Path | None) -> None:
        self.data = data
        self.path = path
        self.verified_default: dict[str, bool] = {}
        self.unverified: dict[str, list[str]] = {}
        self.all_texts: list[tuple[str, Text]] = []

    def texts(self, table: Table, key: str, ref: str, where: str = "") -> Texts:
        raw = _field(table, key, dict, where)
        return self.texts_from(raw, ref, f"{where}{key}: ")

    def check_languages(self, raw: Table, where: str) -> None:
        for lang in raw:
            if lang not in self.verified_default:
                raise _Problem(f"{where}text in undeclared language '{lang}'")
        for lang in self.verified_default:
            if lang not in raw:
                raise _Problem(f"{where}no text for language '{lang}'")

    def texts_from(self, raw: Table, ref: str, where: str) -> Texts:
        self.check_languages(raw, where)
        result: dict[str, Text] = {}
        for lang, verified_default in self.verified_default.items():
            value = raw[lang]
            if isinstance(value, dict):
                _no_unknown(value, {"text", "verified"}, f"{where}{lang}: ")
                text = Text(
                    _field(value, "text", str, f"{where}{lang}: "),
                    _optional(value, "verified", bool, verified_default, f"{where}{lang}: "),
                )
            elif isinstance(value, str):
                text = Text(value, verified_default)
            else:
                raise _Problem(f"{where}{lang}: must be text in quotes, not {value!r}")
            if not text.verified and ref not in self.unverified[lang]:
                self.unverified[lang].append(ref)
            self.all_texts.append((f"{where}{lang}", text))
            result[lang] = text
        return MappingProxyType(result)

    def labels(self, table: Table, key: str) -> Mapping[str, str]:
        raw = _field(table, key, dict)
        self.check_languages(raw, f"{key}: ")
        return MappingProxyType({lang: _field(raw, lang, str, f"{key}: ") for lang in raw})

    def options(self, raw: object, ref: str, where: str) -> tuple[Option, ...]:
        if not isinstance(raw, list):
            raise _Problem(f"{where}options must be a list of options, not {raw!r}")
        if not raw:
            raise _Problem(f"{where}options: the list is empty")
        options = []
        for entry in raw:
            if not isinstance(entry, dict):
                raise _Problem(f"{where}options: each option must be a table, not {entry!r}")
            value = _field(entry, "value", int, f"{where}option: ")
            labels = {k: v for k, v in entry.items() if k != "value"}
            label = self.texts_from(labels, f"{ref}.{value}", f"{where}option {value}: ")
            options.append(Option(value, label))
        return tuple(options)

    def instrument(self) -> Instrument:
        data = self.data
        _no_unknown(data, _TOP_FIELDS)
        instrument_id = _field(data, "id", str)
        if not _ID.match(instrument_id):
            raise _Problem(f"id {instrument_id!r} must be lower-case letters, digits and _")
        version = _field(data, "version", str)
        if not _VERSION.match(version):
            raise _Problem(f'version {version!r} must be a number like "1" or "1.2"')
        respondent = _field(data, "respondent", str)
        if respondent not in set(RespondentKind):
            known = ", ".join(RespondentKind)
            raise _Problem(f"unknown respondent '{respondent}' (known: {known})")
        scoring = _field(data, "scoring", str)
        if scoring not in SCORING_RULES:
            known = ", ".join(SCORING_RULES)
            raise _Problem(f"unknown scoring rule '{scoring}' (known: {known})")

        languages_raw = _field(data, "languages", dict)
        if not languages_raw:
            raise _Problem("languages: declare at least one language")
        for code, info in languages_raw.items():
            where = f"languages.{code}: "
            if not _LANG.match(code):
                raise _Problem(f"{where}a language is a two-letter code like da or en")
            if not isinstance(info, dict):
                raise _Problem(f"{where}must be a table with text_version and verified")
            _no_unknown(info, {"text_version", "verified", "source"}, where)
            if not 0 < len(_field(info, "text_version", str, where)) <= 40:
                raise _Problem(f"{where}text_version must be 1–40 characters")
            self.verified_default[code] = _field(info, "verified", bool, where)
            _optional(info, "source", str, "", where)
            self.unverified[code] = []

        titles = self.labels(data, "title")
        labels = {
            name: self.labels(data, name) if name in data else None
            for name in ("dont_know_label", "not_applicable_label")
        }
        domains = _optional(data, "domains", list, [])
        if not all(isinstance(d, str) and d for d in domains) or len(set(domains)) < len(domains):
            raise _Problem("domains: must be a list of different names in quotes")

        parameters = _optional(data, "parameters", dict, {})
        for name, description in parameters.items():
            if not isinstance(description, str) or not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise _Problem(f"parameters: '{name}' needs a name and a description in quotes")
        codes = _optional(data, "codes", dict, {})
        for name, code in codes.items():
            if not isinstance(code, str):
                raise _Problem(f"codes: {name}: must be text in quotes, not {code!r}")

        texts = {name: self.texts(data, name, name) for name in INSTRUMENT_TEXTS if name in data}
        option_sets = {
            name: self.options(entries, f"options.{name}", f"option_sets.{name}: ")
            for name, entries in _optional(data, "option_sets", dict, {}).items()
        }
        items_raw = _field(data, "items", list)
        if not items_raw:
            raise _Problem("items: the list is empty")
        items: list[Item] = []
        for index, raw in enumerate(items_raw, start=1):
            item = self.item(raw, index, option_sets, labels)
            if item.id in {i.id for i in items}:
                raise _Problem(f"item '{item.id}': duplicate item id")
            if item.domain and item.domain not in domains:
                raise _Problem(f"item '{item.id}': domain '{item.domain}' is not in domains")
            items.append(item)

        declared = set(parameters)
        for where, text in self.all_texts:
            undeclared = sorted(text.placeholders - declared)
            if undeclared:
                raise _Problem(
                    f"{where}: placeholder {{{undeclared[0]}}} is not declared in [parameters]"
                )
            if re.search(r"[{}]", PLACEHOLDER.sub("", text.value)):
                raise _Problem(f"{where}: stray '{{' or '}}' (write placeholders as {{name}})")

        languages = {
            code: LanguageInfo(
                code=code,
                text_version=languages_raw[code]["text_version"],
                verified=not self.unverified[code],
                unverified_texts=tuple(self.unverified[code]),
                source=languages_raw[code].get("source", ""),
            )
            for code in self.verified_default
        }
        instrument = Instrument(
            id=instrument_id,
            version=version,
            title=titles,
            respondent=RespondentKind(respondent),
            languages=MappingProxyType(languages),
            licence=_field(data, "licence", str),
            citation=_field(data, "citation", str),
            scoring=scoring,
            items=tuple(items),
            texts=MappingProxyType(texts),
            licence_note=_optional(data, "licence_note", str, ""),
            scoring_note=_optional(data, "scoring_note", str, ""),
            codes=MappingProxyType(dict(codes)),
            parameters=MappingProxyType(dict(parameters)),
            domains=tuple(domains),
            dont_know_label=labels["dont_know_label"],
            not_applicable_label=labels["not_applicable_label"],
            path=self.path,
        )
        problem = SCORING_RULES[scoring].check(instrument)
        if problem:
            raise _Problem(f"scoring rule '{scoring}' {problem}")
        scores = self.scores(_optional(data, "scores", list, []), instrument)
        return dataclasses.replace(instrument, scores=scores)

    def plain_labels(self, raw: object, where: str) -> Mapping[str, str]:
        """Project labels (da/en), like the title: no verified flag."""
        if not isinstance(raw, dict):
            raise _Problem(f"{where}must be a table of texts per language, not {raw!r}")
        self.check_languages(raw, where)
        return MappingProxyType({lang: _field(raw, lang, str, where) for lang in raw})

    def scores(self, raw: list[Any], instrument: Instrument) -> tuple[ScoreSpec, ...]:
        produced = score_names(instrument)
        specs: list[ScoreSpec] = []
        for index, entry in enumerate(raw, start=1):
            if not isinstance(entry, dict):
                raise _Problem(f"scores: entry {index} must be a table")
            name = _field(entry, "name", str, f"score {index}: ")
            where = f"score '{name}': "
            _no_unknown(entry, _SCORE_FIELDS, where)
            if name not in produced:
                known = ", ".join(produced) or "none"
                raise _Problem(f"{where}the scoring rule does not produce it (it makes: {known})")
            if name in {s.name for s in specs}:
                raise _Problem(f"{where}declared twice")
            low, high = _number(entry, "min", where), _number(entry, "max", where)
            if low >= high:
                raise _Problem(f"{where}min {low:g} must be below max {high:g}")
            threshold = _optional_number(entry, "change_threshold", where)
            if threshold is not None and not 0 < threshold <= high - low:
                raise _Problem(f"{where}change_threshold must be above 0 and within the range")
            lines = []
            for line in _optional(entry, "reference_lines", list, [], where):
                if not isinstance(line, dict):
                    raise _Problem(f"{where}reference_lines: each must be a table")
                value = _number(line, "value", f"{where}reference line: ")
                if not low <= value <= high:
                    raise _Problem(f"{where}reference line {value:g} is outside {low:g}–{high:g}")
                labels = {k: v for k, v in line.items() if k != "value"}
                lines.append(ReferenceLine(value, self.plain_labels(labels, where)))
            band = _optional(entry, "baseline_band", bool, False, where)
            if band and threshold is None:
                raise _Problem(f"{where}baseline_band = true needs a change_threshold")
            chart = _optional(entry, "chart", str, "", where) or None
            chart_label = (
                self.plain_labels(entry["chart_label"], f"{where}chart_label: ")
                if "chart_label" in entry
                else None
            )
            if chart_label is not None and chart is None:
                raise _Problem(f"{where}chart_label needs a chart panel name in 'chart'")
            decimals = _optional(entry, "decimals", int, 1, where)
            if not 0 <= decimals <= 3:
                raise _Problem(f"{where}decimals must be 0–3")
            specs.append(
                ScoreSpec(
                    name=name,
                    label=self.plain_labels(_field(entry, "label", dict, where), where),
                    min=low,
                    max=high,
                    higher_is_better=_field(entry, "higher_is_better", bool, where),
                    change_threshold=threshold,
                    threshold_source=_optional(entry, "threshold_source", str, "", where),
                    reported=_optional(entry, "reported", bool, True, where),
                    reference_lines=tuple(lines),
                    chart=chart,
                    chart_label=chart_label,
                    baseline_band=band,
                    decimals=decimals,
                    shown_beside=_optional(entry, "shown_beside", str, "", where) or None,
                )
            )
        declared = {s.name for s in specs}
        for spec in specs:
            where = f"score '{spec.name}': "
            if spec.shown_beside == spec.name:
                raise _Problem(f"{where}shown_beside cannot name the score itself")
            if spec.shown_beside is not None and spec.shown_beside not in declared:
                name = spec.shown_beside
                raise _Problem(f"{where}shown_beside '{name}' is not a score declared in this file")
        return tuple(specs)

    def option_groups(self, raw: Table, item: Item, where: str) -> tuple[OptionGroup, ...]:
        groups = []
        for entry in _optional(raw, "option_groups", list, [], where):
            if not isinstance(entry, dict):
                raise _Problem(f"{where}option_groups: each must be a table")
            values = _field(entry, "values", list, f"{where}option group: ")
            if not values or any(v not in item.values for v in values):
                raise _Problem(f"{where}option group values must be values of the item's options")
            label = self.plain_labels(entry.get("label"), f"{where}option group label: ")
            groups.append(OptionGroup(label, tuple(values)))
        return tuple(groups)

    def item(
        self,
        raw: object,
        index: int,
        option_sets: Mapping[str, tuple[Option, ...]],
        labels: Mapping[str, Mapping[str, str] | None],
    ) -> Item:
        if not isinstance(raw, dict):
            raise _Problem(f"items: entry {index} must be a table")
        item_id = _field(raw, "id", str, f"item {index}: ")
        where = f"item '{item_id}': "
        if not _ITEM_ID.match(item_id):
            raise _Problem(f"{where}an item id is a letter then letters, digits or _ (max 20)")
        _no_unknown(raw, _ITEM_FIELDS, where)
        kind_name = _field(raw, "kind", str, where)
        if kind_name not in set(ITEM_KINDS):
            known = ", ".join(ITEM_KINDS)
            raise _Problem(f"{where}unknown item kind '{kind_name}' (known: {known})")
        kind = ItemKind(kind_name)
        low, high = _field(raw, "min", int, where), _field(raw, "max", int, where)
        if low >= high:
            raise _Problem(f"{where}min {low} must be below max {high}")

        options: tuple[Option, ...] = ()
        if kind is ItemKind.SINGLE_CHOICE:
            spec = raw.get("options")
            if isinstance(spec, str):
                if spec not in option_sets:
                    raise _Problem(f"{where}options: no option set '{spec}' in [option_sets]")
                options = option_sets[spec]
            elif isinstance(spec, list):
                options = self.options(spec, f"{item_id}.option", where)
            else:
                raise _Problem(f"{where}a single_choice item needs options (a list or a set name)")
            seen: set[int] = set()
            for option in options:
                if not low <= option.value <= high:
                    raise _Problem(f"{where}option value {option.value} outside {low}–{high}")
                if option.value in seen:
                    raise _Problem(f"{where}option value {option.value} appears twice")
                seen.add(option.value)
        elif "options" in raw:
            raise _Problem(f"{where}only single_choice items have options")

        end_labels: list[Texts | None] = [None, None]
        for n, key in enumerate(("min_label", "max_label")):
            if kind is ItemKind.SCALE:
                end_labels[n] = self.texts(raw, key, f"{item_id}.{key}", where)
            elif key in raw:
                raise _Problem(f"{where}only scale items have {key}")

        flags = {
            key: _optional(raw, key, bool, False, where)
            for key in ("optional", "dont_know", "not_applicable")
        }
        for flag in ("dont_know", "not_applicable"):
            if flags[flag] and labels[f"{flag}_label"] is None:
                raise _Problem(f"{where}{flag} = true needs [{flag}_label] texts")
        item = Item(
            id=item_id,
            kind=kind,
            text=self.texts(raw, "text", item_id, where),
            min=low,
            max=high,
            options=options,
            min_label=end_labels[0],
            max_label=end_labels[1],
            domain=_optional(raw, "domain", str, "", where) or None,
            under_stem=_optional(raw, "under_stem", bool, True, where),
            reported=_optional(raw, "reported", bool, False, where),
            optional=flags["optional"],
            dont_know=flags["dont_know"],
            not_applicable=flags["not_applicable"],
        )
        groups = self.option_groups(raw, item, where)
        if groups and kind is not ItemKind.SINGLE_CHOICE:
            raise _Problem(f"{where}only single_choice items have option_groups")
        return dataclasses.replace(item, option_groups=groups)


def load_definition(path: Path) -> Instrument:
    """Load one definition file; raise DefinitionError naming the file and the problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DefinitionError(f"{path}: cannot read: {exc}") from None
    try:
        return _Parser(data, path).instrument()
    except _Problem as exc:
        raise DefinitionError(f"{path}: {exc}") from None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class Registry:
    """The loaded instruments, by id and version."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._by_key = {i.key: i for i in instruments}

    def get(self, instrument_id: str, version: str | None = None) -> Instrument:
        """Return the instrument, by default its latest version; raise KeyError if unknown."""
        if version is None:
            versions = self.versions(instrument_id)
            if not versions:
                raise KeyError(
                    f"unknown instrument {instrument_id!r} (known: {', '.join(self.ids())})"
                )
            version = versions[-1]
        try:
            return self._by_key[(instrument_id, version)]
        except KeyError:
            raise KeyError(f"unknown instrument {instrument_id!r} version {version!r}") from None

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted({instrument_id for instrument_id, _ in self._by_key}))

    def versions(self, instrument_id: str) -> tuple[str, ...]:
        found = [v for i, v in self._by_key if i == instrument_id]
        return tuple(sorted(found, key=_version_key))

    def __iter__(self) -> Iterator[Instrument]:
        return iter(sorted(self._by_key.values(), key=lambda i: (i.id, _version_key(i.version))))

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self.ids()


def _structure(instrument: Instrument) -> object:
    """What a replacement file must keep: what stored answers and scores mean."""
    return (
        instrument.respondent,
        instrument.scoring,
        tuple(
            (i.id, i.kind, i.min, i.max, i.values, i.optional, i.dont_know, i.not_applicable)
            + (i.domain,)
            for i in instrument.items
        ),
    )


def _load_dir(directory: Path) -> dict[tuple[str, str], Instrument]:
    if not directory.is_dir():
        raise DefinitionError(f"{directory}: not a directory of instrument definitions")
    found: dict[tuple[str, str], Instrument] = {}
    for path in sorted(directory.glob("*.toml")):
        instrument = load_definition(path)
        if instrument.key in found:
            raise DefinitionError(
                f"{path}: {instrument.id} version {instrument.version} is also defined in "
                f"{found[instrument.key].path}"
            )
        found[instrument.key] = instrument
    return found


def load_registry(extra_dirs: Sequence[Path] = ()) -> Registry:
    """Load the shipped definitions, then each extra directory in order (later replaces)."""
    found = _load_dir(DEFINITIONS_DIR)
    for directory in extra_dirs:
        for key, instrument in _load_dir(Path(directory)).items():
            old = found.get(key)
            if old is not None and _structure(old) != _structure(instrument):
                raise DefinitionError(
                    f"{instrument.path}: replaces {old.path} ({key[0]} version {key[1]}) but "
                    "changes its items, values or scoring; give a changed instrument a new version"
                )
            found[key] = instrument
    return Registry(found.values())


@functools.cache
def default_registry() -> Registry:
    """Return the shipped definitions only (loaded once)."""
    return load_registry()
