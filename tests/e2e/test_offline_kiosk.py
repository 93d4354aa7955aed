"""The offline kiosk in a real headless Chromium, the network cut with the browser's offline
mode: a home visit with no signal loses nothing, every answer arrives exactly once, and the
tablet never holds a readable answer (README "Offline kiosk")."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from sqlalchemy import func, select

from surveyapp.demo import DEMO_PIN
from surveyapp.enums import AnswerState, AssignmentStatus, Respondent
from surveyapp.models import Answer, Assignment, OfflineItem, Response, Score
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    TABLET_PORTRAIT,
    LiveServer,
    assert_accessible,
    citizen_due_today,
    log_in,
    screenshot,
)

HANDBACK = "Tak! Giv tabletten tilbage til medarbejderen"
PAUSE = "Jeg vil holde pause / give tabletten tilbage"
PIN_LABEL = "Til medarbejderen: kiosk-pinkode"
#: What an answer looks like in plain text anywhere a browser could keep it: the encrypted
#: payload's JSON, a form body, or a chosen option in a cached page.
PLAIN_ANSWER = re.compile(
    rb'"answer"\s*:|<input[^>]*\bchecked|\b(who5_[0-9]|S[0-9]{1,2}|H[0-9]|sm_[0-9])=[0-9]|%22answer%22'
)


@pytest.fixture
def citizen(live_server: LiveServer) -> int:
    return citizen_due_today(live_server, "Offline-borger")


class Tablet:
    """One kiosk tablet: a Chromium profile on disk that outlives its browser windows."""

    def __init__(self, browser: Browser, profile: Path) -> None:
        self.browser_type = browser.browser_type
        self.profile = profile
        self.context: BrowserContext | None = None
        self.init_script: str | None = None  # run in every page before its own scripts

    def open(self, offline: bool = False) -> Page:
        self.context = self.browser_type.launch_persistent_context(
            str(self.profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            viewport=TABLET_PORTRAIT,
            locale="da-DK",
        )
        self.context.set_offline(offline)
        if self.init_script:
            self.context.add_init_script(self.init_script)
        return self.context.pages[0] if self.context.pages else self.context.new_page()

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None

    def offline(self, yes: bool = True) -> None:
        assert self.context is not None
        self.context.set_offline(yes)


@pytest.fixture
def tablet(browser: Browser, tmp_path: Path) -> Iterator[Tablet]:
    device = Tablet(browser, tmp_path / "profile")
    yield device
    device.close()


def hand_over(page: Page, server: LiveServer, citizen_id: int) -> None:
    """Log in, start the visit, and wait until the offline kiosk is ready."""
    log_in(page, server, "koordinator")
    page.goto(f"{server.url}/staff/citizens/{citizen_id}")
    page.get_by_role("button", name="Start på denne tablet").click()
    page.locator("form[action$='/kiosk/start'] button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Giv tabletten til borgeren")
    page.wait_for_selector("body[data-offline-ready='1']", timeout=15000)


def choose(page: Page, index: int) -> tuple[str, str]:
    """Answer the question on screen with its `index`th option (or the number `index`);
    return (item id, value) as the server will store them."""
    before = page.url
    form = page.locator("form.question")
    number = form.locator("input[type=number]")
    if number.count():
        item = (number.get_attribute("name") or "").split("-", 1)[-1]
        number.fill(str(index))
        form.locator("button.next").click()
        value = str(index)
    else:
        option = form.locator("label.option").nth(index)
        radio = option.locator("input")
        item = (radio.get_attribute("name") or "").split("-", 1)[-1]
        value = radio.get_attribute("value") or ""
        option.click()
    page.wait_for_function("url => window.location.href !== url", arg=before)
    return item, value


def answer_all(page: Page, given: dict[str, str], pattern: Callable[[int], int]) -> None:
    """Answer every question left in the questionnaire on screen."""
    total = int(re.sub(r".* af ", "", page.locator(".progress").inner_text()))
    start = int(re.sub(r"Spørgsmål ([0-9]+) af.*", r"\1", page.locator(".progress").inner_text()))
    for number in range(start, total + 1):
        item, value = choose(page, pattern(number))
        given[item] = value


def dump_stores(page: Page) -> str:
    """Everything the page's origin keeps in browser storage, as text: every record of every
    IndexedDB database, every Cache Storage entry with its body, local/session storage and
    the cookies scripts can read."""
    return str(
        page.evaluate(
            """async () => {
            const out = {idb: {}, caches: {}, local: {}, session: {}, cookies: document.cookie};
            for (const info of await indexedDB.databases()) {
              const db = await new Promise((ok, no) => {
                const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result);
                r.onerror = () => no(r.error); });
              for (const name of db.objectStoreNames) {
                out.idb[info.name + '/' + name] = await new Promise((ok) => {
                  const r = db.transaction(name).objectStore(name).getAll();
                  r.onsuccess = () => ok(r.result); });
              }
              db.close();
            }
            for (const key of await caches.keys()) {
              const cache = await caches.open(key);
              for (const request of await cache.keys()) {
                out.caches[key + ' ' + request.url] = await (await cache.match(request)).text();
              }
            }
            for (let i = 0; i < localStorage.length; i++) {
              out.local[localStorage.key(i)] = localStorage.getItem(localStorage.key(i)); }
            for (let i = 0; i < sessionStorage.length; i++) {
              out.session[sessionStorage.key(i)] = sessionStorage.getItem(sessionStorage.key(i)); }
            return JSON.stringify(out);
        }"""
        )
    )


def _texts(value: Any) -> Iterator[str]:
    """Every string in a JSON value (keys included), unescaped, and its whole JSON text."""
    if isinstance(value, dict):
        yield json.dumps(value, separators=(",", ":"))
        for key, inner in value.items():
            yield key
            yield from _texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _texts(inner)
    elif isinstance(value, str):
        yield value


def assert_no_plain_answer(page: Page, tablet: Tablet, given: dict[str, str]) -> None:
    """No answer given is readable in any browser store, through the browser or on disk."""
    stores = "\n".join(_texts(json.loads(dump_stores(page))))
    assert not PLAIN_ANSWER.search(stores.encode()), PLAIN_ANSWER.search(stores.encode())
    for item, value in given.items():
        for text in (f'"{item}":{value}', f'"{item}":"{value}"', f"{item}={value}"):
            assert text not in stores
    stored_files = [
        path
        for path in tablet.profile.rglob("*")
        if path.is_file() and ("IndexedDB" in str(path) or "CacheStorage" in str(path))
    ]
    assert stored_files  # the queue and the cache are on disk, and are searched
    assert [str(p) for p in stored_files if PLAIN_ANSWER.search(p.read_bytes())] == []


def queued(page: Page) -> int:
    return int(page.evaluate("SurveyappQueue.count()"))


def wait_until_queued(page: Page, test: Callable[[int], bool], seconds: float = 20) -> None:
    """Wait until the number of queued items passes `test` (polled: the count is async)."""
    for _ in range(int(seconds * 10)):
        try:
            if test(queued(page)):
                return
        except Exception:  # noqa: BLE001 - the page is navigating: ask again
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"the queue still holds {queued(page)} items")


def of_citizen(column: Any, citizen_id: int, instrument: str | None = None) -> Any:
    """A select of an answer's or a score's `column` for the citizen's own questionnaires."""
    statement = (
        select(column)
        .join(Response, column.class_.response_id == Response.id)
        .join(Assignment, Response.assignment_id == Assignment.id)
        .where(
            Assignment.respondent == Respondent.CITIZEN,
            Assignment.course.has(citizen_id=citizen_id),
        )
    )
    return (
        statement if instrument is None else statement.where(Assignment.instrument_id == instrument)
    )


