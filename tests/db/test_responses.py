"""Answers are saved one by one, never twice; submission scores once and is idempotent."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AnswerState, AssignmentStatus, Channel, Respondent
from surveyapp.instruments import default_registry
from surveyapp.models import Answer, Assignment, Response
from surveyapp.services.responses import (
    AnswerRejected,
    open_response,
    record_complete_response,
    save_answer,
    submit_response,
)
from tests.support import factories

REGISTRY = default_registry()
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _assignment(
    session: Session, instrument_id: str = "who5", respondent: Respondent = Respondent.CITIZEN
) -> Assignment:
    course = factories.course(session, start=date(2026, 3, 1), today=date(2026, 3, 2))
    return factories.assignment(course, instrument_id, respondent)


def test_answers_are_saved_as_given_and_changed_in_place(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        assignment = _assignment(session)
        response = open_response(
            session, assignment, channel=Channel.KIOSK, language="da", registry=REGISTRY, now=NOW
        )
        assert assignment.status is AssignmentStatus.IN_PROGRESS
        assert response.text_version == REGISTRY.get("who5").languages["da"].text_version
        assert (
            open_response(
                session, assignment, channel=Channel.KIOSK, language="en", registry=REGISTRY
            )
            is response
        )  # reopening resumes
        save_answer(session, response, "who5_1", 3, registry=REGISTRY)
        save_answer(session, response, "who5_1", 3, registry=REGISTRY)  # double tap
        save_answer(session, response, "who5_1", 4, registry=REGISTRY)  # changed via back
        response_id = response.id
    with session_factory() as session:
        answers = session.scalars(select(Answer).where(Answer.response_id == response_id)).all()
        assert [(a.item_id, a.value) for a in answers] == [("who5_1", 4)]


@pytest.mark.parametrize(
    ("item_id", "answer", "code"),
    [
        ("who5_9", 3, "unknown_item"),
        ("who5_1", 6, "invalid_value"),
        ("who5_1", -1, "invalid_value"),
        ("who5_1", True, "invalid_value"),
        ("who5_1", AnswerState.NOT_APPLICABLE, "invalid_value"),
    ],
)
def test_bad_answers_are_rejected_and_change_nothing(
    session_factory: sessionmaker[Session], item_id: str, answer: object, code: str
) -> None:
    with session_factory.begin() as session:
        response = open_response(
            session, _assignment(session), channel=Channel.LINK, language="da", registry=REGISTRY
        )
        with pytest.raises(AnswerRejected) as info:
            save_answer(session, response, item_id, answer, registry=REGISTRY)  # type: ignore[arg-type]
        assert info.value.code == code
        assert response.answers == []


def test_dont_know_is_stored_as_such_never_as_a_value(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        assignment = _assignment(session, "start_meeting")
        response = record_complete_response(
            session,
            assignment,
            {"sm_1": 8, "sm_2": AnswerState.DONT_KNOW, "sm_3": 6, "sm_4": 7},
            channel=Channel.KIOSK,
            language="da",
            registry=REGISTRY,
            started_at=NOW,
            submitted_at=NOW,
        )
        dont_know = next(a for a in response.answers if a.item_id == "sm_2")
        assert (dont_know.state, dont_know.value) == (AnswerState.DONT_KNOW, None)
        scores = {s.name: s.value for s in response.scores}
        assert scores["start_meeting_mean"] == pytest.approx(7.0)


def test_submit_scores_once_and_a_retry_changes_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        assignment = _assignment(session)
        response = open_response(
            session, assignment, channel=Channel.KIOSK, language="da", registry=REGISTRY
        )
        for i, value in enumerate([4, 1, 0, 2, 3], start=1):
            save_answer(session, response, f"who5_{i}", value, registry=REGISTRY)
        submit_response(session, response, registry=REGISTRY, submission_key="k1", now=NOW)
        again = submit_response(session, response, registry=REGISTRY, submission_key="k2")
        assert again is response and response.submitted_at == NOW
        assert response.submission_key == "k1"
        assert assignment.status is AssignmentStatus.COMPLETED
        scores = {s.name: s.value for s in response.scores}
        assert scores["who5_raw"] == 10 and scores["who5_percent"] == 40
        assert response.scoring_version
        with pytest.raises(AnswerRejected, match="already been sent"):
            save_answer(session, response, "who5_1", 5, registry=REGISTRY)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Response)) == 1


def test_incomplete_who5_is_stored_unscored_with_a_note(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        response = record_complete_response(
            session,
            _assignment(session),
            {"who5_1": 3, "who5_2": 3},
            channel=Channel.PAPER,
            language="da",
            registry=REGISTRY,
            started_at=NOW,
            submitted_at=NOW,
        )
        scores = {s.name: s.value for s in response.scores}
        assert scores["who5_percent"] is None
        assert response.score_notes


def test_closed_assignments_cannot_be_opened(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        assignment = _assignment(session)
        assignment.status = AssignmentStatus.DECLINED
        with pytest.raises(AnswerRejected) as info:
            open_response(
                session, assignment, channel=Channel.KIOSK, language="da", registry=REGISTRY
            )
        assert info.value.code == "closed"
