"""Responses: opened once per assignment, answers saved one by one, submitted once and scored.

Every answer is stored when it is given, so nothing is lost if the page is reloaded or the
battery dies; saving the same answer again changes nothing. Submission is idempotent: the
first submit scores and closes the response, a retried or double submit returns it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from surveyapp.enums import AnswerState, AssignmentStatus, Channel
from surveyapp.instruments import Instrument, Registry, score
from surveyapp.instruments.model import Item
from surveyapp.models import Answer, Assignment, Response, Score, utcnow
from surveyapp.services import measurements

AnswerInput = int | AnswerState
CLOSED_STATUSES = frozenset({AssignmentStatus.COMPLETED, AssignmentStatus.DECLINED})


class AnswerRejected(ValueError):
    """An answer or submission that cannot be accepted; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # unknown_item, invalid_value, closed, unknown_language


def check_answer(item: Item, answer: AnswerInput) -> None:
    """Raise AnswerRejected unless `answer` is allowed for `item`."""
    if isinstance(answer, AnswerState):
        allowed = {
            AnswerState.DONT_KNOW: item.dont_know,
            AnswerState.NOT_APPLICABLE: item.not_applicable,
            AnswerState.ANSWERED: False,
        }[answer]
        if not allowed:
            raise AnswerRejected("invalid_value", f"{item.id}: {answer.value} is not offered")
        return
    if isinstance(answer, bool) or not isinstance(answer, int) or answer not in item.values:
        raise AnswerRejected("invalid_value", f"{item.id}: {answer!r} is not an allowed value")


def open_response(
    session: Session,
    assignment: Assignment,
    *,
    channel: Channel,
    language: str,
    registry: Registry,
    now: datetime | None = None,
    entered_by_id: int | None = None,
    flush: bool = True,
) -> Response:
    """The assignment's response, started now if it has none yet."""
    if assignment.response is not None:
        return assignment.response
    if assignment.status in CLOSED_STATUSES:
        raise AnswerRejected("closed", "this questionnaire is closed")
    instrument = registry.get(assignment.instrument_id)
    if language not in instrument.languages:
        raise AnswerRejected("unknown_language", f"{instrument.id} has no language {language}")
    info = instrument.languages[language]
    now = now or utcnow()
    response = Response(
        assignment=assignment,
        instrument_id=instrument.id,
        instrument_version=instrument.version,
        language=language,
        text_version=info.text_version,
        text_verified=info.verified,
        channel=channel,
        respondent=assignment.respondent,
        entered_by_id=entered_by_id,
        started_at=now,
        answers=[],
        scores=[],  # new: nothing to load from the database
    )
    session.add(response)
    assignment.channel = channel
    _set_status(assignment, AssignmentStatus.IN_PROGRESS, now)
    if flush:  # surface constraint errors here, inside the caller's retry
        session.flush()
    return response


def save_answer(
    session: Session,
    response: Response,
    item_id: str,
    answer: AnswerInput,
    *,
    registry: Registry,
    now: datetime | None = None,
    flush: bool = True,
) -> Answer:
    """Store (or change) one item's answer of an unsubmitted response.

    With flush=False the change is sent with the caller's next flush (the last answer goes out
    with the submission's own statements).
    """
    answer_row = _apply_answer(
        response, _instrument(registry, response), item_id, answer, now or utcnow()
    )
    if flush:
        session.flush()
    return answer_row


def _apply_answer(
    response: Response, instrument: Instrument, item_id: str, answer: AnswerInput, now: datetime
) -> Answer:
    if response.submitted_at is not None:
        raise AnswerRejected("closed", "this questionnaire has already been sent")
    try:
        item = instrument.item(item_id)
    except KeyError:
        raise AnswerRejected("unknown_item", f"{instrument.id} has no item {item_id!r}") from None
    check_answer(item, answer)
    state = answer if isinstance(answer, AnswerState) else AnswerState.ANSWERED
    value = None if isinstance(answer, AnswerState) else answer
    existing = next((a for a in response.answers if a.item_id == item_id), None)
    if existing is None:
        existing = Answer(item_id=item_id, state=state, value=value, answered_at=now)
        response.answers.append(existing)
    elif (existing.state, existing.value) != (state, value):
        existing.state, existing.value, existing.answered_at = state, value, now
    response.last_answer_at = now
    return existing


