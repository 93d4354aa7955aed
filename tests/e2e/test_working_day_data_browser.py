"""Issue 11 in a real Chromium: the CPR step, a second course, empty forms, drop-out in
progress and the citizen page, at 1024x768, 800x1280 and 390x844, in Danish and English."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from surveyapp.enums import AnswerState, AssignmentStatus, Channel, Respondent
from surveyapp.instruments.loader import default_registry
from surveyapp.models import Answer, Assignment, Response
from surveyapp.scheduling import today_in_denmark
from tests.e2e.conftest import (
    SIZES,
    LiveServer,
    assert_accessible,
    baseline_assignment,
    log_in,
    screenshot,
)

NEW_CPR = "160346-4320"
LOCALES = {"da": "da-DK", "en": "en-GB"}


def _in_view(page: Page, selector: str) -> bool:
    """Whether the element's top lies inside the viewport as the page is scrolled now."""
    return bool(
        page.evaluate(
            """sel => { const r = document.querySelector(sel).getBoundingClientRect();
                        return r.top >= 0 && r.top < window.innerHeight; }""",
            selector,
        )
    )


def _start_response(server: LiveServer, assignment_id: int) -> None:
    """A start-meeting questionnaire begun on the tablet and left after one answer."""
    instrument = default_registry().get("start_meeting")
    with server.sessions.begin() as session:
        a = session.get(Assignment, assignment_id)
        assert a is not None
        a.status = AssignmentStatus.IN_PROGRESS
        response = Response(
            assignment=a,
            instrument_id=instrument.id,
            instrument_version=instrument.version,
            language="da",
            text_version=instrument.languages["da"].text_version,
            text_verified=instrument.languages["da"].verified,
            channel=Channel.KIOSK,
            respondent=Respondent.CITIZEN,
        )
        first = instrument.items[0]
        response.answers.append(Answer(item_id=first.id, state=AnswerState.ANSWERED, value=7))
        session.add(response)


