"""Typeable letter codes and link tokens: entropy, alphabet, grouping, forgiving typing, hashes;
and the log redaction that keeps tokens out of access logs (all pure)."""

from __future__ import annotations

import logging
import math
import re

import pytest

from surveyapp import linkcodes
from surveyapp.linkcodes import ALPHABET, code_hash, format_code, new_code, normalise_code
from surveyapp.logs import REDACTED, RedactingFilter, redact
from surveyapp.security import new_token, token_hash

LOOK_ALIKES = "0O1IL"


def test_a_code_has_at_least_80_random_bits_from_an_alphabet_without_look_alikes() -> None:
    assert linkcodes.BITS >= 80
    assert linkcodes.LENGTH * math.log2(len(ALPHABET)) == linkcodes.BITS
    assert len(set(ALPHABET)) == len(ALPHABET) == 31
    assert not set(LOOK_ALIKES) & set(ALPHABET)
    seen = set()
    for _ in range(200):
        code = new_code()
        compact = code.replace("-", "")
        assert len(compact) == linkcodes.LENGTH and set(compact) <= set(ALPHABET)
        seen.update(compact)
    assert seen == set(ALPHABET)  # every character is used: no narrower alphabet by mistake


def test_a_code_is_printed_in_groups_of_four() -> None:
    code = new_code()
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){4}", code)
    assert format_code("ABCDEFGHJKMNPQRSTUVW") == "ABCD-EFGH-JKMN-PQRS-TUVW"


def test_fresh_codes_and_tokens_differ() -> None:
    assert len({new_code() for _ in range(1000)}) == 1000
    assert len({new_token() for _ in range(1000)}) == 1000
    assert len(new_token()) >= 43  # 256 bits in URL-safe base64 (≥ 128 required)


@pytest.mark.parametrize(
    "typed",
    [
        "ABCD-EFGH-JKMN-PQRS-TUVW",
        "abcd-efgh-jkmn-pqrs-tuvw",
        "abcd efgh jkmn pqrs tuvw",
        "  ABCDEFGHJKMNPQRSTUVW  ",
        "AbCd–EfGh—JkMn PQRS_tuvw",  # the dashes a phone keyboard makes, mixed case
        "ab cd-ef gh-jk mn-pq rs-tu vw",
    ],
)
def test_case_spaces_and_dashes_do_not_matter(typed: str) -> None:
    assert normalise_code(typed) == "ABCDEFGHJKMNPQRSTUVW"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ABCD-EFGH-JKMN-PQRS-TUV",  # too short
        "ABCD-EFGH-JKMN-PQRS-TUVWX",  # too long
        "ABCD-EFGH-JKMN-PQRS-TUV0",  # a zero
        "ABCD-EFGH-JKMN-PQRS-TUVO",  # an O
        "ABCD-EFGH-JKMN-PQRS-TUV1",  # a one
        "ABCD-EFGH-JKMN-PQRS-TUVI",  # an I
        "ABCD-EFGH-JKMN-PQRS-TUVL",  # an L
        "ABCD-EFGH-JKMN-PQRS-TUVÆ",
        "ABCD/EFGH/JKMN/PQRS/TUVW",
        "A" * 81,
    ],
)
def test_wrong_length_or_characters_are_not_a_code(typed: str) -> None:
    assert normalise_code(typed) is None


def test_only_hashes_are_kept_and_they_give_nothing_away() -> None:
    code, token = new_code(), new_token()
    stored_code, stored_token = code_hash(normalise_code(code) or ""), token_hash(token)
    for stored in (stored_code, stored_token):
        assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert code.replace("-", "") not in stored_code and token not in stored_token
    # The same code typed differently gives the same hash; a code is never hashed like a token.
    assert code_hash(normalise_code(code.lower().replace("-", " ")) or "") == stored_code
    assert code_hash("ABCDEFGHJKMNPQRSTUVW") != token_hash("ABCDEFGHJKMNPQRSTUVW")


# --- log redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '127.0.0.1 - - [01/Dec/2026 12:00:00] "GET /svar/Ab3_-xYz HTTP/1.1" 303 -',
            f'127.0.0.1 - - [01/Dec/2026 12:00:00] "GET /svar/{REDACTED} HTTP/1.1" 303 -',
        ),
        ("GET /svar/Ab3_-xYz/4 HTTP/1.1", f"GET /svar/{REDACTED}/4 HTTP/1.1"),
        ("GET /svar/Ab3?x=1 HTTP/1.1", f"GET /svar/{REDACTED}?x=1 HTTP/1.1"),
        ("/visning/tekst/2?next=%2Fsvar%2FAb3xYz", f"/visning/tekst/2?next=%2Fsvar%2F{REDACTED}"),
        ("/visning/tekst/2?next=/svar/Ab3xYz&a=b", f"/visning/tekst/2?next=/svar/{REDACTED}&a=b"),
        ("Referer: https://x.example/svar/Ab3xYz", f"Referer: https://x.example/svar/{REDACTED}"),
        ("GET /svar/12345678 HTTP/1.1", f"GET /svar/{REDACTED} HTTP/1.1"),
        # Token-free pages stay readable.
        ("GET /svar/ HTTP/1.1", "GET /svar/ HTTP/1.1"),
        ("POST /svar/3 HTTP/1.1", "POST /svar/3 HTTP/1.1"),
        ("GET /svar/tak HTTP/1.1", "GET /svar/tak HTTP/1.1"),
        ("POST /svar/start HTTP/1.1", "POST /svar/start HTTP/1.1"),
        ("GET /svar/om HTTP/1.1", "GET /svar/om HTTP/1.1"),
        ("POST /k HTTP/1.1", "POST /k HTTP/1.1"),
        ("GET /kiosk/1/3 HTTP/1.1", "GET /kiosk/1/3 HTTP/1.1"),
    ],
)
def test_redaction_removes_every_token_and_keeps_the_token_free_pages(
    line: str, expected: str
) -> None:
    assert redact(line) == expected


def test_the_filter_rewrites_the_formatted_message() -> None:
    token = new_token()
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (f"GET /svar/{token} HTTP/1.1", 303, "-"),
        None,
    )
    assert RedactingFilter().filter(record) is True
    assert token not in record.getMessage()
    assert record.getMessage() == f'"GET /svar/{REDACTED} HTTP/1.1" 303 -'
