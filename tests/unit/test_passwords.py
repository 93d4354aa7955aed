"""surveyapp.passwords: at least 12 characters, never a common or breached password.

The property test draws 200 listed passwords (hypothesis) with digits and symbols added.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveyapp.passwords import MIN_LENGTH, PasswordProblem, common_passwords, is_common, problem


def test_the_shipped_list_is_there_and_large() -> None:
    listed = common_passwords()
    assert len(listed) > 30_000
    assert {"password", "123456", "qwerty", "iloveyou", "kodeord", "velkommen"} <= listed


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short-pw", PasswordProblem.TOO_SHORT),
        ("a" * 11, PasswordProblem.TOO_SHORT),
        ("x" * 257 + "Yz1", PasswordProblem.TOO_LONG),
        ("aaaaaaaaaaaa", PasswordProblem.MONOTONOUS),
        ("abababababab", PasswordProblem.MONOTONOUS),
        ("password1234", PasswordProblem.COMMON),
        ("Password2024!", PasswordProblem.COMMON),
        ("PASSWORD2024", PasswordProblem.COMMON),
        ("2024password", PasswordProblem.COMMON),
        ("qwertyuiop123", PasswordProblem.COMMON),
        ("iloveyou1234", PasswordProblem.COMMON),
        ("monkeymonkeymonkey", PasswordProblem.COMMON),
        ("Velkommen2025!", PasswordProblem.COMMON),
        ("ＰＡＳＳＷＯＲＤ１２３４", PasswordProblem.COMMON),  # full-width letters
        ("anne-admin-in-2026", PasswordProblem.CONTAINS_USERNAME),
        ("Tre-glade-elefanter-i-sne", None),
        ("correct horse battery staple", None),
        ("Blå-hest-på-grøn-eng", None),
    ],
)
def test_rules(password: str, expected: PasswordProblem | None) -> None:
    assert problem(password, "anne-admin") is expected


def test_the_demo_passwords_would_not_all_be_allowed_today() -> None:
    """The demo users are made directly (with short passwords, see README); new ones are not."""
    assert problem("demo-admin") is PasswordProblem.TOO_SHORT


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        sorted(w for w in common_passwords() if len(w) >= 4 and any(c.isalpha() for c in w))
    ),
    st.text("0123456789!?.", max_size=6),
)
def test_a_listed_password_with_digits_added_is_still_common(word: str, suffix: str) -> None:
    assert is_common(word + suffix)
    assert is_common(word.upper())
    if len(word + suffix) >= MIN_LENGTH:
        assert problem(word + suffix) in (PasswordProblem.COMMON, PasswordProblem.MONOTONOUS)
