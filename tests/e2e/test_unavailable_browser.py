"""The 503 page while the database is out of reach, in a real browser (issue 13, item 6):
at tablet and phone sizes, in Danish and English, in the respondent's layout for a relative
on a link and in the public layout for a staff login; no staff navigation on the
respondent's side, no horizontal scrolling, no axe violation."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.web.errors import RETRY_AFTER_SECONDS
from tests.e2e.conftest import SIZES, assert_accessible, screenshot

GONE = "postgresql+psycopg://nobody@/none?host=/nonexistent-socket-dir&connect_timeout=2"
SHOTS = Path("/tmp/faults-shots")
LOCALES = {"da": "da-DK", "en": "en-GB"}
TITLE = {
    "da": "Tjenesten er midlertidigt utilgængelig",
    "en": "The service is temporarily unavailable",
}
AGAIN = {"da": "Prøv igen om lidt.", "en": "Please try again in a little while."}
BACK = {"da": "Tilbage til spørgeskemaet", "en": "Back to the questionnaire"}


class Unreachable:
    """The real app in a thread whose database cannot be reached."""

    def __init__(self) -> None:
        settings = Settings(
            env="test",
            database_url=GONE,
            secret_key="e2e-unavailable-secret-" + "u" * 20,
            cpr_hmac_key="e2e-unavailable-cpr-key-" + "c" * 20,
        )
        self.app = create_app(settings)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def held_link_cookie(self, lang: str) -> dict[str, str]:
        """The cookie of a browser that holds a link (as after scanning the letter's QR)."""
        serializer = self.app.session_interface.get_signing_serializer(self.app)  # type: ignore[attr-defined]
        value = serializer.dumps(
            {"respondent_link": {"link": 1, "until": 4_000_000_000.0}, "locale": lang}
        )
        return {"name": "session", "value": value, "url": self.url}


@pytest.fixture(scope="module")
def unreachable() -> Iterator[Unreachable]:
    live = Unreachable()
    live.thread.start()
    yield live
    live.server.shutdown()
    live.thread.join(timeout=10)
    live.server.server_close()
    live.app.extensions["surveyapp.engine"].dispose()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot(page, name), SHOTS / f"{name}.png")


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", ["da", "en"])
def test_a_relative_gets_the_calm_503_page(
    unreachable: Unreachable, new_page: Callable[..., Page], size: str, lang: str
) -> None:
    page = new_page(SIZES[size], locale=LOCALES[lang])
    page.context.add_cookies([unreachable.held_link_cookie(lang)])  # type: ignore[list-item]
    response = page.goto(f"{unreachable.url}/svar/3")
    assert response is not None and response.status == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    expect(page.locator("h1")).to_have_text(TITLE[lang])
    expect(page.locator("main")).to_contain_text(AGAIN[lang])
    expect(page.locator("header.bar")).to_be_visible()  # the respondent's text-size bar
    assert page.locator("nav.staff, a[href^='/staff'], a[href='/login']").count() == 0
    back = page.locator("main a.secondary")
    expect(back).to_have_text(BACK[lang])
    expect(back).to_have_attribute("href", "/svar/")
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    _shot(page, f"unavailable-respondent-{size}-{lang}")
    assert_accessible(page)


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", ["da", "en"])
def test_a_staff_login_gets_the_calm_503_page(
    unreachable: Unreachable, new_page: Callable[..., Page], size: str, lang: str
) -> None:
    page = new_page(SIZES[size], locale=LOCALES[lang])
    page.goto(f"{unreachable.url}/login")  # the form itself needs no database
    page.fill("input[name=username]", "koordinator")
    page.fill("input[name=password]", "a long and honest password")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("form:has(input[name=password]) [type=submit]").click()
    assert posted.value.status == 503
    expect(page.locator("h1")).to_have_text(TITLE[lang])
    expect(page.locator("header.site")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    _shot(page, f"unavailable-login-{size}-{lang}")
    assert_accessible(page)
