"""The answering flow in a real headless Chromium at tablet and phone sizes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from surveyapp.enums import Respondent
from surveyapp.models import Response
from tests.e2e.conftest import (
    PHONE,
    SIZES,
    TABLET_LANDSCAPE,
    LiveServer,
    assert_accessible,
    screenshot,
    storage_is_empty,
)
from tests.support import factories

WHO5_LABELS = [
    "Det meste af tiden",
    "Lidt af tiden",
    "Hele tiden",
    "Lidt mere end halvdelen af tiden",
    "Lidt mindre end halvdelen af tiden",
]


def _link(
    server: LiveServer, instrument: str, respondent: Respondent = Respondent.CITIZEN
) -> tuple[str, int]:
    """The letter's link (the QR code's URL) to a fresh questionnaire, and its assignment."""
    token, assignment_id = factories.link(server.sessions, instrument, respondent)
    return f"{server.url}/svar/{token}", assignment_id


def _pages(server: LiveServer) -> str:
    """Where the questionnaire's pages are once the link is opened (no token in them)."""
    return f"{server.url}/svar"


def _tap(page: Page, label: str, next_url: str) -> None:
    page.locator("label.option", has_text=re.compile(f"^\\s*{re.escape(label)}\\s*$")).click()
    page.wait_for_url(next_url)


def _answers(server: LiveServer, assignment_id: int) -> dict[str, int | None]:
    with server.sessions() as session:
        response = session.scalars(
            select(Response).where(Response.assignment_id == assignment_id)
        ).one()
        return {a.item_id: a.value for a in response.answers}


@pytest.mark.parametrize("size", list(SIZES))
def test_answer_a_whole_who5_by_tapping(
    live_server: LiveServer, new_page: Callable[..., Page], size: str
) -> None:
    url, assignment_id = _link(live_server, "who5")
    base = _pages(live_server)
    page = new_page(SIZES[size])
    page.goto(url)
    assert page.url == f"{base}/"  # the token has left the address bar at once
    expect(page.locator("h1")).to_have_text("WHO-5 Trivselsindeks")
    assert_accessible(page)
    screenshot(page, f"respond-{size}-1-start")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{base}/1")
    expect(page.locator(".progress")).to_have_text("Spørgsmål 1 af 5")
    assert_accessible(page)
    screenshot(page, f"respond-{size}-2-question")
    for number, label in enumerate(WHO5_LABELS, start=1):
        expect(page.locator(".progress")).to_have_text(f"Spørgsmål {number} af 5")
        _tap(page, label, f"{base}/{number + 1}" if number < 5 else f"{base}/tak")
    expect(page.locator("h1")).to_have_text("Tak for dine svar")
    assert_accessible(page)
    screenshot(page, f"respond-{size}-3-thanks")
    assert _answers(live_server, assignment_id) == {
        "who5_1": 4,
        "who5_2": 1,
        "who5_3": 5,
        "who5_4": 3,
        "who5_5": 2,
    }
    assert storage_is_empty(page)


def test_reload_back_and_change_and_a_double_tap(live_server: LiveServer, page: Page) -> None:
    url, assignment_id = _link(live_server, "who5")
    base = _pages(live_server)
    page.goto(url)
    page.get_by_role("button", name="Start").click()
    _tap(page, "Hele tiden", f"{base}/2")
    _tap(page, "Lidt af tiden", f"{base}/3")
    page.reload()
    expect(page.locator(".progress")).to_have_text("Spørgsmål 3 af 5")
    page.goto(url)  # the instruction screen, as after a closed browser
    page.get_by_role("button", name="Fortsæt").click()
    page.wait_for_url(f"{base}/3")
    page.get_by_role("link", name="Tilbage").click()
    page.wait_for_url(f"{base}/2")
    expect(page.get_by_label("Lidt af tiden", exact=True)).to_be_checked()
    _tap(page, "Det meste af tiden", f"{base}/3")
    for number, label in ((3, "Hele tiden"), (4, "Hele tiden")):
        _tap(page, label, f"{base}/{number + 1}")
    last = page.locator("label.option", has_text="På intet tidspunkt")
    last.dblclick()
    page.wait_for_url(f"{base}/tak")
    assert _answers(live_server, assignment_id) == {
        "who5_1": 5,
        "who5_2": 4,
        "who5_3": 5,
        "who5_4": 5,
        "who5_5": 0,
    }
    with live_server.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Response)
                .where(Response.assignment_id == assignment_id)
            )
            == 1
        )
    page.go_back()
    expect(page.locator("h1")).to_have_text("Tak for dine svar")  # no way back into answers


