"""The catalogues as the lead will merge them: the committed .po files plus translations/incoming.

Helpers add new UI strings with their Danish to translations/incoming/<name>.json instead of
editing the catalogues; the lead applies them (scripts/apply_translations.py). Tests that check
Danish text of new strings build a temporary translations directory with both, so they pass
before and after the merge.
"""

from __future__ import annotations

import json
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def incoming() -> dict[str, str | list[str]]:
    """Every translation waiting in translations/incoming (English msgid -> Danish)."""
    found: dict[str, str | list[str]] = {}
    for path in sorted((ROOT / "translations" / "incoming").glob("*.json")):
        found.update(json.loads(path.read_text(encoding="utf-8")))
    return found


def merged_translations(target: Path) -> Path:
    """Compile da and en catalogues with the incoming translations into `target`; return it."""
    waiting = incoming()
    for locale in ("da", "en"):
        po = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as f:
            catalog: Catalog = read_po(f, locale=locale)
        for key, danish in waiting.items():
            if locale == "en":
                continue  # English shows the msgid itself
            if isinstance(danish, list):
                if "|" not in key or len(danish) != 2:
                    continue  # not a plural as scripts/apply_translations.py reads it
                singular, plural = key.split("|", 1)
                catalog.delete((singular, plural))
                catalog.add((singular, plural), tuple(danish))
            else:
                catalog.delete(key)
                catalog.add(key, danish)
        out = target / locale / "LC_MESSAGES"
        out.mkdir(parents=True, exist_ok=True)
        with (out / "messages.mo").open("wb") as f:
            write_mo(f, catalog)
    return target
