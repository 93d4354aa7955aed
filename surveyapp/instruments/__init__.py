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
    Instrument,
    Item,
    ItemKind,
    LanguageInfo,
    Option,
    RespondentKind,
    Text,
    TextParameterError,
)
from surveyapp.instruments.scoring import (
    SCORING_RULES,
    ScoreResult,
    ScoringError,
    check_answer,
    classify_who5_change,
    score,
    score_names,
)

__all__ = [
    "DEFINITIONS_DIR",
    "INSTRUMENT_TEXTS",
    "ITEM_KINDS",
    "SCORING_RULES",
    "DefinitionError",
    "Instrument",
    "Item",
    "ItemKind",
    "LanguageInfo",
    "Option",
    "Registry",
    "RespondentKind",
    "ScoreResult",
    "ScoringError",
    "Text",
    "TextParameterError",
    "check_answer",
    "classify_who5_change",
    "default_registry",
    "load_definition",
    "load_registry",
    "score",
    "score_names",
]