def citizen_answers(server: LiveServer, citizen_id: int, instrument: str) -> dict[str, str]:
    with server.sessions() as session:
        rows = session.execute(
            of_citizen(Answer.item_id, citizen_id, instrument).add_columns(
                Answer.state, Answer.value
            )
        ).all()
    return {
        item: (str(value) if state is AnswerState.ANSWERED else state.value)
        for item, state, value in rows
    }


def status(server: LiveServer, citizen_id: int, instrument: str) -> AssignmentStatus:
    with server.sessions() as session:
        return session.scalars(
            select(Assignment.status).where(
                Assignment.instrument_id == instrument,
                Assignment.respondent == Respondent.CITIZEN,
                Assignment.timepoint_key == "baseline",
                Assignment.course.has(citizen_id=citizen_id),
            )
        ).one()


def test_a_visit_answered_offline_through_reloads_and_a_restart_arrives_once(
    live_server: LiveServer, tablet: Tablet, citizen: int
) -> None:
    page = tablet.open()
    hand_over(page, live_server, citizen)
    tablet.offline()
    page.get_by_role("button", name="Start").click()  # the hand-over's Start: no network
    expect(page.locator("h1")).to_have_text("WHO-5 Trivselsindeks")
    expect(page.locator("[data-connection]")).to_be_visible()
    screenshot(page, "offline-1-instruction")
    page.get_by_role("button", name="Start").click()
    who5: dict[str, str] = {}
    answer_all(page, who5, lambda n: n % 3)
    expect(page.locator("h1")).to_have_text(re.compile("WHODAS 2.0"))
    assert_no_plain_answer(page, tablet, who5)
    page.get_by_role("button", name="Start").click()
    whodas: dict[str, str] = {}
    for _ in range(2):
        item, value = choose(page, 1)
        whodas[item] = value
    # Back shows what was chosen in this sitting (page memory), then on again.
    page.locator("nav.back a").click()
    expect(page.locator(".progress")).to_have_text("Spørgsmål 2 af 15")
    expect(page.locator("form.question input[type=radio]:checked")).to_have_count(1)
    page.locator("form.question button.next").click()
    expect(page.locator(".progress")).to_have_text("Spørgsmål 3 af 15")
    screenshot(page, "offline-2-question")
    assert_accessible(page)
    for _ in range(2):
        page.reload()
        expect(page.locator(".progress")).to_have_text("Spørgsmål 3 af 15")
    # Nothing chosen is shown from storage after a reload: page memory is gone.
    page.locator("nav.back a").click()
    expect(page.locator(".progress")).to_have_text("Spørgsmål 2 af 15")
    expect(page.locator("form.question input[type=radio]:checked")).to_have_count(0)
    assert_no_plain_answer(page, tablet, {**who5, **whodas})

    tablet.close()  # the browser is closed, and opened again still without a connection
    page = tablet.open(offline=True)
    page.goto(f"{live_server.url}/kiosk/")
    expect(page.locator(".progress")).to_have_text("Spørgsmål 3 af 15")
    answer_all(page, whodas, lambda n: n % 2)
    expect(page.locator("h1")).to_have_text(re.compile("Opstartsmøde|opstartsmødet"))
    page.get_by_role("button", name=PAUSE).click()
    expect(page.locator("h1")).to_have_text(HANDBACK)
    # WHO-5's 5 answers and its "send", WHODAS's 15 (question 2 twice) and its "send", the pause
    assert queued(page) == 5 + 1 + 16 + 1 + 1
    assert_no_plain_answer(page, tablet, {**who5, **whodas})
    # The PIN needs the server: the tablet stays on the hand-back screen.
    page.get_by_label(PIN_LABEL).fill(DEMO_PIN)
    page.get_by_role("button", name="Lås op").click()
    expect(page.locator("#pin-offline")).to_be_visible()
    screenshot(page, "offline-3-handback-without-connection")
    assert citizen_answers(live_server, citizen, "who5") == {}  # nothing has reached the server

    tablet.offline(False)
    # The browser was closed during the visit, so it no longer holds the visit (a session
    # cookie): the queue is sent all the same, and the login asks for the password.
    page.wait_for_url(re.compile(r"/login$"))
    assert queued(page) == 0
    assert citizen_answers(live_server, citizen, "who5") == who5
    assert citizen_answers(live_server, citizen, "whodas12") == whodas
    assert status(live_server, citizen, "who5") is AssignmentStatus.COMPLETED
    assert status(live_server, citizen, "whodas12") is AssignmentStatus.COMPLETED
    with live_server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OfflineItem)) == 24
        keys = session.scalars(select(OfflineItem.key)).all()
        assert len(keys) == len(set(keys))
        assert session.scalars(of_citizen(Score.name, citizen)).all()  # scored
    log_in(page, live_server, "koordinator")
    expect(page.locator("#offline-queue")).to_be_hidden()


