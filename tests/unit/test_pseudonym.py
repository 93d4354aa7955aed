"""CPR numbers: form, derived facts and the keyed pseudonym."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyapp.enums import Sex
from surveyapp.pseudonym import InvalidCPR, birth_date, normalise_cpr, pseudonymise, read_cpr

KEY = "test-key"


@pytest.mark.parametrize(
    ("cpr", "born"),
    [
        ("010140-1234", date(1940, 1, 1)),  # 7th digit 1: 1900s
        ("3112364000", date(2036, 12, 31)),  # 4 and year <= 36: 2000s
        ("3112374000", date(1937, 12, 31)),  # 4 and year >= 37: 1900s
        ("0101585000", date(1858, 1, 1)),  # 5-8 and year >= 58: 1800s
        ("0101575000", date(2057, 1, 1)),  # 5-8 and year <= 57: 2000s
        ("2902009123", date(2000, 2, 29)),  # 9 and year <= 36: 2000s, leap day
        ("0101509123", date(1950, 1, 1)),  # 9 and year >= 37: 1900s
    ],
)
def test_birth_date_follows_the_century_table(cpr: str, born: date) -> None:
    assert birth_date(normalise_cpr(cpr)) == born


def test_sex_from_the_last_digit_and_no_modulus_11() -> None:
    # 010140-1235 fails modulus 11 and is still a valid CPR number since 2007.
    assert read_cpr("010140-1235", KEY).sex is Sex.MALE
    assert read_cpr("010140-1234", KEY).sex is Sex.FEMALE


@pytest.mark.parametrize(
    "text", ["", "12345", "0101401234x", "01014O-1234", "010140--1234", "01014012345"]
)
def test_wrong_form_is_refused(text: str) -> None:
    with pytest.raises(InvalidCPR, match="10 digits"):
        read_cpr(text, KEY)


@pytest.mark.parametrize("text", ["320140-1234", "011340-1234", "290201-1234", "000140-1234"])
def test_impossible_dates_are_refused_without_echoing_the_number(text: str) -> None:
    with pytest.raises(InvalidCPR) as info:
        read_cpr(text, KEY)
    assert text[:6] not in str(info.value)


def test_future_birth_date_is_refused() -> None:
    with pytest.raises(InvalidCPR, match="future"):
        read_cpr("3112364000", KEY, today=date(2026, 11, 23))


def test_pseudonym_is_keyed_and_ignores_the_dash() -> None:
    a = read_cpr("010140-1234", KEY).pseudonym
    assert a == read_cpr("0101401234", KEY).pseudonym == read_cpr(" 010140 1234 ", KEY).pseudonym
    assert a != read_cpr("010140-1234", "another-key").pseudonym
    assert "0101401234" not in a and len(a) == 64


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)), st.integers(0, 999))
def test_any_20th_century_date_round_trips(born: date, serial: int) -> None:
    cpr = f"{born:%d%m%y}{1}{serial:03d}"
    facts = read_cpr(cpr, KEY)
    assert facts.birth_date == born
    assert facts.pseudonym == pseudonymise(cpr, KEY)
