"""Two-factor login in a real headless Chromium: enrol with the manual key, log in with a code."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from surveyapp.enums import Role
from surveyapp.models import Municipality, StaffUser
from surveyapp.security import hash_secret
from tests.e2e.conftest import LiveServer, assert_accessible, screenshot

PASSWORD = "Syv-stille-svaner-ved-fjorden"  # noqa: S105


def _next_code(secret: str, used: set[int]) -> str:
    """A code for a time step the app has not accepted yet (now, or the one ahead it allows)."""
    step = int(time.time()) // 30
    while step in used:
        step += 1
    used.add(step)
    return str(pyotp.TOTP(secret).at(step * 30))


def test_a_new_admin_enrols_an_authenticator_app_and_logs_in_with_a_code(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    with live_server.sessions.begin() as session:
        home = session.scalars(select(Municipality).where(Municipality.code == "990")).one()
        session.add(
            StaffUser(
                username="e2e-admin",
                full_name="E2E Admin",
                role=Role.ADMIN,
                municipality_id=home.id,
                password_hash=hash_secret(PASSWORD),
            )
        )
    page = new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "e2e-admin")
    page.fill("#password", PASSWORD)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/login/enrol$"))
    assert_accessible(page)
    page.locator('button[name="start"]').click()
    page.wait_for_url(re.compile(r".*/login/enrol$"))
    expect(page.locator(".qr-box svg")).to_be_visible()
    secret = page.locator('[data-testid="totp-key"]').inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    screenshot(page, "staff-enrol-authenticator")
    assert_accessible(page)
    used: set[int] = set()
    page.fill("#code", _next_code(secret, used))
    page.locator("#submit").click()
    codes = page.locator('[data-testid="recovery-codes"] li')
    expect(codes).to_have_count(10)
    assert_accessible(page)
    page.locator("a.button", has_text=re.compile("continue|fortsæt", re.I)).click()
    page.wait_for_url(re.compile(r".*/staff/.*"))
    # Log out and in again: now the code is asked for after the password.
    page.locator("form[action='/logout'] button, form[action='/logout'] input[type=submit]").click()
    page.wait_for_url(re.compile(r".*/login$"))
    page.fill("#username", "e2e-admin")
    page.fill("#password", PASSWORD)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/login/code$"))
    assert_accessible(page)
    page.fill("#code", _next_code(secret, used))
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/.*"))
    expect(page.locator("h1")).to_have_count(1)
