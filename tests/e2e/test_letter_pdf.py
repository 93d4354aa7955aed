"""From the due list to a relative's phone: a PDF of letters, its QR code scanned from the page
image, and the questionnaire answered in two sittings in a phone-sized Chromium."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from surveyapp.models import LinkToken, Response
from surveyapp.security import token_hash
from tests.e2e.conftest import PHONE, SCREENSHOTS, LiveServer, assert_accessible, screenshot
from tests.support.qr import decode_image, pdf_page_png
from tests.support.staff import PASSWORDS

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The live server, printing letters with its own address (SURVEYAPP_PUBLIC_URL)."""
    extensions = live_server.app.extensions
    before = extensions["surveyapp.settings"]
    extensions["surveyapp.settings"] = dataclasses.replace(before, public_url=live_server.url)
    yield live_server
    extensions["surveyapp.settings"] = before


def _log_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    page.locator("#username").fill("koordinator")
    page.locator("#password").fill(PASSWORDS["koordinator"])
    page.locator("main form.narrow [type=submit]").click()
    page.wait_for_url(re.compile(r"/staff/"))


def _answers(server: LiveServer, token: str) -> list[str]:
    with server.sessions() as session:
        link = session.scalars(select(LinkToken).where(LinkToken.token_hash == token_hash(token)))
        assignment_id = link.one().assignment_id
        response = session.scalars(
            select(Response).where(Response.assignment_id == assignment_id)
        ).one_or_none()
        return [a.item_id for a in response.answers] if response else []


def _instrument_items(server: LiveServer, token: str) -> list[str]:
    registry = server.app.extensions["surveyapp.registry"]
    with server.sessions() as session:
        link = session.scalars(
            select(LinkToken).where(LinkToken.token_hash == token_hash(token))
        ).one()
        return list(registry.get(link.assignment.instrument_id).item_ids)


def _question_item(page: Page) -> str:
    """The item id of the question on screen (its inputs are named after it)."""
    names = page.locator("form.question input[type=radio], form.question input[type=number]")
    return str(names.first.get_attribute("name"))


def _answer_one(page: Page) -> None:
    """Give the first real answer on screen (never "don't know") and go on."""
    form = page.locator("form.question")
    choice = form.locator(
        "label:has(input[type=radio]:not([value=dont_know]):not([value=not_applicable]))"
    )
    with page.expect_navigation():
        if choice.count():
            choice.first.click()
        else:
            form.locator("input[type=number]").fill("1")
            form.locator("button[type=submit]:not([name=skip])").first.click()


def test_print_a_pdf_scan_its_qr_code_and_answer_in_two_sittings(
    server: LiveServer, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    # The coordinator ticks two relatives' rows on the due list and prints their letters.
    staff = new_page(DESKTOP)
    _log_in(staff, server)
    staff.goto(f"{server.url}/staff/due")
    boxes = staff.locator("input[type=checkbox][name=assignments]")
    assert boxes.count() >= 2
    expected = sum(len(str(boxes.nth(i).get_attribute("value")).split()) for i in range(2))
    boxes.nth(0).check()
    boxes.nth(1).check()
    screenshot(staff, "letters-due-list")
    with staff.expect_download() as download:
        staff.locator("button[name=print_selected]").click()
    pdf = tmp_path / "letters.pdf"
    download.value.save_as(pdf)
    assert len(PdfReader(pdf).pages) == expected
    # Page 1 as an image, the way a phone's camera sees the printed letter.
    png = pdf_page_png(pdf, 1, tmp_path / "page1")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "letters-pdf-page1.png").write_bytes(png.read_bytes())
    [url] = decode_image(Image.open(png))
    assert url.startswith(f"{server.url}/svar/")
    token = url.rsplit("/", 1)[1]
    items = _instrument_items(server, token)
    half = len(items) // 2
    assert half >= 1

    # The relative scans it on a phone and answers the first half.
    phone = new_page(PHONE)
    phone.goto(url)
    expect(phone.locator("button.primary")).to_be_visible()
    assert token not in phone.url  # the token left the address bar at once
    assert_accessible(phone)
    screenshot(phone, "letters-phone-1-start")
    phone.locator("button.primary").click()
    for n in range(half):
        assert _question_item(phone) == items[n]
        assert_accessible(phone)
        if n == 0:
            screenshot(phone, "letters-phone-2-question")
        _answer_one(phone)
    assert _answers(server, token) == items[:half]
    phone.close()

    # Later, the same letter again: it resumes where they stopped, then they finish.
    phone = new_page(PHONE)
    phone.goto(url)
    assert_accessible(phone)
    screenshot(phone, "letters-phone-3-resume")
    phone.locator("button.primary").click()
    for n in range(half, len(items)):
        assert _question_item(phone) == items[n]  # first of all: where they stopped
        assert_accessible(phone)
        _answer_one(phone)
    expect(phone.locator("h1")).to_have_text("Tak for dine svar")
    assert_accessible(phone)
    screenshot(phone, "letters-phone-4-thanks")
    assert _answers(server, token) == items

    # The letter after sending: only the thank-you page, never the answers.
    phone.goto(url)
    expect(phone.locator("h1")).to_have_text("Tak for dine svar")
    assert_accessible(phone)


