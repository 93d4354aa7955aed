"""Demo data: every later screen has something meaningful to show, and no raw CPR is stored."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import String, Text, func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.demo import DEMO_USERS, load_demo_data
from surveyapp.enums import AssignmentStatus, Channel, ProviderKind, Respondent
from surveyapp.models import (
    Assignment,
    AuditEvent,
    Base,
    Citizen,
    Course,
    Provider,
    Response,
    Score,
    StaffUser,
)
from surveyapp.security import verify_secret

TODAY = date(2026, 11, 23)
CPR_LIKE = re.compile(r"\b\d{6}-?\d{4}\b")


@pytest.fixture
def loaded(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    summary = load_demo_data(session_factory, settings, seed=7, citizens=25, today=TODAY)
    assert summary.startswith("demo data loaded: 25 citizens, 25 courses")
    return session_factory


def test_demo_organisations_and_logins(loaded: sessionmaker[Session]) -> None:
    with loaded() as session:
        kinds = Counter(session.scalars(select(Provider.kind)))
        assert kinds[ProviderKind.MUNICIPAL] == 2 and kinds[ProviderKind.PRIVATE] == 1
        users = {u.username: u for u in session.scalars(select(StaffUser))}
        for demo in DEMO_USERS:
            assert users[demo.username].password_hash.startswith("$argon2id$")
            assert verify_secret(users[demo.username].password_hash, demo.password)
        assert {u.role for u in users.values()} == {"admin", "coordinator", "analyst"}


def test_demo_courses_have_answers_scores_and_dropout(loaded: sessionmaker[Session]) -> None:
    with loaded() as session:
        statuses = Counter(session.scalars(select(Assignment.status)))
        assert statuses[AssignmentStatus.COMPLETED] > 100
        assert statuses[AssignmentStatus.DECLINED] > 0
        assert statuses[AssignmentStatus.EXPIRED] > 0
        declined = session.scalars(
            select(Assignment).where(Assignment.status == AssignmentStatus.DECLINED)
        ).all()
        assert all(a.dropout_reason is not None for a in declined)
        responses = session.scalars(select(Response)).all()
        assert {r.respondent for r in responses} == set(Respondent)
        assert {r.channel for r in responses} >= {Channel.KIOSK, Channel.LINK, Channel.STAFF}
        assert all(r.submitted_at and r.scoring_version for r in responses)
        who5 = session.scalars(select(Score.value).where(Score.name == "who5_percent")).all()
        assert who5 and all(v is None or 0 <= v <= 100 for v in who5)
        keys = Counter(
            session.scalars(
                select(Assignment.timepoint_key).where(
                    Assignment.status == AssignmentStatus.COMPLETED
                )
            )
        )
        assert {"baseline", "end", "fu_3m", "fu_1y"} <= set(keys)
        starts = session.scalars(select(Course.start_date)).all()
        assert (max(starts) - min(starts)).days > 365


def test_no_raw_cpr_anywhere(loaded: sessionmaker[Session]) -> None:
    with loaded() as session:
        for table in Base.metadata.sorted_tables:
            text_columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            for row in session.execute(select(*text_columns)) if text_columns else []:
                for value in row:
                    assert not (isinstance(value, str) and CPR_LIKE.search(value)), table.name
        hmacs = session.scalars(select(Citizen.cpr_hmac)).all()
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hmacs)


def test_demo_is_loaded_only_into_an_empty_database(
    loaded: sessionmaker[Session], settings: Settings
) -> None:
    again = load_demo_data(loaded, settings, seed=7, citizens=25, today=TODAY)
    assert "already holds data" in again
    with loaded() as session:
        assert session.scalar(select(func.count()).select_from(Citizen)) == 25
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "demo.load")
            )
            == 1
        )


def test_demo_is_refused_in_production(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    production = Settings(
        env="production",
        database_url=settings.database_url,
        secret_key="x" * 40,
        cpr_hmac_key="y" * 40,
    )
    with pytest.raises(RuntimeError, match="never loaded in production"):
        load_demo_data(session_factory, production, citizens=1, today=TODAY)
