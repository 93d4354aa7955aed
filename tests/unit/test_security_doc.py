"""docs/security.md names the tests that show each requirement: every one must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")
FOLLOWING = re.compile(r"`?,\s*`::(\w+)`?")  # "file::a`, `::b": b in the same file


def _references() -> list[tuple[str, str | None]]:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    found = []
    for match in REFERENCE.finditer(text):
        path, name = match.group(1), match.group(2)
        # "file::a`, `::b" names b in the same file
        found.append((path, name))
        position = match.end()
        while more := FOLLOWING.match(text, position):
            found.append((path, more.group(1)))
            position = more.end()
    return found


def test_every_test_named_in_the_security_document_exists() -> None:
    references = _references()
    assert len(references) > 50
    missing = []
    for path, name in references:
        source = ROOT / path
        if not source.exists():
            missing.append(path)
            continue
        if name and not re.search(rf"^(async )?def {re.escape(name)}\(", source.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_the_document_covers_the_threats_the_issue_names() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8").lower()
    for threat in (
        "stolen or lost kiosk tablet",
        "curious relative",
        "guessed links",
        "another municipality or provider",
        "stolen database dump",
        "stolen backup",
    ):
        assert threat in text
