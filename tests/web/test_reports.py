"""The report pages, analyst grants and `surveyapp report`: who sees what, the published
tables in Danish, filters that fail politely, and no number under the threshold anywhere."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.cli import main
from surveyapp.config import Settings
from surveyapp.enums import AssignmentStatus, DropoutReason, Respondent, Role
from surveyapp.models import AnalystGrant, AuditEvent, Municipality, StaffUser
from surveyapp.security import hash_secret
from tests.support.report_data import Seeder, hedensted, ishoj
from tests.support.staff import FOREIGN_LABEL, Foreign, load_small_demo, login, post

PAGES = ("coverage", "progression", "outcomes", "start-meeting", "target-group")
PASSWORD = "et-godt-kodeord-123"


def _user(session: Session, seeder: Seeder, username: str, role: Role = Role.ANALYST) -> None:
    session.add(
        StaffUser(
            username=username,
            full_name=username.title(),
            role=role,
            municipality_id=seeder.municipality.id,
            password_hash=hash_secret(PASSWORD),
        )
    )
    session.flush()


def _table_text(html: str) -> str:
    """The page without its chart images (their base64 holds digits of no meaning)."""
    return re.sub(r'src="data:[^"]*"', 'src=""', html)


def _charts(html: str) -> list[str]:
    return [
        base64.b64decode(found).decode("utf-8")
        for found in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    ]


def _counts(html: str) -> list[int]:
    """Every count and n the page shows (they are marked up as <span class="n">)."""
    return [int(n.replace(".", "")) for n in re.findall(r'<span class="n">([\d.]+)</span>', html)]


# --- who sees the reports ----------------------------------------------------------------------


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    return load_small_demo(session_factory, settings)


def test_reports_are_for_analysts_and_admins_only(app: Flask, foreign: Foreign) -> None:
    for username in ("analytiker", "admin"):
        client = app.test_client()
        login(client, username)
        menu = client.get("/staff/reports/").text
        assert 'href="/staff/reports/"' in menu  # the staff menu
        for page in PAGES:
            response = client.get(f"/staff/reports/{page}")
            assert response.status_code == 200, (username, page)
            assert FOREIGN_LABEL not in response.text
            assert f'href="/staff/reports/{page}"' in menu
    analyst = app.test_client()
    login(analyst, "analytiker")
    home = analyst.get("/staff/").text
    assert "/staff/reports/coverage" in home and "/staff/reports/target-group" in home
    for username in ("koordinator", "terapeut"):
        client = app.test_client()
        login(client, username)
        assert 'href="/staff/reports/"' not in client.get("/staff/due").text
        assert client.get("/staff/reports/").status_code == 403
        for page in PAGES:
            assert client.get(f"/staff/reports/{page}").status_code == 403
    anonymous = app.test_client().get("/staff/reports/coverage")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")


def test_bad_filters_say_what_is_wrong_and_never_fail(
    app: Flask, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    client = app.test_client()
    login(client, "admin")
    with session_factory() as session:
        nabolund = session.scalars(select(Municipality).where(Municipality.code == "991")).one()
    bad = {
        "provider=abc": "Not a valid choice.",
        "provider=99999": "Not a valid choice.",
        f"municipality={nabolund.id}": "Not a valid choice.",
        "start_from=31-12-2025": "Not a date: write it as YYYY-MM-DD.",
        "start_from=2025-06-01&start_to=2025-01-01": "The end of the period is before its start.",
        "respondent=cat": "Not a valid choice.",
        "legal_basis=999": "Not a valid choice.",
    }
    for query, message in bad.items():
        response = client.get(f"/staff/reports/coverage?{query}", headers={"Accept-Language": "en"})
        assert response.status_code == 400, query
        assert message in response.text, query
        assert 'class="report"' not in response.text  # no table on half-understood filters
    fine = client.get("/staff/reports/coverage?start_from=2025-01-01&respondent=citizen")
    assert fine.status_code == 200
    assert 'value="2025-01-01"' in fine.text  # the filter stays filled in: bookmarkable


def test_every_report_view_is_audited_with_its_filters(
    app: Flask, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    client = app.test_client()
    login(client, "analytiker")
    client.get("/staff/reports/progression?start_from=2025-02-01&respondent=relative")
    with session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.view")).one()
        analyst = session.scalars(select(StaffUser).where(StaffUser.username == "analytiker")).one()
    assert (event.actor_type, event.actor_user_id, event.object_id) == (
        "staff",
        analyst.id,
        "progression",
    )
    assert event.details["filters"] == {"start_from": "2025-02-01", "respondent": "relative"}
    assert event.details["municipality_ids"] == [analyst.municipality_id]
    assert FOREIGN_LABEL not in json.dumps(event.details)


def test_each_report_page_links_to_the_exports(app: Flask, foreign: Foreign) -> None:
    client = app.test_client()
    login(client, "analytiker")
    page = client.get("/staff/reports/target-group").text
    assert 'id="downloads"' in page and 'href="/staff/exports/"' in page
    assert client.get("/staff/exports/").status_code == 200


# --- the published tables, as the page shows them -----------------------------------------------


@pytest.fixture
def hedensted_client(app: Flask, session_factory: sessionmaker[Session]) -> Iterator[FlaskClient]:
    with session_factory.begin() as session:
        seeder = Seeder(session, "Hedensted Kommune")
        hedensted(seeder)
        _user(session, seeder, "hedensted")
    client = app.test_client()
    login(client, "hedensted", PASSWORD)
    yield client


def _rows(html: str, caption_part: str) -> dict[str, list[str]]:
    """The rows of the table whose caption contains `caption_part`: header -> cell texts."""
    table = next(
        t for t in re.findall(r'<table class="report".*?</table>', html, re.S) if caption_part in t
    )
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        headers = re.findall(r'<th scope="row">(.*?)</th>', row, re.S)
        if headers:
            cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
            text = [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
            # "(94 af 171)": the same whatever the catalogue makes of "of"
            text = [re.sub(r"\((\d+) \w+ (\d+)\)", r"(\1/\2)", t) for t in text]
            rows[re.sub(r"<[^>]+>", "", headers[0]).strip()] = text
    return rows


def test_the_hedensted_table_in_danish(hedensted_client: FlaskClient) -> None:
    page = hedensted_client.get("/staff/reports/start-meeting").text
    rows = _rows(page, "Tilfredshed med opstartsmødet")
    assert rows["Set, hørt og forstået (0–10)"] == ["5,77 (n = 13)", "7,40 (n = 10)"]
    assert rows["Sammenhængende og koordineret forløb (0–10)"] == ["6,00 (n = 13)", "6,40 (n = 10)"]
    assert rows["Egne ressourcer brugt (0–10)"] == ["5,69 (n = 13)", "7,80 (n = 10)"]
    assert rows["Samlet oplevelse (0–10)"] == ["6,15 (n = 13)", "8,00 (n = 10)"]
    answered, ready = list(rows.values())[-2:]
    assert answered == ["23", "10"]  # start meetings answered; answered at the next measurement
    assert ready == ["", "18"]  # ready for follow-up
    english = hedensted_client.get(
        "/staff/reports/start-meeting", headers={"Accept-Language": "en"}
    ).text
    rows = _rows(english, "Start-meeting satisfaction")
    assert rows["Seen, heard and understood (0–10)"] == ["5.77 (n = 13)", "7.40 (n = 10)"]
    assert rows["Ready for follow-up"] == ["", "18"]


def test_the_ishoj_figures_in_danish(app: Flask, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session, "Ishøj Kommune")
        ishoj(seeder)
        _user(session, seeder, "ishoj")
    client = app.test_client()
    login(client, "ishoj", PASSWORD)
    page = client.get("/staff/reports/outcomes").text
    nbsp = "\xa0"
    need = _rows(page, "Har borgeren brug for hjælp efter forløbet?")
    assert need["Nej, borgeren har ikke brug for hjælp"][0] == f"55{nbsp}% (94/171)"
    assert need["Har stadig brug for hjælp"][0] == f"45{nbsp}% (77/171)"
    of_whom = [cells[0] for header, cells in need.items() if "Ja, " in header and ":" in header]
    assert of_whom == [f"40{nbsp}% (31/77)", f"39{nbsp}% (30/77)", f"21{nbsp}% (16/77)"]
    life = _rows(page, "livskvalitet")
    assert [life[o][0].split(" (")[0] for o in ("Bedre", "Uændret", "Dårligere")] == [
        f"61{nbsp}%",
        f"32{nbsp}%",
        f"7{nbsp}%",
    ]
    alone = _rows(page, "selvhjulpen")
    # columns: end, 1 year, 2 years (self-sufficiency is asked at the follow-ups)
    assert alone["Ja"][1:] == [f"46{nbsp}% (46/100)", f"43{nbsp}% (43/100)"]


# --- no number under the threshold, anywhere ----------------------------------------------------


@pytest.fixture
def small_groups(session_factory: sessionmaker[Session]) -> Seeder:
    """A municipality whose private provider has two courses; some answers by one or two."""
    with session_factory.begin() as session:
        seeder = Seeder(session, "Lilleby Kommune")
        who5 = {f"who5_{i}": 3 for i in range(1, 6)}
        sm = {"sm_1": 6, "sm_2": 7, "sm_3": 5, "sm_4": 8}
        courses = [seeder.course(birth_year=1940 + i) for i in range(5)]
        courses += [seeder.course(private=True, birth_year=1925) for _ in range(2)]
        for index, course in enumerate(courses):
            seeder.answer(course, "who5", "baseline", who5)
            seeder.answer(course, "start_meeting", "baseline", sm)
            if index < 4:
                seeder.answer(course, "who5", "end", {f"who5_{i}": 4 for i in range(1, 6)})
            if index == 0:
                seeder.answer(course, "start_meeting", "baseline", sm, Respondent.RELATIVE)
                seeder.answer(
                    course, "course_outcome", "end", {"co_help_need": 2}, Respondent.STAFF
                )
            if index in (1, 2):
                seeder.set_status(
                    course, "who5", "fu_3m", AssignmentStatus.DECLINED, reason=DropoutReason.DIED
                )
        _user(session, seeder, "lilleby")
    return seeder


def test_no_number_under_the_threshold_on_any_page(app: Flask, small_groups: Seeder) -> None:
    client = app.test_client()
    login(client, "lilleby", PASSWORD)
    hidden_cells = hidden_marks = 0
    for name in PAGES:
        page = client.get(f"/staff/reports/{name}")
        assert page.status_code == 200, name
        html = _table_text(page.text)
        for n in _counts(html):
            assert n == 0 or n >= 3, (name, n)
        hidden_cells += html.count('class="hidden-cell"')
        for svg in _charts(page.text):
            hidden_marks += svg.count('id="hidden-')
        assert "XX-borger" not in html  # never a citizen's label
    assert hidden_cells > 10 and hidden_marks > 5  # the check above had something to check


def test_no_number_under_the_threshold_in_the_command_line_output(
    settings: Settings, small_groups: Seeder, session_factory: sessionmaker[Session]
) -> None:
    runner = CliRunner()
    env = {"SURVEYAPP_DATABASE_URL": settings.database_url}
    suppressed = 0
    for name in PAGES:
        done = runner.invoke(main, ["report", name, "--format", "json"], env=env)
        assert done.exit_code == 0, done.output
        document = json.loads(done.output)
        for record in document["records"]:
            if record["suppressed"]:
                suppressed += 1
                assert (record["value"], record["n"], record["count"]) == (None, None, None)
                continue
            numbers = [record["n"], record["count"]]
            if record["measure"] == "count":
                numbers.append(record["value"])
            for number in numbers:
                assert number is None or number == 0 or number >= 3, (name, record)
    assert suppressed > 10
    with session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.view")).all()
    assert len(events) == len(PAGES)
    assert {(e.actor_type, e.details["channel"]) for e in events} == {("system", "cli")}


# --- the command line --------------------------------------------------------------------------


def test_the_command_line_writes_csv_json_and_excel(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with session_factory.begin() as session:
        first, second = Seeder(session, "Hedensted Kommune"), Seeder(session, "Ishøj Kommune")
        hedensted(first)
        for _ in range(4):
            second.course(start=date(2025, 3, 3))
    runner = CliRunner()
    env = {"SURVEYAPP_DATABASE_URL": settings.database_url}
    done = runner.invoke(
        main, ["report", "start-meeting", "--municipality", "hedensted kommune"], env=env
    )
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("report,table,instrument,respondent,score,timepoint,municipality")
    assert f"start_meeting_sm_1,baseline,{first.municipality.code},,baseline." in done.output
    assert ",mean,5.77,13," in done.output
    by_code = runner.invoke(
        main,
        ["report", "target-group", "--municipality", second.municipality.code, "--format", "json"],
        env=env,
    )
    document = json.loads(by_code.output)
    assert document["municipalities"] == ["Ishøj Kommune"]
    periods = runner.invoke(
        main,
        [
            "report",
            "target-group",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
            "--format",
            "json",
        ],
        env=env,
    )
    courses = [
        r
        for r in json.loads(periods.output)["records"]
        if r["table"] == "target-group.age" and r["column"] == "courses" and r["provider"] == "all"
    ]
    assert {(r["municipality"], r["value"]) for r in courses} == {
        (first.municipality.code, 0),
        (second.municipality.code, 4),
        ("all", 4),
    }
    out = tmp_path / "report.xlsx"
    excel = runner.invoke(
        main, ["report", "coverage", "--format", "xlsx", "--out", str(out)], env=env
    )
    assert excel.exit_code == 0, excel.output
    sheet = load_workbook(out)["coverage"]
    header = next(sheet.iter_rows(values_only=True))
    assert header[:2] == ("report", "table") and header[-1] == "suppressed"
    provider = runner.invoke(
        main, ["report", "coverage", "--provider", "Privat Træning ApS"], env=env
    )
    assert provider.exit_code == 2 and "several providers" in provider.output
    unknown = runner.invoke(main, ["report", "coverage", "--municipality", "Atlantis"], env=env)
    assert unknown.exit_code == 2 and "Atlantis" in unknown.output
    low = runner.invoke(main, ["report", "coverage", "--threshold", "2"], env=env)
    assert low.exit_code == 2 and "at least 3" in low.output
    higher = runner.invoke(
        main, ["report", "start-meeting", "--threshold", "11", "--format", "json"], env=env
    )
    document = json.loads(higher.output)
    assert document["threshold"] == 11
    means = [
        r
        for r in document["records"]
        if r["measure"] == "mean" and r["municipality"] == first.municipality.code
    ]
    assert {(r["timepoint"], r["suppressed"], r["n"]) for r in means} == {
        ("baseline", False, 13),  # 13 answers: shown
        ("next", True, None),  # 10 answers: fewer than 11
    }


# --- analyst grants -----------------------------------------------------------------------------


@pytest.fixture
def nabolund_admin(session_factory: sessionmaker[Session], foreign: Foreign) -> str:
    with session_factory.begin() as session:
        nabolund = session.scalars(select(Municipality).where(Municipality.code == "991")).one()
        session.add(
            StaffUser(
                username="nabo-admin",
                full_name="Nina Nabo-Admin",
                role=Role.ADMIN,
                municipality_id=nabolund.id,
                password_hash=hash_secret(PASSWORD),
            )
        )
    return "nabo-admin"


NO_SUCH_ANALYST = "Ingen aktiv analytiker har dette brugernavn."


def test_an_admin_grants_an_analyst_both_municipalities_side_by_side_and_takes_it_back(
    app: Flask, nabolund_admin: str, session_factory: sessionmaker[Session]
) -> None:
    admin = app.test_client()
    login(admin, nabolund_admin, PASSWORD)
    assert "Sølvstrand" not in admin.get("/staff/reports/coverage").text
    page = admin.get("/staff/admin/grants")
    assert page.status_code == 200 and "<td>analytiker</td>" not in page.text
    granted = post(admin, "/staff/admin/grants", {"username": " Analytiker "})
    assert granted.status_code == 303
    listing = admin.get("/staff/admin/grants").text
    assert "<td>analytiker</td>" in listing and "Sølvstrand Kommune" in listing
    for username, message in (
        ("analytiker", "Denne analytiker har allerede adgang."),
        ("koordinator", NO_SUCH_ANALYST),
        ("ingen-bruger", NO_SUCH_ANALYST),
    ):
        again = post(admin, "/staff/admin/grants", {"username": username})
        assert again.status_code == 200 and message in again.text

    analyst = app.test_client()
    login(analyst, "analytiker")
    index = analyst.get("/staff/reports/").text
    assert "Nabolund Kommune" in index and "Sølvstrand Kommune" in index
    coverage = analyst.get("/staff/reports/coverage").text
    assert "Nabolund Kommune" in coverage and "Sølvstrand Kommune" in coverage
    assert "Alle kommuner" in coverage or "All municipalities" in coverage  # side by side
    assert 'name="municipality"' in coverage  # several municipalities: a filter for them
    assert FOREIGN_LABEL not in coverage
    assert analyst.get("/staff/citizens").status_code == 403  # never a citizen
    with session_factory() as session:
        nabolund = session.scalars(select(Municipality).where(Municipality.code == "991")).one()
        grant = session.scalars(select(AnalystGrant)).one()
    only_nabolund = analyst.get(f"/staff/reports/target-group?municipality={nabolund.id}").text
    tables = "".join(re.findall(r'<table class="report".*?</table>', only_nabolund, re.S))
    assert "Nabolund Træning" in tables and "Sølvstrand" not in tables

    other_admin = app.test_client()
    login(other_admin, "admin")
    assert "<td>analytiker</td>" not in other_admin.get("/staff/admin/grants").text
    refused = post(other_admin, f"/staff/admin/grants/{grant.id}/revoke")
    assert refused.status_code == 404
    with session_factory() as session:
        assert session.get(AnalystGrant, grant.id) is not None

    revoked = post(admin, f"/staff/admin/grants/{grant.id}/revoke")
    assert revoked.status_code == 303
    assert "Nabolund Kommune" not in analyst.get("/staff/reports/coverage").text
    with session_factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("analyst_grant.%"))
        ).all()
    assert actions == ["analyst_grant.create", "analyst_grant.revoke"]


def test_only_admins_manage_grants(app: Flask, foreign: Foreign) -> None:
    for username in ("analytiker", "koordinator"):
        client = app.test_client()
        login(client, username)
        assert client.get("/staff/admin/grants").status_code == 403
    admin = app.test_client()
    login(admin, "admin")
    own = post(admin, "/staff/admin/grants", {"username": "analytiker"})
    assert "ser allerede dens rapporter" in own.text
