"""The letter's facts (pure): the QR code decodes to the link, dates, the code, the estimate."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, date, datetime

import cairosvg
import pytest
import zxingcpp
from PIL import Image

from surveyapp.letters import (
    Contact,
    Letter,
    build_letter,
    clean_first_name,
    code_groups,
    estimate_minutes,
    last_valid_day,
    link_url,
    long_date,
    qr_svg,
    short_url,
)
from surveyapp.linkcodes import new_code
from surveyapp.security import new_token
from tests.support.qr import decode_svg

PUBLIC = "https://borger.example-kommune.dk"


def test_the_qr_code_decodes_back_to_the_full_link() -> None:
    url = link_url(PUBLIC, new_token())
    assert decode_svg(qr_svg(url)) == [url]


def test_the_qr_code_has_high_error_correction() -> None:
    url = link_url(PUBLIC, new_token())
    png = cairosvg.svg2png(
        bytestring=qr_svg(url).encode(), output_width=400, background_color="white"
    )
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert [(b.text, b.ec_level) for b in found] == [(url, "H")]  # letters get folded, stamped


def test_the_qr_check_can_fail() -> None:
    url = link_url(PUBLIC, new_token())
    other = link_url(PUBLIC, new_token())
    decoded = decode_svg(qr_svg(other))
    assert decoded == [other] and decoded != [url]
    blank = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"></svg>'
    assert decode_svg(blank) == []


def test_the_qr_svg_is_one_scalable_path_with_a_quiet_zone() -> None:
    svg = qr_svg(link_url(PUBLIC, new_token()))
    root = re.match(r"<svg\b[^>]*>", svg)
    assert root is not None
    assert "width=" not in root.group(0) and "height=" not in root.group(0)
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', root.group(0)).group(1))  # type: ignore[union-attr]
    assert (size - 8 - 17) % 4 == 0  # a QR version: 17 + 4v modules, plus 4 on each side
    assert svg.count("<path") == 1 and 'id="' not in svg
    first_module = re.search(r'd="M(\d+),(\d+)', svg)
    assert first_module is not None and first_module.groups() == ("4", "4")


def test_links_and_the_short_address_come_from_the_public_url() -> None:
    assert link_url("https://x.dk/", "abc") == "https://x.dk/svar/abc"
    assert short_url("https://x.dk/") == "https://x.dk/k"


@pytest.mark.parametrize(
    ("day", "language", "text"),
    [
        (date(2026, 12, 15), "da", "15. december 2026"),
        (date(2027, 3, 1), "da", "1. marts 2027"),
        (date(2026, 12, 15), "en", "15 December 2026"),
    ],
)
def test_dates_are_written_as_in_a_letter(day: date, language: str, text: str) -> None:
    assert long_date(day, language) == text


@pytest.mark.parametrize(
    ("expires", "last"),
    [
        (datetime(2026, 12, 15, 9, 0, tzinfo=UTC), date(2026, 12, 14)),  # 10:00 in Denmark
        (datetime(2026, 12, 14, 23, 0, tzinfo=UTC), date(2026, 12, 14)),  # midnight in Denmark
        (datetime(2026, 6, 30, 21, 59, tzinfo=UTC), date(2026, 6, 29)),  # 23:59 summer time
    ],
)
def test_the_letter_promises_only_whole_days(expires: datetime, last: date) -> None:
    assert last_valid_day(expires) == last


def test_the_code_is_printed_in_groups_of_four() -> None:
    code = new_code()
    groups = code_groups(code)
    assert len(groups) == 5 and all(len(g) == 4 for g in groups)
    assert "-".join(groups) == code
    assert code_groups("k7mq x9pa") == ("K7MQ", "X9PA")


@pytest.mark.parametrize(("questions", "minutes"), [(0, 2), (4, 3), (5, 3), (12, 5), (16, 7)])
def test_minutes_are_estimated_from_the_number_of_questions(questions: int, minutes: int) -> None:
    assert estimate_minutes(questions) == minutes


def test_the_first_name_is_trimmed_and_optional() -> None:
    assert clean_first_name("  Inger  ") == "Inger"
    assert clean_first_name("Anne   Marie") == "Anne Marie"
    assert clean_first_name("   ") is None
    assert clean_first_name(None) is None
    assert len(clean_first_name("x" * 100) or "") == 40


def _letter(**overrides: object) -> Letter:
    values: dict[str, object] = {
        "assignment_id": 7,
        "public_url": PUBLIC,
        "token": "tok",
        "code": "K7MQ-X9PA-2BCD-EFGH-JKMN",
        "expires_at": datetime(2026, 12, 15, 9, 0, tzinfo=UTC),
        "opens_at": None,
        "issued_at": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        "language": "da",
        "audience": "relative",
        "first_name": None,
        "questionnaire": "Tilfredshed med opstartsmødet",
        "questions": 4,
        "contact": Contact("Sølvstrand Kommune", phone="70 12 34 56"),
    }
    values.update(overrides)
    return build_letter(**values)  # type: ignore[arg-type]


def test_a_letter_holds_the_link_code_dates_and_estimate() -> None:
    letter = _letter()
    assert letter.url == f"{PUBLIC}/svar/tok"
    assert letter.short_url == f"{PUBLIC}/k"
    assert letter.code == ("K7MQ", "X9PA", "2BCD", "EFGH", "JKMN")
    assert letter.issued_on == date(2026, 12, 1)
    assert letter.valid_until_text == "14. december 2026"
    assert letter.minutes == 3
    assert letter.opens_on is None
    assert letter.contact.signature == "Sølvstrand Kommune"


def test_a_letter_says_when_the_window_opens_only_if_later() -> None:
    later = _letter(opens_at=datetime(2026, 12, 4, 23, 0, tzinfo=UTC))
    assert later.opens_on == date(2026, 12, 5) and later.opens_text == "5. december 2026"
    already = _letter(opens_at=datetime(2026, 11, 20, 23, 0, tzinfo=UTC))
    assert already.opens_on is None


def test_a_letter_has_no_place_for_the_label_or_the_cpr_number() -> None:
    names = {f.name for f in dataclasses.fields(Letter)} | {
        f.name for f in dataclasses.fields(Contact)
    }
    assert not {n for n in names if "label" in n or "cpr" in n or "citizen" in n}
    assert "first_name" in names  # the only personal detail, and only when typed


@pytest.mark.parametrize(("field", "value"), [("language", "de"), ("audience", "staff")])
def test_a_letter_refuses_unknown_languages_and_audiences(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=value):
        _letter(**{field: value})