def submit_response(
    session: Session,
    response: Response,
    *,
    registry: Registry,
    submission_key: str | None = None,
    now: datetime | None = None,
    flush: bool = True,
) -> Response:
    """Score and close the response; a repeated submit returns it unchanged."""
    if response.submitted_at is not None:
        return response
    instrument = _instrument(registry, response)
    values = {a.item_id: a.value for a in response.answers if a.state is AnswerState.ANSWERED}
    result = score(instrument, {item_id: values.get(item_id) for item_id in instrument.item_ids})
    now = now or utcnow()
    scores = {name: None if v is None else float(v) for name, v in result.scores.items()}
    stored = response.id is not None
    if stored:
        # An unsubmitted response has no measurement row (it is written only here, once):
        # say so, rather than have the ORM load the nothing it would replace.
        set_committed_value(response, "measurement", None)
    else:  # not in the database yet: the scores go in with it, by the unit of work
        response.scores = [Score(name=name, value=value) for name, value in scores.items()]
    with session.no_autoflush:  # a look-up of the measurement layout flushes nothing early
        measurements.record(session, response, response.assignment, instrument, scores)
    response.scoring_version = result.scoring_version
    response.score_notes = list(result.notes)
    response.submitted_at = now
    response.submission_key = submission_key
    _set_status(response.assignment, AssignmentStatus.COMPLETED, now)
    if stored:
        # Nor has it a score yet: all of them in one statement (after the one flush of the
        # response, its last answer, the assignment and the measurement that it sets off).
        session.execute(
            insert(Score),
            [{"response_id": response.id, "name": n, "value": v} for n, v in scores.items()],
        )
        session.expire(response, ["scores"])
    if flush:
        session.flush()
    return response


def record_complete_response(
    session: Session,
    assignment: Assignment,
    answers: Mapping[str, AnswerInput],
    *,
    channel: Channel,
    language: str,
    registry: Registry,
    started_at: datetime,
    submitted_at: datetime,
    entered_by_id: int | None = None,
    flush: bool = True,
) -> Response:
    """Store a whole response at once (paper forms, staff forms, demo data) and score it.

    With flush=False nothing is sent to the database yet (bulk loading flushes once later).
    """
    with session.no_autoflush:
        response = open_response(
            session,
            assignment,
            channel=channel,
            language=language,
            registry=registry,
            now=started_at,
            entered_by_id=entered_by_id,
            flush=False,
        )
        instrument = _instrument(registry, response)
        for item_id, answer in answers.items():
            _apply_answer(response, instrument, item_id, answer, submitted_at)
        submit_response(session, response, registry=registry, now=submitted_at, flush=False)
    if flush:
        session.flush()
    return response


def _instrument(registry: Registry, response: Response) -> Instrument:
    return registry.get(response.instrument_id, response.instrument_version)


def _set_status(assignment: Assignment, status: AssignmentStatus, now: datetime) -> None:
    if assignment.status is not status:
        assignment.status = status
        assignment.status_changed_at = now


def answers_by_item(response: Response | None) -> dict[str, Answer]:
    """The response's answers keyed by item id (empty for no response)."""
    return {} if response is None else {a.item_id: a for a in response.answers}


def resume_position(instrument: Instrument, response: Response | None) -> int:
    """1-based number of the question to show when a respondent comes back.

    The first required question without an answer; if there is none, the question after the
    furthest one answered (optional questions may have been skipped); 1 for a fresh start.
    """
    answered = answers_by_item(response)
    for number, item in enumerate(instrument.items, start=1):
        if not item.optional and item.id not in answered:
            return number
    furthest = max(
        (n for n, item in enumerate(instrument.items, start=1) if item.id in answered),
        default=0,
    )
    return min(furthest + 1, len(instrument.items))


def missing_required(instrument: Instrument, response: Response) -> list[str]:
    """Required items of the response that have no answer yet."""
    answered = answers_by_item(response)
    return [i.id for i in instrument.items if not i.optional and i.id not in answered]


def change_language(response: Response, language: str, *, registry: Registry) -> None:
    """Switch an unanswered response to another language (and that language's text version)."""
    instrument = _instrument(registry, response)
    if response.answers or response.submitted_at is not None:
        raise AnswerRejected("closed", "the language is fixed once answering has begun")
    if language not in instrument.languages:
        raise AnswerRejected("unknown_language", f"{instrument.id} has no language {language}")
    info = instrument.languages[language]
    response.language, response.text_version = language, info.text_version
    response.text_verified = info.verified