def start_offline_visit(page: Page, tablet: Tablet, server: LiveServer, citizen_id: int) -> None:
    hand_over(page, server, citizen_id)
    tablet.offline()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("h1")).to_have_text("WHO-5 Trivselsindeks")
    page.get_by_role("button", name="Start").click()


def test_the_offline_page_at_the_largest_text_size_in_landscape(
    live_server: LiveServer, tablet: Tablet, citizen: int
) -> None:
    """The offline screens are the online ones: every option on screen at text size 3 in
    landscape, the text size switched in the page without the network, no axe violation."""
    from tests.e2e.conftest import TABLET_LANDSCAPE
    from tests.e2e.test_every_option_visible import MEASURE

    page = tablet.open()
    page.set_viewport_size(TABLET_LANDSCAPE)
    start_offline_visit(page, tablet, live_server, citizen)
    page.locator("button.size3").click()
    expect(page.locator("html")).to_have_class(re.compile("size-3"))
    expect(page.locator("button.size3")).to_have_attribute("aria-current", "true")
    for number in range(1, 6):
        expect(page.locator(".progress")).to_have_text(f"Spørgsmål {number} af 5")
        found = page.evaluate(MEASURE)
        assert found["count"] == 6 and found["outside"] == [], found
        if number == 1:
            assert_accessible(page)
            screenshot(page, "offline-9-landscape-size-3")
        choose(page, 0)
    expect(page.locator("h1")).to_have_text(re.compile("WHODAS 2.0"))
    assert_accessible(page)


