"""Instruments: reviewed definition files -> frozen objects -> pure scoring.

Pure Python (stdlib only): nothing here imports Flask, WTForms, SQLAlchemy or Flask-Babel.
"""

from surveyapp.instruments.loader import (
    DEFINITIONS_DIR,
    DefinitionError,
    Registry,
    default_registry,
    load_definition,
    load_registry,
)
from surveyapp.instruments.model import (
    INSTRUMENT_TEXTS,
    ITEM_KINDS,
    Change,
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
    TextParameterError,
)
from surveyapp.instruments.scoring import (
    SCORING_RULES,
    ScoreResult,
    ScoringError,
    check_answer,
    score,
    score_names,
)

__all__ = [
    "DEFINITIONS_DIR",
    "INSTRUMENT_TEXTS",
    "ITEM_KINDS",
    "SCORING_RULES",
    "DefinitionError",
    "Change",
    "Instrument",
    "Item",
    "ItemKind",
    "LanguageInfo",
    "Option",
    "OptionGroup",
    "ReferenceLine",
    "Registry",
    "RespondentKind",
    "ScoreResult",
    "ScoreSpec",
    "ScoringError",
    "Text",
    "TextParameterError",
    "check_answer",
    "default_registry",
    "load_definition",
    "load_registry",
    "score",
    "score_names",
]
