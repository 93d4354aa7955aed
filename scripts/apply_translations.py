"""Merge Danish translations from JSON files ({"English msgid": "Danish"}) into the catalogues.

Used after `make i18n-update`: every listed msgid gets its Danish text in translations/da and
the English source text in translations/en. A plural is keyed "singular|plural" and given
a list of the Danish forms. Unknown msgids are reported, not added.
Usage: python scripts/apply_translations.py translations/incoming/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent


def apply(files: list[str]) -> int:
    danish: dict[str, str | list[str]] = {}
    for name in files:
        danish.update(json.loads(Path(name).read_text(encoding="utf-8")))
    unknown = set(danish)
    for locale in ("da", "en"):
        path = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as f:
            catalog = read_po(f, locale=locale)
        for message in catalog:
            if not message.id:
                continue
            # A plural is keyed "singular|plural" with a list of the Danish forms.
            plural = not isinstance(message.id, str)
            key = "|".join(message.id) if plural else message.id
            if locale == "en" and (not message.string or not all(message.string)):
                message.string = tuple(message.id) if plural else message.id
            if key in danish:
                unknown.discard(key)
                if locale == "da":
                    found = danish[key]
                    message.string = tuple(found) if plural else found
                message.flags.discard("fuzzy")
        with path.open("wb") as f:
            write_po(f, catalog, sort_output=True, no_location=True, width=100)
    for msgid in sorted(unknown):
        print(f"not in the catalogue (run make i18n-update first?): {msgid!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(apply(sys.argv[1:]))