def test_the_coordinators_data_and_the_citizen_page_at_every_size(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    page = new_page(SIZES["tablet-landscape"])
    log_in(page, live_server, "koordinator")

    # The CPR step: not registered, the number is kept; only a label is asked for.
    page.goto(f"{live_server.url}/staff/citizens/find")
    page.fill("#cpr", NEW_CPR)
    page.locator("#submit").click()
    expect(page.locator("#label")).to_be_visible()
    assert NEW_CPR[:6] not in page.content()
    assert page.input_value("#cpr") == ""
    page.fill("#label", "E2E D.")
    page.locator("#register").click()
    page.wait_for_url(re.compile(r".*/courses/new$"))
    citizen_id = int(re.search(r"/citizens/(\d+)/", page.url).group(1))  # type: ignore[union-attr]

    # The course; then paper WHO-5 and WHODAS-12: the message is in view after the jump.
    page.select_option("#provider_id", label="Sølvstrand Hjemmepleje")
    page.select_option("#team_id", label="Sølvstrand Hjemmepleje: Team Nord")
    page.fill("#start_date", (today_in_denmark() - timedelta(days=1)).isoformat())
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*/staff/citizens/\d+#course-\d+$"))
    course_id = int(page.url.rsplit("#course-", 1)[1])
    assert _in_view(page, f"#course-{course_id} .notice.success")
    who5 = baseline_assignment(live_server, course_id, "who5")
    page.goto(f"{live_server.url}/staff/assignments/{who5}/answers")
    for n in range(1, 6):
        page.locator(f'input[name="who5_{n}"][value="3"]').check()
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*#course-\d+$"))
    assert _in_view(page, f"#course-{course_id} .notice.success")
    whodas = baseline_assignment(live_server, course_id, "whodas12")
    page.goto(f"{live_server.url}/staff/assignments/{whodas}/answers")
    for n in range(1, 13):
        page.locator(f'input[name="S{n}"][value="2"]').check()
    page.locator("#confirm_missing").check()
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*#course-\d+$"))
    assert _in_view(page, f"#course-{course_id} .notice.success")
    start_meeting = baseline_assignment(live_server, course_id, "start_meeting")
    _start_response(live_server, start_meeting)
    outcome = None
    with live_server.sessions() as session:
        outcome = session.scalars(
            select(Assignment.id).where(
                Assignment.course_id == course_id, Assignment.instrument_id == "course_outcome"
            )
        ).first()
    assert outcome is not None

    for size, viewport in SIZES.items():
        for lang, locale in LOCALES.items():
            name = f"{size}-{lang}"
            p = new_page(viewport, locale=locale)
            log_in(p, live_server, "koordinator")

            # The citizen page: nothing cut off, raw sums beside the percentages.
            p.goto(f"{live_server.url}/staff/citizens/{citizen_id}")
            p.wait_for_load_state("load")
            table = p.locator(f"#course-{course_id} table.scores")
            expect(table).to_be_visible()
            expect(table).to_contain_text("(15)")
            expect(table).to_contain_text("(24)")
            expect(table).to_contain_text("0–25")
            expect(table).to_contain_text("12–60")
            screenshot(p, f"citizen-{name}")
            fits = p.evaluate(
                """sel => { const w = document.querySelector(sel);
                            return w.scrollWidth <= w.clientWidth + 1; }""",
                f"#course-{course_id} .table-wrap",
            )
            assert fits, f"{name}: the score table is cut off"
            last = p.locator(f"#course-{course_id} table.scores thead th").last
            box = last.bounding_box()
            assert box is not None and box["x"] + box["width"] <= viewport["width"], name
            assert_accessible(p)

            # The CPR step after a number that is not registered.
            p.goto(f"{live_server.url}/staff/citizens/find")
            p.fill("#cpr", "170347-4331")
            p.locator("#submit").click()
            expect(p.locator("#label")).to_be_visible()
            assert_accessible(p)
            screenshot(p, f"cpr-register-step-{name}")

            # A second course at the same provider is refused; elsewhere it asks first.
            p.goto(f"{live_server.url}/staff/citizens/{citizen_id}/courses/new")
            p.select_option("#provider_id", label="Omsorg & Træning ApS")
            p.select_option("#team_id", index=0)
            p.fill("#start_date", (today_in_denmark() - timedelta(days=1)).isoformat())
            p.locator("#submit").click()
            expect(p.locator("#confirm_overlap")).to_be_visible()
            assert_accessible(p)
            screenshot(p, f"course-overlap-{name}")

            # An empty course outcome is refused, in the page's language.
            p.goto(f"{live_server.url}/staff/assignments/{outcome}/answers")
            p.locator("#submit").click()
            expect(p.locator(".notice.error")).to_be_visible()
            expect(p.locator(".notice.error")).to_contain_text(
                "Intet er udfyldt" if lang == "da" else "Nothing is filled in"
            )
            assert_accessible(p)
            screenshot(p, f"outcome-empty-{name}")

            # Drop-out on a questionnaire in progress: what happened, and what can be done.
            p.goto(f"{live_server.url}/staff/assignments/{start_meeting}/dropout")
            expect(p.locator(".notice.warning")).to_be_visible()
            expect(p.locator(".notice.warning")).to_contain_text("1")
            assert_accessible(p)
            screenshot(p, f"dropout-in-progress-{name}")

    # Record it, see the undo button, undo it: in progress again.
    page.goto(f"{live_server.url}/staff/assignments/{start_meeting}/dropout")
    page.locator('input[name="reason"][value="declined"]').check()
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r".*#course-\d+$"))
    assert _in_view(page, f"#course-{course_id} .notice.success")
    undo = page.locator(f'form[action$="/assignments/{start_meeting}/dropout/undo"] button')
    expect(undo).to_be_visible()
    assert_accessible(page)
    screenshot(page, "citizen-after-dropout-tablet-landscape-da")
    undo.click()
    page.wait_for_url(re.compile(r".*#course-\d+$"))
    assert _in_view(page, f"#course-{course_id} .notice.success")
    with live_server.sessions() as session:
        a = session.get(Assignment, start_meeting)
        assert a is not None and a.status is AssignmentStatus.IN_PROGRESS
    screenshot(page, "citizen-after-undo-tablet-landscape-da")
