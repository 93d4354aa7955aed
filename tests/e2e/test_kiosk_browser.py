"""Kiosk mode in a real headless Chromium at tablet size: the whole home visit."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from surveyapp.demo import DEMO_PIN, DEMO_USERS
from surveyapp.enums import AssignmentStatus, Respondent
from surveyapp.models import Assignment
from tests.e2e.conftest import (
    TABLET_PORTRAIT,
    LiveServer,
    assert_accessible,
    citizen_due_today,
    screenshot,
    storage_is_empty,
)

PASSWORD = {u.username: u.password for u in DEMO_USERS}
HANDBACK = "Tak! Giv tabletten tilbage til medarbejderen"


@pytest.fixture
def citizen(live_server: LiveServer) -> int:
    """A Sølvstrand citizen whose course starts today: WHO-5, WHODAS-12, start meeting due."""
    return citizen_due_today(live_server)


@pytest.fixture
def short_idle(live_server: LiveServer) -> Iterator[None]:
    before = live_server.app.config["KIOSK_IDLE_SECONDS"]
    live_server.app.config["KIOSK_IDLE_SECONDS"] = 6
    yield
    live_server.app.config["KIOSK_IDLE_SECONDS"] = before


def _login(page: Page, server: LiveServer, username: str = "koordinator") -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Brugernavn").fill(username)
    page.get_by_label("Adgangskode").fill(PASSWORD[username])
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(re.compile(r"/staff/"))


def _hand_over(page: Page, server: LiveServer, citizen_id: int) -> None:
    page.goto(f"{server.url}/staff/citizens/{citizen_id}")
    page.get_by_role("button", name="Start på denne tablet").click()
    confirm = page.locator("form[action$='/kiosk/start'] button[type=submit]")  # what is asked
    expect(page.locator("ol.kiosk-queue li").first).to_be_visible()
    confirm.click()
    expect(page.locator("h1")).to_have_text("Giv tabletten til borgeren")


def _tap(page: Page, label: str) -> None:
    before = page.url
    page.locator("label.option", has_text=re.compile(f"^\\s*{re.escape(label)}\\s*$")).click()
    page.wait_for_function("url => window.location.href !== url", arg=before)


def _status(server: LiveServer, citizen_id: int, instrument: str) -> AssignmentStatus:
    with server.sessions() as session:
        return session.scalars(
            select(Assignment.status)
            .join(Assignment.course)
            .where(
                Assignment.instrument_id == instrument,
                Assignment.respondent == Respondent.CITIZEN,
                Assignment.timepoint_key == "baseline",
                Assignment.course.has(citizen_id=citizen_id),
            )
        ).one()


def test_the_whole_visit_with_pause_resume_and_isolation(
    live_server: LiveServer,
    new_page,
    citizen: int,  # type: ignore[no-untyped-def]
) -> None:
    page: Page = new_page(TABLET_PORTRAIT)
    _login(page, live_server)
    _hand_over(page, live_server, citizen)
    assert_accessible(page)
    screenshot(page, "kiosk-1-handover")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("h1")).to_have_text("WHO-5 Trivselsindeks")
    assert_accessible(page)
    screenshot(page, "kiosk-2-instruction")
    page.get_by_role("button", name="Start").click()
    expect(
        page.get_by_role("button", name="Jeg vil holde pause / give tabletten tilbage")
    ).to_be_visible()
    assert_accessible(page)
    screenshot(page, "kiosk-3-question")
    for label in ("Hele tiden", "Det meste af tiden", "Hele tiden", "Lidt af tiden", "Hele tiden"):
        _tap(page, label)
    # Straight on to the next questionnaire, without the staff screens in between.
    expect(page.locator("h1")).to_have_text(re.compile("WHODAS 2.0"))
    page.get_by_role("button", name="Start").click()
    _tap(page, "Lette")
    _tap(page, "Moderate")
    page.get_by_role("button", name="Jeg vil holde pause / give tabletten tilbage").click()
    expect(page.locator("h1")).to_have_text(HANDBACK)
    assert_accessible(page)
    screenshot(page, "kiosk-4-handback")
    assert _status(live_server, citizen, "who5") is AssignmentStatus.COMPLETED
    assert _status(live_server, citizen, "whodas12") is AssignmentStatus.IN_PROGRESS

    # Isolation: history, direct addresses and browser storage lead nowhere.
    page.go_back()
    expect(page.locator("h1")).to_have_text(HANDBACK)
    for path in (
        "/kiosk/2/1",
        "/kiosk/1/1",
        "/staff/due",
        f"/staff/citizens/{citizen}",
        "/login",
        "/staff/admin/audit",
    ):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("h1")).to_have_text(HANDBACK)
    assert storage_is_empty(page)
    assert "Kiosk-borger" not in page.content()

    page.get_by_label("Til medarbejderen: kiosk-pinkode").fill("0000")
    page.get_by_role("button", name="Lås op").click()
    expect(page.locator(".message")).to_contain_text("Forkert pinkode. 4 forsøg tilbage")
    screenshot(page, "kiosk-5-wrong-pin")
    page.get_by_label("Til medarbejderen: kiosk-pinkode").fill(DEMO_PIN)
    page.get_by_role("button", name="Lås op").click()
    page.wait_for_url(re.compile(r"/kiosk/besog/[0-9]+$"))  # the visit's summary
    screenshot(page, "kiosk-6-back-on-the-visit-summary")

    # Resume later: the unfinished WHODAS-12 goes on at its first unanswered question.
    _hand_over(page, live_server, citizen)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("h1")).to_have_text(re.compile("WHODAS 2.0"))
    page.get_by_role("button", name="Fortsæt").click()
    expect(page.locator(".progress")).to_have_text("Spørgsmål 3 af 15")
    page.get_by_role("button", name="Jeg vil holde pause / give tabletten tilbage").click()
    page.get_by_label("Til medarbejderen: kiosk-pinkode").fill(DEMO_PIN)
    page.get_by_role("button", name="Lås op").click()
    page.wait_for_url(re.compile(r"/kiosk/besog/[0-9]+$"))  # the visit's summary


def test_idle_timeout_warns_then_hands_back(
    live_server: LiveServer,
    new_page,
    citizen: int,
    short_idle: None,  # type: ignore[no-untyped-def]
) -> None:
    page: Page = new_page(TABLET_PORTRAIT)
    _login(page, live_server)
    _hand_over(page, live_server, citizen)
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Start").click()
    _tap(page, "Hele tiden")
    dialog = page.get_by_role("dialog", name="Er du der stadig?")
    expect(dialog).to_be_visible(timeout=8000)
    screenshot(page, "kiosk-7-still-there")
    page.get_by_role("button", name="Ja, jeg er her").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".progress")).to_have_text("Spørgsmål 2 af 5")  # still answering
    expect(page.locator("h1")).to_have_text(HANDBACK, timeout=15000)
    expect(page.locator(".lead")).to_contain_text("Ingen har rørt tabletten")
    assert _status(live_server, citizen, "who5") is AssignmentStatus.IN_PROGRESS
    page.get_by_label("Til medarbejderen: kiosk-pinkode").fill(DEMO_PIN)
    page.get_by_role("button", name="Lås op").click()
    page.wait_for_url(re.compile(r"/kiosk/besog/[0-9]+$"))  # the visit's summary


def test_five_wrong_pins_lead_to_the_full_login(
    live_server: LiveServer,
    new_page,
    citizen: int,  # type: ignore[no-untyped-def]
) -> None:
    page: Page = new_page(TABLET_PORTRAIT)
    _login(page, live_server)
    _hand_over(page, live_server, citizen)
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Jeg vil holde pause / give tabletten tilbage").click()
    for _ in range(5):
        page.get_by_label("Til medarbejderen: kiosk-pinkode").fill("9999")
        page.get_by_role("button", name="Lås op").click()
    page.wait_for_url(re.compile(r"/login"))
    expect(page.locator("body")).to_contain_text("For mange forkerte pinkoder")
    screenshot(page, "kiosk-8-lockout-login")
    page.goto(f"{live_server.url}/staff/due")
    page.wait_for_url(re.compile(r"/login"))
