"""The GDPR duties on SQLite and PostgreSQL: access request, erasure, retention, old IPs."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.demo import DEMO_MUNICIPALITY
from surveyapp.enums import ActorType, Channel, KioskState, Role
from surveyapp.instruments import default_registry
from surveyapp.models import (
    Answer,
    Assignment,
    AuditEvent,
    Citizen,
    Course,
    KioskSession,
    LinkToken,
    Measurement,
    Municipality,
    Response,
    Score,
    StaffUser,
    utcnow,
)
from surveyapp.pseudonym import normalise_cpr, pseudonymise
from surveyapp.services import audit, privacy, reports
from surveyapp.services.audit import Actor, verify_chain
from surveyapp.services.links import issue_link
from surveyapp.services.responses import record_complete_response
from surveyapp.services.scope import OutOfScope, ReportScope, Scope
from tests.conftest import TEST_CPR_KEY
from tests.support import factories
from tests.support.staff import load_small_demo

TODAY = date(2026, 12, 1)
MONTHS = 36
CUTOFF = date(2023, 12, 1)  # TODAY - 36 months
CPR = "120134-1111"
REGISTRY = default_registry()


@dataclass(frozen=True)
class Held:
    municipality_id: int
    citizen_id: int
    staff_id: int


def _citizen(session: Session, *, end: date | None, cpr: str | None = None) -> Held:
    """A citizen with one course (a response, a letter link and a kiosk visit) and a viewer."""
    start = (end or TODAY) - timedelta(days=60)
    course = factories.course(session, start=start, end=end, today=start)
    citizen = course.citizen
    if cpr is not None:
        citizen.cpr_hmac = pseudonymise(normalise_cpr(cpr), TEST_CPR_KEY)
    staff = StaffUser(
        username=f"kim{citizen.id}",
        full_name="Kim Koordinator",
        role=Role.COORDINATOR,
        municipality_id=citizen.municipality_id,
        password_hash="x",
    )
    session.add(staff)
    session.flush()
    who5 = factories.assignment(course, "who5")
    record_complete_response(
        session,
        who5,
        {f"who5_{n}": 3 for n in range(1, 6)},
        channel=Channel.PAPER,
        language="da",
        registry=REGISTRY,
        started_at=utcnow(),
        submitted_at=utcnow(),
        entered_by_id=staff.id,
    )
    relative = next(a for a in course.assignments if a.respondent.value == "relative")
    issue_link(session, relative, letter_name="Inger")
    session.add(
        KioskSession(
            grant_hash=f"{citizen.id:064x}",
            staff_user_id=staff.id,
            municipality_id=citizen.municipality_id,
            citizen_id=citizen.id,
            assignment_ids=[who5.id],
            state=KioskState.ENDED,
            staff_login_at=utcnow(),
        )
    )
    viewer = Actor(ActorType.STAFF, staff.id, citizen.municipality_id, "192.0.2.5")
    audit.record(session, viewer, "citizen.view", object_type="citizen", object_id=citizen.id)
    audit.record(session, viewer, "citizen.chart", object_type="course", object_id=course.id)
    session.flush()
    return Held(citizen.municipality_id, citizen.id, staff.id)


def _rows_about(session: Session, citizen_id: int) -> dict[str, int]:
    courses = select(Course.id).where(Course.citizen_id == citizen_id)
    assignments = select(Assignment.id).where(Assignment.course_id.in_(courses))
    responses = select(Response.id).where(Response.assignment_id.in_(assignments))

    def count(model: type, *where: object) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return {
        "citizen": count(Citizen, Citizen.id == citizen_id),
        "courses": count(Course, Course.id.in_(courses)),
        "assignments": count(Assignment, Assignment.id.in_(assignments)),
        "responses": count(Response, Response.id.in_(responses)),
        "answers": count(Answer, Answer.response_id.in_(responses)),
        "scores": count(Score, Score.response_id.in_(responses)),
        "measurements": count(Measurement, Measurement.response_id.in_(responses)),
        "links": count(LinkToken, LinkToken.assignment_id.in_(assignments)),
        "kiosk": count(KioskSession, KioskSession.citizen_id == citizen_id),
    }


def _read_zip(archive: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {
            name: list(csv.DictReader(io.StringIO(opened.read(name).decode("utf-8-sig"))))
            for name in opened.namelist()
            if name.endswith(".csv")
        }


def test_an_access_request_holds_everything_and_who_looked(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        held = _citizen(session, end=None, cpr=CPR)
        other = _citizen(session, end=None)
    with session_factory.begin() as session:
        actor = Actor(ActorType.SYSTEM, municipality_id=held.municipality_id)
        found = privacy.find_citizen(
            session,
            actor,
            held.municipality_id,
            CPR,
            hmac_key=TEST_CPR_KEY,
            today=TODAY,
            purpose="access_request",
        )
        assert found.id == held.citizen_id
        archive = privacy.access_request(session, actor, held.municipality_id, found.id)
        with pytest.raises(OutOfScope):  # another municipality's citizen: not found
            privacy.access_request(session, actor, held.municipality_id, other.citizen_id)
    assert "1201341111" not in archive.decode("latin-1") and CPR not in archive.decode("latin-1")
    files = _read_zip(archive)
    assert set(files) == {
        "citizen.csv",
        "courses.csv",
        "measurements.csv",
        "responses.csv",
        "answers.csv",
        "scores.csv",
        "letters.csv",
        "kiosk_visits.csv",
        "access_log.csv",
    }
    assert files["citizen.csv"][0]["label"] == "AB"
    assert len(files["courses.csv"]) == 1
    assert {r["item"] for r in files["answers.csv"]} == {f"who5_{n}" for n in range(1, 6)}
    assert {r["score"]: r["value"] for r in files["scores.csv"]}["who5_raw"] == "15.0"
    assert files["letters.csv"][0]["first_name_in_letter"] == "Inger"
    assert files["kiosk_visits.csv"][0]["staff"].startswith("Kim Koordinator")
    looked = [(r["action"], r["who"]) for r in files["access_log.csv"]]
    assert ("Citizen page viewed", f"Kim Koordinator (kim{held.citizen_id})") in looked
    assert ("Citizen's scores viewed", f"Kim Koordinator (kim{held.citizen_id})") in looked
    assert all("192.0.2.5" not in str(r) for r in files["access_log.csv"])  # staff IPs not given
    with session_factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "citizen.access_request")
        ).one()
        assert event.object_id == str(held.citizen_id) and event.details is not None
        assert event.details["responses"] == 1 and event.details["access_log"] >= 2


def test_an_unknown_cpr_number_is_audited_and_not_found(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        held = _citizen(session, end=None, cpr=CPR)
    actor = Actor(ActorType.SYSTEM, municipality_id=held.municipality_id)
    with session_factory.begin() as session, pytest.raises(OutOfScope):
        privacy.find_citizen(
            session,
            actor,
            held.municipality_id,
            "230338-2222",
            hmac_key=TEST_CPR_KEY,
            today=TODAY,
            purpose="erasure",
        )
    with session_factory() as session:
        details = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "citizen.lookup")
        ).all()
    assert details == [{"result": "not_found", "purpose": "erasure"}]


def test_erasure_deletes_everything_about_the_citizen_and_keeps_the_trail(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        held = _citizen(session, end=None, cpr=CPR)
        neighbour = _citizen(session, end=None)
        before = _rows_about(session, held.citizen_id)
        untouched = _rows_about(session, neighbour.citizen_id)
        events_before = session.scalar(select(func.count()).select_from(AuditEvent))
    assert (
        before
        == {
            "citizen": 1,
            "courses": 1,
            "assignments": before["assignments"],
            "responses": 1,
            "answers": 5,
            "scores": before["scores"],
            "measurements": 1,
            "links": 1,
            "kiosk": 1,
        }
        and before["assignments"] > 1
    )
    actor = Actor(ActorType.SYSTEM, municipality_id=held.municipality_id)
    with session_factory.begin() as session:
        assert privacy.erasure_preview(session, held.municipality_id, held.citizen_id) == {
            "courses": 1,
            "assignments": before["assignments"],
            "responses": 1,
            "links": 1,
            "kiosk_visits": 1,
        }
        with pytest.raises(OutOfScope):
            privacy.erase_citizen(session, actor, held.municipality_id, neighbour.citizen_id)
    with session_factory.begin() as session:
        privacy.erase_citizen(session, actor, held.municipality_id, held.citizen_id)
    with session_factory() as session:
        assert set(_rows_about(session, held.citizen_id).values()) == {0}
        assert _rows_about(session, neighbour.citizen_id) == untouched
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        assert len(actions) == (events_before or 0) + 1 and actions[-1] == "citizen.erase"
        assert "citizen.view" in actions  # the trail keeps its events
        assert verify_chain(session).ok
    with session_factory.begin() as session, pytest.raises(OutOfScope):
        privacy.find_citizen(
            session,
            actor,
            held.municipality_id,
            CPR,
            hmac_key=TEST_CPR_KEY,
            today=TODAY,
            purpose="access_request",
        )


def test_retention_anonymises_on_the_right_side_of_the_boundary(
    session_factory: sessionmaker[Session],
) -> None:
    """Courses that ended the day before the cutoff go; those ending on it or after stay."""
    with session_factory.begin() as session:
        old = _citizen(session, end=CUTOFF - timedelta(days=1))
        on_it = _citizen(session, end=CUTOFF)
        after = _citizen(session, end=CUTOFF + timedelta(days=1))
        still_active = _citizen(session, end=CUTOFF - timedelta(days=400))
        factories.course(session, start=TODAY - timedelta(days=10), today=TODAY)  # filler
        citizen = session.get(Citizen, still_active.citizen_id)
        assert citizen is not None
        second = factories.course(session, start=TODAY - timedelta(days=5), today=TODAY)
        second.citizen_id = citizen.id  # a second, running course of the same citizen
        second.municipality_id = citizen.municipality_id
        lonely = Citizen(
            municipality_id=old.municipality_id,
            cpr_hmac="e" * 64,
            label="never a course",
            birth_year=1940,
            sex="female",
            created_at=utcnow() - timedelta(days=365 * 4),
        )
        session.add(lonely)
        session.flush()
        lonely_id = lonely.id
        old_hmac = session.get(Citizen, old.citizen_id).cpr_hmac  # type: ignore[union-attr]
        kept = {h.citizen_id: _rows_about(session, h.citizen_id) for h in (on_it, after)}
        old_rows = _rows_about(session, old.citizen_id)
    with session_factory.begin() as session:
        summary = privacy.apply_retention(session, audit.SYSTEM, today=TODAY, months=MONTHS)
    assert summary.cutoff == CUTOFF
    assert (summary.citizens_anonymised, summary.courses, summary.links_deleted) == (1, 1, 1)
    assert (summary.kiosk_visits_deleted, summary.citizens_deleted) == (1, 1)
    with session_factory() as session:
        anonymised = session.get(Citizen, old.citizen_id)
        assert anonymised is not None and anonymised.anonymised_at is not None
        assert anonymised.label == "" and anonymised.created_by_id is None
        assert anonymised.cpr_hmac != old_hmac and len(anonymised.cpr_hmac) == 64
        assert (anonymised.birth_year, anonymised.sex.value) == (1940, "female")
        assert _rows_about(session, old.citizen_id) == {**old_rows, "links": 0, "kiosk": 0}
        for citizen_id, rows in kept.items():
            assert _rows_about(session, citizen_id) == rows
            citizen = session.get(Citizen, citizen_id)
            assert citizen is not None and citizen.anonymised_at is None and citizen.label == "AB"
        assert session.get(Citizen, still_active.citizen_id).anonymised_at is None  # type: ignore[union-attr]
        assert session.get(Citizen, lonely_id) is None
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention.run")
        ).one()
        assert event.details is not None and event.details["citizens_anonymised"] == 1
    with session_factory.begin() as session:  # the nightly job again: nothing more to do
        again = privacy.apply_retention(session, audit.SYSTEM, today=TODAY, months=MONTHS)
    assert (again.citizens_anonymised, again.citizens_deleted) == (0, 0)
    with session_factory.begin() as session:  # a day later the course that ended on it goes
        later = privacy.apply_retention(
            session, audit.SYSTEM, today=TODAY + timedelta(days=1), months=MONTHS
        )
    assert later.citizens_anonymised == 1


def test_anonymised_courses_still_count_in_the_reports(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    load_small_demo(session_factory, settings, today=TODAY)
    with session_factory() as session:
        home = session.scalars(
            select(Municipality).where(Municipality.name == DEMO_MUNICIPALITY[1])
        ).one()
    rscope = ReportScope(Scope(1, Role.ADMIN, home.id), frozenset({home.id}))

    def figures() -> dict[str, list[dict[str, object]]]:
        with session_factory() as session:
            return {
                name: list(
                    reports.REPORTS[name](
                        session, rscope, REGISTRY, reports.ReportFilters(), 3
                    ).records()
                )
                for name in ("coverage", "target-group", "progression")
            }

    before = figures()
    assert sum(1 for r in before["target-group"] if r["value"]) > 5  # real numbers to compare
    with session_factory.begin() as session:
        summary = privacy.apply_retention(
            session, audit.SYSTEM, today=TODAY + timedelta(days=365 * 10), months=MONTHS
        )
    assert summary.citizens_anonymised > 0
    with session_factory() as session:
        labels = session.scalars(
            select(Citizen.label).where(Citizen.anonymised_at.is_not(None))
        ).all()
    assert set(labels) == {""}
    assert figures() == before


def test_audit_ip_addresses_are_removed_after_their_retention_period(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        _citizen(session, end=None)  # two events with the viewer's address
    written = utcnow()
    with session_factory.begin() as session:
        assert (
            privacy.forget_old_ip_addresses(
                session, audit.SYSTEM, now=written + timedelta(days=89), days=90
            )
            == 0
        )
    with session_factory.begin() as session:
        removed = privacy.forget_old_ip_addresses(
            session, audit.SYSTEM, now=written + timedelta(days=90, seconds=5), days=90
        )
    assert removed == 2
    with session_factory() as session:
        assert session.scalars(select(AuditEvent.ip_address)).all() == [None] * len(
            session.scalars(select(AuditEvent.id)).all()
        )
        report = verify_chain(session)
    assert report.ok and report.ips_forgotten == 2
