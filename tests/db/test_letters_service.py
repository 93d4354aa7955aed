"""Letters on SQLite and PostgreSQL: who gets one, issuing, re-issuing, revoking, batches,
reminders, the municipality's settings, and demo links that do not pile up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.demo import load_demo_data, make_demo_links
from surveyapp.enums import AssignmentStatus, Respondent, Role
from surveyapp.instruments import default_registry
from surveyapp.letters import Letter
from surveyapp.models import Assignment, AuditEvent, Course, LinkToken, StaffUser
from surveyapp.services import letters as service
from surveyapp.services.links import LinkInvalid, mark_opened, resolve_token
from surveyapp.services.scope import OutOfScope, Scope
from tests.support import factories

TODAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # 10:00 in Denmark
PUBLIC = "https://borger.example.dk"


class Recorder:
    """A notifier that remembers what it was asked to send (the SMS gateway's place)."""

    def __init__(self) -> None:
        self.sent: list[Letter] = []

    def link_issued(self, letter: Letter) -> bool:
        self.sent.append(letter)
        return False


def _context(notifier: Recorder | None = None) -> service.LetterContext:
    return service.LetterContext(
        public_url=PUBLIC, registry=default_registry(), notifier=notifier or Recorder()
    )


def _scope(session: Session, course: Course, role: Role = Role.COORDINATOR) -> Scope:
    user = StaffUser(
        username=f"user{course.id}-{role.value}",
        full_name="Karen Koordinator",
        role=role,
        municipality_id=course.municipality_id,
        password_hash="x",
    )
    session.add(user)
    session.flush()
    return Scope(user.id, role, course.municipality_id)


def _course(session: Session, *, start: date = TODAY) -> Course:
    course = factories.course(session, start=start, today=TODAY)
    session.flush()
    return course


def _relative(course: Course, instrument: str = "start_meeting") -> Assignment:
    return factories.assignment(course, instrument, Respondent.RELATIVE)


def _issue(session: Session, scope: Scope, assignment: Assignment, **choice: str | None) -> Letter:
    return service.issue_letter(
        session, scope, assignment.id, service.LetterChoice(**choice), _context(), now=NOW
    )


def test_a_letter_issues_a_link_that_leads_to_its_questionnaire(
    session_factory: sessionmaker[Session],
) -> None:
    notifier = Recorder()
    with session_factory.begin() as session:
        course = _course(session)
        scope = _scope(session, course)
        target = _relative(course)
        letter = service.issue_letter(
            session,
            scope,
            target.id,
            service.LetterChoice(language="en", first_name="  Inger "),
            _context(notifier),
            now=NOW,
        )
        token = letter.url.rsplit("/", 1)[1]
        assert letter.url.startswith(f"{PUBLIC}/svar/")
        assert resolve_token(session, token, now=NOW).assignment_id == target.id
        assert letter.first_name == "Inger" and letter.language == "en"
        assert letter.audience == "relative"
        assert letter.questionnaire == "Start-meeting satisfaction"
        assert letter.questions == 4
        assert letter.valid_until == TODAY + timedelta(days=13)  # 14 days from 10:00 today
        assert letter.contact.municipality == "Sølvstrand Kommune"
        link = session.scalars(select(LinkToken)).one()
        assert (link.letter_name, link.language, link.source) == ("Inger", "en", "letter")
        assert link.created_by_id == scope.user_id
        assert token not in (link.token_hash, link.code_hash)
        assert notifier.sent == [letter]  # the one place an SMS gateway would plug in
        actions = session.scalars(select(AuditEvent.action)).all()
        assert "link.issue" in actions


def test_letters_go_to_relatives_and_to_citizens_on_request_never_for_staff_forms(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        course = _course(session)
        course.end_date = TODAY + timedelta(weeks=8)
        scope = _scope(session, course)
        citizen = factories.assignment(course, "who5", Respondent.CITIZEN)
        assert _issue(session, scope, citizen).audience == "citizen"
        staff = next(a for a in course.assignments if a.respondent is Respondent.STAFF)
        with pytest.raises(service.LetterRefused) as refused:
            _issue(session, scope, staff)
        assert refused.value.code == "staff_form"
        done = factories.assignment(course, "whodas12_proxy", Respondent.RELATIVE)
        done.status = AssignmentStatus.COMPLETED
        with pytest.raises(service.LetterRefused) as refused:
            _issue(session, scope, done)
        assert refused.value.code == "closed"
        undated = factories.assignment(course, "start_meeting", Respondent.RELATIVE, "end")
        undated.window_start = None
        with pytest.raises(service.LetterRefused) as refused:
            _issue(session, scope, undated)
        assert refused.value.code == "not_dated"
        with pytest.raises(service.LetterRefused) as refused:
            _issue(session, scope, _relative(course), language="de")
        assert refused.value.code == "language"
        assert session.scalar(select(func.count()).select_from(LinkToken)) == 1


def test_another_municipalitys_questionnaire_is_not_found(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        home = _course(session)
        away = _course(session)
        scope = _scope(session, home)
        with pytest.raises(OutOfScope):
            _issue(session, scope, _relative(away))
        with pytest.raises(OutOfScope):
            service.revoke_letter(session, scope, _relative(away).id)
        with pytest.raises(OutOfScope):
            service.letters_for_selection(session, scope, [_relative(away).id], _context())
        assert session.scalar(select(func.count()).select_from(LinkToken)) == 0


def test_reissue_revokes_the_old_link_and_keeps_name_and_language(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        course = _course(session)
        scope = _scope(session, course)
        target = _relative(course)
        first = _issue(session, scope, target, first_name="Inger", language="en")
        second = service.reissue_letter(session, scope, target.id, _context(), now=NOW)
        with pytest.raises(LinkInvalid):
            resolve_token(session, first.url.rsplit("/", 1)[1], now=NOW)
        assert resolve_token(session, second.url.rsplit("/", 1)[1], now=NOW)
        assert (second.first_name, second.language) == ("Inger", "en")
        assert second.code != first.code
        live = session.scalar(
            select(func.count())
            .select_from(LinkToken)
            .where(LinkToken.assignment_id == target.id, LinkToken.revoked_at.is_(None))
        )
        assert live == 1


def test_revoking_stops_the_letter(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        course = _course(session)
        scope = _scope(session, course)
        target = _relative(course)
        letter = _issue(session, scope, target)
        assert service.revoke_letter(session, scope, target.id, now=NOW) == 1
        with pytest.raises(LinkInvalid):
            resolve_token(session, letter.url.rsplit("/", 1)[1], now=NOW)
        assert service.revoke_letter(session, scope, target.id, now=NOW) == 0
        assert "link.revoke" in session.scalars(select(AuditEvent.action)).all()


def test_who_is_due_for_a_letter(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        open_now = _course(session)
        soon = _course(session, start=TODAY + timedelta(days=12))  # window opens in 5 days
        later = _course(session, start=TODAY + timedelta(days=40))  # opens in 33 days
        gone = _course(session, start=TODAY - timedelta(days=30))  # window closed
        scope = _scope(session, open_now)
        municipality_ids = {c.municipality_id for c in (open_now, soon, later, gone)}
        everyone = Course.municipality_id.in_(municipality_ids)
        due = service.due_for_letters(session, everyone, today=TODAY, now=NOW)
        assert {(a.course_id, a.instrument_id) for a in due} == {
            (c.id, i) for c in (open_now, soon) for i in ("start_meeting", "whodas12_proxy")
        }
        assert all(a.respondent is Respondent.RELATIVE for a in due)
        wider = service.due_for_letters(session, everyone, today=TODAY, within_days=40, now=NOW)
        assert {a.course_id for a in wider} == {open_now.id, soon.id, later.id}
        _issue(session, scope, _relative(open_now))
        without_live = service.due_for_letters(session, everyone, today=TODAY, now=NOW)
        assert len(without_live) == 3
        with_reissue = service.due_for_letters(
            session, everyone, today=TODAY, reissue=True, now=NOW
        )
        assert len(with_reissue) == 4


def test_letters_for_the_due_and_for_a_selection(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        course = _course(session)
        scope = _scope(session, course)
        letters = service.letters_for_due(session, scope, _context(), today=TODAY, now=NOW)
        assert sorted(letter.questionnaire for letter in letters) == [
            "Tilfredshed med opstartsmødet",
            "WHODAS 2.0, kort version (besvaret af pårørende)",
        ]
        assert service.letters_for_due(session, scope, _context(), today=TODAY, now=NOW) == []
        target = _relative(course)
        again = service.letters_for_selection(
            session, scope, [target.id, target.id], _context(), now=NOW
        )
        assert [letter.assignment_id for letter in again] == [target.id]
        batches = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "letters.batch")
        ).all()
        assert [(d["mode"], d["letters"], d["reissued"]) for d in batches] == [
            ("due", 2, 0),
            ("due", 0, 0),
            ("selected", 1, 1),
        ]


def test_a_selection_with_a_staff_form_issues_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        with session.begin():
            course = _course(session)
            scope = _scope(session, course)
            course_id = course.id
            relative_id = _relative(course).id
            course.end_date = TODAY + timedelta(weeks=8)
            session.flush()
            staff_id = next(a.id for a in course.assignments if a.respondent is Respondent.STAFF)
        with pytest.raises(service.LetterRefused), session.begin():
            service.letters_for_selection(session, scope, [relative_id, staff_id], _context())
        with session.begin():
            links = session.scalar(
                select(func.count())
                .select_from(LinkToken)
                .join(Assignment)
                .where(Assignment.course_id == course_id)
            )
            assert links == 0


def test_reminders_show_issued_days_left_opened_and_answered(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        course = _course(session)
        scope = _scope(session, course)
        sm, proxy = _relative(course), _relative(course, "whodas12_proxy")
        assert service.link_statuses(session, [sm.id, proxy.id], now=NOW) == {}
        _issue(session, scope, sm)
        _issue(session, scope, proxy)
        status = service.link_statuses(session, [sm.id], now=NOW)[sm.id]
        assert (status.live, status.opened, status.answered, status.days_left) == (
            True,
            False,
            False,
            14,
        )
        assert status.issued_at == NOW and status.valid_until == TODAY + timedelta(days=13)
        link = session.scalars(select(LinkToken).where(LinkToken.assignment_id == sm.id)).one()
        mark_opened(link, now=NOW + timedelta(hours=2))
        sm.status = AssignmentStatus.COMPLETED
        service.revoke_letter(session, scope, proxy.id, now=NOW)
        session.flush()
        later = NOW + timedelta(days=3)
        statuses = service.link_statuses(session, [sm.id, proxy.id], now=later)
        assert statuses[sm.id].opened and statuses[sm.id].answered
        assert statuses[sm.id].days_left == 11
        assert statuses[proxy.id].revoked and not statuses[proxy.id].live
        assert statuses[proxy.id].days_left == 0
        expired = service.link_statuses(session, [sm.id], now=NOW + timedelta(days=15))[sm.id]
        assert not expired.live and not expired.revoked and expired.days_left == 0


def test_the_municipalitys_letter_settings_are_printed(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        course = _course(session)
        admin = _scope(session, course, Role.ADMIN)
        coordinator = _scope(session, course)
        with pytest.raises(PermissionError):
            service.save_letter_settings(session, coordinator, {"contact_phone": "1"})
        service.save_letter_settings(
            session,
            admin,
            {
                "letter_sender": "  Sundhed  og Omsorg ",
                "contact_phone": "70 12 34 56",
                "contact_hours": "hverdage kl. 8-12",
                "contact_email": "",
            },
        )
        assert service.letter_settings(session, admin) == {
            "letter_sender": "Sundhed og Omsorg",
            "contact_phone": "70 12 34 56",
            "contact_hours": "hverdage kl. 8-12",
            "contact_email": None,
        }
        contact = _issue(session, coordinator, _relative(course)).contact
        assert (contact.sender, contact.phone, contact.hours, contact.email) == (
            "Sundhed og Omsorg",
            "70 12 34 56",
            "hverdage kl. 8-12",
            None,
        )
        assert contact.signature == "Sundhed og Omsorg"


def test_the_batch_job_by_municipality_and_with_reissue(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        home = factories.course(session, start=TODAY, today=TODAY, municipality_name="Åby")
        factories.course(session, start=TODAY, today=TODAY, municipality_name="Bøby")
        first = service.letters_for_batch_job(
            session, _context(), today=TODAY, municipality="åby", now=NOW
        )
        assert len(first) == 2
        assert {letter.contact.municipality for letter in first} == {"Åby"}
        assert service.letters_for_batch_job(session, _context(), today=TODAY, now=NOW)
        assert service.letters_for_batch_job(session, _context(), today=TODAY, now=NOW) == []
        again = service.letters_for_batch_job(
            session, _context(), today=TODAY, reissue=True, now=NOW
        )
        assert len(again) == 4
        for letter in first:
            with pytest.raises(LinkInvalid):
                resolve_token(session, letter.url.rsplit("/", 1)[1], now=NOW)
        with pytest.raises(LookupError):
            service.letters_for_batch_job(session, _context(), today=TODAY, municipality="Nowhere")
        assert home.id


def test_demo_links_revoke_the_ones_made_before(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    load_demo_data(session_factory, settings, seed=3, citizens=12, today=TODAY)
    first = make_demo_links(session_factory, settings, today=TODAY, now=NOW)
    second = make_demo_links(session_factory, settings, today=TODAY, now=NOW)
    assert len(first) == len(second) >= 3
    with session_factory() as session:
        live = session.scalar(
            select(func.count())
            .select_from(LinkToken)
            .where(
                LinkToken.source == "demo",
                LinkToken.revoked_at.is_(None),
                LinkToken.expires_at > NOW,
            )
        )
        assert live == len(second)
        for link in first:
            with pytest.raises(LinkInvalid):
                resolve_token(session, link.token, now=NOW)
        for link in second:
            assert resolve_token(session, link.token, now=NOW)


def test_the_timepoint_sets_how_long_the_letters_link_works(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        course = _course(session)
        scope = _scope(session, course)
        baseline = next(tp for tp in course.plan.timepoints if tp.key == "baseline")
        baseline.link_valid_days = 30
        later = _course(session, start=TODAY + timedelta(days=12))  # window opens in 5 days
        assert _issue(session, scope, _relative(course)).valid_until == TODAY + timedelta(days=29)
        opens_later = _issue(session, _scope(session, later), _relative(later))
        assert opens_later.opens_on == TODAY + timedelta(days=5)
        assert opens_later.valid_until == TODAY + timedelta(days=5 + 29)
