"""The password rules for staff accounts (pure): long enough, and not a known common password.

A password is refused when it
- is shorter than MIN_LENGTH (12) characters or longer than MAX_LENGTH (256; argon2 would
  hash any length, but nobody types more and a huge value only costs time);
- is, in lower case, on the shipped list of common passwords (surveyapp/data/
  common-passwords.txt: the 30,000 most common passwords of public breaches, see its header
  for source and licence, and a few Danish ones);
- is such a password with digits and symbols added before or after ("Password2024!",
  "123monkey123"), or one listed password (of at least 4 characters) written several times
  ("monkeymonkeymonkey");
- uses at most 3 different characters ("aaaaaaaaaaaa", "abababababab");
- contains the username (of at least 3 characters), in any case;
- is one of the given context words (product, municipality, provider, the user's name) with
  digits and symbols around it, or one of them repeated.

`problem(password, username)` returns the first reason as a code (for the caller's message in
the user's language) or None. Characters are compared after Unicode NFKC normalisation, so
full-width letters do not slip a listed password past the check.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from enum import StrEnum
from functools import cache
from pathlib import Path

MIN_LENGTH = 12
MAX_LENGTH = 256
LIST_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"
_AFFIX = "0123456789!@#$%^&*()-_=+.,;:?'\"/\\|[]{}<>~` "


class PasswordProblem(StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    MONOTONOUS = "monotonous"
    CONTAINS_USERNAME = "contains_username"


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list, read once."""
    lines = LIST_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _is_repeat(text: str, listed: frozenset[str]) -> bool:
    for size in range(4, len(text) // 2 + 1):
        if len(text) % size == 0:
            unit = text[:size]
            if unit * (len(text) // size) == text and unit in listed:
                return True
    return False


def is_common(password: str, context_words: Iterable[str] = ()) -> bool:
    """True if the password is, or is built from, a listed password or a context word."""
    extra = {_normal(w.strip()) for w in context_words if len(w.strip()) >= 4}
    listed = common_passwords() | extra if extra else common_passwords()
    text = _normal(password)
    if text in listed:
        return True
    for core in _cores(text):
        if len(core) >= 4 and (core in listed or _is_repeat(core, listed)):
            return True
    return _is_repeat(text, listed)


def _cores(text: str) -> set[str]:
    """`text` without some or all of its leading and trailing digits and symbols."""
    end = len(text.rstrip(_AFFIX))
    start = len(text) - len(text.lstrip(_AFFIX))
    ends = range(max(end, 1), len(text) + 1)
    starts = range(0, min(start, len(text) - 1) + 1)
    return {text[i:j] for i in starts for j in ends if i < j}


def problem(
    password: str, username: str = "", context_words: Iterable[str] = ()
) -> PasswordProblem | None:
    """Why this password may not be used (the first reason), or None if it may.

    `context_words` are words of this installation and user (the product, the municipality,
    the provider, the user's name): a password that is one of them with digits or symbols
    around it, or one of them repeated, is refused like a common password.
    """
    if len(password) < MIN_LENGTH:
        return PasswordProblem.TOO_SHORT
    if len(password) > MAX_LENGTH:
        return PasswordProblem.TOO_LONG
    text = _normal(password)
    if len(set(text)) <= 3:
        return PasswordProblem.MONOTONOUS
    if is_common(password, context_words):
        return PasswordProblem.COMMON
    name = _normal(username.strip())
    if len(name) >= 3 and name in text:
        return PasswordProblem.CONTAINS_USERNAME
    return None
