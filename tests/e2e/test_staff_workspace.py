"""The coordinator workspace in a real headless Chromium: the issue's "done when" flow."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from playwright.sync_api import Page, expect

from surveyapp.scheduling import today_in_denmark
from tests.e2e.conftest import LiveServer, assert_accessible, screenshot

NEW_CPR = "150345-4321"


def _login(page: Page, server: LiveServer, username: str, password: str) -> None:
    page.goto(f"{server.url}/")
    page.locator('a[href="/login"]').click()
    page.fill("#username", username)
    page.fill("#password", password)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/.*"))


def _chart(page: Page, server: LiveServer, course_id: str) -> bytes:
    response = page.request.get(f"{server.url}/staff/courses/{course_id}/chart.svg")
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    return response.body()


def test_coordinator_registers_a_course_and_records_paper_answers_and_dropout(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    _login(page, live_server, "koordinator", "demo-koordinator")
    expect(page.locator("h1")).to_have_count(1)
    screenshot(page, "staff-due-list")
    assert_accessible(page)

    # Find a demo citizen by CPR: straight to the citizen page; the number is not shown.
    page.goto(f"{live_server.url}/staff/citizens/find")
    assert_accessible(page)
    page.fill("#cpr", "120134-1111")
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/citizens/\d+$"))
    assert "120134" not in page.content()
    screenshot(page, "staff-citizen-found")

    # A new citizen: type the CPR and a label, then register the course.
    page.goto(f"{live_server.url}/staff/citizens/find")
    page.fill("#cpr", NEW_CPR)
    page.fill("#label", "E2E B.")
    page.locator('input[name="lives_alone"][value="yes"]').check()
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/courses/new$"))
    assert "150345" not in page.content()
    page.select_option("#provider_id", label="Sølvstrand Hjemmepleje")
    page.select_option("#team_id", label="Sølvstrand Hjemmepleje: Team Nord")
    page.fill("#start_date", (today_in_denmark() - timedelta(days=1)).isoformat())
    screenshot(page, "staff-new-course")
    assert_accessible(page)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/citizens/\d+#course-\d+$"))
    course_id = page.url.rsplit("#course-", 1)[1]
    timeline = page.locator("table.timeline")
    expect(timeline).to_contain_text("Førmåling (start)")
    expect(timeline).to_contain_text("Opfølgning 2 år")
    screenshot(page, "staff-course-scheduled")
    assert_accessible(page)
    before = _chart(page, live_server, course_id)

    # Paper WHO-5 at baseline.
    who5_row = timeline.locator("tr", has_text="WHO-5").first
    who5_row.locator('a[href$="/answers"]').click()
    page.wait_for_url(re.compile(r".*/answers$"))
    expect(page.locator("form.entry")).to_contain_text("I de sidste 2 uger har jeg været glad")
    for n, value in zip(range(1, 6), (4, 4, 3, 4, 5), strict=True):
        page.locator(f'input[name="who5_{n}"][value="{value}"]').check()
    screenshot(page, "staff-paper-who5")
    assert_accessible(page)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/citizens/\d+#course-\d+$"))
    expect(page.locator("table.scores")).to_contain_text("80")

    # Drop-out of the WHODAS-12 at baseline: too ill.
    whodas_row = page.locator("table.timeline tr", has_text="WHODAS 2.0").first
    whodas_row.locator('a[href$="/dropout"]').click()
    page.wait_for_url(re.compile(r".*/dropout$"))
    assert_accessible(page)
    page.locator('input[name="reason"][value="too_ill"]').check()
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/citizens/\d+#course-\d+$"))  # back at the course
    expect(page.locator("table.timeline .status-declined").first).to_be_visible()

    # The chart has changed, and it is drawn on the page.
    after = _chart(page, live_server, course_id)
    assert after != before
    page.goto(page.url.split("#", 1)[0] + f"#course-{course_id}")
    image = page.locator(f"#course-{course_id} figure.chart img")
    expect(image).to_be_visible()
    assert page.evaluate("img => img.naturalWidth > 0", image.element_handle())
    screenshot(page, "staff-citizen-after-paper-and-dropout")
    citizen_url = page.url.split("#", 1)[0]

    # Another municipality's coordinator reaches none of it, by any URL.
    neighbour = new_page()
    _login(neighbour, live_server, "nabo", "demo-nabo")
    for url in (
        citizen_url,
        f"{live_server.url}/staff/courses/{course_id}/chart.svg",
        f"{live_server.url}/staff/courses/{course_id}/edit",
    ):
        assert neighbour.goto(url).status == 404  # type: ignore[union-attr]
    expect(neighbour.locator("body")).not_to_contain_text("E2E B.")
    neighbour.goto(f"{live_server.url}/staff/due")
    expect(neighbour.locator("body")).not_to_contain_text("E2E B.")
    screenshot(neighbour, "staff-neighbour-due-list")


def test_login_page_and_wrong_password(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/login")
    assert_accessible(page)
    page.fill("#username", "koordinator")
    page.fill("#password", "wrong")
    page.locator("#submit").click()
    expect(page.locator(".notice.error")).to_be_visible()
    assert page.input_value("#password") == ""
    screenshot(page, "staff-login-failed")
