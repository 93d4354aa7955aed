"""CPR numbers: validate the form, derive birth year and sex, and pseudonymise (pure Python).

The raw CPR number only passes through these functions; callers keep the HMAC and the derived
characteristics and drop the number. No modulus-11 check: Denmark stopped guaranteeing it in
2007, so valid numbers fail it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date

from surveyapp.enums import Sex

_CPR_RE = re.compile(r"^\s*(\d{6})[-\s]?(\d{4})\s*$")


class InvalidCPR(ValueError):
    """The text is not a CPR number. The message never contains the number itself."""


@dataclass(frozen=True)
class CPRFacts:
    """What is kept from a CPR number: the keyed pseudonym and the derived characteristics."""

    pseudonym: str
    birth_date: date
    sex: Sex

    @property
    def birth_year(self) -> int:
        return self.birth_date.year


def _century(year2: int, digit7: int) -> int:
    """Century from the 7th digit, by the CPR Office's table."""
    if digit7 <= 3:
        return 1900
    if digit7 in (4, 9):
        return 2000 if year2 <= 36 else 1900
    return 2000 if year2 <= 57 else 1800  # 5-8


def normalise_cpr(text: str) -> str:
    """Return the 10 digits of a CPR number written as DDMMYYSSSS or DDMMYY-SSSS."""
    match = _CPR_RE.match(text or "")
    if not match:
        raise InvalidCPR("a CPR number has 10 digits, written DDMMÅÅ-XXXX or DDMMÅÅXXXX")
    return match.group(1) + match.group(2)


def birth_date(cpr: str) -> date:
    """The date of birth encoded in a normalised CPR number."""
    day, month, year2, digit7 = int(cpr[0:2]), int(cpr[2:4]), int(cpr[4:6]), int(cpr[6])
    try:
        return date(_century(year2, digit7) + year2, month, day)
    except ValueError:
        raise InvalidCPR("the first six digits of a CPR number must be a real date") from None


def pseudonymise(cpr: str, key: str | bytes) -> str:
    """Keyed HMAC-SHA256 (hex) of a normalised CPR number."""
    key_bytes = key.encode() if isinstance(key, str) else key
    return hmac.new(key_bytes, cpr.encode("ascii"), hashlib.sha256).hexdigest()


def read_cpr(text: str, key: str | bytes, *, today: date | None = None) -> CPRFacts:
    """Validate a typed CPR number and return only what may be kept of it."""
    cpr = normalise_cpr(text)
    born = birth_date(cpr)
    if today is not None and born > today:
        raise InvalidCPR("the date of birth in the CPR number lies in the future")
    sex = Sex.MALE if int(cpr[9]) % 2 else Sex.FEMALE
    return CPRFacts(pseudonym=pseudonymise(cpr, key), birth_date=born, sex=sex)
