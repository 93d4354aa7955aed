"""Fail if a UI string is missing from, untranslated in, or uncompiled in a catalogue.

1. Extract the strings from the code now and compare with translations/messages.pot.
2. Every catalogue (da, en) must translate every string, with no fuzzy entries.
3. Every compiled .mo must exist and hold the same translations as its .po.
Run by `make i18n-check` and by the test suite.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("da", "en")


def _ids(catalog) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.id for m in catalog if m.id and isinstance(m.id, str)}


def problems() -> list[str]:
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        pot_now = Path(tmp) / "now.pot"
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "babel.messages.frontend",
                "extract",
                "-F",
                "babel.cfg",
                "-k",
                "_l",
                "--no-location",
                "-o",
                str(pot_now),
                "surveyapp",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        with pot_now.open("rb") as f:
            current = _ids(read_po(f))
    with (ROOT / "translations" / "messages.pot").open("rb") as f:
        committed = _ids(read_po(f))
    for msgid in sorted(current - committed):
        found.append(f"messages.pot is stale (run `make i18n-update`): new string {msgid!r}")
    for locale in LOCALES:
        po_path = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=locale)
        translated = {}
        for message in catalog:
            if not message.id:
                continue
            if message.fuzzy:
                found.append(f"{locale}: fuzzy translation of {message.id!r}")
            elif not message.string or (
                isinstance(message.string, list | tuple) and not all(message.string)
            ):
                found.append(f"{locale}: untranslated {message.id!r}")
            else:
                translated[_key(message.id)] = _key(message.string)
        for message, errors in catalog.check():  # e.g. placeholders that do not match
            for error in errors:
                found.append(f"{locale}: {message.id!r}: {error}")
        for msgid in sorted(current - set(translated) - {m.id for m in catalog if m.fuzzy}):
            if msgid not in _ids(catalog):
                found.append(f"{locale}: string missing from catalogue {msgid!r}")
        mo_path = po_path.with_suffix(".mo")
        if not mo_path.exists():
            found.append(f"{locale}: {mo_path.name} not compiled (run `make install`)")
            continue
        with mo_path.open("rb") as f:
            compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
        if compiled != translated:
            found.append(f"{locale}: {mo_path.name} is older than {po_path.name}: recompile")
    return found


def _key(value: object) -> object:
    """A message id or string as a dict key: a plural's forms (a list or tuple) as a tuple."""
    return tuple(value) if isinstance(value, list | tuple) else value


def main() -> int:
    found = problems()
    for problem in found:
        print(problem, file=sys.stderr)
    print("i18n: ok" if not found else f"i18n: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
