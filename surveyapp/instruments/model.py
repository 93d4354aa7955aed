"""Frozen objects that an instrument definition file is loaded into.

Nothing here knows about files, forms or databases: the loader builds these objects and the
scoring functions read them. Item kinds are registered in `ITEM_KINDS` and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType


class ItemKind(StrEnum):
    SINGLE_CHOICE = "single_choice"
    SCALE = "scale"
    INTEGER = "integer"


#: Every item kind, with what it means; form builders need one field factory per kind.
ITEM_KINDS: Mapping[ItemKind, str] = MappingProxyType(
    {
        ItemKind.SINGLE_CHOICE: "one option from a listed set of values with labels",
        ItemKind.SCALE: "a whole number from min to max (e.g. 0-10) with labelled ends",
        ItemKind.INTEGER: "a whole number from min to max (e.g. a count of days)",
    }
)


class RespondentKind(StrEnum):
    SELF = (
        "self"  # the respondent answers about him- or herself (citizen, or a relative's own view)
    )
    PROXY = "proxy"  # a relative answers about the citizen
    STAFF = "staff"  # a member of staff records it


#: Names of the instrument-level texts that `Instrument.text` accepts besides item ids.
INSTRUMENT_TEXTS = ("preamble", "instruction", "stem", "time_frame")

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TextParameterError(ValueError):
    """A text was rendered without a value for one of its placeholders."""


@dataclass(frozen=True)
class Text:
    """One wording in one language, and whether it is the validated wording."""

    value: str
    verified: bool

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(PLACEHOLDER.findall(self.value))

    def render(self, params: Mapping[str, str] | None = None) -> str:
        """Return the text with each `{name}` replaced by `params[name]`."""
        missing = sorted(self.placeholders - set(params or {}))
        if missing:
            raise TextParameterError(f"text needs a value for {', '.join(missing)}: {self.value!r}")
        return PLACEHOLDER.sub(lambda m: str((params or {})[m.group(1)]), self.value)


#: One text per language code, e.g. {"da": Text(...), "en": Text(...)}.
Texts = Mapping[str, Text]


@dataclass(frozen=True)
class Option:
    value: int
    label: Texts


@dataclass(frozen=True)
class OptionGroup:
    """Options reported together as well as one by one (e.g. "still needs help" = 1, 2, 3)."""

    label: Mapping[str, str]
    values: tuple[int, ...]


@dataclass(frozen=True)
class Item:
    id: str
    kind: ItemKind
    text: Texts
    min: int
    max: int
    options: tuple[Option, ...] = ()  # single_choice only, in the order shown
    min_label: Texts | None = None  # scale only
    max_label: Texts | None = None  # scale only
    optional: bool = False  # may be left unanswered without a "don't know"
    dont_know: bool = False  # "Ved ikke / vil ikke svare" offered; stored as missing
    not_applicable: bool = False  # "Ikke relevant" offered; stored as missing
    domain: str | None = None
    # Shown under the instrument's stem ("In the past 30 days, how much difficulty ...:");
    # false for a question of its own (e.g. WHODAS H1-H3, or the proxy form's H4).
    under_stem: bool = True
    # Reported as the shares of its options (categorical items of staff forms, e.g. the
    # course outcome), with any option groups as extra rows.
    reported: bool = False
    option_groups: tuple[OptionGroup, ...] = ()

    @property
    def values(self) -> tuple[int, ...]:
        """Return the allowed answer values."""
        if self.kind is ItemKind.SINGLE_CHOICE:
            return tuple(o.value for o in self.options)
        return tuple(range(self.min, self.max + 1))


@dataclass(frozen=True)
class LanguageInfo:
    code: str
    text_version: str  # stored with every response given in this language
    verified: bool  # True only if every text in this language is the validated wording
    unverified_texts: tuple[str, ...]  # where not, e.g. ("instruction",) or ("S1", "S1.option.3")
    source: str = ""


@dataclass(frozen=True)
class ReferenceLine:
    """A horizontal line drawn on a score's chart, e.g. WHO-5's 50 (poor well-being)."""

    value: float
    label: Mapping[str, str]


class Change(StrEnum):
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    WORSENED = "worsened"


@dataclass(frozen=True)
class ScoreSpec:
    """What a stored score means to the people reading it: declared in the definition file.

    The citizen page, its chart, the reports and the exports read these; no code names a
    score. `name` is the stored score name (`<instrument id>_<score>`).
    """

    name: str
    label: Mapping[str, str]
    min: float
    max: float
    higher_is_better: bool
    # A change of at least this many points (in the better or worse direction) counts as
    # improved or worsened; smaller is unchanged. None: changes are not classified.
    change_threshold: float | None = None
    threshold_source: str = ""  # where the threshold comes from (a citation or "our choice")
    reported: bool = True  # in the progression report and the citizen page's table
    reference_lines: tuple[ReferenceLine, ...] = ()
    chart: str | None = None  # chart panel: scores with the same panel share one; None = none
    chart_label: Mapping[str, str] | None = None  # the panel's title (the first score's wins)
    baseline_band: bool = False  # shade +/- change_threshold around the baseline value
    decimals: int = 1  # shown with this many decimals
    # Shown beside another (reported) score of the same file on the citizen page, e.g. a raw
    # sum beside the percentage computed from it: that score's name. None: not shown beside.
    shown_beside: str | None = None

    def classify(self, before: float, after: float) -> Change | None:
        """Improved, unchanged or worsened from `before` to `after`, by the threshold."""
        if self.change_threshold is None:
            return None
        gain = (after - before) if self.higher_is_better else (before - after)
        if gain >= self.change_threshold:
            return Change.IMPROVED
        if gain <= -self.change_threshold:
            return Change.WORSENED
        return Change.UNCHANGED


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Instrument:
    id: str
    version: str
    title: Mapping[str, str]
    respondent: RespondentKind
    languages: Mapping[str, LanguageInfo]  # in the file's order; the first is the default
    licence: str
    citation: str
    scoring: str  # name of a rule in surveyapp.instruments.scoring.SCORING_RULES
    items: tuple[Item, ...]
    texts: Mapping[str, Texts]  # instrument-level texts by name (see INSTRUMENT_TEXTS)
    licence_note: str = ""
    scoring_note: str = ""
    codes: Mapping[str, str] = field(default_factory=_empty)  # e.g. {"snomed_ct": "1144665009"}
    parameters: Mapping[str, str] = field(default_factory=_empty)  # placeholder name -> description
    domains: tuple[str, ...] = ()  # in reporting order
    # Labels of the answer states an item may offer (project labels, like the title).
    dont_know_label: Mapping[str, str] | None = None
    not_applicable_label: Mapping[str, str] | None = None
    scores: tuple[ScoreSpec, ...] = ()  # the declared scores, in the order they are shown
    path: Path | None = None  # the file it was loaded from

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.version)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @property
    def default_language(self) -> str:
        return next(iter(self.languages))

    @property
    def reported_scores(self) -> tuple[ScoreSpec, ...]:
        return tuple(s for s in self.scores if s.reported)

    def score_spec(self, name: str) -> ScoreSpec | None:
        """The declaration of a stored score, or None if the file does not declare it."""
        return next((s for s in self.scores if s.name == name), None)

    def shown_beside(self, name: str) -> ScoreSpec | None:
        """The score the file declares to be shown beside score `name` (e.g. its raw sum)."""
        return next((s for s in self.scores if s.shown_beside == name), None)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"{self.id} has no item {item_id!r}")

    def text(self, ref: str, lang: str, params: Mapping[str, str] | None = None) -> str:
        """Return an item's or an instrument-level text in `lang`, placeholders filled in.

        `ref` is an item id or one of INSTRUMENT_TEXTS; a text the instrument does not have
        (e.g. no preamble) is "". Raises TextParameterError if a placeholder has no value.
        """
        if lang not in self.languages:
            raise KeyError(f"{self.id} has no language {lang!r}")
        texts = self.texts.get(ref) if ref in INSTRUMENT_TEXTS else self.item(ref).text
        return texts[lang].render(params) if texts else ""
