"""The kiosk's screens in a real Chromium: the confirmation before a visit, the question
screen at the largest text, the visit's summary after the PIN, and the admin's user page, at
tablet and phone sizes, in Danish and English, with zero axe violations. Screenshots:
test-output/screenshots/ and /tmp/wd-kiosk-shots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from surveyapp.demo import DEMO_PIN, DEMO_USERS
from surveyapp.models import StaffUser
from tests.e2e.conftest import (
    SIZES,
    LiveServer,
    assert_accessible,
    citizen_due_today,
    log_in,
    screenshot,
)

PASSWORD = {u.username: u.password for u in DEMO_USERS}
LOCALES = {"da": "da-DK", "en": "en-GB"}


@pytest.mark.parametrize("lang", list(LOCALES))
@pytest.mark.parametrize("size", list(SIZES))
def test_confirm_the_visit_then_its_summary_after_the_pin(
    live_server: LiveServer, new_page: Callable[..., Page], size: str, lang: str
) -> None:
    citizen_id = citizen_due_today(live_server)
    page = new_page(SIZES[size], locale=LOCALES[lang])
    log_in(page, live_server, "koordinator")
    page.goto(f"{live_server.url}/staff/citizens/{citizen_id}")
    page.locator("form[action$='/kiosk/start'] button").click()  # "Start on this tablet"
    queue = page.locator("ol.kiosk-queue li")
    expect(queue).to_have_count(3)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)
    screenshot(page, f"wd-kiosk-confirm-{size}-{lang}")
    page.locator("form[action$='/kiosk/start'] button[type=submit]").click()  # confirmed
    page.locator("form[action$='/kiosk/begin'] button").click()  # the citizen has the tablet
    page.locator("main form button.primary").first.click()  # WHO-5's instruction: start
    page.wait_for_url(re.compile(r"/kiosk/1/1$"))
    page.locator("button.size3").click()  # the question screen at the largest text
    expect(page.locator("html")).to_have_class(re.compile("size-3"))
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)
    screenshot(page, f"wd-kiosk-question-largest-text-{size}-{lang}")
    page.locator("button.size1").click()
    expect(page.locator("html")).to_have_class(re.compile("size-1"))
    page.locator("label.option").first.click()  # one answer
    page.wait_for_url(re.compile(r"/kiosk/1/2$"))
    page.locator("form[action$='/kiosk/pause'] button").click()
    page.fill("input[name=pin]", DEMO_PIN)
    page.locator("form.pin button").click()
    page.wait_for_url(re.compile(r"/kiosk/besog/[0-9]+$"))
    rows = page.locator("table.visit-summary tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("1")  # 1 of 5 questions answered
    back = page.locator(f"a[href='/staff/citizens/{citizen_id}']").last
    expect(back).to_be_visible()
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)
    screenshot(page, f"wd-kiosk-summary-{size}-{lang}")
    back.click()
    page.wait_for_url(re.compile(rf"/staff/citizens/{citizen_id}$"))


@pytest.mark.parametrize("lang", list(LOCALES))
@pytest.mark.parametrize("size", list(SIZES))
def test_the_admins_user_page(
    live_server: LiveServer, new_page: Callable[..., Page], size: str, lang: str
) -> None:
    with live_server.sessions() as session:
        target = session.scalars(select(StaffUser).where(StaffUser.username == "terapeut")).one()
    other = new_page(SIZES["phone"])  # the user is logged in somewhere: one session listed
    log_in(other, live_server, "terapeut")
    page = new_page(SIZES[size], locale=LOCALES[lang])
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/staff/admin/users/{target.id}")
    expect(page.locator("input[name=full_name]")).to_have_value(target.full_name)
    expect(page.locator("input[name=session_id]").first).to_be_attached()
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)
    screenshot(page, f"wd-kiosk-admin-user-{size}-{lang}")
    page.fill("input[name=pin]", "12")  # too short: the form says why
    page.fill("input[name=repeated]", "12")
    page.locator("form[action$='/kiosk-pin'] [type=submit]").click()
    expect(page.locator("#pin-error")).to_be_visible()
    page.wait_for_load_state("load")
    assert_accessible(page)
    screenshot(page, f"wd-kiosk-admin-user-pin-error-{size}-{lang}")
