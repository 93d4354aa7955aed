"""Staff services on SQLite and PostgreSQL: scoping, CPR lookup, due list, sweep, drop-out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AssignmentStatus, DropoutReason, ProviderKind, Respondent, Role
from surveyapp.models import Assignment, AuditEvent, Municipality, Provider, StaffUser, Team
from surveyapp.services.assignments import due_list, record_dropout, refresh_statuses
from surveyapp.services.citizens import LookupOutcome, find_or_register, list_citizens
from surveyapp.services.courses import create_course, default_plan
from surveyapp.services.scope import OutOfScope, Scope, get_citizen, get_course

KEY = "test-key"
TODAY = date(2026, 3, 10)


def _org(session: Session, code: str) -> tuple[Municipality, Provider, Provider, Team]:
    municipality = Municipality(code=code, name=f"Kommune {code}")
    own = Provider(
        municipality=municipality,
        name="Hjemmeplejen",
        kind=ProviderKind.MUNICIPAL,
        unit_name="Hjemmeplejen",
    )
    private = Provider(
        municipality=municipality, name="Privat ApS", kind=ProviderKind.PRIVATE, unit_name="Privat"
    )
    team = Team(provider=own, name="Nord")
    session.add_all([municipality, own, private, team])
    session.flush()
    return municipality, own, private, team


def test_scopes_lookup_due_list_sweep_and_dropout(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        home, own, private, team = _org(session, "990")
        away, *_ = _org(session, "991")
        ids = []
        for n, (municipality, provider) in enumerate(
            [(home, None), (home, private), (away, None), (home, None)]
        ):
            user = StaffUser(
                username=f"u{n}",
                full_name="U",
                role=Role.COORDINATOR,
                municipality=municipality,
                provider=provider,
                password_hash="x",
            )
            session.add(user)
            session.flush()
            ids.append(user.id)
        coordinator = Scope(ids[0], Role.COORDINATOR, home.id)
        supplier = Scope(ids[1], Role.COORDINATOR, home.id, provider_id=private.id)
        neighbour = Scope(ids[2], Role.COORDINATOR, away.id)
        analyst = Scope(ids[3], Role.ANALYST, home.id)
        result = find_or_register(session, coordinator, "010150-1234", hmac_key=KEY, today=TODAY)
        assert result.outcome is LookupOutcome.NOT_FOUND
        created = find_or_register(
            session, coordinator, "0101501234", hmac_key=KEY, label="AB", today=TODAY
        )
        assert created.outcome is LookupOutcome.CREATED
        again = find_or_register(session, coordinator, "010150-1234", hmac_key=KEY, today=TODAY)
        assert (again.outcome, again.citizen_id) == (LookupOutcome.FOUND, created.citizen_id)
        # The same CPR in another municipality is another (unfound) citizen.
        assert (
            find_or_register(session, neighbour, "010150-1234", hmac_key=KEY, today=TODAY).outcome
            is LookupOutcome.NOT_FOUND
        )
        # A private provider does not see the municipality's citizen without a course there,
        # and is told nothing more than for a citizen nobody registered.
        assert (
            find_or_register(session, supplier, "010150-1234", hmac_key=KEY, today=TODAY).outcome
            is LookupOutcome.NOT_FOUND
        )
        citizen = get_citizen(session, coordinator, created.citizen_id)  # type: ignore[arg-type]
        course = create_course(
            session,
            citizen=citizen,
            provider=own,
            team=team,
            plan=default_plan(session),
            start_date=TODAY - timedelta(days=3),
            end_date=TODAY + timedelta(days=10),
            today=TODAY - timedelta(days=30),
        )
        for scope in (supplier, neighbour):
            with pytest.raises(OutOfScope):
                get_course(session, scope, course.id)
            with pytest.raises(OutOfScope):
                get_citizen(session, scope, citizen.id)
        with pytest.raises(PermissionError):
            get_citizen(session, analyst, citizen.id)
        assert [r.id for r in list_citizens(session, coordinator)] == [citizen.id]
        assert list_citizens(session, supplier) == [] and list_citizens(session, neighbour) == []
        # Created "a month ago": everything scheduled. The sweep opens the baseline today.
        assert {a.status for a in course.assignments} == {AssignmentStatus.SCHEDULED}
        assert refresh_statuses(session, home.id, today=TODAY) > 0
        session.expire_all()
        baseline = [a for a in course.assignments if a.timepoint_key == "baseline"]
        assert {a.status for a in baseline} == {AssignmentStatus.OPEN}
        due = due_list(session, coordinator, today=TODAY)
        [visit] = due.overdue  # one visit: the citizen's and the relative's baseline together
        assert visit.timepoint_key == "baseline" and visit.has_citizen
        assert [row.respondent for row in visit.rows] == [Respondent.CITIZEN, Respondent.RELATIVE]
        assert due_list(session, supplier, today=TODAY).count == 0
        [relatives] = due_list(
            session, coordinator, today=TODAY, respondent=Respondent.RELATIVE
        ).overdue
        assert [row.respondent for row in relatives.rows] == [Respondent.RELATIVE]
        label = visit.citizen_label
        found = due_list(session, coordinator, today=TODAY, label=label.lower()[1:])
        assert [v.citizen_label for v in found.overdue] == [label]
        assert due_list(session, coordinator, today=TODAY, label="zz-nobody").count == 0
        assert due_list(session, coordinator, today=TODAY, label="%").count == 0  # not a wildcard
        # Drop-out of the citizen at baseline, and every later measurement too.
        who5 = next(
            a for a in baseline if a.instrument_id == "who5" and a.respondent is Respondent.CITIZEN
        )
        declined = record_dropout(
            session, coordinator, who5.id, DropoutReason.MOVED, later_too=True
        )
        assert {a.respondent for a in declined} == {Respondent.CITIZEN}
        assert {a.timepoint_key for a in declined} == {"baseline", "end", "fu_3m", "fu_1y", "fu_2y"}
        with pytest.raises(OutOfScope):
            record_dropout(session, neighbour, who5.id, DropoutReason.DIED)
        # Later the window passes: what is still open becomes missed.
        refresh_statuses(session, home.id, today=TODAY + timedelta(days=30))
        session.expire_all()
        relative = [
            a
            for a in course.assignments
            if a.timepoint_key == "baseline" and a.respondent is Respondent.RELATIVE
        ]
        assert {a.status for a in relative} == {AssignmentStatus.EXPIRED}
        actions = set(session.scalars(select(AuditEvent.action)))
        assert {
            "citizen.lookup",
            "citizen.create",
            "due_list.view",
            "assignment.dropout",
            "assignment.sweep",
        } <= actions
        assert all(
            a.status is not AssignmentStatus.DECLINED or a.dropout_reason
            for a in session.scalars(select(Assignment))
        )


def test_kept_look_up_overlap_and_undone_drop_out(session_factory: sessionmaker[Session]) -> None:
    """Issue 11 on both databases: the CPR kept for registering, a second course, undo."""
    from surveyapp.enums import LegalBasis
    from surveyapp.models import CprHandoff
    from surveyapp.services.assignments import undo_dropout
    from surveyapp.services.citizens import (
        CourseError,
        NewCourse,
        register_course,
        register_kept,
        sweep_handoffs,
    )

    today = date.today()
    with session_factory.begin() as session:
        home, own, private, team = _org(session, "990")
        user = StaffUser(
            username="k", full_name="K", role=Role.COORDINATOR, municipality=home, password_hash="x"
        )
        session.add(user)
        session.flush()
        scope = Scope(user.id, Role.COORDINATOR, home.id)
        missing = find_or_register(session, scope, "010150-1234", hmac_key=KEY, today=today)
        assert missing.outcome is LookupOutcome.NOT_FOUND and missing.handle
        assert register_kept(session, scope, "not-the-handle", label="AB").outcome is (
            LookupOutcome.NOT_FOUND
        )
        created = register_kept(session, scope, missing.handle, label="AB")
        assert created.outcome is LookupOutcome.CREATED and created.citizen_id
        assert register_kept(session, scope, missing.handle, label="AB").outcome is (
            LookupOutcome.NOT_FOUND
        )
        assert session.scalars(select(CprHandoff)).first() is None
        find_or_register(session, scope, "020250-1234", hmac_key=KEY, today=today)
        for row in session.scalars(select(CprHandoff)):
            row.expires_at = row.expires_at - timedelta(hours=1)
        assert sweep_handoffs(session) == 1
        plan = default_plan(session)
        new = NewCourse(own.id, None, plan.id, LegalBasis.SEL_83A, today, None)
        course = register_course(session, scope, created.citizen_id, new, today=today)
        with pytest.raises(CourseError) as refused:
            register_course(session, scope, created.citizen_id, new, today=today)
        assert refused.value.code == "open_course_at_provider"
        elsewhere = NewCourse(private.id, None, plan.id, LegalBasis.SEL_83A, today, None)
        with pytest.raises(CourseError) as asked:
            register_course(session, scope, created.citizen_id, elsewhere, today=today)
        assert asked.value.code == "overlap_unconfirmed"
        confirmed = NewCourse(private.id, None, plan.id, LegalBasis.SEL_83A, today, None, True)
        register_course(session, scope, created.citizen_id, confirmed, today=today)
        baseline = next(
            a
            for a in course.assignments
            if a.timepoint_key == "baseline" and a.respondent is Respondent.CITIZEN
        )
        declined = record_dropout(session, scope, baseline.id, DropoutReason.DECLINED)
        restored = undo_dropout(session, scope, baseline.id, today=today)
        assert {a.id for a in restored} == {a.id for a in declined}
        assert all(a.status is AssignmentStatus.OPEN and a.dropout_reason is None for a in restored)
