"""Error pages and the language switch in a real browser, at tablet and phone sizes, da and en.

The 403/404 pages keep the app's layout and give a way back (the staff menu for staff, the
front page for anyone else); switching language shows the same page again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import SIZES, LiveServer, assert_accessible, log_in, screenshot

LOCALES = {"da": "da-DK", "en": "en-GB"}
TEXT = {
    "da": {"not_found": "Ikke fundet", "not_allowed": "Ingen adgang", "switch": "English"},
    "en": {"not_found": "Not found", "not_allowed": "Not allowed", "switch": "Dansk"},
}


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", ["da", "en"])
def test_staff_error_pages_keep_the_menu_and_a_way_back(
    live_server: LiveServer, new_page: Callable[..., Page], size: str, lang: str
) -> None:
    page = new_page(SIZES[size], locale=LOCALES[lang])
    log_in(page, live_server, "koordinator")
    for path, key, code in (
        ("/staff/no-such-page", "not_found", 404),
        ("/staff/admin/users", "not_allowed", 403),
    ):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == code
        expect(page.locator("h1")).to_have_text(TEXT[lang][key])
        expect(page.locator("nav.staff")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
        screenshot(page, f"error-{code}-staff-{size}-{lang}")
        assert_accessible(page)
    page.locator("main a.button").click()
    page.wait_for_url(re.compile(r".*/staff/due"))


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", ["da", "en"])
def test_the_public_404_page_and_the_language_switch(
    live_server: LiveServer, new_page: Callable[..., Page], size: str, lang: str
) -> None:
    page = new_page(SIZES[size], locale=LOCALES[lang])
    response = page.goto(f"{live_server.url}/no-such-page")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text(TEXT[lang]["not_found"])
    expect(page.locator("header.site")).to_be_visible()
    screenshot(page, f"error-404-public-{size}-{lang}")
    assert_accessible(page)
    # Switching language on the login page stays on the login page (with its next= target).
    page.goto(f"{live_server.url}/login?next=/staff/citizens")
    page.get_by_role("button", name=TEXT[lang]["switch"]).click()
    page.wait_for_url(f"{live_server.url}/login?next=/staff/citizens")
    other = "en" if lang == "da" else "da"
    expect(page.locator("html")).to_have_attribute("lang", other)
    screenshot(page, f"language-switched-{size}-{lang}-to-{other}")
    assert_accessible(page)


def test_switching_language_on_a_staff_page_stays_there(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    log_in(page, live_server, "koordinator")
    page.goto(f"{live_server.url}/staff/citizens")
    page.get_by_role("button", name="English").click()
    page.wait_for_url(f"{live_server.url}/staff/citizens")
    expect(page.locator("h1")).to_have_text("Citizens")


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", ["da", "en"])
def test_a_respondent_error_page_has_the_respondent_layout(
    live_server: LiveServer, new_page: Callable[..., Page], size: str, lang: str
) -> None:
    """An error on the respondent's side (here a 405) offers no staff navigation or login."""
    page = new_page(SIZES[size], locale=LOCALES[lang])
    response = page.goto(f"{live_server.url}/visning/tekst")  # the text size: POST only
    assert response is not None and response.status == 405
    expect(page.locator("header.bar")).to_be_visible()  # the text-size bar
    assert page.locator("nav.staff, a[href^='/staff'], a[href='/login']").count() == 0
    back = page.locator("main a.secondary")
    expect(back).to_have_attribute("href", "/k")  # type the code from the letter
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    screenshot(page, f"error-405-respondent-{size}-{lang}")
    assert_accessible(page)
