"""The due list with the full demo data (300 citizens), as a coordinator sees it on a tablet.

It was about 20,000 px tall at 1024×768 (three rows a screen, the same citizen repeated once
per respondent). Now one row per citizen and visit (course and timepoint), the rarely used
actions folded away, a search by label, and a limit per section with a link to the rest: a
week's work (overdue, today, this week) fits in a few screens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    SIZES,
    TABLET_LANDSCAPE,
    LiveServer,
    assert_accessible,
    log_in,
    screenshot,
    serving,
)

#: At most this many tablet screens (1024×768) for the whole due list of the demo data (it
#: was 44 screens, 34,165 px, before the visits were grouped and the actions folded).
MAX_SCREENS = 7


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with the demo data `make run` loads (300 citizens)."""
    with serving(tmp_path_factory.mktemp("due") / "due.sqlite3") as live:
        yield live


def test_a_weeks_work_at_a_glance_on_a_tablet(
    demo_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    page = new_page(TABLET_LANDSCAPE)
    log_in(page, demo_server, "koordinator")
    height = page.evaluate("document.documentElement.scrollHeight")
    rows = page.locator("section.due tbody tr").count()
    week = page.locator("#due-overdue tbody tr, #due-today tbody tr, #due-this_week tbody tr")
    week_height = page.evaluate(
        "document.querySelector('#due-this_week').getBoundingClientRect().bottom + scrollY"
    )
    screenshot(page, "due-list-demo-1024")
    assert week.count() > 20  # the demo data really fills the week
    assert height <= MAX_SCREENS * 768, f"{height} px for {rows} rows"
    # The week's visits, with the filters above them, average six a screen (they were 2.7).
    assert week_height / week.count() <= 768 / 6, f"{week_height} px for {week.count()} visits"
    # One row per citizen and visit: no citizen appears twice for one timepoint in a section.
    keys = page.locator("section.due tbody tr").evaluate_all(
        "rows => rows.map(r => r.closest('section').id + '|' + r.dataset.visit)"
    )
    assert len(keys) == len(set(keys))
    assert_accessible(page)


def test_search_by_label_and_the_rest_of_a_long_section(
    demo_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    page = new_page(TABLET_LANDSCAPE)
    log_in(page, demo_server, "koordinator")
    first = page.locator("section.due tbody tr a.citizen").first.inner_text()
    page.fill("#q", first)
    page.locator(".filters [type=submit]").click()
    page.wait_for_url(re.compile(r"[?&]q="))
    expect(page.locator("section.due tbody tr").first).to_be_visible()
    labels = page.locator("section.due tbody tr a.citizen").all_inner_texts()
    assert labels and all(first.lower() in label.lower() for label in labels)
    screenshot(page, "due-list-search")
    more = page.locator("a.show-all")
    if more.count():
        before = page.locator("section.due tbody tr").count()
        page.goto(f"{demo_server.url}/staff/due")
        page.locator("a.show-all").first.click()
        expect(page.locator("section.due tbody tr").first).to_be_visible()
        assert page.locator("section.due tbody tr").count() >= before


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("locale", ["da-DK", "en-GB"])
def test_the_due_list_at_every_size_and_language(
    demo_server: LiveServer, new_page: Callable[..., Page], size: str, locale: str
) -> None:
    page = new_page(SIZES[size], locale=locale)
    log_in(page, demo_server, "koordinator")
    expect(page.locator("h1")).to_have_text("Due list" if locale == "en-GB" else "Opgaveliste")
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    page.locator("section.due details.more summary").first.click()
    expect(page.locator("section.due details.more[open] a").first).to_be_visible()
    screenshot(page, f"due-list-{size}-{locale}")
    assert_accessible(page)
