"""Issue 11's walk, repeated in a real Chromium at every size, starting in each language.

A coordinator logs in, registers a citizen found by CPR and a course, finds the visit on the
due list by the citizen's label, runs a kiosk visit (confirmation, one answer, pause, PIN,
summary), enters paper answers, records a drop-out and undoes it, and switches language on
the citizen page (the rest of the walk is in the other language); an admin opens a user's page
and the measurement plans. Every screen is checked with axe and for sideways scrolling, and
saved under test-output/screenshots/walk-<size>-<language>-<step>.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from surveyapp.demo import DEMO_PIN
from surveyapp.scheduling import today_in_denmark
from tests.e2e.conftest import (
    SIZES,
    LiveServer,
    assert_accessible,
    baseline_assignment,
    log_in,
    screenshot,
)

LOCALES = {"da": "da-DK", "en": "en-GB"}
WORDS = {
    "da": {"answered": "Besvaret", "registered": "Frafald registreret"},
    "en": {"answered": "Answered", "registered": "Drop-out recorded"},
}


def _check(page: Page, name: str) -> None:
    """The screen fits the width, passes axe, and is saved for a look."""
    page.wait_for_load_state("load")
    screenshot(page, name)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
    assert_accessible(page)


@pytest.mark.parametrize("lang", list(LOCALES))
@pytest.mark.parametrize("size", list(SIZES))
def test_the_working_day_walk(
    live_server: LiveServer, new_page: Callable[..., Page], size: str, lang: str
) -> None:
    run = list(SIZES).index(size) * 2 + list(LOCALES).index(lang)
    cpr, label = f"{20 + run}0228-12{run:02d}", f"Gang {run} {lang}"
    other = "en" if lang == "da" else "da"
    name = f"walk-{size}-{lang}"
    page = new_page(SIZES[size], locale=LOCALES[lang])
    log_in(page, live_server, "koordinator")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    _check(page, f"{name}-1-due-list")

    # Find by CPR: nobody; register with a label only (the number is kept on the server).
    page.locator("a[href='/staff/citizens/find']").first.click()
    page.fill("#cpr", cpr)
    page.locator("#submit").click()
    expect(page.locator("#label")).to_be_visible()
    assert cpr[:6] not in page.content()
    _check(page, f"{name}-2-cpr-not-found")
    page.fill("#label", label)
    page.locator("#register").click()
    page.wait_for_url(re.compile(r".*/courses/new$"))
    page.select_option("#provider_id", label="Sølvstrand Hjemmepleje")
    page.select_option("#team_id", label="Sølvstrand Hjemmepleje: Team Nord")
    page.fill("#start_date", today_in_denmark().isoformat())
    _check(page, f"{name}-3-new-course")
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/citizens/\d+#course-\d+$"))
    citizen_id = int(re.search(r"/citizens/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    course_id = int(page.url.rsplit("#course-", 1)[1])
    expect(page.locator(f"#course-{course_id} .notice.success")).to_be_visible()
    _check(page, f"{name}-4-course-registered")

    # The due list finds the visit by the label: one compact row for the citizen.
    page.locator("a[href='/staff/due']").first.click()
    page.fill("#q", label)
    page.locator("form.filters [type=submit]").click()
    rows = page.locator("section.due tbody tr", has_text=label)
    expect(rows).to_have_count(1)
    _check(page, f"{name}-5-due-list-search")

    # The kiosk visit: what will be asked, one answer, a pause, the PIN, the summary.
    rows.locator(f"a[href^='/staff/citizens/{citizen_id}']").click()
    page.locator("form[action$='/kiosk/start'] button").first.click()
    expect(page.locator("ol.kiosk-queue li")).to_have_count(3)
    _check(page, f"{name}-6-kiosk-confirm")
    page.locator("form[action$='/kiosk/start'] button[type=submit]").click()
    page.locator("form[action$='/kiosk/begin'] button").click()
    page.locator("main form button.primary").first.click()  # the instruction: start
    page.wait_for_url(re.compile(r"/kiosk/1/1$"))
    _check(page, f"{name}-7-kiosk-question")
    page.locator("label.option").first.click()
    page.wait_for_url(re.compile(r"/kiosk/1/2$"))
    page.locator("form[action$='/kiosk/pause'] button").click()
    page.fill("input[name=pin]", DEMO_PIN)
    page.locator("form.pin button").click()
    page.wait_for_url(re.compile(r"/kiosk/besog/\d+$"))
    expect(page.locator("table.visit-summary tbody tr")).to_have_count(3)
    _check(page, f"{name}-8-visit-summary")
    page.locator(f"a[href='/staff/citizens/{citizen_id}']").last.click()
    page.wait_for_url(re.compile(rf".*/staff/citizens/{citizen_id}(#.*)?$"))

    # Paper answers for the WHODAS-12 the visit did not reach.
    whodas = baseline_assignment(live_server, course_id, "whodas12")
    page.locator(f"a[href='/staff/assignments/{whodas}/answers']").first.click()
    for n in range(1, 13):
        page.locator(f'input[name="S{n}"][value="2"]').check()
    page.locator("#confirm_missing").check()  # the three extra questions were left blank
    _check(page, f"{name}-9-paper-entry")
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*#course-\d+$"))
    expect(page.locator(f"#course-{course_id} .notice.success")).to_be_visible()

    # Drop-out of the start meeting, then undone while its window is open.
    meeting = baseline_assignment(live_server, course_id, "start_meeting")
    page.goto(f"{live_server.url}/staff/assignments/{meeting}/dropout")
    page.locator('input[name="reason"][value="declined"]').check()
    _check(page, f"{name}-10-dropout")
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/citizens/\d+(#.*)?$"))
    expect(page.locator("body")).to_contain_text(WORDS[lang]["registered"])
    undo = page.locator(f"form[action='/staff/assignments/{meeting}/dropout/undo'] button")
    expect(undo).to_be_visible()
    undo.click()
    page.wait_for_url(re.compile(r".*/staff/citizens/\d+(#.*)?$"))
    expect(undo).to_have_count(0)
    _check(page, f"{name}-11-dropout-undone")

    # Switch language on the citizen page: the same page, in the other language.
    here = page.url.split("#", 1)[0]
    page.locator("form.lang button").click()
    page.wait_for_load_state("load")
    assert page.url.split("#", 1)[0] == here
    expect(page.locator("html")).to_have_attribute("lang", other)
    expect(page.locator("table.timeline").first).to_contain_text(WORDS[other]["answered"])
    _check(page, f"{name}-12-citizen-{other}")

    # The admin (in the other language now, from the same browser): a user, the plans.
    page.context.clear_cookies()
    log_in(page, live_server, "admin")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.locator("form.lang button").click()
    expect(page.locator("html")).to_have_attribute("lang", other)
    page.locator("a[href='/staff/admin/users']").first.click()
    page.locator("a[href^='/staff/admin/users/']").first.click()
    expect(page.locator("input[name=full_name]")).to_be_visible()
    _check(page, f"{name}-13-admin-user")
    page.locator("a[href='/staff/admin/plans']").first.click()
    _check(page, f"{name}-14-plans")
