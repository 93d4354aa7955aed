"""Every answer option of every question fits on the screen, at every text size, on a tablet.

A citizen who does not scroll must still see every answer (not only the milder ones): for
every item of every instrument that citizens and relatives answer, at the three text sizes,
at 1024x768 (landscape) and 800x1280 (portrait), each option's box lies inside the viewport
when the question opens. Both screens that show questions are walked: the kiosk's (the
queued questionnaires of a home visit) and the link's (relatives and citizens at home, which
shares the layout). One browser context per screen and viewport; one page load per question
and text size (about 230 loads, well under a minute).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from surveyapp.demo import DEMO_USERS
from surveyapp.enums import Respondent
from surveyapp.instruments import Instrument
from surveyapp.instruments.model import RespondentKind
from tests.e2e.conftest import (
    TABLET_LANDSCAPE,
    TABLET_PORTRAIT,
    LiveServer,
    citizen_due_today,
    screenshot,
)
from tests.support import factories

PASSWORD = {u.username: u.password for u in DEMO_USERS}
VIEWPORTS = {"landscape": TABLET_LANDSCAPE, "portrait": TABLET_PORTRAIT}
TEXT_SIZES = (1, 2, 3)

# Each option's box (and the button that sends the answer) measured against the viewport.
MEASURE = """() => {
  const h = window.innerHeight, w = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll('label.option')) {
    const r = el.getBoundingClientRect();
    if (r.top < 0 || r.bottom > h || r.left < 0 || r.right > w) {
      out.push(`${el.textContent.trim()} (${Math.round(r.top)}-${Math.round(r.bottom)} of ${h})`);
    }
  }
  return {count: document.querySelectorAll('label.option').length, outside: out};
}"""


def _answered_by_people(server: LiveServer) -> list[Instrument]:
    """Every instrument a citizen or a relative answers (not the staff's own forms)."""
    registry = server.app.extensions["surveyapp.registry"]
    latest = [registry.get(instrument_id) for instrument_id in registry.ids()]
    return [i for i in latest if i.respondent is not RespondentKind.STAFF]


def _set_text_size(page: Page, size: int) -> None:
    page.locator(f"button.size{size}").click()
    expect(page.locator("html")).to_have_class(re.compile(f"size-{size}"))


def _check_questions(
    page: Page, base: str, total: int, size: int, where: str, problems: list[str]
) -> None:
    for number in range(1, total + 1):
        page.goto(f"{base}/{number}")
        found = page.evaluate(MEASURE)
        if found["count"] and found["outside"]:
            problems.append(f"{where} size {size} question {number}: {found['outside']}")
            screenshot(page, f"fit-{where}-size{size}-q{number}".replace(" ", "-"))
        elif number == 1 and size == TEXT_SIZES[-1]:  # to look at: the largest text
            screenshot(page, f"fit-{where}-size{size}-q1".replace(" ", "-"))


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_option_of_every_link_question_is_on_the_screen(
    live_server: LiveServer, new_page: Callable[..., Page], viewport: str
) -> None:
    page = new_page(VIEWPORTS[viewport])
    problems: list[str] = []
    instruments = _answered_by_people(live_server)
    assert {i.id for i in instruments} >= {"who5", "whodas12", "whodas12_proxy", "start_meeting"}
    for instrument in instruments:
        respondent = (
            Respondent.RELATIVE
            if instrument.respondent is RespondentKind.PROXY
            else Respondent.CITIZEN
        )
        token, _assignment = factories.link(live_server.sessions, instrument.id, respondent)
        page.goto(f"{live_server.url}/svar/{token}")
        page.locator("form button.primary").first.click()  # "Start": the answering begins
        page.wait_for_url(re.compile(r"/svar/1$"))
        for size in TEXT_SIZES:
            _set_text_size(page, size)
            _check_questions(
                page,
                f"{live_server.url}/svar",
                len(instrument.items),
                size,
                f"link {viewport} {instrument.id}",
                problems,
            )
        _set_text_size(page, 1)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_option_of_every_kiosk_question_is_on_the_screen(
    live_server: LiveServer, new_page: Callable[..., Page], viewport: str
) -> None:
    citizen_id = citizen_due_today(live_server, "Skærm-borger")
    page = new_page(VIEWPORTS[viewport])
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Brugernavn").fill("koordinator")
    page.get_by_label("Adgangskode").fill(PASSWORD["koordinator"])
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(re.compile(r"/staff/"))
    page.goto(f"{live_server.url}/staff/citizens/{citizen_id}")
    page.get_by_role("button", name="Start på denne tablet").click()
    page.locator("form[action$='/kiosk/start'] button[type=submit]").click()  # confirm
    page.get_by_role("button", name="Start").click()  # hand-over: the citizen has the tablet
    registry = live_server.app.extensions["surveyapp.registry"]
    queued = []
    while True:
        page.wait_for_url(re.compile(r"/kiosk/[0-9]+$"))
        position = int(page.url.rsplit("/", 1)[1])
        queued.append(page.locator("h1").inner_text())
        page.locator("form button.primary").first.click()  # begin this questionnaire
        page.wait_for_url(re.compile(rf"/kiosk/{position}/1$"))
        if position == 3:
            break
        page.goto(f"{live_server.url}/kiosk/{position + 1}")
    problems: list[str] = []
    ids = ["who5", "whodas12", "start_meeting"]  # the citizen's baseline, in the plan's order
    for size in TEXT_SIZES:
        _set_text_size(page, size)
        for position, instrument_id in enumerate(ids, start=1):
            _check_questions(
                page,
                f"{live_server.url}/kiosk/{position}",
                len(registry.get(instrument_id).items),
                size,
                f"kiosk {viewport} {instrument_id}",
                problems,
            )
    assert len(queued) == 3
    assert problems == [], "\n".join(problems)