def test_switch_to_english_on_the_instruction_screen(live_server: LiveServer, page: Page) -> None:
    url, assignment_id = _link(live_server, "who5")
    base = _pages(live_server)
    page.goto(url)
    page.get_by_role("button", name="Answer in English").click()
    expect(page.locator("h1")).to_have_text("WHO-5 Well-Being Index")
    screenshot(page, "respond-english-start")
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".progress")).to_have_text("Question 1 of 5")
    expect(page.locator("legend")).to_contain_text("I have felt cheerful and in good spirits")
    assert_accessible(page)
    _tap(page, "All of the time", f"{base}/2")
    with live_server.sessions() as session:
        response = session.scalars(
            select(Response).where(Response.assignment_id == assignment_id)
        ).one()
        assert response.language == "en"


def test_scale_and_number_questions_on_a_phone(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    url, _ = _link(live_server, "start_meeting", Respondent.RELATIVE)
    base = _pages(live_server)
    page = new_page(PHONE)
    page.goto(url)
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".end-min")).to_contain_text("Slet ikke")
    assert_accessible(page)
    screenshot(page, "respond-phone-scale")
    _tap(page, "7", f"{base}/2")
    _tap(page, "Ved ikke", f"{base}/3")
    _tap(page, "9", f"{base}/4")
    _tap(page, "8", f"{base}/tak")
    scores = _scores(live_server, url)
    assert scores["start_meeting_mean"] == 8.0
    assert [scores[f"start_meeting_sm_{n}"] for n in range(1, 5)] == [7.0, None, 9.0, 8.0]
    url2, _ = _link(live_server, "whodas12")
    page.goto(url2)
    page.get_by_role("button", name="Start").click()
    for number in range(1, 12):
        _tap(page, "Lette", f"{base}/{number + 1}")
    expect(page.get_by_label("Ikke relevant")).to_be_visible()
    _tap(page, "Ikke relevant", f"{base}/13")
    assert_accessible(page)
    screenshot(page, "respond-phone-number")
    page.get_by_label(re.compile("Hvor mange dage")).fill("40")
    page.get_by_role("button", name="Næste").click()
    expect(page.locator(".message")).to_contain_text("Skriv et helt tal fra 0 til 30")
    assert_accessible(page)
    screenshot(page, "respond-phone-number-error")
    page.get_by_label(re.compile("Hvor mange dage")).fill("10")
    page.get_by_role("button", name="Næste").click()
    page.wait_for_url(f"{base}/14")
    page.get_by_role("button", name="Spring spørgsmålet over").click()
    page.wait_for_url(f"{base}/15")
    page.get_by_role("button", name="Spring spørgsmålet over").click()
    page.wait_for_url(f"{base}/tak")
    scores = _scores(live_server, url2)
    assert scores["whodas12_sum"] == 24 and scores["whodas12_percent"] == 25


def _scores(server: LiveServer, url: str) -> dict[str, float | None]:
    from surveyapp.models import LinkToken
    from surveyapp.security import token_hash

    with server.sessions() as session:
        link = session.scalars(
            select(LinkToken).where(LinkToken.token_hash == token_hash(url.rsplit("/", 1)[1]))
        ).one()
        return {s.name: s.value for s in link.assignment.response.scores}  # type: ignore[union-attr]


def test_works_without_javascript(live_server: LiveServer, new_page: Callable[..., Page]) -> None:
    url, assignment_id = _link(live_server, "who5")
    page = new_page(TABLET_LANDSCAPE, java_script_enabled=False)
    page.goto(url)
    page.get_by_role("button", name="Start").click()
    for number in range(1, 6):
        page.get_by_label("Lidt af tiden", exact=True).check()
        page.get_by_role("button", name="Send mine svar" if number == 5 else "Næste").click()
    expect(page.locator("h1")).to_have_text("Tak for dine svar")
    assert set(_answers(live_server, assignment_id).values()) == {1}


def test_keyboard_only_and_arrow_keys_never_send_by_themselves(
    live_server: LiveServer, page: Page
) -> None:
    url, assignment_id = _link(live_server, "who5")
    base = _pages(live_server)
    page.goto(url)
    page.keyboard.press("Tab")  # skip past the text-size links to the Start button
    page.get_by_role("button", name="Start").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/1")
    page.get_by_label("Hele tiden").focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(500)
    assert page.url == f"{base}/1"  # still here: the choice is only sent with Next
    expect(page.get_by_label("Det meste af tiden")).to_be_checked()
    page.get_by_role("button", name="Næste").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/2")
    assert _answers(live_server, assignment_id) == {"who5_1": 4}


