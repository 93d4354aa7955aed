"""The measurement table the reports read: written with the scores, rebuilt from them, its
value positions never reused; and the schema rule the coverage report packs its codes on."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AssignmentStatus, DropoutReason, Respondent, Role
from surveyapp.instruments import Registry, default_registry
from surveyapp.models import Assignment, Measurement, MeasurementColumn, Response, Score
from surveyapp.services import measurements, reports
from surveyapp.services.scope import ReportScope, Scope
from tests.support.report_data import Seeder

REGISTRY = default_registry()
WHO5 = {f"who5_{i}": 3 for i in range(1, 6)}  # raw 15 -> 60 %
START = {"sm_1": 7, "sm_2": 8, "sm_3": 6, "sm_4": 9}


def rows(session: Session) -> list[tuple[object, ...]]:
    """Every measurement row with its values by score name (positions looked up)."""
    names = {
        (c.instrument_id, c.position): c.name for c in session.scalars(select(MeasurementColumn))
    }
    found = []
    for m in session.scalars(select(Measurement).order_by(Measurement.response_id)):
        values = {
            names[(m.instrument_id, p)]: getattr(m, f"v{p}")
            for p in range(12)
            if (m.instrument_id, p) in names
        }
        found.append((m.instrument_id, m.course_id, m.respondent, m.timepoint_id, values))
    return found


def test_a_submitted_response_gets_its_reported_scores_in_one_row(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        course = seeder.course()
        who5 = seeder.answer(course, "who5", "baseline", WHO5)
        seeder.answer(course, "start_meeting", "baseline", START)
        outcome = {"co_help_need": 1, "co_self_sufficient": 1}
        seeder.answer(course, "course_outcome", "end", outcome, respondent=Respondent.STAFF)
        found = rows(session)
    assert [(r[0], r[3] == who5.timepoint_id) for r in found] == [
        ("who5", True),
        ("start_meeting", True),
    ]  # the staff form reports no score: no row
    assert found[0][4] == {"who5_percent": 60.0}
    assert found[1][4] == {
        "start_meeting_sm_1": 7.0,
        "start_meeting_sm_2": 8.0,
        "start_meeting_sm_3": 6.0,
        "start_meeting_sm_4": 9.0,
        "start_meeting_mean": 7.5,
    }


def test_sync_rebuilds_what_is_missing_and_what_was_written_agrees_with_a_rebuild(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        for _ in range(3):
            course = seeder.course()
            seeder.answer(course, "who5", "baseline", WHO5)
            seeder.answer(course, "start_meeting", "baseline", START)
        written = rows(session)
        first = {r.instrument_id: r.rebuilt for r in measurements.sync(session, REGISTRY)}
        assert first == dict.fromkeys(REGISTRY.ids(), False)  # nothing to do
        session.execute(delete(Measurement).where(Measurement.instrument_id == "who5"))
        again = {r.instrument_id: (r.rebuilt, r.rows) for r in measurements.sync(session, REGISTRY)}
        assert again["who5"] == (True, 3)
        assert again["start_meeting"] == (False, 3)
        assert rows(session) == written
        measurements.sync(session, REGISTRY, rebuild=True)
        assert rows(session) == written


def _reordered(registry: Registry) -> Registry:
    """The registry with the start meeting's reported scores in reverse order."""
    from surveyapp.instruments.loader import Registry as RegistryClass

    changed = []
    for instrument in registry:
        if instrument.id == "start_meeting":
            instrument = replace(instrument, scores=tuple(reversed(instrument.scores)))
        changed.append(instrument)
    return RegistryClass(changed)


def test_positions_are_kept_when_a_definition_reorders_its_scores(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        course = seeder.course()
        seeder.answer(course, "start_meeting", "baseline", START)
        before = measurements.layout(session, "start_meeting")
        reordered = _reordered(REGISTRY)
        assert [s.name for s in reordered.get("start_meeting").reported_scores][0] == (
            "start_meeting_mean"
        )
        results = {r.instrument_id: r.rebuilt for r in measurements.sync(session, reordered)}
        assert results["start_meeting"] is False
        assert measurements.layout(session, "start_meeting") == before
        later = seeder.course()
        seeder.registry = reordered
        seeder.answer(later, "start_meeting", "baseline", START)
        values = [r[4] for r in rows(session)]
    assert values[0] == values[1]  # same scores, same positions, whatever the order


def test_an_instrument_cannot_report_more_scores_than_there_are_columns(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        session.add_all(
            MeasurementColumn(instrument_id="who5", position=p, name=f"old_{p}") for p in range(12)
        )
        session.flush()
        with pytest.raises(measurements.MeasurementFull, match="who5 reports more than 12"):
            measurements.positions(session, REGISTRY.get("who5"))


def test_deleting_a_response_deletes_its_measurement(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        course = seeder.course()
        assignment = seeder.answer(course, "who5", "baseline", WHO5)
        response_id = assignment.response.id
        session.execute(delete(Score).where(Score.response_id == response_id))
        session.execute(delete(Response).where(Response.id == response_id))
        assert session.scalar(select(func.count()).select_from(Measurement)) == 0


def test_one_assignment_per_course_timepoint_instrument_and_respondent(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        seeder = Seeder(session)
        course = seeder.course()
        baseline = seeder.assignment(course, "who5", "baseline", Respondent.CITIZEN)
        end = seeder.assignment(course, "who5", "end", Respondent.CITIZEN)
        session.commit()
        # Another assignment pointing at the baseline's timepoint under another key.
        with pytest.raises(IntegrityError):
            session.execute(
                update(Assignment)
                .where(Assignment.id == end.id)
                .values(timepoint_id=baseline.timepoint_id)
            )
            session.flush()
        session.rollback()


def test_coverage_packs_any_number_of_slots(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packed 2 slots to an integer instead of 12, the coverage report says the same."""
    with session_factory.begin() as session:
        seeder = Seeder(session)
        courses = [seeder.course() for _ in range(8)]
        for index, course in enumerate(courses):
            seeder.answer(course, "who5", "baseline", WHO5)
            if index % 2:
                seeder.answer(course, "who5", "end", WHO5)
            if index % 3 == 0:
                seeder.answer(course, "who5", "fu_1y", WHO5)
            if index > 4:
                seeder.set_status(
                    course, "who5", "fu_2y", AssignmentStatus.DECLINED, reason=DropoutReason.MOVED
                )
        rscope = ReportScope(
            Scope(1, Role.ADMIN, seeder.municipality.id), frozenset({seeder.municipality.id})
        )

        def records() -> list[dict[str, object]]:
            result = reports.coverage(session, rscope, REGISTRY, reports.ReportFilters(), 3)
            return list(result.records())

        packed_by_twelve = records()
        monkeypatch.setattr(reports, "_SLOTS_PER_PACK", 2)
        packed_by_two = records()
    assert packed_by_two == packed_by_twelve
    measured = [r for r in packed_by_two if r.get("column") == "reason.moved"]
    assert any(r["value"] == 3 for r in measured)


def test_positions_handed_out_in_a_rolled_back_transaction_are_not_remembered(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        session.connection()
        measurements.positions(session, REGISTRY.get("who5"))
        session.rollback()  # the submit failed: the positions were never stored
    with session_factory() as session:
        assert measurements.layout(session, "who5") == {}
        assert measurements.positions(session, REGISTRY.get("who5")) == {"who5_percent": 0}
        session.commit()
    with session_factory() as session:
        assert measurements.layout(session, "who5") == {"who5_percent": 0}
