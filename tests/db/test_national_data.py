"""The national benchmark dataset: a small one, loaded in bulk, reads like the app's own data."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bench.national_data import generate
from surveyapp.enums import AnswerState, AssignmentStatus, ProviderKind, Sex
from surveyapp.instruments import default_registry, score
from surveyapp.models import (
    Assignment,
    Citizen,
    Course,
    Municipality,
    PlanItem,
    Provider,
    Response,
    Team,
)
from surveyapp.services.integrity import run_checks

TODAY = date(2026, 6, 1)
RESPONSES = 2000
REGISTRY = default_registry()


@pytest.fixture
def loaded(database_url: str) -> dict[str, int]:
    return generate(
        database_url,
        responses=RESPONSES,
        municipalities=5,
        seed=11,
        today=TODAY,
        pool_per_level=20,
    )


def test_the_counts_and_the_organisations(
    loaded: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    assert RESPONSES <= loaded["response"] < RESPONSES + 25  # stops after the course that got there
    with session_factory() as session:
        for table, made in loaded.items():
            assert session.scalar(text(f"SELECT count(*) FROM {table}")) == made  # noqa: S608
        municipalities = session.scalars(
            select(Municipality).options(
                selectinload(Municipality.providers).selectinload(Provider.teams)
            )
        ).all()
        assert len(municipalities) == 5
        for municipality in municipalities:
            assert 2 <= len(municipality.providers) <= 4
            assert municipality.providers[0].kind is ProviderKind.MUNICIPAL
            assert all(1 <= len(p.teams) <= 3 for p in municipality.providers)
        plan_items = session.scalar(select(func.count()).select_from(PlanItem))
        assert loaded["assignment"] == loaded["course"] * plan_items  # every item, every course


def test_every_row_sits_in_its_own_municipality(
    loaded: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        rows = session.execute(
            select(Course, Citizen.municipality_id, Provider.municipality_id, Team.provider_id)
            .join(Citizen, Citizen.id == Course.citizen_id)
            .join(Provider, Provider.id == Course.provider_id)
            .outerjoin(Team, Team.id == Course.team_id)
        ).all()
        assert len(rows) == loaded["course"]
        for course, citizen_municipality, provider_municipality, team_provider in rows:
            assert course.municipality_id == citizen_municipality == provider_municipality
            assert team_provider == course.provider_id
        pattern = re.compile(r"[0-9a-f]{64}")
        hmacs = session.scalars(select(Citizen.cpr_hmac)).all()
        assert all(pattern.fullmatch(h) for h in hmacs)
        assert len(set(hmacs)) == len(hmacs)


def test_responses_follow_their_assignments(
    loaded: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        assignments = session.scalars(
            select(Assignment).options(
                selectinload(Assignment.response).selectinload(Response.scores),
                selectinload(Assignment.response).selectinload(Response.answers),
            )
        ).all()
        statuses = Counter(a.status for a in assignments)
        assert {
            AssignmentStatus.COMPLETED,
            AssignmentStatus.EXPIRED,
            AssignmentStatus.DECLINED,
            AssignmentStatus.SCHEDULED,
        } <= set(statuses)
        now = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)
        for a in assignments:
            assert (a.status is AssignmentStatus.DECLINED) == (a.dropout_reason is not None)
            response = a.response
            answered = a.status in (AssignmentStatus.COMPLETED, AssignmentStatus.IN_PROGRESS)
            assert (response is not None) == answered, a.status
            if a.status is AssignmentStatus.SCHEDULED and a.window_start is not None:
                assert a.window_start > TODAY
            if a.status is AssignmentStatus.EXPIRED:
                assert a.window_end is not None and a.window_end < TODAY
            if response is None:
                assert a.channel is None
                continue
            assert response.instrument_id == a.instrument_id
            assert response.respondent is a.respondent and response.channel is a.channel
            assert response.started_at < now and response.answers
            instrument = REGISTRY.get(response.instrument_id, response.instrument_version)
            if a.status is AssignmentStatus.IN_PROGRESS:
                assert response.submitted_at is None and response.scores == []
                continue
            assert response.submitted_at is not None and response.started_at < response.submitted_at
            assert a.window_start <= response.submitted_at.date() <= a.window_end  # type: ignore[operator]
            assert response.submitted_at < now
            # The stored scores are what scoring the stored answers gives.
            values = {
                x.item_id: x.value for x in response.answers if x.state is AnswerState.ANSWERED
            }
            for x in response.answers:
                assert (x.value is None) == (x.state is not AnswerState.ANSWERED)
            result = score(instrument, {i: values.get(i) for i in instrument.item_ids})
            assert {s.name: s.value for s in response.scores} == {
                name: None if v is None else float(v) for name, v in result.scores.items()
            }
            assert response.scoring_version == result.scoring_version
            assert response.score_notes == list(result.notes)


def test_citizens_improve_from_baseline_to_end(
    loaded: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    by_course: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    with session_factory() as session:
        rows = session.execute(
            text(
                "SELECT a.course_id, a.timepoint_key, s.name, s.value FROM score s "
                "JOIN response r ON r.id = s.response_id "
                "JOIN assignment a ON a.id = r.assignment_id "
                "WHERE s.name IN ('who5_percent', 'whodas12_percent') "
                "AND a.timepoint_key IN ('baseline', 'end') AND s.value IS NOT NULL"
            )
        ).all()
    for course_id, key, name, value in rows:
        by_course[(name, course_id)][key] = value
    changes: dict[str, list[float]] = defaultdict(list)
    for (name, _), values in by_course.items():
        if len(values) == 2:
            changes[name].append(values["end"] - values["baseline"])
    who5, whodas = changes["who5_percent"], changes["whodas12_percent"]
    assert len(who5) > 50 and len(whodas) > 50
    assert 4 < sum(who5) / len(who5) < 13
    assert sum(whodas) / len(whodas) < -2


def test_the_app_can_go_on_writing(
    loaded: dict[str, int], session_factory: sessionmaker[Session], backend: str
) -> None:
    with session_factory.begin() as session:
        municipality_id = session.scalars(select(Municipality.id)).first()
        citizen = Citizen(
            municipality_id=municipality_id,
            cpr_hmac="f" * 64,
            label="ny",
            birth_year=1940,
            sex=Sex.FEMALE,
        )
        session.add(citizen)
        session.flush()
        assert citizen.id == loaded["citizen"] + 1  # the id sequence follows the bulk rows
    if backend == "sqlite":
        with session_factory() as session:
            assert session.scalar(text("PRAGMA journal_mode")) == "wal"


def test_the_data_passes_the_apps_integrity_checks(
    loaded: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    """What `surveyapp check` checks, the measurement rows included: written with the scores
    (measurements.row_values), they must equal what `surveyapp migrate` builds from them."""
    assert loaded["measurement"] > RESPONSES / 2
    with session_factory() as session:
        results = run_checks(session, REGISTRY)
    assert [line for r in results if not r.ok for line in r.lines()] == []
    assert "measurements" in {r.name for r in results}