@pytest.mark.parametrize("width", [360, 512])  # a small phone; a 1024 px tablet at 200 % zoom
def test_no_horizontal_scrolling_and_large_targets(
    live_server: LiveServer, new_page: Callable[..., Page], width: int
) -> None:
    url, _ = _link(live_server, "start_meeting")
    base = _pages(live_server)
    page = new_page({"width": width, "height": 800})
    page.goto(url)
    page.get_by_role("button", name="Tekststørrelse 3 af 3").click()  # a POST form
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{base}/1")
    page.wait_for_load_state("load")
    screenshot(page, f"respond-{width}px-largest-text")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_tablet_text_and_touch_targets_are_large(live_server: LiveServer, page: Page) -> None:
    url, _ = _link(live_server, "who5")
    base = _pages(live_server)
    page.goto(url)
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{base}/1")
    page.wait_for_load_state("load")
    font = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert font >= 22
    heights = [
        box["height"]
        for box in (
            o.bounding_box() for o in page.locator("label.option, button, .secondary").all()
        )
        if box
    ]
    assert heights and min(heights) >= 60, heights


def test_question_page_weighs_under_50_kb_in_the_browser(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    url, _ = _link(live_server, "who5")
    base = _pages(live_server)
    first = new_page()
    first.goto(url)
    first.get_by_role("button", name="Start").click()
    first.wait_for_url(f"{base}/1")
    fresh = new_page()  # empty cache: everything the question page needs is transferred
    fresh.context.add_cookies(first.context.cookies())  # the same browser session
    sizes: dict[str, int] = {}
    fresh.on("requestfinished", lambda r: sizes.update({r.url: r.sizes()["responseBodySize"]}))
    fresh.goto(f"{base}/1")
    fresh.wait_for_load_state("networkidle")
    assert len(sizes) == 3, sizes  # the page, its stylesheet and its script; nothing else
    assert sum(sizes.values()) < 50 * 1024, sizes


def test_an_unknown_link_gets_the_calm_danish_page(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/svar/udloebet-eller-forkert")
    expect(page.locator("h1")).to_have_text("Siden kan ikke åbnes")
    assert_accessible(page)
    screenshot(page, "respond-problem")


FAKE_DANISH_VOICE = """
window.__spoken = [];
Object.defineProperty(window, "speechSynthesis", {value: {
    getVoices: () => [{lang: "da-DK", name: "Test dansk"}],
    addEventListener: () => {}, cancel: () => {},
    speak: (utterance) => window.__spoken.push([utterance.lang, utterance.text]),
}});
window.SpeechSynthesisUtterance = function (text) { this.text = text; };
"""


def test_read_aloud_only_with_a_voice_for_the_language(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    url, _ = _link(live_server, "who5")
    base = _pages(live_server)
    plain = new_page()
    plain.goto(url)
    plain.get_by_role("button", name="Start").click()
    has_danish = plain.evaluate(
        "speechSynthesis.getVoices().some(v => v.lang.toLowerCase().startsWith('da'))"
    )
    assert plain.locator("[data-speak]").is_hidden() is (not has_danish)
    voiced = new_page()
    voiced.add_init_script(FAKE_DANISH_VOICE)
    voiced.goto(url)
    voiced.goto(f"{base}/1")
    button = voiced.get_by_role("button", name="Læs op")
    expect(button).to_be_visible()
    screenshot(voiced, "respond-read-aloud")
    button.click()
    spoken = voiced.evaluate("window.__spoken")
    assert spoken[0][0] == "da-DK"
    assert spoken[0][1].startswith("I de sidste 2 uger har jeg været glad og i godt humør")
    assert "Hele tiden" in spoken[0][1] and "På intet tidspunkt" in spoken[0][1]


def _letter(
    server: LiveServer,
    instrument: str,
    respondent: Respondent = Respondent.RELATIVE,
    *,
    opens_in_days: int = 0,
) -> tuple[str, str]:
    """A letter (URL, typed code) from a municipality that gives its contact line."""
    from datetime import timedelta

    from surveyapp.enums import AssignmentStatus
    from surveyapp.services.links import issue_link

    with server.sessions.begin() as session:
        course = factories.course(session)
        municipality = course.provider.municipality
        municipality.letter_sender = "Sundhed og Omsorg"
        municipality.contact_phone = "70 12 34 56"
        municipality.contact_email = "rehab@solvstrand.example"
        municipality.contact_hours = "hverdage 8–15"
        target = factories.assignment(course, instrument, respondent)
        if opens_in_days:
            assert target.window_start is not None
            target.window_start = target.window_start + timedelta(days=opens_in_days)
            target.window_end = target.window_start + timedelta(days=14)
            target.status = AssignmentStatus.SCHEDULED
        issued = issue_link(session, target, letter_name="Karen")
        return f"{server.url}/svar/{issued.token}", issued.code


def test_the_0_to_10_scale_on_a_phone_has_its_ends_on_the_end_buttons(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    url, _ = _link(live_server, "start_meeting", Respondent.RELATIVE)
    for viewport in (PHONE, TABLET_LANDSCAPE):
        page = new_page(viewport)
        page.goto(url)
        page.get_by_role("button", name="Start").click()
        page.wait_for_url(f"{_pages(live_server)}/1")
        page.wait_for_load_state("load")
        boxes = [page.locator(f"label.option[for$='-{n}']").bounding_box() for n in range(11)]
        assert all(boxes)
        low = page.locator(".end-min").bounding_box()
        high = page.locator(".end-max").bounding_box()
        dont_know = page.locator("label.option.special").bounding_box()
        assert low and high and dont_know
        tops = [round(b["y"]) for b in boxes]  # type: ignore[index]
        zero, ten = boxes[0], boxes[10]
        assert zero and ten
        if viewport is PHONE:
            screenshot(page, "respond-phone-scale-rows")
            assert len(set(tops[:6])) == 1 and len(set(tops[6:])) == 1 and tops[6] > tops[0]
            # "0 = ..." right above the 0 button, "10 = ..." right below the 10 button.
            assert low["y"] + low["height"] <= zero["y"] and abs(low["x"] - zero["x"]) < 2
            assert high["y"] >= ten["y"] + ten["height"]
            assert abs((high["x"] + high["width"]) - (ten["x"] + ten["width"])) < 2
            assert dont_know["y"] >= high["y"] + high["height"]  # "Ved ikke" comes after
            assert min(b["height"] for b in boxes) >= 60  # type: ignore[index]
        else:
            screenshot(page, "respond-tablet-scale-row")
            assert len(set(tops)) == 1  # one row, the end labels above its ends
            assert low["y"] + low["height"] <= zero["y"] and high["y"] + high["height"] <= ten["y"]
            assert abs((high["x"] + high["width"]) - (ten["x"] + ten["width"])) < 2
        assert_accessible(page)


def test_a_relative_on_a_phone_sees_who_asks_and_can_type_the_code(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    _, code = _letter(live_server, "whodas12_proxy")
    page = new_page(PHONE)
    page.goto(f"{live_server.url}/k")
    expect(page.locator("h1")).to_have_text("Skriv koden fra brevet")
    assert_accessible(page)
    screenshot(page, "relative-phone-code")
    field = page.get_by_label("Koden fra brevet")
    field.fill("ABCD-EFGH-JKMN-PQRS-TUVW")
    page.get_by_role("button", name="Åbn spørgeskemaet").click()
    expect(page.locator(".message")).to_contain_text("Vi kan ikke finde et spørgeskema")
    assert_accessible(page)
    screenshot(page, "relative-phone-code-wrong")
    page.get_by_label("Koden fra brevet").fill(code.lower().replace("-", " "))
    page.get_by_role("button", name="Åbn spørgeskemaet").click()
    page.wait_for_url(f"{_pages(live_server)}/")
    expect(page.locator(".asker")).to_contain_text("Sølvstrand Kommune, Sundhed og Omsorg")
    expect(page.locator(".asker")).to_contain_text("Karens rehabiliteringsforløb")
    assert_accessible(page)
    screenshot(page, "relative-phone-start")
    page.get_by_role("link", name="Læs mere om undersøgelsen og dine oplysninger").click()
    page.wait_for_url(f"{_pages(live_server)}/om")
    expect(page.locator("h1")).to_have_text("Om undersøgelsen")
    expect(page.locator(".contact")).to_contain_text("70 12 34 56")
    assert_accessible(page)
    screenshot(page, "relative-phone-about")
    page.get_by_role("link", name="Tilbage til spørgeskemaet").click()
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".progress")).to_have_text("Spørgsmål 1 af 13")
    expect(page.locator(".stem")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "relative-phone-proxy-question")
    page.goto(f"{_pages(live_server)}/13")
    expect(page.locator(".stem")).to_have_count(0)  # H4 is a question of its own
    screenshot(page, "relative-phone-proxy-relationship")
    assert storage_is_empty(page)


def test_a_questionnaire_not_open_yet_on_a_phone(
    live_server: LiveServer, new_page: Callable[..., Page]
) -> None:
    url, _ = _letter(live_server, "start_meeting", opens_in_days=30)
    page = new_page(PHONE)
    page.goto(url)
    expect(page.locator(".opens")).to_contain_text("Du kan svare fra den")
    expect(page.get_by_role("button", name="Start")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "relative-phone-not-yet")
