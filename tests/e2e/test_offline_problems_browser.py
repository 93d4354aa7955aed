"""The citizen page's warning about tablet answers that never arrived, in a real Chromium.

At the three screen sizes, in Danish and English, with axe; screenshots in
test-output/screenshots/ (offline-problem-*.png).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from surveyapp.enums import KioskState
from surveyapp.models import KioskSession, OfflineItem, StaffUser, utcnow
from tests.e2e.conftest import (
    SIZES,
    LiveServer,
    assert_accessible,
    citizen_due_today,
    log_in,
    screenshot,
    wait_until_styled,
)


def _citizen_with_lost_and_refused_items(server: LiveServer) -> int:
    """A citizen whose kiosk visit today lost 4 tablet items and had 2 refused as closed."""
    citizen_id = citizen_due_today(server, "Offline-borger")
    with server.sessions.begin() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == "koordinator")).one()
        now = utcnow()
        visit = KioskSession(
            grant_hash=uuid.uuid4().hex * 2,
            staff_user_id=user.id,
            municipality_id=user.municipality_id,
            citizen_id=citizen_id,
            assignment_ids=[],
            state=KioskState.ENDED,
            staff_login_at=now,
            started_at=now,
            last_activity_at=now,
            offline_created=9,
            offline_pending=0,
            offline_reported_at=now,
        )
        session.add(visit)
        session.flush()
        for seq, outcome in enumerate(["stored", "stored", "stored", "closed", "closed"], 1):
            session.add(
                OfflineItem(
                    key=str(uuid.uuid4()),
                    visit_id=visit.id,
                    seq=seq,
                    kind="answer",
                    digest="0" * 64,
                    outcome=outcome,
                    received_at=now,
                )
            )
    return citizen_id


@pytest.mark.parametrize(
    ("locale", "lost", "closed"),
    [
        ("da-DK", "4 svar fra tabletten er aldrig nået frem", "fordi skemaet allerede var sendt"),
        ("en-GB", "4 answers from the tablet never arrived", "had already been sent"),
    ],
)
def test_the_citizen_page_warns_of_tablet_answers_that_never_arrived(
    live_server: LiveServer, new_page: Callable[..., Page], locale: str, lost: str, closed: str
) -> None:
    citizen_id = _citizen_with_lost_and_refused_items(live_server)
    for size, viewport in SIZES.items():
        page = new_page(viewport=viewport, locale=locale)
        log_in(page, live_server, "koordinator")
        page.goto(f"{live_server.url}/staff/citizens/{citizen_id}")
        warning = page.locator(".offline-problem")
        expect(warning).to_have_count(1)
        expect(warning).to_contain_text(lost)
        expect(warning).to_contain_text(closed)
        # Near the top: above the first course.
        box, course = warning.bounding_box(), page.locator("section.course").first.bounding_box()
        assert box is not None and course is not None and box["y"] < course["y"]
        wait_until_styled(page)
        assert_accessible(page)
        screenshot(page, f"offline-problem-{locale[:2]}-{size}")
