"""Letters in the coordinator workspace: issue one and print it, re-issue, revoke, the PDF of many,
the reminders on the due list and the citizen page, the settings, and the command line."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp import pdf
from surveyapp.cli import main
from surveyapp.config import Settings
from surveyapp.demo import DEMO_CPRS
from surveyapp.enums import AssignmentStatus, Respondent
from surveyapp.letters import Contact, Letter, build_letter
from surveyapp.linkcodes import new_code
from surveyapp.models import (
    Assignment,
    AuditEvent,
    Citizen,
    Course,
    LinkToken,
    MeasurementPlan,
    Municipality,
    PlanTimepoint,
)
from surveyapp.security import new_token
from surveyapp.web.letters import letters_document
from tests.support.offline import session_key_dir
from tests.support.qr import decode_html
from tests.support.staff import Foreign, load_small_demo, login, post

SECRET_LABEL = "ZZ-intern-betegnelse"
CODE = re.compile(r'<dd class="code">((?:<span class="group">[2-9A-HJKMNP-Z]{4}</span> ?){5})</dd>')


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    found = load_small_demo(session_factory, settings)
    with session_factory.begin() as session:
        for citizen in session.scalars(select(Citizen).where(Citizen.municipality_id == 1)):
            citizen.label = f"{SECRET_LABEL}-{citizen.id}"
    return found


@pytest.fixture
def coordinator(client: FlaskClient, foreign: Foreign) -> FlaskClient:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # assertions on English source text
    assert login(client, "koordinator").status_code == 302
    return client


def _due(factory: sessionmaker[Session], respondent: Respondent = Respondent.RELATIVE) -> list[int]:
    """Sølvstrand questionnaires that may have a letter, open ones first."""
    with factory() as session:
        rows = session.scalars(
            select(Assignment)
            .join(Course, Assignment.course_id == Course.id)
            .where(
                Course.municipality_id == 1,
                Assignment.respondent == respondent,
                Assignment.status.in_([AssignmentStatus.OPEN, AssignmentStatus.SCHEDULED]),
                Assignment.window_start.is_not(None),
            )
            .order_by(Assignment.status.desc(), Assignment.id)
        ).all()
        return [a.id for a in rows]


def _links(factory: sessionmaker[Session], assignment_id: int | None = None) -> list[LinkToken]:
    with factory() as session:
        stmt = select(LinkToken).order_by(LinkToken.id)
        if assignment_id is not None:
            stmt = stmt.where(LinkToken.assignment_id == assignment_id)
        return list(session.scalars(stmt))


def _token(url: str) -> str:
    return url.rsplit("/svar/", 1)[1]


def test_a_coordinator_issues_a_letter_and_the_print_view_is_the_letter(
    coordinator: FlaskClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    target = _due(session_factory)[0]
    form = coordinator.get(f"/staff/assignments/{target}/letter?back=due")
    assert form.status_code == 200 and 'name="first_name"' in form.text
    assert "dit familiemedlem" in form.text or "your family member" in form.text
    printed = post(
        coordinator,
        f"/staff/assignments/{target}/letter",
        {"first_name": "Inger", "language": "da", "back": "due"},
    )
    assert printed.status_code == 200
    assert printed.headers["Cache-Control"] == "no-store"
    html = printed.text
    # The QR code holds the full link, which opens the questionnaire.
    [url] = decode_html(html)
    assert url.startswith(f"{settings.public_url}/svar/")
    opened = coordinator.get(url.removeprefix(settings.public_url))
    assert opened.status_code == 303 and _token(url) not in opened.location  # token-free
    assert coordinator.get(opened.location).status_code == 200
    # The short address and the code, written out in groups.
    assert f"{settings.public_url}/k" in html
    assert CODE.search(html)
    assert "Inger" in html and "Sølvstrand Kommune" in html
    # Never the coordinator's label or a CPR number; the token itself only inside the QR code.
    assert SECRET_LABEL not in html
    assert not re.search(r"\b\d{6}-?\d{4}\b", html)
    assert _token(url) not in html
    assert 'href="/staff/due"' in html  # back to where the coordinator came from
    [link] = _links(session_factory, target)
    assert (link.letter_name, link.language, link.source) == ("Inger", "da", "letter")
    # Neither the token nor the code is in the audit trail.
    code = "".join(re.findall(r'<span class="group">(\w{4})</span>', html))
    with session_factory() as session:
        details = " ".join(str(d) for d in session.scalars(select(AuditEvent.details)))
    assert _token(url) not in details and code not in details


def test_the_letter_in_english_and_for_the_citizen_at_home(
    coordinator: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    target = _due(session_factory, Respondent.CITIZEN)[0]
    printed = post(
        coordinator,
        f"/staff/assignments/{target}/letter",
        {"first_name": "", "language": "en"},
    )
    assert printed.status_code == 200
    assert '<article class="letter" lang="en">' in printed.text
    assert "Dear citizen," in printed.text  # English source text: the letter's own language
    assert len(decode_html(printed.text)) == 1
    [link] = _links(session_factory, target)
    assert link.letter_name is None and link.language == "en"


def test_no_letter_for_staff_forms_closed_questionnaires_or_another_municipality(
    coordinator: FlaskClient, session_factory: sessionmaker[Session], foreign: Foreign
) -> None:
    with session_factory.begin() as session:
        staff = session.scalars(
            select(Assignment)
            .join(Course, Assignment.course_id == Course.id)
            .where(Course.municipality_id == 1, Assignment.respondent == Respondent.STAFF)
        ).first()
        done = session.scalars(
            select(Assignment)
            .join(Course, Assignment.course_id == Course.id)
            .where(
                Course.municipality_id == 1,
                Assignment.respondent == Respondent.RELATIVE,
                Assignment.status == AssignmentStatus.COMPLETED,
            )
        ).first()
        assert staff is not None and done is not None
        staff_id, done_id = staff.id, done.id
    for assignment_id in (staff_id, done_id):
        for response in (
            coordinator.get(f"/staff/assignments/{assignment_id}/letter"),
            post(coordinator, f"/staff/assignments/{assignment_id}/letter", {"language": "da"}),
            post(coordinator, f"/staff/assignments/{assignment_id}/letter/reissue"),
        ):
            assert response.status_code == 303
    away = foreign.assignment_id
    assert coordinator.get(f"/staff/assignments/{away}/letter").status_code == 404
    assert post(coordinator, f"/staff/assignments/{away}/letter").status_code == 404
    assert post(coordinator, f"/staff/assignments/{away}/letter/reissue").status_code == 404
    assert post(coordinator, f"/staff/assignments/{away}/letter/revoke").status_code == 404
    selected = post(
        coordinator,
        "/staff/letters.pdf",
        {"assignments": [str(_due(session_factory)[0]), str(away)], "print_selected": "y"},
    )
    assert selected.status_code == 404
    assert _links(session_factory) == []
    # A POST without its CSRF token changes nothing.
    bare = coordinator.post(f"/staff/assignments/{_due(session_factory)[0]}/letter/reissue")
    assert bare.status_code == 400 and _links(session_factory) == []


def test_reissue_revokes_the_old_link_and_revoke_stops_the_letter(
    coordinator: FlaskClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    target = _due(session_factory)[0]
    first = post(coordinator, f"/staff/assignments/{target}/letter", {"language": "da"})
    [old] = decode_html(first.text)
    again = post(coordinator, f"/staff/assignments/{target}/letter/reissue", {"back": "due"})
    assert again.status_code == 200
    [new] = decode_html(again.text)
    assert new != old
    assert coordinator.get(old.removeprefix(settings.public_url)).status_code == 404
    assert coordinator.get(new.removeprefix(settings.public_url)).status_code == 303  # opens
    revoked = post(coordinator, f"/staff/assignments/{target}/letter/revoke", {"back": "due"})
    assert revoked.status_code == 303 and revoked.headers["Location"] == "/staff/due"
    assert coordinator.get(new.removeprefix(settings.public_url)).status_code == 404
    assert [link.revoked_at is not None for link in _links(session_factory, target)] == [
        True,
        True,
    ]


def test_the_due_list_and_the_citizen_page_show_each_links_state(
    coordinator: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    due_page = coordinator.get("/staff/due").text
    target = _due(session_factory)[0]
    assert f'/staff/assignments/{target}/letter?back=due"' in due_page
    assert 'form="letters-form" name="assignments"' in due_page
    post(coordinator, f"/staff/assignments/{target}/letter", {"language": "da"})
    due_page = coordinator.get("/staff/due").text
    assert "14 days left, not opened yet" in due_page
    assert f'action="/staff/assignments/{target}/letter/reissue"' in due_page
    assert f'action="/staff/assignments/{target}/letter/revoke"' in due_page
    with session_factory.begin() as session:
        link = session.scalars(select(LinkToken).where(LinkToken.assignment_id == target)).one()
        link.first_opened_at = link.created_at
        citizen_id = session.get(Assignment, target).course.citizen_id  # type: ignore[union-attr]
    citizen_page = coordinator.get(f"/staff/citizens/{citizen_id}").text
    assert "14 days left, opened" in citizen_page
    post(coordinator, f"/staff/assignments/{target}/letter/revoke")
    assert ": revoked" in coordinator.get(f"/staff/citizens/{citizen_id}").text


def test_letters_for_the_selected_rows_make_one_pdf_with_a_page_each(
    coordinator: FlaskClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    due_page = coordinator.get("/staff/due").text
    boxes = re.findall(r'form="letters-form" name="assignments" value="([\d ]+)"', due_page)
    assert len(boxes) >= 2
    chosen = boxes[:2]
    expected = sum(len(box.split()) for box in chosen)
    response = post(
        coordinator, "/staff/letters.pdf", {"assignments": chosen, "print_selected": "y"}
    )
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == expected
    text = " ".join(page.extract_text() for page in reader.pages)
    assert SECRET_LABEL not in text
    assert text.count(f"{settings.public_url}/k") == expected
    assert len(_links(session_factory)) == expected
    nothing = post(coordinator, "/staff/letters.pdf", {"print_selected": "y"})
    assert nothing.status_code == 303 and len(_links(session_factory)) == expected
    with session_factory() as session:
        batch = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "letters.batch")
        ).one()
    assert batch == {"mode": "selected", "letters": expected, "reissued": 0}


def test_letters_for_every_relative_due_soon_without_a_live_link(
    coordinator: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    first = _due(session_factory)[0]
    post(coordinator, f"/staff/assignments/{first}/letter", {"language": "da"})
    response = post(coordinator, "/staff/letters.pdf", {"days": "14", "print_due": "y"})
    assert response.status_code == 200
    pages = len(PdfReader(io.BytesIO(response.data)).pages)
    links = _links(session_factory)
    assert pages == len(links) - 1 >= 1  # the letter issued first keeps its live link
    assert links[0].revoked_at is None
    again = post(coordinator, "/staff/letters.pdf", {"days": "14", "print_due": "y"})
    assert again.status_code == 303  # nothing left to print
    assert len(_links(session_factory)) == len(links)


def test_without_the_pdf_libraries_nothing_is_issued_and_the_page_says_why(
    coordinator: FlaskClient,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pdf, "available", lambda: False)
    response = post(coordinator, "/staff/letters.pdf", {"days": "14", "print_due": "y"})
    assert response.status_code == 503
    assert "libpango" in response.text
    assert _links(session_factory) == []
    # Single letters still print from the browser.
    target = _due(session_factory)[0]
    printed = post(coordinator, f"/staff/assignments/{target}/letter", {"language": "da"})
    assert len(decode_html(printed.text)) == 1


def test_the_admin_sets_the_municipalitys_sender_and_contact_line(
    app: Flask, client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    other = app.test_client()
    login(other, "koordinator")
    assert other.get("/staff/admin/letters").status_code == 403
    login(client, "admin")
    assert client.get("/staff/admin/letters").status_code == 200
    bad = post(client, "/staff/admin/letters", {"contact_phone": "call me", "contact_email": "x"})
    assert bad.status_code == 200 and 'aria-invalid="true"' in bad.text
    saved = post(
        client,
        "/staff/admin/letters",
        {
            "letter_sender": "Sundhed og Omsorg",
            "contact_phone": "70 12 34 56",
            "contact_hours": "hverdage kl. 8-12",
            "contact_email": "rehab@example.dk",
        },
    )
    assert saved.status_code == 303
    with session_factory() as session:
        home = session.get(Municipality, 1)
        assert home is not None
        assert (home.letter_sender, home.contact_phone, home.contact_email) == (
            "Sundhed og Omsorg",
            "70 12 34 56",
            "rehab@example.dk",
        )
    printed = post(
        client, f"/staff/assignments/{_due(session_factory)[0]}/letter", {"language": "da"}
    )
    assert "70 12 34 56" in printed.text and "hverdage kl. 8-12" in printed.text
    assert "rehab@example.dk" in printed.text and "Sundhed og Omsorg" in printed.text


def test_the_admin_sets_how_long_letters_links_work_per_timepoint(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "admin")
    with session_factory() as session:
        default = session.scalars(select(MeasurementPlan).where(MeasurementPlan.is_default)).one()
    copied = post(client, f"/staff/admin/plans/{default.id}", {"name": "Sølvstrands plan"})
    plan_id = int(copied.headers["Location"].rsplit("/", 1)[1])
    with session_factory() as session:
        baseline = session.scalars(
            select(PlanTimepoint).where(
                PlanTimepoint.plan_id == plan_id, PlanTimepoint.key == "baseline"
            )
        ).one()
        items = [f"{i.instrument_id}:{i.respondent.value}" for i in baseline.items]
    url = f"/staff/admin/plans/{plan_id}/timepoints/{baseline.id}"
    assert 'name="link_valid_days"' in client.get(url).text
    fields = {
        "key": "baseline",
        "label_da": baseline.label_da,
        "label_en": baseline.label_en,
        "anchor": baseline.anchor.value,
        "offset_months": "0",
        "offset_days": "0",
        "window_before_days": str(baseline.window_before_days),
        "window_after_days": str(baseline.window_after_days),
        "link_valid_days": "30",
        "items": items,
    }
    preview = post(client, url, {**fields, "preview": "y"})
    digest = re.search(r'name="preview_digest" type="hidden" value="([0-9a-f]+)"', preview.text)
    assert digest
    applied = post(client, url, {**fields, "apply": "y", "preview_digest": digest.group(1)})
    assert applied.status_code == 303
    with session_factory() as session:
        assert session.get(PlanTimepoint, baseline.id).link_valid_days == 30  # type: ignore[union-attr]
    assert 'value="30"' in client.get(url).text


def test_the_letters_command_counts_its_letters_and_reissues(
    tmp_path: Path, foreign: Foreign, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    env = {
        "SURVEYAPP_DATABASE_URL": settings.database_url,
        "SURVEYAPP_PUBLIC_URL": "https://borger.example.dk",
    }
    out = tmp_path / "letters.pdf"
    runner = CliRunner()
    first = runner.invoke(
        main, ["letters", "--municipality", "Sølvstrand Kommune", "--out", str(out)], env=env
    )
    assert first.exit_code == 0, first.output
    count = int(re.match(r"(\d+) letters written", first.output).group(1))  # type: ignore[union-attr]
    assert count >= 1
    reader = PdfReader(out)
    assert len(reader.pages) == count
    assert "https://borger.example.dk/k" in reader.pages[0].extract_text()
    links = _links(session_factory)
    assert len(links) == count and all(link.source == "letter" for link in links)
    none_left = runner.invoke(
        main, ["letters", "--municipality", "990", "--out", str(tmp_path / "none.pdf")], env=env
    )
    assert none_left.exit_code == 0 and none_left.output.startswith("0 letters")
    assert not (tmp_path / "none.pdf").exists()
    everywhere = runner.invoke(main, ["letters", "--out", str(tmp_path / "all.pdf")], env=env)
    elsewhere = int(everywhere.output.split()[0])  # Nabolund's: every municipality by default
    assert elsewhere >= 1 and len(PdfReader(tmp_path / "all.pdf").pages) == elsewhere
    with session_factory() as session:
        away = session.scalar(
            select(func.count())
            .select_from(LinkToken)
            .join(Assignment)
            .join(Course, Assignment.course_id == Course.id)
            .where(Course.municipality_id != 1)
        )
        assert away == elsewhere
    reissued = runner.invoke(
        main,
        ["letters", "--municipality", "990", "--reissue", "--out", str(out)],
        env=env,
    )
    assert reissued.output.startswith(f"{count} letters written"), reissued.output
    with session_factory() as session:
        live = session.scalar(
            select(func.count()).select_from(LinkToken).where(LinkToken.revoked_at.is_(None))
        )
        assert live == count + elsewhere
        assert session.scalar(select(func.count()).select_from(LinkToken)) == 2 * count + elsewhere
    unknown = runner.invoke(main, ["letters", "--municipality", "X", "--out", str(out)], env=env)
    assert unknown.exit_code != 0 and "no municipality named" in unknown.output
    production = {
        "SURVEYAPP_DATABASE_URL": settings.database_url,
        "SURVEYAPP_ENV": "production",
        "SURVEYAPP_SECRET_KEY": "s" * 40,
        "SURVEYAPP_CPR_HMAC_KEY": "c" * 40,
        "SURVEYAPP_OFFLINE_KEY_DIR": str(session_key_dir()),
        "PORT": "5000",
    }
    local = runner.invoke(main, ["letters", "--reissue", "--out", str(out)], env=production)
    assert local.exit_code != 0 and "SURVEYAPP_PUBLIC_URL" in local.output
    with session_factory() as session:  # a refused batch issues nothing
        assert session.scalar(select(func.count()).select_from(LinkToken)) == 2 * count + elsewhere


def test_demo_links_revoke_the_ones_they_made_before(
    foreign: Foreign, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    env = {"SURVEYAPP_DATABASE_URL": settings.database_url, "PORT": "5123"}
    runner = CliRunner()
    first = runner.invoke(main, ["demo-links"], env=env)
    second = runner.invoke(main, ["demo-links"], env=env)
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    old = re.findall(r"http://127\.0\.0\.1:5123/svar/(\S+)", first.output)
    new = re.findall(r"http://127\.0\.0\.1:5123/svar/(\S+)", second.output)
    assert len(old) == len(new) >= 3 and not set(old) & set(new)
    assert "http://127.0.0.1:5123/k" in second.output
    assert re.search(r"code [2-9A-HJKMNP-Z]{4}(-[2-9A-HJKMNP-Z]{4}){4}", second.output)
    live = [link for link in _links(session_factory) if link.revoked_at is None]
    assert len(live) == len(new) and {link.source for link in live} == {"demo"}


def test_the_cpr_numbers_of_the_demo_never_reach_a_letter(
    coordinator: FlaskClient, session_factory: sessionmaker[Session], app: Flask
) -> None:
    response = post(coordinator, "/staff/letters.pdf", {"days": "30", "print_due": "y"})
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    for cpr in DEMO_CPRS:
        assert cpr not in text and cpr.replace("-", "") not in text
    assert SECRET_LABEL not in text
    assert app  # the same app served every request


def _worst_case(**overrides: object) -> Letter:
    """A letter with everything at its longest: it must still fit one A4 page."""
    values: dict[str, object] = {
        "assignment_id": 1,
        "public_url": "https://rehabilitering-spoergeskemaer.ringkoebing-skjern.kommune.dk",
        "token": new_token(),
        "code": new_code(),
        "expires_at": datetime(2026, 9, 30, 10, 0, tzinfo=UTC),
        "opens_at": datetime(2026, 9, 12, 22, 0, tzinfo=UTC),
        "issued_at": datetime(2026, 9, 1, 10, 0, tzinfo=UTC),
        "language": "da",
        "audience": "relative",
        "first_name": "Anne-Margrethe Wilhelmine",
        "questionnaire": "WHODAS 2.0, 12 spørgsmål (besvaret af pårørende)",
        "questions": 16,
        "contact": Contact(
            "Ringkøbing-Skjern Kommune",
            sender="Sundhed og Omsorg, Visitationen og Hverdagsrehabiliteringsteamet Vest",
            phone="+45 99 74 24 24",
            email="hverdagsrehabilitering.visitation@rksk.dk",
            hours="mandag til torsdag kl. 8.00-15.00, fredag kl. 8.00-12.00",
        ),
    }
    values.update(overrides)
    return build_letter(**values)  # type: ignore[arg-type]


def test_every_letter_fits_one_a4_page_even_with_the_longest_details(app: Flask) -> None:
    letters = [
        _worst_case(),
        _worst_case(language="en"),
        _worst_case(audience="citizen"),
        _worst_case(audience="citizen", language="en", first_name=None),
        _worst_case(first_name=None, opens_at=None),
    ]
    with app.test_request_context():
        document = pdf.html_to_pdf(letters_document(letters))
    reader = PdfReader(io.BytesIO(document))
    assert len(reader.pages) == len(letters)
    for page, letter in zip(reader.pages, letters, strict=True):
        text = re.sub(r"\s", "", page.extract_text())
        assert "".join(letter.code) in text
        assert re.sub(r"\s", "", letter.valid_until_text) in text


def test_the_app_starts_without_the_pdf_library_and_the_pdf_page_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = (
        "import sys; sys.modules['weasyprint'] = None\n"
        "from surveyapp.app import create_app\n"
        "from surveyapp.config import Settings\n"
        "from surveyapp import pdf\n"
        "create_app(Settings(env='test', database_url='sqlite://'))\n"
        "assert not pdf.available()\n"
        "try:\n    pdf.html_to_pdf('<p>x</p>')\nexcept pdf.PdfUnavailable as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "libpango-1.0-0" in done.stdout
