"""Importing paper and legacy responses: found or created, scored like the rest, all or nothing."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import JSON, String, Text, func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.cli import main
from surveyapp.config import Settings
from surveyapp.enums import AnswerState, AssignmentStatus, Channel, Respondent, Role
from surveyapp.importing import ImportProblem, ImportRejected, parse
from surveyapp.instruments import default_registry
from surveyapp.instruments.batch import score_csv
from surveyapp.models import (
    Assignment,
    AuditEvent,
    Base,
    Citizen,
    Course,
    MeasurementPlan,
    Municipality,
    Provider,
    Response,
    StaffUser,
    Team,
)
from surveyapp.plans import DEFAULT_PLAN
from surveyapp.pseudonym import normalise_cpr, read_cpr
from surveyapp.services.courses import create_course, create_plan, default_plan
from surveyapp.services.imports import ImportSummary, import_responses, preview_import
from surveyapp.services.responses import open_response, record_complete_response, save_answer
from surveyapp.services.scope import NotPermitted, Scope
from tests.support import factories
from tests.support.staff import load_small_demo

REGISTRY = default_registry()
TODAY = date(2025, 6, 1)
CPR, CPR2, CPR3 = "120134-1111", "230338-2222", "050541-3333"
ALL_CPRS = (CPR, CPR2, CPR3)
CPR_LIKE = re.compile(r"\b\d{6}-?\d{4}\b")
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "paper-responses.csv"
WHO5 = {f"who5_{i}": v for i, v in enumerate(["3", "4", "2", "5", "1"], start=1)}
WHODAS = {f"S{i}": str(1 + i % 5) for i in range(1, 13)}


@dataclass(frozen=True)
class Org:
    municipality_id: int
    code: str
    provider_id: int
    other_code: str


@pytest.fixture
def org(session_factory: sessionmaker[Session]) -> Org:
    with session_factory.begin() as session:
        _citizen, provider, team = factories.organisation(session)
        session.add(Team(provider=provider, name="Team Syd"))
        _other, other_provider, _ = factories.organisation(
            session, municipality_name="Nabolund Kommune"
        )
        default_plan(session)
        municipality = session.get(Municipality, provider.municipality_id)
        other = session.get(Municipality, other_provider.municipality_id)
        assert municipality is not None and other is not None
        return Org(municipality.id, municipality.code, provider.id, other.code)


def row(org: Org, **cells: str) -> dict[str, str]:
    base = {
        "municipality": org.code,
        "provider": "Hjemmeplejen",
        "cpr": CPR,
        "course_start": "2025-01-06",
        "timepoint": "baseline",
        "instrument": "who5",
        "respondent": "citizen",
        "answered_on": "2025-01-07",
    }
    return {**base, **cells}


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def rows_of(settings: Settings, rows: list[dict[str, str]]) -> list:  # type: ignore[type-arg]
    return parse(csv_bytes(rows), registry=REGISTRY, hmac_key=settings.cpr_hmac_key, today=TODAY)


def run_import(
    factory: sessionmaker[Session],
    settings: Settings,
    rows: list[dict[str, str]],
    scope: Scope | None = None,
) -> ImportSummary:
    checked = rows_of(settings, rows)
    with factory.begin() as session:
        return import_responses(session, checked, registry=REGISTRY, today=TODAY, scope=scope)


def rejected(
    factory: sessionmaker[Session],
    settings: Settings,
    rows: list[dict[str, str]],
    scope: Scope | None = None,
) -> list[ImportProblem]:
    with pytest.raises(ImportRejected) as caught:
        run_import(factory, settings, rows, scope)
    return caught.value.problems


def where(problems: list[ImportProblem]) -> list[tuple[int | None, str | None, str]]:
    return [(p.row, p.column, p.code) for p in problems]


def counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        return {
            t.name: session.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def pseudonym(settings: Settings, cpr: str = CPR) -> str:
    return read_cpr(cpr, settings.cpr_hmac_key).pseudonym


def batch_scores(instrument_id: str, answers: dict[str, str]) -> dict[str, float | None]:
    """What `surveyapp score` gives for the same items (an empty cell is missing)."""
    infile = io.StringIO(",".join(answers) + "\n" + ",".join(answers.values()) + "\n")
    out = io.StringIO()
    score_csv(instrument_id, infile, out, REGISTRY)
    header, values = list(csv.reader(io.StringIO(out.getvalue())))
    scored = dict(zip(header, values, strict=True))
    return {
        name: (float(scored[name]) if scored[name] else None)
        for name in header[len(answers) :]
        if not name.endswith("_note")
    }


def stored(session: Session, instrument_id: str, respondent: Respondent) -> Response:
    return session.scalars(
        select(Response).where(
            Response.instrument_id == instrument_id, Response.respondent == respondent
        )
    ).one()


# --- what an import stores ---------------------------------------------------------------------


def test_an_import_creates_citizen_and_course_and_stores_scored_responses(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    before = counts(session_factory)
    summary = run_import(
        session_factory,
        settings,
        [
            row(org, team="Team Nord", label="KB-7", **WHO5),
            row(org, instrument="whodas12", **{**WHODAS, "S12": "Ikke relevant", "H1": "3"}),
            row(
                org,
                instrument="start_meeting",
                respondent="relative",
                sm_1="8",
                sm_2="Ved ikke",
                sm_3="10",
                sm_4="",
            ),
            row(
                org,
                timepoint="end",
                course_end="2025-03-01",
                instrument="course_outcome",
                respondent="staff",
                answered_on="2025-03-03",
                co_help_need="1",
                co_quality_of_life="ved ikke",
            ),
        ],
    )
    assert summary.details() == {
        "rows": 4,
        "citizens_created": 1,
        "citizens_found": 0,
        "courses_created": 1,
        "courses_found": 0,
        "courses_updated": 0,
        "responses": {
            "course_outcome/staff": 1,
            "start_meeting/relative": 1,
            "who5/citizen": 1,
            "whodas12/citizen": 1,
        },
        "municipality_ids": [org.municipality_id],
    }
    after = counts(session_factory)
    assert after["citizen"] == before["citizen"] + 1
    assert after["course"] == before["course"] + 1
    assert after["response"] == before["response"] + 4
    with session_factory() as session:
        citizen = session.scalars(
            select(Citizen).where(Citizen.cpr_hmac == pseudonym(settings))
        ).one()
        assert (citizen.label, citizen.birth_year, citizen.sex.value) == ("KB-7", 1934, "male")
        course = session.scalars(select(Course).where(Course.citizen_id == citizen.id)).one()
        assert course.plan.municipality_id is None and course.plan.is_default
        assert course.team is not None and course.team.name == "Team Nord"
        assert (course.start_date, course.end_date) == (date(2025, 1, 6), date(2025, 3, 1))
        who5 = stored(session, "who5", Respondent.CITIZEN)
        assert who5.channel is Channel.IMPORT and who5.assignment.channel is Channel.IMPORT
        assert who5.language == "da"
        assert who5.text_version == REGISTRY.get("who5").languages["da"].text_version
        assert who5.submitted_at == datetime(2025, 1, 7, 11, 0, tzinfo=UTC)  # noon in Denmark
        assert who5.assignment.status is AssignmentStatus.COMPLETED
        assert who5.assignment.course_id == course.id
        assert who5.assignment.timepoint_key == "baseline"
        assert {a.item_id: a.value for a in who5.answers} == {k: int(v) for k, v in WHO5.items()}
        for response, items in (
            (who5, WHO5),
            (stored(session, "whodas12", Respondent.CITIZEN), {**WHODAS, "S12": "", "H1": "3"}),
        ):
            scores = {s.name: s.value for s in response.scores}
            assert scores == batch_scores(response.instrument_id, items)
            assert response.scoring_version is not None
        whodas = stored(session, "whodas12", Respondent.CITIZEN)
        s12 = next(a for a in whodas.answers if a.item_id == "S12")
        assert (s12.state, s12.value) == (AnswerState.NOT_APPLICABLE, None)
        assert "imputed:S12" in (whodas.score_notes or [])
        meeting = stored(session, "start_meeting", Respondent.RELATIVE)
        states = {a.item_id: (a.state, a.value) for a in meeting.answers}
        assert states == {
            "sm_1": (AnswerState.ANSWERED, 8),
            "sm_2": (AnswerState.DONT_KNOW, None),  # a state, never a value
            "sm_3": (AnswerState.ANSWERED, 10),
        }
        assert {s.name: s.value for s in meeting.scores} == batch_scores(
            "start_meeting", {"sm_1": "8", "sm_2": "", "sm_3": "10", "sm_4": ""}
        )
        outcome = stored(session, "course_outcome", Respondent.STAFF)
        assert outcome.assignment.timepoint_key == "end"
        assert {a.item_id: a.state for a in outcome.answers}["co_quality_of_life"] is (
            AnswerState.DONT_KNOW
        )
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "responses.import")
        ).all()
        assert len(events) == 1
        assert events[0].details == {**summary.details(), "source": "cli"}
        assert events[0].actor_type == "system"
        assert events[0].municipality_id == org.municipality_id


def test_an_existing_citizen_and_course_are_found_and_given_what_they_lack(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    with session_factory.begin() as session:
        provider = session.get(Provider, org.provider_id)
        assert provider is not None
        citizen = Citizen(
            municipality_id=org.municipality_id,
            cpr_hmac=pseudonym(settings),
            label="Kept",
            birth_year=1934,
            sex=read_cpr(CPR, settings.cpr_hmac_key).sex,
        )
        session.add(citizen)
        session.flush()
        course = create_course(
            session,
            citizen=citizen,
            provider=provider,
            team=None,
            plan=default_plan(session),
            start_date=date(2025, 1, 6),
            today=TODAY,
        )
        course_id = course.id
        end_due = factories.assignment(course, "who5", timepoint="end").due_date
    assert end_due is None  # an end-anchored measurement waits for the end date
    before = counts(session_factory)
    summary = run_import(
        session_factory,
        settings,
        [
            row(org, label="Not used", **WHO5),
            row(org, timepoint="end", team="team nord", course_end="2025-03-01", **WHO5),
        ],
    )
    assert (summary.citizens_created, summary.citizens_found) == (0, 1)
    assert (summary.courses_created, summary.courses_found, summary.courses_updated) == (0, 1, 1)
    after = counts(session_factory)
    assert (after["citizen"], after["course"]) == (before["citizen"], before["course"])
    assert after["response"] == before["response"] + 2
    with session_factory() as session:
        course = session.get(Course, course_id)
        assert course is not None
        assert course.citizen.label == "Kept"  # an existing citizen's label is never changed
        assert course.team is not None and course.team.name == "Team Nord"
        assert course.end_date == date(2025, 3, 1)
        end = factories.assignment(course, "who5", timepoint="end")
        assert end.due_date == date(2025, 3, 1) and end.status is AssignmentStatus.COMPLETED


def test_a_started_kiosk_session_is_replaced_and_a_missed_measurement_is_answered(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    with session_factory.begin() as session:
        provider = session.get(Provider, org.provider_id)
        assert provider is not None
        citizen = Citizen(
            municipality_id=org.municipality_id,
            cpr_hmac=pseudonym(settings),
            label="K",
            birth_year=1934,
            sex=read_cpr(CPR, settings.cpr_hmac_key).sex,
        )
        session.add(citizen)
        session.flush()
        course = create_course(
            session,
            citizen=citizen,
            provider=provider,
            team=None,
            plan=default_plan(session),
            start_date=date(2025, 1, 6),
            today=TODAY,
        )
        begun = factories.assignment(course, "who5")
        response = open_response(
            session, begun, channel=Channel.KIOSK, language="en", registry=REGISTRY
        )
        save_answer(session, response, "who5_1", 0, registry=REGISTRY)
        missed = factories.assignment(course, "whodas12")
        assert missed.status is AssignmentStatus.EXPIRED
        ids = (begun.id, missed.id)
    run_import(
        session_factory, settings, [row(org, **WHO5), row(org, instrument="whodas12", **WHODAS)]
    )
    with session_factory() as session:
        for assignment_id in ids:
            assignment = session.get(Assignment, assignment_id)
            assert assignment is not None and assignment.response is not None
            assert assignment.status is AssignmentStatus.COMPLETED
            assert assignment.response.channel is Channel.IMPORT
            assert assignment.response.language == "da"
        begun_answers = session.get(Assignment, ids[0]).response.answers  # type: ignore[union-attr]
        assert {a.item_id: a.value for a in begun_answers}["who5_1"] == 3


def test_municipality_by_name_code_or_name_without_kommune(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    summary = run_import(
        session_factory,
        settings,
        [
            row(org, municipality="Sølvstrand Kommune", **WHO5),
            row(org, municipality="sølvstrand", timepoint="end", **WHO5),
            row(org, municipality="0" + org.code, timepoint="fu_3m", **WHO5),
            row(org, municipality=" SØLVSTRAND  KOMMUNE ", timepoint="fu_1y", **WHO5),
        ],
    )
    assert (summary.citizens_created, summary.courses_created, summary.response_count) == (1, 1, 4)


def test_new_courses_follow_the_municipalitys_own_default_plan_if_it_has_one(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    with session_factory.begin() as session:
        own = create_plan(
            session, DEFAULT_PLAN, is_default=True, municipality_id=org.municipality_id
        )
        own_id = own.id
    run_import(session_factory, settings, [row(org, **WHO5)])
    with session_factory() as session:
        assert session.scalars(select(Course.plan_id)).all()[-1] == own_id


# --- all or nothing ----------------------------------------------------------------------------


def test_every_problem_found_in_the_database_is_listed_and_nothing_changes(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    # An existing course of CPR2 with team Nord and an end date: its baseline WHO-5 is answered
    # on paper and its baseline WHODAS-12 is a drop-out.
    with session_factory.begin() as session:
        provider = session.get(Provider, org.provider_id)
        assert provider is not None
        citizen = Citizen(
            municipality_id=org.municipality_id,
            cpr_hmac=pseudonym(settings, CPR2),
            label="E",
            birth_year=1938,
            sex=read_cpr(CPR2, settings.cpr_hmac_key).sex,
        )
        session.add(citizen)
        session.flush()
        course = create_course(
            session,
            citizen=citizen,
            provider=provider,
            team=next(t for t in provider.teams if t.name == "Team Nord"),
            plan=default_plan(session),
            start_date=date(2025, 1, 6),
            end_date=date(2025, 3, 1),
            today=TODAY,
        )
        record_complete_response(
            session,
            factories.assignment(course, "who5"),
            {"who5_1": 1},
            channel=Channel.PAPER,
            language="da",
            registry=REGISTRY,
            started_at=datetime(2025, 1, 8, 11, tzinfo=UTC),
            submitted_at=datetime(2025, 1, 8, 11, tzinfo=UTC),
        )
        declined = factories.assignment(course, "whodas12")
        declined.status = AssignmentStatus.DECLINED
    existing = {"cpr": CPR2}
    rows = [
        row(org, label="AB", **WHO5),  # 2: good, a new citizen and course
        row(org, municipality="Atlantis", **WHO5),  # 3
        row(org, provider="Nobody ApS", **WHO5),  # 4
        row(org, team="Team Vest", **WHO5),  # 5
        row(org, timepoint="fu_9y", **WHO5),  # 6
        row(org, respondent="relative", **WHO5),  # 7: the plan gives WHO-5 to citizens only
        row(org, **existing, **WHO5),  # 8: answered on paper already
        row(org, **existing, instrument="whodas12", **WHODAS),  # 9: drop-out
        row(org, **WHO5),  # 10: row 2 again
        row(org, **existing, timepoint="end", course_end="2025-04-01", **WHO5),  # 11
        row(org, **existing, timepoint="end", team="Team Syd", **WHO5),  # 12
        row(org, timepoint="end", label="CD", **WHO5),  # 13: row 2's citizen, another label
        row(org, timepoint="fu_3m", label="AB", **WHO5),  # 14: good
    ]
    before = counts(session_factory)
    problems = rejected(session_factory, settings, rows)
    assert where(problems) == [
        (3, "municipality", "unknown_municipality"),
        (4, "provider", "unknown_provider"),
        (5, "team", "unknown_team"),
        (6, "timepoint", "unknown_timepoint"),
        (7, "instrument", "not_in_plan"),
        (8, None, "already_answered"),
        (9, None, "dropped_out"),
        (10, None, "duplicate_row"),
        (11, "course_end", "course_end_differs"),
        (12, "team", "team_differs"),
        (13, "label", "label_differs"),
    ]
    messages = [str(p) for p in problems]
    assert (
        messages[0]
        == "row 3, column municipality: no municipality 'Atlantis' (name or kommunekode)"
    )
    assert messages[3] == (
        "row 6, column timepoint: the course's plan has no timepoint 'fu_9y' "
        "(it has baseline, end, fu_3m, fu_1y, fu_2y)"
    )
    assert messages[5] == (
        "row 8: this measurement is already answered (on 2025-01-08, channel paper); "
        "a response is never stored twice"
    )
    assert messages[7] == "row 10: the same measurement as row 2"
    assert messages[8] == "row 11, column course_end: the course already ends on 2025-03-01"
    assert counts(session_factory) == before
    with session_factory() as session:
        assert (
            session.scalars(select(Citizen).where(Citizen.cpr_hmac == pseudonym(settings))).first()
            is None
        )


def test_one_bad_row_among_good_ones_changes_nothing(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    good = [
        row(org, cpr=cpr, timepoint=tp, **WHO5)
        for cpr in (CPR, CPR3)
        for tp in ("baseline", "end", "fu_3m")
    ]
    before = counts(session_factory)
    problems = rejected(session_factory, settings, [*good, row(org, provider="Nobody", **WHO5)])
    assert where(problems) == [(8, "provider", "unknown_provider")]
    assert counts(session_factory) == before
    run_import(session_factory, settings, good)  # the same rows without the bad one
    assert counts(session_factory)["response"] == before["response"] + 6


def test_importing_the_same_file_again_is_refused_and_changes_nothing(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    rows = [row(org, **WHO5), row(org, instrument="whodas12", **WHODAS)]
    run_import(session_factory, settings, rows)
    before = counts(session_factory)
    problems = rejected(session_factory, settings, rows)
    assert where(problems) == [(2, None, "already_answered"), (3, None, "already_answered")]
    assert "channel import" in str(problems[0])
    assert counts(session_factory) == before


def test_a_preview_keeps_nothing_but_its_audit_event(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    rows = [row(org, **WHO5), row(org, cpr=CPR3, **WHO5)]
    before = counts(session_factory)
    with session_factory.begin() as session:
        preview = preview_import(session, rows_of(settings, rows), registry=REGISTRY, today=TODAY)
    after = counts(session_factory)
    assert {k: v for k, v in after.items() if v != before[k]} == {
        "audit_event": before["audit_event"] + 1
    }
    summary = run_import(session_factory, settings, rows)
    assert preview.details() == summary.details()
    assert (summary.citizens_created, summary.response_count) == (2, 2)
    with session_factory() as session:
        assert session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()[-2:] == [
            "responses.import_preview",
            "responses.import",
        ]


def test_an_admin_imports_only_into_their_own_municipality(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    with session_factory.begin() as session:
        admin = StaffUser(
            username="importer",
            full_name="I",
            role=Role.ADMIN,
            municipality_id=org.municipality_id,
            password_hash="x",
        )
        session.add(admin)
        session.flush()
        scope = Scope(admin.id, Role.ADMIN, org.municipality_id)
    before = counts(session_factory)
    problems = rejected(
        session_factory,
        settings,
        [row(org, **WHO5), row(org, municipality=org.other_code, cpr=CPR3, **WHO5)],
        scope,
    )
    assert where(problems) == [(3, "municipality", "other_municipality")]
    assert counts(session_factory) == before
    summary = run_import(session_factory, settings, [row(org, **WHO5)], scope)
    assert summary.response_count == 1
    with session_factory() as session:
        citizen = session.scalars(
            select(Citizen).where(Citizen.cpr_hmac == pseudonym(settings))
        ).one()
        assert citizen.created_by_id == admin.id and citizen.label == "Import"
        response = session.scalars(select(Response)).one()
        assert response.entered_by_id == admin.id
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "responses.import")
        ).one()
        assert (event.actor_user_id, event.details["source"]) == (admin.id, "web")  # type: ignore[index]
    coordinator = Scope(admin.id, Role.COORDINATOR, org.municipality_id)
    with pytest.raises(NotPermitted):
        run_import(session_factory, settings, [row(org, cpr=CPR3, **WHO5)], coordinator)


def test_no_cpr_number_is_stored_anywhere(
    session_factory: sessionmaker[Session], settings: Settings, org: Org
) -> None:
    rows = [row(org, cpr=cpr, **WHO5) for cpr in ALL_CPRS]
    with session_factory.begin() as session:
        preview_import(session, rows_of(settings, rows), registry=REGISTRY, today=TODAY)
    rejected(session_factory, settings, [*rows, row(org, provider="x", **WHO5)])
    run_import(session_factory, settings, rows)
    digits = {normalise_cpr(c) for c in ALL_CPRS}
    with session_factory() as session:
        scanned = 0
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            for values in session.execute(select(*columns)) if columns else []:
                for value in values:
                    text = str(value)
                    scanned += 1
                    assert not CPR_LIKE.search(text), table.name
                    assert not any(d in text for d in digits), table.name
        assert scanned > 100
        assert session.scalar(select(func.count()).select_from(Citizen)) == 2 + 3


# --- the command line --------------------------------------------------------------------------


def _cli_env(settings: Settings) -> dict[str, str]:
    return {
        "SURVEYAPP_ENV": "test",
        "SURVEYAPP_DATABASE_URL": settings.database_url,
        "SURVEYAPP_CPR_HMAC_KEY": settings.cpr_hmac_key,
        "SURVEYAPP_SECRET_KEY": settings.secret_key,
    }


def test_the_command_imports_a_file_and_says_what_it_made(
    session_factory: sessionmaker[Session], settings: Settings, org: Org, tmp_path: Path
) -> None:
    path = tmp_path / "paper.csv"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + csv_bytes([row(org, **WHO5), row(org, instrument="whodas12", **WHODAS)]).replace(
            b",", b";"
        )
    )
    dry = CliRunner().invoke(
        main, ["import-responses", str(path), "--dry-run"], env=_cli_env(settings)
    )
    assert dry.exit_code == 0, dry.stderr
    assert "would import 2 responses from 2 rows" in dry.stdout
    assert counts(session_factory)["response"] == 0
    done = CliRunner().invoke(main, ["import-responses", str(path)], env=_cli_env(settings))
    assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines() == [
        "paper.csv: imported 2 responses from 2 rows",
        "  citizens: 1 new, 0 found; courses: 1 new, 0 found (0 given a team or end date)",
        "  who5            citizen   1",
        "  whodas12        citizen   1",
    ]
    assert counts(session_factory)["response"] == 2


def test_the_command_lists_every_problem_on_stderr_and_exits_2(
    session_factory: sessionmaker[Session], settings: Settings, org: Org, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        csv_bytes(
            [
                row(org, **WHO5),
                row(org, cpr="310299-1234", **WHO5),
                row(org, cpr=CPR2, who5_1="9"),
                row(org, cpr=CPR3, provider="Nobody", **WHO5),
            ]
        )
    )
    before = counts(session_factory)
    result = CliRunner().invoke(main, ["import-responses", str(path)], env=_cli_env(settings))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "surveyapp import-responses: bad.csv: nothing imported, 2 problem(s):",
        "  row 3, column cpr: not a valid CPR number",
        "  row 4, column who5_1: '9' is not an answer to this item (allowed: 0–5)",
    ]
    path.write_bytes(csv_bytes([row(org, **WHO5), row(org, cpr=CPR3, provider="Nobody", **WHO5)]))
    result = CliRunner().invoke(main, ["import-responses", str(path)], env=_cli_env(settings))
    assert result.exit_code == 2
    assert "row 3, column provider: Sølvstrand Kommune has no provider 'Nobody'" in result.stderr
    for cpr in ALL_CPRS + ("310299-1234",):
        assert normalise_cpr(cpr) not in result.stderr + result.stdout
    assert counts(session_factory) == before


def test_the_example_file_imports_into_the_demo_data(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    load_small_demo(session_factory, settings, today=TODAY)
    rows = parse(
        EXAMPLE.read_bytes(), registry=REGISTRY, hmac_key=settings.cpr_hmac_key, today=TODAY
    )
    with session_factory.begin() as session:
        summary = import_responses(session, rows, registry=REGISTRY, today=TODAY)
    assert summary.rows == len(rows) >= 8
    assert summary.citizens_found == 1  # a demo citizen (120134-1111) has a new course
    assert summary.citizens_created >= 2
    assert {i for i, _r, _n in summary.response_rows()} == {
        "who5",
        "whodas12",
        "start_meeting",
        "course_outcome",
    }
    with session_factory() as session:
        plans = session.scalars(select(MeasurementPlan)).all()
        assert plans and session.scalar(
            select(func.count()).select_from(Response).where(Response.channel == Channel.IMPORT)
        ) == len(rows)
