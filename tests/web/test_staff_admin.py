"""Admin screens: users, passwords, the audit trail and measurement plans with a preview."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.models import Assignment, Course, MeasurementPlan, PlanTimepoint, StaffUser
from tests.support.staff import FOREIGN_LABEL, Foreign, load_small_demo, login, post


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    return load_small_demo(session_factory, settings)


@pytest.fixture
def admin(client: FlaskClient, foreign: Foreign) -> FlaskClient:
    login(client, "admin")
    return client


def test_admin_creates_a_user_who_can_log_in_and_resets_the_password(
    app: Flask, admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    page = admin.get("/staff/admin/users").text
    assert "koordinator" in page and "nabo" not in page
    created = post(
        admin,
        "/staff/admin/users",
        {
            "username": "Ny.Terapeut",
            "full_name": "Ny Terapeut",
            "role": "coordinator",
            "provider_id": "0",
            "team_id": "0",
            "password": "et-godt-kodeord",
            "password_again": "et-godt-kodeord",
        },
    )
    assert created.status_code == 303
    with session_factory() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == "ny.terapeut")).one()
        assert user.password_hash.startswith("$argon2id$")
    newcomer = app.test_client()
    assert login(newcomer, "ny.terapeut", "et-godt-kodeord").status_code == 302
    assert newcomer.get("/staff/due").status_code == 200
    short = post(
        admin,
        f"/staff/admin/users/{user.id}/password",
        {"password": "kort", "password_again": "kort"},
    )
    assert short.status_code == 200 and "12" in short.text
    common = post(
        admin,
        f"/staff/admin/users/{user.id}/password",
        {"password": "Password2024!", "password_again": "Password2024!"},
    )
    assert common.status_code == 200 and 'class="error"' in common.text
    reset = post(
        admin,
        f"/staff/admin/users/{user.id}/password",
        {"password": "et-nyt-kodeord", "password_again": "et-nyt-kodeord"},
    )
    assert reset.status_code == 303
    assert newcomer.get("/staff/due").status_code == 302  # the reset ended the session
    assert login(newcomer, "ny.terapeut", "et-nyt-kodeord").status_code == 302
    duplicate = post(
        admin,
        "/staff/admin/users",
        {
            "username": "ny.terapeut",
            "full_name": "X",
            "role": "analyst",
            "provider_id": "0",
            "team_id": "0",
            "password": "et-godt-kodeord",
            "password_again": "et-godt-kodeord",
        },
    )
    assert "Brugernavnet er optaget" in duplicate.text


def test_audit_search_shows_own_municipality_only(admin: FlaskClient, foreign: Foreign) -> None:
    admin.get(f"/staff/citizens/{foreign.citizen_id}")  # refused, and not a view of data
    page = admin.get("/staff/admin/audit?action=login")
    assert page.status_code == 200 and "<code>login</code>" in page.text
    everything = admin.get("/staff/admin/audit").text
    assert "plan.copy" not in everything  # Nabolund's copy in the fixture is not ours
    assert FOREIGN_LABEL not in everything
    by_type = admin.get("/staff/admin/audit?object_type=staff_user").text
    assert "staff_user" in by_type


def test_plan_copy_preview_then_apply_moves_open_measurements(
    admin: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        default = session.scalars(select(MeasurementPlan).where(MeasurementPlan.is_default)).one()
    shared = admin.get(f"/staff/admin/plans/{default.id}").text
    assert "Redigér" not in shared  # the shared plan is read-only
    copied = post(admin, f"/staff/admin/plans/{default.id}", {"name": "Sølvstrands plan"})
    plan_id = int(copied.headers["Location"].rsplit("/", 1)[1])
    # A course on the new plan.
    with session_factory() as session:
        citizen_id = session.scalars(
            select(Course.citizen_id).where(Course.municipality_id == 1)
        ).first()
        provider_id = session.scalars(
            select(Course.provider_id).where(Course.municipality_id == 1)
        ).first()
    response = post(
        admin,
        f"/staff/citizens/{citizen_id}/courses/new",
        {
            "provider_id": provider_id,
            "team_id": "0",
            "legal_basis": "83a",
            "plan_id": plan_id,
            "start_date": "2099-01-01",
            "end_date": "2099-03-01",
        },
    )
    assert response.status_code == 303
    with session_factory() as session:
        fu = session.scalars(
            select(PlanTimepoint).where(
                PlanTimepoint.plan_id == plan_id, PlanTimepoint.key == "fu_3m"
            )
        ).one()
        course_id = session.scalars(select(Course.id).where(Course.plan_id == plan_id)).one()
    url = f"/staff/admin/plans/{plan_id}/timepoints/{fu.id}"
    fields = {
        "key": "fu_3m",
        "label_da": "Opfølgning 4 mdr.",
        "label_en": "Follow-up 4 months",
        "anchor": "course_end",
        "offset_months": "4",
        "offset_days": "0",
        "window_before_days": "14",
        "window_after_days": "21",
        "items": ["who5:citizen", "course_outcome:staff", "start_meeting:relative"],
    }
    preview = post(admin, url, {**fields, "preview": "y"})
    assert preview.status_code == 200 and "Det ændres" in preview.text
    digest = re.search(r'name="preview_digest" type="hidden" value="([0-9a-f]+)"', preview.text)
    assert digest
    # Apply with changed fields but the old preview: shows a new preview instead of applying.
    changed = post(
        admin,
        url,
        {**fields, "offset_months": "5", "apply": "y", "preview_digest": digest.group(1)},
    )
    assert changed.status_code == 200
    with session_factory() as session:
        assert session.get(PlanTimepoint, fu.id).offset_months == 3  # type: ignore[union-attr]
    applied = post(admin, url, {**fields, "apply": "y", "preview_digest": digest.group(1)})
    assert applied.status_code == 303
    with session_factory() as session:
        rows = session.scalars(
            select(Assignment).where(
                Assignment.course_id == course_id, Assignment.timepoint_key == "fu_3m"
            )
        ).all()
        pairs = {(a.instrument_id, a.respondent.value): a.due_date for a in rows}
    assert set(pairs) == {
        ("who5", "citizen"),
        ("course_outcome", "staff"),
        ("start_meeting", "relative"),
    }
    assert str(pairs[("who5", "citizen")]) == "2099-07-01"  # end + 4 months
    # Removing a timepoint takes its unanswered measurements with it.
    delete_page = admin.get(f"/staff/admin/plans/{plan_id}/timepoints/{fu.id}/delete")
    assert delete_page.status_code == 200
    post(admin, f"/staff/admin/plans/{plan_id}/timepoints/{fu.id}/delete")
    with session_factory() as session:
        left = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.course_id == course_id, Assignment.timepoint_key == "fu_3m")
        )
    assert left == 0


def test_sweep_button(admin: FlaskClient) -> None:
    response = post(admin, "/staff/admin/sweep")
    assert response.status_code == 303