def test_online_answers_then_the_connection_drops_mid_questionnaire(
    live_server: LiveServer, tablet: Tablet, citizen: int
) -> None:
    """The answer sent as the connection drops is queued by the service worker, and the
    questionnaire goes on from the next question; the answers given online stay known."""
    page = tablet.open()
    hand_over(page, live_server, citizen)
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Start").click()
    who5: dict[str, str] = {}
    for _ in range(2):
        item, value = choose(page, 5)  # online: the server's own pages
        who5[item] = value
    page.wait_for_timeout(500)  # the service worker refreshes the offline page (no answer)
    tablet.offline()
    item, value = choose(page, 2)  # the form is sent into a dead connection
    who5[item] = value
    expect(page.locator(".progress")).to_have_text("Spørgsmål 4 af 5")
    page.reload()  # the offline page knows questions 1-3 have answers
    expect(page.locator(".progress")).to_have_text("Spørgsmål 4 af 5")
    page.goto(f"{live_server.url}/kiosk/")
    expect(page.locator(".progress")).to_have_text("Spørgsmål 4 af 5")
    answer_all(page, who5, lambda n: 1)
    expect(page.locator("h1")).to_have_text(re.compile("WHODAS 2.0"))
    assert_no_plain_answer(page, tablet, who5)
    tablet.offline(False)
    wait_until_queued(page, lambda n: n == 0)
    assert citizen_answers(live_server, citizen, "who5") == who5
    assert status(live_server, citizen, "who5") is AssignmentStatus.COMPLETED


