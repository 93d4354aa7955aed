"""End-to-end fixtures: a real server and a real headless Chromium (Debian's package).

The server runs the real app in a thread on a migrated SQLite database with a little demo
data. Chromium is driven by Playwright with the Debian browser (`playwright install` cannot
download one here); `make test` installs the `chromium` package when it is missing, so these
tests run rather than skip. axe-core comes from npm (package.json) and is injected by the tests.
Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.db import upgrade
from surveyapp.demo import load_demo_data
from surveyapp.scheduling import today_in_denmark
from tests.conftest import TEST_CPR_KEY, TEST_SECRET_KEY
from tests.support.offline import session_key_dir

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SURVEYAPP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-output" / "screenshots"

TABLET_LANDSCAPE = {"width": 1024, "height": 768}
TABLET_PORTRAIT = {"width": 800, "height": 1280}
PHONE = {"width": 390, "height": 844}
SIZES = {"tablet-landscape": TABLET_LANDSCAPE, "tablet-portrait": TABLET_PORTRAIT, "phone": PHONE}


@dataclass
class LiveServer:
    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    app: Any


@contextmanager
def serving(path: Path, **demo: Any) -> Iterator[LiveServer]:
    """The real app in a thread on a migrated SQLite file at `path`, with demo data
    (`load_demo_data`'s options, e.g. citizens=30; none: what `make run` loads)."""
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{path}",
        secret_key=TEST_SECRET_KEY,
        cpr_hmac_key=TEST_CPR_KEY,
        offline_key_dir=str(session_key_dir()),
    )
    upgrade(settings.database_url)
    app = create_app(settings)
    sessions = app.extensions["surveyapp.sessions"]
    load_demo_data(sessions, settings, today=today_in_denmark(), **demo)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", settings, sessions, app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["surveyapp.engine"].dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("e2e") / "e2e.sqlite3", seed=11, citizens=30) as live:
        yield live


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh browser context (its own cookies and storage)."""
    contexts = []

    def open_page(
        viewport: dict[str, int] | None = None, locale: str = "da-DK", **options: Any
    ) -> Page:
        context = browser.new_context(
            viewport=viewport or TABLET_LANDSCAPE, locale=locale, **options
        )
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


_citizens = iter(range(1, 10_000))


def citizen_due_today(server: LiveServer, label: str = "Kiosk-borger") -> int:
    """A new Sølvstrand citizen whose course starts today: the whole baseline is due at the
    kiosk (WHO-5, WHODAS-12, start meeting); their id."""
    from sqlalchemy import select

    from surveyapp.enums import Sex
    from surveyapp.models import Citizen, Municipality, Provider
    from surveyapp.services.courses import create_course, default_plan

    number = next(_citizens)
    with server.sessions.begin() as session:
        municipality = session.scalars(select(Municipality).where(Municipality.code == "990")).one()
        provider = session.scalars(
            select(Provider).where(Provider.municipality_id == municipality.id)
        ).first()
        citizen = Citizen(
            municipality_id=municipality.id,
            cpr_hmac=f"e2e-{number:060x}",
            label=f"{label} {number}",
            birth_year=1937,
            sex=Sex.FEMALE,
        )
        session.add(citizen)
        session.flush()
        create_course(
            session,
            citizen=citizen,
            provider=provider,
            team=None,  # type: ignore[arg-type]
            plan=default_plan(session),
            start_date=today_in_denmark(),
            today=today_in_denmark(),
        )
        return citizen.id


def baseline_assignment(server: LiveServer, course_id: int, instrument_id: str) -> int:
    """The id of the citizen's own baseline measurement of `instrument_id` in the course."""
    from sqlalchemy import select

    from surveyapp.enums import Respondent
    from surveyapp.models import Assignment

    with server.sessions() as session:
        return session.scalars(
            select(Assignment.id).where(
                Assignment.course_id == course_id,
                Assignment.instrument_id == instrument_id,
                Assignment.timepoint_key == "baseline",
                Assignment.respondent == Respondent.CITIZEN,
            )
        ).one()


def log_in(page: Page, server: LiveServer, username: str) -> None:
    """Log a demo user in through the login form (and the second factor, if it asks)."""
    from types import SimpleNamespace

    from surveyapp.demo import DEMO_USERS
    from tests.support.staff import fresh_code

    password = next(u.password for u in DEMO_USERS if u.username == username)
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("form:has(input[name=password]) [type=submit]").click()
    page.wait_for_url(re.compile(r"/staff/|/login/code"))
    if "/login/code" in page.url:
        code = fresh_code(SimpleNamespace(application=server.app), username)  # type: ignore[arg-type]
        page.fill("input[name=code]", code)
        page.locator("form:has(input[name=code]) [type=submit]").click()
    page.wait_for_url(re.compile(r"/staff/"))


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-output/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


#: True once the document has loaded, every stylesheet is parsed and applied, and fonts are in.
STYLED = """() => document.readyState === 'complete'
    && [...document.querySelectorAll('link[rel~="stylesheet"]')].every(
        l => l.sheet !== null && l.sheet.cssRules.length > 0)
    && document.fonts.status === 'loaded'"""


def wait_until_styled(page: Page) -> None:
    """Wait until the page is fully loaded and styled, and one frame has been laid out.

    axe judges colours, sizes and what is visible from computed styles: run before a
    stylesheet is applied (a page just navigated to on a busy machine), it judges an unstyled
    page and fails now and then.
    """
    page.wait_for_load_state("load")
    page.wait_for_function(STYLED)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.0–2.2 A and AA, plus AAA contrast) on the page; its violations.

    Always on the fully loaded and styled page (`wait_until_styled`).
    """
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make test` (it runs npm ci)")
    wait_until_styled(page)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                            'wcag22aa', 'best-practice']},
            rules: {'color-contrast-enhanced': {enabled: true}}
        })"""
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)


def storage_is_empty(page: Page) -> bool:
    """True if the page's origin keeps nothing in local/session storage, IndexedDB or caches."""
    return bool(
        page.evaluate(
            """async () => {
            const dbs = indexedDB.databases ? await indexedDB.databases() : [];
            const caches_ = 'caches' in window ? await caches.keys() : [];
            return localStorage.length === 0 && sessionStorage.length === 0
                && dbs.length === 0 && caches_.length === 0;
        }"""
        )
    )
