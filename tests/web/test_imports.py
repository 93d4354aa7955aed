"""Admins import paper responses in the browser: upload → preview → confirm → done."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from surveyapp.config import Settings
from surveyapp.enums import Channel, Role
from surveyapp.importing import parse
from surveyapp.instruments import default_registry
from surveyapp.models import AuditEvent, Citizen, Municipality, Response, StaffUser
from surveyapp.pseudonym import normalise_cpr
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret
from surveyapp.services.imports import import_responses
from tests.support.staff import load_small_demo, login, token

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "paper-responses.csv"
EXAMPLE_CPRS = ("010245-1236", "150352-2468", "120134-1111")
UPLOAD = "/staff/admin/import"
HEADER = (
    "municipality;provider;cpr;course_start;timepoint;instrument;respondent;answered_on;"
    "who5_1;who5_2;who5_3;who5_4;who5_5"
)


@pytest.fixture
def pending_dir(app: Flask, tmp_path: Path) -> Path:
    directory = tmp_path / "pending"
    app.config["SURVEYAPP_IMPORT_DIR"] = str(directory)
    return directory


@pytest.fixture
def demo(session_factory: sessionmaker[Session], settings: Settings, pending_dir: Path) -> None:
    load_small_demo(session_factory, settings)


@pytest.fixture
def admin(client: FlaskClient, demo: None) -> FlaskClient:
    login(client, "admin")
    return client


def upload(
    client: FlaskClient, data: bytes, filename: str = "paper.csv", *, csrf: bool = True
) -> TestResponse:
    """Post a file as a browser does (the body built in memory, as big uploads need)."""
    fields: dict[str, object] = {"file": FileStorage(io.BytesIO(data), filename)}
    if csrf:
        fields["csrf_token"] = token(client, UPLOAD)
    boundary, body = encode_multipart(fields)
    return client.post(UPLOAD, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def imported(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Response).where(Response.channel == Channel.IMPORT)
            )
            or 0
        )


def problem_cells(html: str) -> list[tuple[str, str]]:
    """(row, column) of every problem listed on the page."""
    body = html.split('id="problems"', 1)[1]
    return re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>", body)


def no_cpr_in(text: str, cprs: tuple[str, ...] = EXAMPLE_CPRS) -> bool:
    return not any(c in text or normalise_cpr(c) in text for c in cprs)


def token_of(location: str) -> str:
    match = re.fullmatch(r"/staff/admin/import/([A-Za-z0-9_-]+)", location)
    assert match, location
    return match.group(1)


def test_admin_uploads_previews_confirms_and_sees_what_was_imported(
    admin: FlaskClient, session_factory: sessionmaker[Session], pending_dir: Path
) -> None:
    page = admin.get(UPLOAD)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert f'href="{UPLOAD}"' in page.text  # in the staff menu
    sent = upload(admin, EXAMPLE.read_bytes())
    assert sent.status_code == 303
    pending = token_of(sent.headers["Location"])
    assert imported(session_factory) == 0  # nothing before the confirmation
    (kept,) = pending_dir.iterdir()
    assert kept.stat().st_mode & 0o077 == 0  # readable by the app's user only
    assert no_cpr_in(kept.read_text(encoding="utf-8"))
    preview = admin.get(sent.headers["Location"])
    assert preview.status_code == 200
    assert no_cpr_in(preview.text)
    for title in ("WHO-5", "WHODAS 2.0", "Forløbets resultat"):
        assert title in preview.text
    assert re.search(r"<td>9</td>", preview.text)  # rows, and responses in all
    done = admin.post(sent.headers["Location"], data={"csrf_token": token(admin, UPLOAD)})
    assert done.status_code == 303 and done.headers["Location"] == f"{UPLOAD}/done"
    assert imported(session_factory) == 9
    assert list(pending_dir.iterdir()) == []
    shown = admin.get(f"{UPLOAD}/done")
    assert shown.status_code == 200 and no_cpr_in(shown.text)
    assert re.search(r"<td>9</td>", shown.text)
    assert admin.get(f"{UPLOAD}/{pending}").status_code == 404  # used up
    again = admin.post(sent.headers["Location"], data={"csrf_token": token(admin, UPLOAD)})
    assert again.status_code == 404 and imported(session_factory) == 9  # a second click
    with session_factory() as session:
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("responses.import%"))
            .order_by(AuditEvent.id)
        ).all()
        assert actions == ["responses.import_preview", "responses.import"]
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "responses.import")
        ).one()
        assert event.details is not None and event.details["source"] == "web"
        assert no_cpr_in(str(event.details))


def test_an_xlsx_workbook_is_imported_too(
    admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER.split(";"))
    sheet.append(
        [990, "Sølvstrand Hjemmepleje", 102451236, "2024-09-02", "baseline", "who5"]
        + ["citizen", "2024-09-03", 1, 2, 3, 4, 5]
    )
    out = io.BytesIO()
    workbook.save(out)
    sent = upload(admin, out.getvalue(), "paper.xlsx")
    assert sent.status_code == 303
    admin.post(sent.headers["Location"], data={"csrf_token": token(admin, UPLOAD)})
    assert imported(session_factory) == 1


def test_every_bad_row_and_column_is_listed_and_nothing_is_imported(
    admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    good = "990;Sølvstrand Hjemmepleje;010245-1236;2024-09-02;baseline;who5;citizen;2024-09-03"
    lines = [
        HEADER,
        f"{good};1;2;3;4;5",
        f"{good.replace('010245-1236', '310299-1234')};1;2;3;4;5",
        f"{good.replace('baseline', 'end')};1;2;9;4;x",
    ]
    sent = upload(admin, ("\n".join(lines) + "\n").encode("utf-8-sig"))
    assert sent.status_code == 422
    assert problem_cells(sent.text) == [("3", "cpr"), ("4", "who5_3"), ("4", "who5_5")]
    assert no_cpr_in(sent.text, ("010245-1236", "310299-1234"))
    # Checks that need the database come after the file itself is right.
    lines[2] = f"{good.replace('Hjemmepleje', 'Nobody')};1;2;3;4;5"
    lines[3] = "991;Nabolund Træning;150352-2468;2024-09-02;end;who5;citizen;2024-09-03;1;2;3;4;5"
    sent = upload(admin, ("\n".join(lines) + "\n").encode())
    assert sent.status_code == 422
    assert problem_cells(sent.text) == [("3", "provider"), ("4", "municipality")]
    assert imported(session_factory) == 0
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Citizen)) == 20


def test_problems_are_shown_in_the_users_language(admin: FlaskClient) -> None:
    admin.post("/language", data={"locale": "en", "csrf_token": token(admin, UPLOAD)})
    lines = [
        HEADER + ";notes",
        "990;Sølvstrand Hjemmepleje;12;2024-09-02;baseline;who5;citizen;2024-09-03;1;2;3;4;5;",
        "991;Nabolund Træning;010245-1236;2024-09-02;baseline;who5;citizen;2024-09-03;1;2;3;4;5;",
    ]
    sent = upload(admin, ("\n".join(lines) + "\n").encode())
    assert sent.status_code == 422
    assert "Nothing was imported" in sent.text
    assert "Unknown columns: notes." in sent.text
    assert "not a valid CPR number" in sent.text
    lines[0], lines[1] = HEADER, lines[1][:-1].replace(";12;", ";150352-2468;")
    lines[2] = lines[2][:-1]
    sent = upload(admin, ("\n".join(lines) + "\n").encode())
    assert "you can import only into your own municipality" in sent.text
    assert problem_cells(sent.text) == [("3", "municipality")]


def test_coordinators_and_analysts_get_403(
    app: Flask, admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    sent = upload(admin, EXAMPLE.read_bytes())
    preview = sent.headers["Location"]
    for username in ("koordinator", "terapeut", "analytiker"):
        other = app.test_client()
        login(other, username)
        assert other.get(UPLOAD).status_code == 403
        csrf = token(other, "/")
        assert other.post(UPLOAD, data={"csrf_token": csrf}).status_code == 403
        assert other.get(preview).status_code == 403
        assert other.post(preview, data={"csrf_token": csrf}).status_code == 403
        assert other.post(f"{preview}/cancel", data={"csrf_token": csrf}).status_code == 403
        assert other.get(f"{UPLOAD}/done").status_code == 403
    assert imported(session_factory) == 0
    assert admin.get(preview).status_code == 200


def test_another_admin_cannot_see_or_confirm_my_preview(
    app: Flask, admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        by_code = dict(session.execute(select(Municipality.code, Municipality.id)).tuples().all())
        for username, code in (("admin2", "990"), ("naboadmin", "991")):
            session.add(
                StaffUser(
                    username=username,
                    full_name=username,
                    role=Role.ADMIN,
                    municipality_id=by_code[code],
                    password_hash=hash_secret("another-password-1"),
                )
            )
    preview = upload(admin, EXAMPLE.read_bytes()).headers["Location"]
    for username in ("admin2", "naboadmin"):
        other = app.test_client()
        login(other, username, "another-password-1")
        assert other.get(preview).status_code == 404
        confirm = other.post(preview, data={"csrf_token": token(other, UPLOAD)})
        assert confirm.status_code == 404
    assert imported(session_factory) == 0
    assert admin.get(preview).status_code == 200


def test_confirming_needs_the_csrf_token(
    admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    preview = upload(admin, EXAMPLE.read_bytes()).headers["Location"]
    assert admin.post(preview).status_code == 400
    assert admin.post(preview, data={"csrf_token": "forged"}).status_code == 400
    no_token = upload(admin, EXAMPLE.read_bytes(), csrf=False)
    assert no_token.status_code == 400
    assert imported(session_factory) == 0


def test_a_preview_is_forgotten_when_cancelled_or_after_an_hour(
    admin: FlaskClient, pending_dir: Path
) -> None:
    preview = upload(admin, EXAMPLE.read_bytes()).headers["Location"]
    cancelled = admin.post(f"{preview}/cancel", data={"csrf_token": token(admin, UPLOAD)})
    assert cancelled.status_code == 303 and cancelled.headers["Location"] == UPLOAD
    assert list(pending_dir.iterdir()) == []
    assert admin.get(preview).status_code == 404
    preview = upload(admin, EXAMPLE.read_bytes()).headers["Location"]
    (kept,) = pending_dir.iterdir()
    old = time.time() - 3601
    os.utime(kept, (old, old))
    assert admin.get(preview).status_code == 404
    assert not kept.exists()


def test_confirming_checks_the_database_again(
    admin: FlaskClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    preview = upload(admin, EXAMPLE.read_bytes()).headers["Location"]
    registry = default_registry()
    rows = parse(
        EXAMPLE.read_bytes(),
        registry=registry,
        hmac_key=settings.cpr_hmac_key,
        today=today_in_denmark(),
    )
    with session_factory.begin() as session:  # someone imports the same file meanwhile
        import_responses(session, rows, registry=registry, today=today_in_denmark())
    refused = admin.post(preview, data={"csrf_token": token(admin, UPLOAD)})
    assert refused.status_code == 409
    assert len(problem_cells(refused.text)) == 9
    assert imported(session_factory) == 9  # not 18


def test_a_file_over_the_limit_gets_a_clear_message(admin: FlaskClient) -> None:
    over = (HEADER + "\n").encode() + b"x" * (10 * 1024 * 1024)
    for data, status in ((over, 422), (over + b"x" * 100_000, 413)):  # the file; the request
        sent = upload(admin, data)
        assert sent.status_code == status
        assert "10 MB" in sent.text and 'id="problems"' in sent.text
    just_under = upload(admin, (HEADER + "\n").encode() + b"x\n" * (5 * 1024 * 1024 - 200))
    assert just_under.status_code == 422  # read and checked, not refused for its size
    assert "50.000" in just_under.text  # too many rows, in Danish number format


def test_an_upload_is_never_spooled_to_a_temporary_file(
    admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_disk(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the upload was written to a temporary file")

    data = EXAMPLE.read_bytes()
    lines = data.decode("utf-8-sig").splitlines()
    padded = "\n".join(lines + [";" * 38] * 15000).encode()
    assert len(padded) > 500 * 1024  # werkzeug spools bigger uploads to disk by default
    monkeypatch.setattr("werkzeug.wrappers.request.default_stream_factory", no_disk)
    assert upload(admin, padded).status_code == 303