def test_a_retry_storm_and_a_lost_acknowledgement_store_each_answer_once(
    live_server: LiveServer, tablet: Tablet, citizen: int
) -> None:
    page = tablet.open()
    start_offline_visit(page, tablet, live_server, citizen)
    who5: dict[str, str] = {}
    answer_all(page, who5, lambda n: 4)
    assert queued(page) == 6
    # A lost acknowledgement: the server stores the first item, the reply never arrives.
    lost: list[str] = []

    def drop_reply(route: Route) -> None:
        if not lost:
            lost.append(_json(route)["key"])
            route.fetch()  # the server commits ...
            route.abort("connectionreset")  # ... and the connection drops before the reply
            return
        route.fallback()

    page.route("**/kiosk/sync", drop_reply)
    tablet.offline(False)
    wait_until_queued(page, lambda n: n < 6)
    page.unroute("**/kiosk/sync")
    # A retry storm: what is left is sent three times at once, beside the tablet's own retry.
    results = page.evaluate(
        "Promise.all([1, 2, 3].map(() => SurveyappQueue.send({unlocked: true})))"
    )
    assert all(not r["failed"] for r in results), results
    wait_until_queued(page, lambda n: n == 0)
    assert citizen_answers(live_server, citizen, "who5") == who5
    with live_server.sessions() as session:
        visit_items = session.scalars(
            select(OfflineItem.key).where(
                OfflineItem.assignment_id.in_(
                    select(Assignment.id).where(Assignment.course.has(citizen_id=citizen))
                )
            )
        ).all()
        assert lost[0] in visit_items
        assert len(visit_items) == len(set(visit_items)) == 6
        assert len(session.scalars(of_citizen(Answer.id, citizen)).all()) == 5
        names = session.scalars(of_citizen(Score.name, citizen, "who5")).all()
        assert names and len(names) == len(set(names))  # scored once: one row per score


def test_after_an_offline_hand_back_the_next_person_sees_nothing(
    live_server: LiveServer, tablet: Tablet, citizen: int
) -> None:
    page = tablet.open()
    start_offline_visit(page, tablet, live_server, citizen)
    given: dict[str, str] = {}
    for _ in range(3):
        item, value = choose(page, 3)
        given[item] = value
    page.get_by_role("button", name=PAUSE).click()
    expect(page.locator("h1")).to_have_text(HANDBACK)
    assert_accessible(page)
    # The history, the addresses of the questions and a reload all lead to the hand-back.
    page.go_back()
    expect(page.locator("h1")).to_have_text(HANDBACK)
    for path in ("/kiosk/1/1", "/kiosk/1/3", "/kiosk/2", "/kiosk/offline", "/kiosk/"):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("h1")).to_have_text(HANDBACK)
        expect(page.locator("form.question")).to_have_count(0)
        content = page.content()
        assert "WHO-5" not in content and "Offline-borger" not in content
        assert page.locator("template").count() == 1 + 1  # the hand-back and sending screens
    assert_no_plain_answer(page, tablet, given)
    # Back online, the answers arrive and the staff member's PIN ends the visit.
    tablet.offline(False)
    page.wait_for_function("() => !document.querySelector('#offline-data')", timeout=20000)
    expect(page.locator("h1")).to_have_text(HANDBACK)
    assert citizen_answers(live_server, citizen, "who5") == given
    page.get_by_label(PIN_LABEL).fill(DEMO_PIN)
    page.get_by_role("button", name="Lås op").click()
    page.wait_for_url(re.compile(r"/kiosk/besog/[0-9]+$"))
    assert queued(page) == 0


def test_a_queue_the_browser_emptied_is_reported_on_the_citizen_page(
    live_server: LiveServer, tablet: Tablet, citizen: int
) -> None:
    page = tablet.open()
    start_offline_visit(page, tablet, live_server, citizen)
    for _ in range(4):
        choose(page, 2)
    # The browser deletes the site's storage behind our back (as Safari does after 7 days).
    page.evaluate(
        """() => new Promise(ok => {
            const r = indexedDB.deleteDatabase(SurveyappQueue.DB_NAME);
            r.onsuccess = r.onerror = r.onblocked = () => ok(); })"""
    )
    page.reload()
    page.get_by_role("button", name=PAUSE).click()
    tablet.offline(False)
    page.wait_for_function("() => !document.querySelector('#offline-data')", timeout=20000)
    page.get_by_label(PIN_LABEL).fill(DEMO_PIN)
    page.get_by_role("button", name="Lås op").click()
    page.wait_for_url(re.compile(r"/kiosk/besog/[0-9]+$"))
    page.goto(f"{live_server.url}/staff/citizens/{citizen}")
    warning = page.locator(".offline-problem")
    expect(warning).to_contain_text("4 svar fra tabletten")
    screenshot(page, "offline-5-lost-answers-on-the-citizen-page")
    assert_accessible(page)


