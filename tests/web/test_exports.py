"""The exports page and downloads: roles, audit, streaming, scope and every format."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.models import AnalystGrant, AuditEvent, Municipality, StaffUser
from surveyapp.scheduling import today_in_denmark
from tests.support.staff import FOREIGN_LABEL, Foreign, audit_actions, load_small_demo, login


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    return load_small_demo(session_factory, settings, today=today_in_denmark())


def _get(client: FlaskClient, path: str) -> bytes:
    with client.get(path) as response:
        assert response.status_code == 200, path
        return response.data


def _csv(data: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))


def test_the_page_offers_every_format_to_analysts_and_admins(app: Flask, foreign: Foreign) -> None:
    for username in ("analytiker", "admin"):
        client = app.test_client()
        login(client, username)
        page = client.get("/staff/exports/")
        assert page.status_code == 200
        for fmt in ("csv", "csv-excel", "xlsx", "sav", "dta", "codebook-csv", "codebook-json"):
            assert f'name="format" value="{fmt}"' in page.text
        assert 'href="/staff/exports/"' in page.text  # in the staff menu


@pytest.mark.parametrize("username", ["koordinator", "terapeut", "nabo"])
def test_coordinators_get_403(app: Flask, foreign: Foreign, username: str) -> None:
    client = app.test_client()
    login(client, username)
    assert client.get("/staff/exports/").status_code == 403
    assert client.get("/staff/exports/download?format=csv").status_code == 403


def test_the_csv_is_streamed_and_the_download_audited(
    app: Flask, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    client = app.test_client()
    login(client, "analytiker")
    response = client.get(
        "/staff/exports/download?format=csv&instrument=who5&start_from=2000-01-01",
        buffered=False,
    )
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = _csv(response.get_data())
    response.close()
    assert rows and {r["instrument"] for r in rows} == {"who5"}
    assert {r["municipality_code"] for r in rows} == {"990"}
    assert FOREIGN_LABEL.encode() not in response.get_data()
    with session_factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.download")
        ).one()
    assert event.actor_user_id is not None
    assert event.details["format"] == "csv" and event.details["rows"] == len(rows)
    assert event.details["instrument"] == "who5" and event.details["from"] == "2000-01-01"


def test_the_danish_csv_and_the_workbook(app: Flask, foreign: Foreign) -> None:
    client = app.test_client()
    login(client, "admin")
    data = _get(client, "/staff/exports/download?format=csv-excel&instrument=whodas12")
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = _csv(data, ";")
    assert rows and any("," in r["whodas12_percent"] for r in rows)
    with client.get("/staff/exports/download?format=xlsx&instrument=whodas12") as workbook:
        assert workbook.mimetype.endswith("spreadsheetml.sheet")
        book = openpyxl.load_workbook(io.BytesIO(workbook.data))
    assert book.sheetnames == ["Data", "Kodebog", "Spørgeskemaer", "Noter"]
    english = _get(client, "/staff/exports/download?format=xlsx&language=en")
    assert openpyxl.load_workbook(io.BytesIO(english)).sheetnames[1] == "Codebook"


@pytest.mark.parametrize(
    ("fmt", "mimetype"),
    [
        ("sav", "application/x-spss-sav"),
        ("dta", "application/x-stata-dta"),
        ("codebook-csv", "text/csv"),
        ("codebook-json", "application/json"),
    ],
)
def test_every_other_format_downloads(
    app: Flask, foreign: Foreign, fmt: str, mimetype: str
) -> None:
    client = app.test_client()
    login(client, "analytiker")
    with client.get(f"/staff/exports/download?format={fmt}&rows=long") as response:
        assert response.status_code == 200 and response.mimetype == mimetype
        assert len(response.data) > 100


def test_a_bad_format_or_foreign_municipality_is_refused(
    app: Flask, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    client = app.test_client()
    login(client, "analytiker")
    assert client.get("/staff/exports/download?format=pdf").status_code == 400
    with session_factory() as session:
        nabolund = session.scalars(select(Municipality.id).where(Municipality.code == "991")).one()
    refused = client.get(f"/staff/exports/download?format=csv&municipality={nabolund}")
    assert refused.status_code == 400
    with session_factory() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "export.download" not in actions


def test_an_analyst_with_a_grant_exports_both_municipalities(
    app: Flask, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        analyst = session.scalars(select(StaffUser).where(StaffUser.username == "analytiker")).one()
        nabolund = session.scalars(select(Municipality).where(Municipality.code == "991")).one()
        session.add(
            AnalystGrant(user_id=analyst.id, municipality_id=nabolund.id, granted_by_id=analyst.id)
        )
        nabolund_id = nabolund.id
    client = app.test_client()
    login(client, "analytiker")
    assert "991 Nabolund" in client.get("/staff/exports/").text
    rows = _csv(_get(client, "/staff/exports/download?format=csv"))
    assert {r["municipality_code"] for r in rows} == {"990", "991"}
    only = _csv(_get(client, f"/staff/exports/download?format=csv&municipality={nabolund_id}"))
    assert only and {r["municipality_code"] for r in only} == {"991"}
    body = _get(client, "/staff/exports/download?format=csv")
    assert FOREIGN_LABEL.encode() not in body  # a granted municipality's labels stay home too


def test_spss_and_stata_files_too_big_for_a_web_worker_are_refused_with_a_way_out(
    app: Flask,
    foreign: Foreign,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surveyapp.web import exports as export_views

    monkeypatch.setattr(export_views, "WEB_IN_MEMORY_ROWS", 5)
    client = app.test_client()
    login(client, "analytiker")
    before = len(audit_actions(session_factory))
    refused = client.get("/staff/exports/download?format=sav")
    assert refused.status_code == 413 and "surveyapp export" in refused.text
    assert len(audit_actions(session_factory)) == before  # nothing left the server
    assert client.get("/staff/exports/download?format=csv").status_code == 200  # CSV streams


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("fmt", ["csv", "csv-excel"])
def test_on_postgresql_the_download_is_written_by_the_database_and_is_the_same_file(
    app: Flask,
    foreign: Foreign,
    session_factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    fmt: str,
) -> None:
    from surveyapp.exports import iter_csv
    from surveyapp.instruments import default_registry
    from surveyapp.services import export_csv_sql
    from surveyapp.services import exports as export_service

    by_database = []
    lines = export_csv_sql.iter_lines

    def spied(*args: object, **kwargs: object) -> object:
        by_database.append(fmt)
        return lines(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(export_csv_sql, "iter_lines", spied)
    client = app.test_client()
    login(client, "admin")
    downloaded = _get(client, f"/staff/exports/download?format={fmt}")
    assert by_database == [fmt]
    key = export_service.export_key(settings.cpr_hmac_key)
    with session_factory() as session:  # the same rows through the Python writer
        reach = export_service.system_reach(session, ["990"])
        query = export_service.ExportQuery(municipality_ids=reach.municipality_ids)
        export = export_service.export_layout(default_registry(), query)
        rows = export_service.iter_rows(
            session, reach, query, export, export_service.Pseudonyms(key)
        )
        written = b"".join(iter_csv(export, rows, excel_da=fmt == "csv-excel"))
    assert downloaded == written and len(_csv(downloaded, ";" if fmt == "csv-excel" else ",")) > 20
