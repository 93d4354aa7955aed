"""The codebook of an export: variables, labels, value labels, coded missing values, and the
instrument, text and scoring versions behind them (pure Python).

It is written standalone (CSV or JSON), as sheets of the Excel export, and its labels go into
the SPSS and Stata files. Every version of every instrument in the layout is listed with each
language's text version and whether that text is the validated wording, and where it is not,
which texts are unverified.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from surveyapp.exports.layout import CodedMissing, Kind, Layout, Variable
from surveyapp.instruments import SCORING_RULES, Instrument

_NOTES = {
    "da": (
        "Én række pr. besvarelse (bred) eller pr. svar (lang). Kun indsendte besvarelser, "
        "medmindre andet er valgt.",
        "Borger, forløb og besvarelse er pseudonymer: stabile mellem udtræk fra samme "
        "installation, men uden forbindelse til CPR-nummer, databasens id'er eller "
        "koordinatorens kaldenavn.",
        "Tom celle: ikke besvaret. 'Ved ikke' og 'Ikke relevant' er særskilte manglende "
        "værdier: -8 og -9 (brugerdefineret manglende) i SPSS, .a og .b i Stata, og deres "
        "tekst i CSV og Excel.",
        "Datoer er danske kalenderdage (Europe/Copenhagen), ÅÅÅÅ-MM-DD.",
        "Scorer er beregnet ved indsendelse efter den angivne scoringsversion; "
        "score_notes forklarer manglende og imputerede svar.",
    ),
    "en": (
        "One row per response (wide) or per answer (long). Submitted responses only unless "
        "chosen otherwise.",
        "Citizen, course and response are pseudonyms: stable between exports of the same "
        "installation, but unrelated to the CPR number, the database ids or the "
        "coordinator's label.",
        "Empty cell: not answered. 'Don't know' and 'Not applicable' are distinct missing "
        "values: -8 and -9 (user-missing) in SPSS, .a and .b in Stata, and their text in CSV "
        "and Excel.",
        "Dates are Danish calendar days (Europe/Copenhagen), YYYY-MM-DD.",
        "Scores were computed at submission by the scoring version given; score_notes "
        "explains missing and imputed answers.",
    ),
}

HEADINGS = {
    "da": {
        "variable": "variabel",
        "label": "etiket",
        "type": "type",
        "instrument": "spørgeskema",
        "versions": "versioner",
        "source": "kilde",
        "values": "værdier",
        "missing": "manglende værdier",
        "text_versions": "tekstversioner",
        "scoring_version": "scoringsversion",
    },
    "en": {
        "variable": "variable",
        "label": "label",
        "type": "type",
        "instrument": "instrument",
        "versions": "versions",
        "source": "source",
        "values": "values",
        "missing": "missing values",
        "text_versions": "text versions",
        "scoring_version": "scoring version",
    },
}
INSTRUMENT_HEADINGS = {
    "da": {
        "instrument": "spørgeskema",
        "version": "version",
        "title": "titel",
        "scoring_rule": "scoringsregel",
        "scoring_version": "scoringsversion",
        "language": "sprog",
        "text_version": "tekstversion",
        "verified": "valideret",
        "unverified_texts": "ikke-validerede tekster",
        "source": "kilde",
    },
    "en": {
        "instrument": "instrument",
        "version": "version",
        "title": "title",
        "scoring_rule": "scoring rule",
        "scoring_version": "scoring version",
        "language": "language",
        "text_version": "text version",
        "verified": "verified",
        "unverified_texts": "unverified texts",
        "source": "source",
    },
}
SHEET_NAMES = {
    "da": {
        "data": "Data",
        "variables": "Kodebog",
        "instruments": "Spørgeskemaer",
        "notes": "Noter",
    },
    "en": {
        "data": "Data",
        "variables": "Codebook",
        "instruments": "Instruments",
        "notes": "Notes",
    },
}
_YES = {"da": "ja", "en": "yes"}
_NO = {"da": "nej", "en": "no"}


@dataclass(frozen=True)
class Codebook:
    """Rows of the variables table and the instruments table, and general notes."""

    language: str
    variables: tuple[Mapping[str, str], ...]
    instruments: tuple[Mapping[str, str], ...]
    notes: tuple[str, ...]

    def variable_headings(self) -> list[str]:
        return [HEADINGS[self.language][k] for k in HEADINGS["en"]]

    def instrument_headings(self) -> list[str]:
        return [INSTRUMENT_HEADINGS[self.language][k] for k in INSTRUMENT_HEADINGS["en"]]

    def variable_rows(self) -> list[list[str]]:
        return [[row[k] for k in HEADINGS["en"]] for row in self.variables]

    def instrument_rows(self) -> list[list[str]]:
        return [[row[k] for k in INSTRUMENT_HEADINGS["en"]] for row in self.instruments]


def scoring_version(instrument: Instrument) -> str:
    rule = SCORING_RULES.get(instrument.scoring)
    return rule.version if rule else ""


def _text_versions(instruments: list[Instrument], language: str) -> str:
    parts = []
    for instrument in instruments:
        for info in instrument.languages.values():
            state = (
                _YES[language]
                if info.verified
                else f"{_NO[language]}: {', '.join(info.unverified_texts)}"
            )
            parts.append(f"{instrument.version}/{info.code}: {info.text_version} ({state})")
    return "; ".join(parts)


def describe_values(variable: Variable) -> str:
    """The value labels as `1=Ingen; 2=Lette`, or the codes a string column may hold."""
    if variable.value_labels:
        return "; ".join(f"{k}={v}" for k, v in sorted(variable.value_labels.items()))
    return variable.codes


def describe_missing(variable: Variable) -> str:
    """Each coded missing value in every format, e.g. `Ved ikke: -8 (SPSS), .a (Stata), ...`."""
    return "; ".join(
        f'{label}: {m.code} (SPSS), .{m.stata_tag} (Stata), "{label}" (CSV, Excel)'
        for m, label in variable.missing.items()
    )


def build_codebook(layout: Layout) -> Codebook:
    """The codebook of a layout (in the layout's language)."""
    language = layout.language
    by_id: dict[str, list[Instrument]] = {}
    for instrument in layout.instruments:
        by_id.setdefault(instrument.id, []).append(instrument)
    variables = []
    for v in layout.variables:
        versions = [i for i in by_id.get(v.instrument, []) if i.version in v.versions]
        variables.append(
            {
                "variable": v.name,
                "label": v.label,
                "type": v.kind.value,
                "instrument": v.instrument,
                "versions": ", ".join(v.versions),
                "source": v.source.value if not v.ref else f"{v.source.value}:{v.ref}",
                "values": describe_values(v),
                "missing": describe_missing(v),
                "text_versions": _text_versions(versions, language),
                "scoring_version": ", ".join(sorted({scoring_version(i) for i in versions})),
            }
        )
    instruments = []
    for instrument in layout.instruments:
        for info in instrument.languages.values():
            instruments.append(
                {
                    "instrument": instrument.id,
                    "version": instrument.version,
                    "title": instrument.title.get(language)
                    or next(iter(instrument.title.values())),
                    "scoring_rule": instrument.scoring,
                    "scoring_version": scoring_version(instrument),
                    "language": info.code,
                    "text_version": info.text_version,
                    "verified": _YES[language] if info.verified else _NO[language],
                    "unverified_texts": ", ".join(info.unverified_texts),
                    "source": info.source,
                }
            )
    return Codebook(language, tuple(variables), tuple(instruments), _NOTES[language])


def codebook_json(codebook: Codebook, layout: Layout) -> dict[str, Any]:
    """The codebook as a JSON-ready structure, with typed value labels and missing codes."""
    return {
        "language": codebook.language,
        "layout": "long" if layout.long else "wide",
        "instrument": layout.instrument_filter,
        "notes": list(codebook.notes),
        "missing_codes": {
            m.state: {"spss": m.code, "stata": f".{m.stata_tag}", "csv_excel": "label text"}
            for m in CodedMissing
        },
        "variables": [
            {
                "name": v.name,
                "label": v.label,
                "type": v.kind.value,
                "source": v.source.value,
                "ref": v.ref or None,
                "instrument": v.instrument or None,
                "versions": list(v.versions),
                "value_labels": {str(k): text for k, text in sorted(v.value_labels.items())},
                "codes": [c.strip() for c in v.codes.split(",")] if v.codes else [],
                "missing": {m.state: {"code": m.code, "label": t} for m, t in v.missing.items()},
                "decimals": v.decimals,
            }
            for v in layout.variables
        ],
        "instruments": [dict(row) for row in codebook.instruments],
    }


def write_codebook_json(codebook: Codebook, layout: Layout, out: IO[str]) -> None:
    json.dump(codebook_json(codebook, layout), out, ensure_ascii=False, indent=2)
    out.write("\n")


def is_numeric(variable: Variable) -> bool:
    return variable.kind in (Kind.INTEGER, Kind.NUMBER)
