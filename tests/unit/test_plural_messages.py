"""A count in a sentence takes Babel's plural forms ("1 spørgeskema", "2 spørgeskemaer").

Extracts every UI string from the code (as `make i18n-update` does) and fails on a singular
message in which a placeholder is followed by a plural noun ("%(n)s measurements will be
added"): such a sentence is wrong for 1 in English and in Danish and must use ngettext.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from surveyapp.forms import base

ROOT = Path(__file__).resolve().parents[2]

#: English plural nouns that follow a count in the app's sentences.
PLURAL_NOUNS = (
    "days",
    "weeks",
    "months",
    "years",
    "hours",
    "minutes",
    "seconds",
    "questions",
    "questionnaires",
    "measurements",
    "answers",
    "rows",
    "columns",
    "courses",
    "citizens",
    "people",
    "relatives",
    "tries",
    "attempts",
    "codes",
    "letters",
    "users",
    "items",
    "files",
    "characters",
    "digits",
    "problems",
    "records",
    "responses",
    "sessions",
    "timepoints",
)
#: Placeholders that name a thing, never a count ("%(instrument)s needs the columns ...").
NOT_COUNTS = frozenset({"instrument", "title", "date", "username", "municipality", "provider"})
#: A placeholder, up to three words (e.g. "answered or dropped-out"), then a plural noun.
COUNTED = re.compile(
    r"%\((\w+)\)[sd](?: [\w-]+){0,3}? (" + "|".join(PLURAL_NOUNS) + r")\b",
    re.IGNORECASE,
)
#: WTForms' own messages, as the library asks for them (surveyapp.forms.base translates them).
LIBRARY = frozenset(m for m in base.LIBRARY_MESSAGES if isinstance(m, str))


#: Messages another helper of issue 11 rewrites (wd-data: the drop-out messages). The lead
#: removes an entry here when merging that branch; the test then checks it too.
def _extracted(tmp_path: Path) -> list[tuple[object, tuple[str, ...]]]:
    pot = tmp_path / "now.pot"
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg"]
        + ["-k", "_l", "--no-location", "-o", str(pot), "surveyapp"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        return [(m.id, tuple(m.auto_comments)) for m in read_po(f) if m.id]


def counted_singulars(messages: list[tuple[object, tuple[str, ...]]]) -> list[str]:
    """Singular messages that put a count before a plural noun."""
    return sorted(
        msgid
        for msgid, _comments in messages
        if isinstance(msgid, str)
        and msgid not in LIBRARY
        and any(m.group(1) not in NOT_COUNTS for m in COUNTED.finditer(msgid))
    )


def test_the_check_recognises_a_count_before_a_plural_noun() -> None:
    found = counted_singulars(
        [
            ("Drop-out recorded for %(count)s questionnaires.", ()),
            ("%(n)s answered or dropped-out measurements stay as they are", ()),
            ("Wait %(minutes)s minutes and try again.", ()),
            ("Question %(n)s of %(total)s", ()),
            ("Text size %(n)s of 3", ()),
            ("%(instrument)s needs the columns %(columns)s", ()),
            (("%(num)s day", "%(num)s days"), ()),
        ]
    )
    assert found == [
        "%(n)s answered or dropped-out measurements stay as they are",
        "Drop-out recorded for %(count)s questionnaires.",
        "Wait %(minutes)s minutes and try again.",
    ]


def test_every_counted_message_uses_plural_forms(tmp_path: Path) -> None:
    wrong = list(counted_singulars(_extracted(tmp_path)))
    assert wrong == []


def test_the_plural_messages_have_danish_plural_forms() -> None:
    """Every plural message has two Danish forms (in the catalogue or waiting in incoming)."""
    from tests.support.i18n import incoming

    waiting = incoming()
    with (ROOT / "translations" / "da" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = {m.id: m.string for m in read_po(f, locale="da") if m.id}
    with (ROOT / "translations" / "messages.pot").open("rb") as f:
        committed = {m.id for m in read_po(f) if m.id}
    missing = []
    for path in sorted((ROOT / "surveyapp").rglob("*")):
        if path.suffix not in (".py", ".html"):
            continue
        text = path.read_text(encoding="utf-8")
        for singular, plural in re.findall(
            r'ngettext\(\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"', text
        ):
            key = (singular, plural)
            forms = catalog.get(key) if key in committed else waiting.get(f"{singular}|{plural}")
            if not forms or len(forms) != 2 or not all(forms):
                missing.append(f"{path.relative_to(ROOT)}: {singular}")
    assert missing == []