@pytest.mark.parametrize("persisted", [True, False])
def test_staff_are_told_what_waits_and_warned_before_leaving_it(
    live_server: LiveServer, tablet: Tablet, citizen: int, persisted: bool
) -> None:
    answer = "true" if persisted else "false"
    tablet.init_script = (
        f"navigator.storage.persist = () => Promise.resolve({answer});"
        f"navigator.storage.persisted = () => Promise.resolve({answer});"
    )
    page = tablet.open()
    log_in(page, live_server, "koordinator")
    page.goto(f"{live_server.url}/staff/citizens/{citizen}")
    page.get_by_role("button", name="Start på denne tablet").click()
    note = page.locator("[data-persist-refused]")
    page.wait_for_selector("body[data-persist]")
    if persisted:
        expect(note).to_be_hidden()
    else:
        expect(note).to_be_visible()
        screenshot(page, "offline-6-storage-refused")
    page.locator("form[action$='/kiosk/start'] button[type=submit]").click()
    page.wait_for_selector("body[data-offline-ready='1']", timeout=15000)
    tablet.offline()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Start").click()
    choose(page, 1)
    choose(page, 1)
    page.get_by_role("button", name=PAUSE).click()
    expect(page.locator("h1")).to_have_text(HANDBACK)
    # The browser is closed (the visit's cookie with it) and opened again online, but the
    # server cannot take the answers just now (it answers 503): staff log in by password.
    tablet.close()
    page = tablet.open()
    assert tablet.context is not None
    tablet.context.route("**/kiosk/sync", lambda route: route.fulfill(status=503, body="{}"))
    log_in(page, live_server, "koordinator")
    banner = page.locator("#offline-queue")
    expect(banner).to_contain_text("3 svar venter på at blive sendt.")
    kept_note = banner.locator("[data-offline-persist]")
    if persisted:
        expect(kept_note).to_be_hidden()
    else:
        expect(kept_note).to_be_visible()
    screenshot(page, f"offline-7-waiting-{'kept' if persisted else 'not-kept'}")
    assert_accessible(page)
    # Logging out asks first; cancelling stays.
    page.get_by_role("button", name="Log ud").click()
    dialog = page.get_by_role("dialog", name="Svar venter stadig på at blive sendt")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("3 svar fra et kioskbesøg er ikke sendt endnu")
    screenshot(page, "offline-8-logout-warning")
    dialog.get_by_role("button", name="Annullér").click()
    expect(page.get_by_role("button", name="Log ud")).to_be_visible()
    # So does starting another visit on this tablet.
    other = citizen_due_today(live_server, "Næste-borger")
    page.goto(f"{live_server.url}/staff/citizens/{other}")
    page.get_by_role("button", name="Start på denne tablet").click()
    page.locator("form[action$='/kiosk/start'] button[type=submit]").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Annullér").click()
    expect(page.locator("h1")).to_contain_text("Start et kioskbesøg")
    # The server is back: "Send nu" empties the queue, and logging out no longer asks.
    tablet.context.unroute("**/kiosk/sync")
    banner.get_by_role("button", name="Send nu").click()
    expect(banner).to_be_hidden()
    assert queued(page) == 0
    page.get_by_role("button", name="Log ud").click()
    page.wait_for_url(re.compile(r"/login"))


def _json(route: Route) -> Any:
    return json.loads(route.request.post_data or "{}")
