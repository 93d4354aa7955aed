"""The admin's GDPR screens and audit export, and the commands behind the nightly job."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.cli import main
from surveyapp.config import Settings
from surveyapp.models import AuditEvent, Citizen, Course
from surveyapp.pseudonym import normalise_cpr, pseudonymise
from tests.conftest import TEST_CPR_KEY
from tests.support.staff import Foreign, load_small_demo, login, post

CPR = "120134-1111"  # a demo citizen of Sølvstrand


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    return load_small_demo(session_factory, settings)


@pytest.fixture
def admin(client: FlaskClient, foreign: Foreign) -> FlaskClient:
    login(client, "admin")
    return client


def _citizen_id(session: Session) -> int | None:
    return session.scalar(
        select(Citizen.id).where(Citizen.cpr_hmac == pseudonymise(normalise_cpr(CPR), TEST_CPR_KEY))
    )


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_an_admin_downloads_a_citizens_access_request(
    admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    assert admin.get("/staff/admin/privacy/").status_code == 200
    page = post(admin, "/staff/admin/privacy/", {"cpr": CPR, "purpose": "access"})
    assert page.status_code == 200 and page.mimetype == "application/zip"
    assert "1201341111" not in page.headers.get("Content-Disposition", "")
    with zipfile.ZipFile(io.BytesIO(page.data)) as archive:
        names = set(archive.namelist())
        citizen = list(csv.DictReader(io.StringIO(archive.read("citizen.csv").decode("utf-8-sig"))))
    assert {"citizen.csv", "answers.csv", "access_log.csv"} <= names
    with session_factory() as session:
        assert citizen[0]["id"] == str(_citizen_id(session))
        assert _actions(session)[-1] == "citizen.access_request"
        assert CPR not in str(session.scalars(select(AuditEvent.details)).all())


def test_only_admins_reach_the_privacy_screens(client: FlaskClient, foreign: Foreign) -> None:
    login(client, "koordinator")
    assert client.get("/staff/admin/privacy/").status_code == 403
    assert (
        post(client, "/staff/admin/privacy/", {"cpr": CPR, "purpose": "access"}).status_code == 403
    )


def test_an_unknown_cpr_number_is_not_found_and_never_echoed(
    admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    page = post(admin, "/staff/admin/privacy/", {"cpr": "010203-4444", "purpose": "access"})
    assert page.status_code == 404 and "010203-4444" not in page.text
    with session_factory() as session:
        assert _actions(session)[-1] == "citizen.lookup"


def test_erasure_needs_the_confirmation_and_then_deletes_the_citizen(
    admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        citizen_id = _citizen_id(session)
        courses = session.scalar(select(func.count()).where(Course.citizen_id == citizen_id))
    assert citizen_id is not None and courses
    confirm = post(admin, "/staff/admin/privacy/", {"cpr": CPR, "purpose": "erase"})
    assert confirm.status_code == 200 and f"/citizens/{citizen_id}/erase" in confirm.text
    assert CPR not in confirm.text
    unticked = post(admin, f"/staff/admin/privacy/citizens/{citizen_id}/erase")
    assert unticked.status_code == 400
    with session_factory() as session:
        assert session.get(Citizen, citizen_id) is not None
    done = post(admin, f"/staff/admin/privacy/citizens/{citizen_id}/erase", {"confirm_erase": "y"})
    assert done.status_code == 303
    with session_factory() as session:
        assert session.get(Citizen, citizen_id) is None
        assert session.scalar(select(func.count()).where(Course.citizen_id == citizen_id)) == 0
        assert _actions(session)[-1] == "citizen.erase"


def test_the_audit_trail_shows_names_and_exports_as_csv(
    admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    admin.get("/staff/due")
    page = admin.get("/staff/admin/audit?action=login", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Logged in" in page.text
    export = admin.get("/staff/admin/audit/export.csv?action=due_list")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert rows and {r["action_code"] for r in rows} == {"due_list.view"}
    assert all(len(r["hash"]) == 64 for r in rows)
    with session_factory() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None and event.action == "audit.export"
    assert event.details is not None and event.details["rows"] == len(rows)


def test_the_commands_answer_an_access_request_and_run_the_retention(
    settings: Settings, foreign: Foreign, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    env = {"SURVEYAPP_DATABASE_URL": settings.database_url, "SURVEYAPP_CPR_HMAC_KEY": TEST_CPR_KEY}
    runner = CliRunner()
    out = tmp_path / "indsigt.zip"
    result = runner.invoke(
        main,
        ["access-request", "--municipality", "990", "--out", str(out)],
        input=CPR + "\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert zipfile.is_zipfile(out) and CPR not in result.output
    result = runner.invoke(
        main, ["erase-citizen", "--municipality", "990"], input=f"{CPR}\nn\n", env=env
    )
    assert result.exit_code == 1 and "nothing erased" in result.output
    with session_factory() as session:
        assert _citizen_id(session) is not None
    result = runner.invoke(
        main, ["erase-citizen", "--municipality", "990"], input=f"{CPR}\ny\n", env=env
    )
    assert result.exit_code == 0, result.output
    with session_factory() as session:
        assert _citizen_id(session) is None
    result = runner.invoke(
        main, ["retention", "--dry-run"], env={**env, "SURVEYAPP_RETENTION_MONTHS": "1"}
    )
    assert result.exit_code == 0 and "would be anonymised" in result.output, result.output
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Citizen.anonymised_at.is_not(None))) == 0
    result = runner.invoke(main, ["retention"], env={**env, "SURVEYAPP_RETENTION_MONTHS": "1"})
    assert result.exit_code == 0, result.output
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Citizen.anonymised_at.is_not(None)))
    result = runner.invoke(main, ["audit-verify"], env=env)
    assert result.exit_code == 0 and "audit trail intact" in result.output
    result = runner.invoke(main, ["db-grants", "surveyapp_app"])
    assert "GRANT SELECT, INSERT ON audit_event TO surveyapp_app;" in result.output
    assert runner.invoke(main, ["db-grants", "x; DROP TABLE citizen"]).exit_code == 2