def test_the_print_view_prints_one_a4_letter(
    server: LiveServer, new_page: Callable[..., Page]
) -> None:
    staff = new_page(DESKTOP)
    _log_in(staff, server)
    staff.goto(f"{server.url}/staff/due")
    # The letter actions are folded into the row's "More actions".
    staff.locator("details.more:has(a[href*='/letter?back=due']) summary").first.click()
    staff.locator("a[href*='/letter?back=due']").first.click()
    staff.locator("#first_name").fill("Inger")
    staff.locator("form.narrow input[type=submit]").click()
    expect(staff.locator("article.letter")).to_be_visible()
    screenshot(staff, "letters-print-view")
    [url] = decode_image(Image.open(screenshot(staff, "letters-print-view")))
    assert url.startswith(f"{server.url}/svar/")
    staff.emulate_media(media="print")
    expect(staff.locator(".print-tools")).to_be_hidden()
    printed = PdfReader(io.BytesIO(staff.pdf(format="A4", prefer_css_page_size=True)))
    assert len(printed.pages) == 1  # the browser prints one A4 page: the letter alone
    assert "Inger" in staff.locator("article.letter").inner_text()


CODE = re.compile(
    r"\b([2-9A-HJKMNP-Z]{4})[\s\-]+([2-9A-HJKMNP-Z]{4})[\s\-]+([2-9A-HJKMNP-Z]{4})"
    r"[\s\-]+([2-9A-HJKMNP-Z]{4})[\s\-]+([2-9A-HJKMNP-Z]{4})\b"
)


def test_type_the_code_from_the_pdf_at_the_short_address(
    server: LiveServer, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    """For someone who cannot scan: the short address and the code, read off the letter."""
    staff = new_page(DESKTOP)
    _log_in(staff, server)
    staff.goto(f"{server.url}/staff/due")
    staff.locator("input[type=checkbox][name=assignments]").first.check()
    with staff.expect_download() as download:
        staff.locator("button[name=print_selected]").click()
    pdf = tmp_path / "letter.pdf"
    download.value.save_as(pdf)
    text = PdfReader(pdf).pages[0].extract_text()
    assert f"{server.url}/k" in text.replace("\n", "")
    found = CODE.search(text)
    assert found, text
    typed = " ".join(found.groups()).lower()  # typed in lower case, spaces between groups
    phone = new_page(PHONE)
    phone.goto(f"{server.url}/k")
    assert_accessible(phone)
    phone.locator("input.code").fill("XXXX-XXXX-XXXX-XXXX-XXXX")  # a wrong code first
    with phone.expect_navigation():
        phone.locator("form.code-form [type=submit]").click()
    expect(phone.locator("input.code")).to_be_visible()  # the form again, calmly
    assert_accessible(phone)

    def type_code(page: Page, code: str) -> None:
        page.goto(f"{server.url}/k")
        page.locator("input.code").fill(code)
        with page.expect_navigation():
            page.locator("form.code-form [type=submit]").click()
        assert "".join(found.groups()) not in page.url.upper()  # the code is never in a URL

    type_code(phone, typed)
    expect(phone.locator("button.primary")).to_be_visible()
    phone.locator("button.primary").click()
    first = _question_item(phone)
    _answer_one(phone)  # one answer, then the phone is put away
    second = _question_item(phone)
    assert_accessible(phone)
    phone.close()
    # Later, on another browser: the same code again resumes at the second question.
    phone = new_page(PHONE)
    type_code(phone, " ".join(found.groups()).upper())
    phone.locator("button.primary").click()
    assert _question_item(phone) == second != first  # resumed where they stopped
    answered = 1
    while phone.locator("form.question").count():
        assert_accessible(phone)
        _answer_one(phone)
        answered += 1
    expect(phone.locator("h1")).to_have_text("Tak for dine svar")
    screenshot(phone, "letters-phone-code-thanks")
    assert answered >= 2
    # After sending, the code leads only to the thank-you page.
    type_code(phone, typed)
    expect(phone.locator("h1")).to_have_text("Tak for dine svar")
