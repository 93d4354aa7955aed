"""Demo data: two municipalities, providers, teams, one staff user per role, and a few hundred
pseudonymous citizens with courses across two years, realistic answers and some drop-out.

Deterministic for a given seed and day. Loaded by `surveyapp demo` (and `make run`) only into
an empty database, never in production. Every demo login is listed in DEMO_USERS and the README.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.enums import (
    AnswerState,
    AssignmentStatus,
    Channel,
    CourseStatus,
    DropoutReason,
    ProviderKind,
    Respondent,
    Role,
    Sex,
)
from surveyapp.instruments import Registry, default_registry
from surveyapp.models import (
    Assignment,
    Citizen,
    Course,
    Municipality,
    Provider,
    StaffUser,
    Team,
    utcnow,
)
from surveyapp.pseudonym import read_cpr
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret
from surveyapp.services import audit
from surveyapp.services.courses import create_course as _create_course
from surveyapp.services.courses import default_plan
from surveyapp.services.responses import record_complete_response


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    full_name: str
    role: Role
    municipality: str  # kommunekode
    provider: str | None = None
    team: str | None = None
    kiosk_pin: str | None = None


DEMO_MUNICIPALITY = ("990", "Sølvstrand Kommune")
NEIGHBOUR_MUNICIPALITY = ("991", "Nabolund Kommune")
# Fictitious contact lines for the letters to relatives (the 99 xx numbers are made up).
DEMO_CONTACTS = {
    "990": ("Sundhed og Omsorg, Hverdagsrehabilitering", "99 90 12 34", "hverdage kl. 9-12"),
    "991": ("Visitationen", "99 91 56 78", "mandag-torsdag kl. 10-14"),
}
DEMO_PIN = "2468"
# DEMO ONLY: the authenticator-app key of the demo admin and analyst, so that a newcomer can log
# in (`surveyapp demo-code` prints the current code). Demo data never loads in production.
DEMO_TOTP_SECRET = "DEMOTOTPSECRETNOTFORPRODUCTION22"  # noqa: S105 - demo only
DEMO_TOTP_USERS = ("admin", "analytiker")
# Fictitious CPR numbers of the first demo citizens (in Sølvstrand), so that "find a citizen by
# CPR" can be tried; listed in the README. Like every CPR, only their HMACs are stored.
DEMO_CPRS = ("120134-1111", "230338-2222", "050541-3333")

# (provider name, kind, unit name in the start-meeting questions, teams)
DEMO_PROVIDERS = {
    "990": [
        (
            "Sølvstrand Hjemmepleje",
            ProviderKind.MUNICIPAL,
            "Hjemmeplejen",
            ("Team Nord", "Team Syd"),
        ),
        ("Omsorg & Træning ApS", ProviderKind.PRIVATE, "Omsorg & Træning", ("Team Vest",)),
    ],
    "991": [("Nabolund Træning", ProviderKind.MUNICIPAL, "Træningsenheden", ("Team Øst",))],
}

DEMO_USERS = (
    DemoUser("admin", "demo-admin", "Anne Admin", Role.ADMIN, "990", kiosk_pin=DEMO_PIN),
    DemoUser(
        "koordinator",
        "demo-koordinator",
        "Karen Koordinator",
        Role.COORDINATOR,
        "990",
        kiosk_pin=DEMO_PIN,
    ),
    DemoUser(
        "terapeut",
        "demo-terapeut",
        "Tina Terapeut",
        Role.COORDINATOR,
        "990",
        provider="Sølvstrand Hjemmepleje",
        team="Team Nord",
        kiosk_pin=DEMO_PIN,
    ),
    DemoUser(
        "leverandoer",
        "demo-leverandoer",
        "Lars Leverandør",
        Role.COORDINATOR,
        "990",
        provider="Omsorg & Træning ApS",
        kiosk_pin=DEMO_PIN,
    ),
    DemoUser("analytiker", "demo-analytiker", "Alma Analytiker", Role.ANALYST, "990"),
    DemoUser("nabo", "demo-nabo", "Niels Nabo", Role.COORDINATOR, "991", kiosk_pin=DEMO_PIN),
)

# Share of answered measurements per timepoint (the rest are missed or dropped out).
COMPLETION = {"baseline": 0.93, "end": 0.86, "fu_3m": 0.76, "fu_1y": 0.66, "fu_2y": 0.58}
RELATIVE_COMPLETION = 0.55
FIRST_NAMES = "Aase Bent Birthe Erik Else Finn Grethe Hans Inge Jens Karen Kaj Lis Poul Ruth Svend"
LAST_INITIALS = "ABCDEFGHJKLMNOPRST"


def load_demo_data(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    seed: int = 2026,
    citizens: int = 300,
    today: date | None = None,
    registry: Registry | None = None,
) -> str:
    """Fill an empty database with demo data and say what was made (or that nothing was)."""
    if settings.is_production:
        raise RuntimeError("demo data is never loaded in production")
    today = today or today_in_denmark()
    registry = registry or default_registry()
    with factory.begin() as session:
        if session.scalar(select(func.count()).select_from(Municipality)):
            return "the database already holds data: demo data not loaded"
        builder = _DemoBuilder(session, settings, random.Random(seed), today, registry)
        builder.organisations()
        builder.users()
        builder.citizens_and_courses(citizens)
        audit.record(
            session, audit.SYSTEM, "demo.load", details={"seed": seed, "citizens": citizens}
        )
        return builder.summary()


class _DemoBuilder:
    def __init__(
        self,
        session: Session,
        settings: Settings,
        rng: random.Random,
        today: date,
        registry: Registry,
    ) -> None:
        self.session, self.settings, self.rng, self.today = session, settings, rng, today
        self.registry = registry
        self.municipalities: dict[str, Municipality] = {}
        self.providers: dict[str, Provider] = {}
        self.teams: dict[str, Team] = {}
        self.counts = {"citizens": 0, "courses": 0, "responses": 0, "dropouts": 0}

    def organisations(self) -> None:
        for code, name in (DEMO_MUNICIPALITY, NEIGHBOUR_MUNICIPALITY):
            sender, phone, hours = DEMO_CONTACTS[code]
            municipality = Municipality(
                code=code, name=name, letter_sender=sender, contact_phone=phone, contact_hours=hours
            )
            self.municipalities[code] = municipality
            for provider_name, kind, unit, team_names in DEMO_PROVIDERS[code]:
                provider = Provider(
                    municipality=municipality, name=provider_name, kind=kind, unit_name=unit
                )
                self.providers[provider_name] = provider
                for team_name in team_names:
                    self.teams[team_name] = Team(provider=provider, name=team_name)
        self.session.add_all(self.municipalities.values())
        self.session.flush()

    def users(self) -> None:
        for user in DEMO_USERS:
            self.session.add(
                StaffUser(
                    username=user.username,
                    full_name=user.full_name,
                    role=user.role,
                    municipality=self.municipalities[user.municipality],
                    provider=self.providers[user.provider] if user.provider else None,
                    team=self.teams[user.team] if user.team else None,
                    password_hash=hash_secret(user.password),
                    kiosk_pin_hash=hash_secret(user.kiosk_pin) if user.kiosk_pin else None,
                    totp_secret=DEMO_TOTP_SECRET if user.username in DEMO_TOTP_USERS else None,
                    totp_enrolled_at=utcnow() if user.username in DEMO_TOTP_USERS else None,
                )
            )
        self.session.flush()

    def _fake_cpr(self) -> str:
        born = date(1926, 1, 1) + timedelta(days=self.rng.randrange(0, 365 * 30))
        digit7 = self.rng.choice((0, 1, 2, 3))  # 1900s
        return f"{born:%d%m%y}{digit7}{self.rng.randrange(1000):03d}"

    def citizens_and_courses(self, count: int) -> None:
        plan = default_plan(self.session)
        names = FIRST_NAMES.split()
        home = self.municipalities[DEMO_MUNICIPALITY[0]]
        neighbour = self.municipalities[NEIGHBOUR_MUNICIPALITY[0]]
        seen: set[str] = set()
        while self.counts["citizens"] < count:
            n = self.counts["citizens"]
            cpr = DEMO_CPRS[n] if n < len(DEMO_CPRS) else self._fake_cpr()
            facts = read_cpr(cpr, self.settings.cpr_hmac_key)
            if facts.pseudonym in seen:
                continue
            seen.add(facts.pseudonym)
            municipality = neighbour if self.counts["citizens"] % 10 == 9 else home
            label = f"{self.rng.choice(names)} {self.rng.choice(LAST_INITIALS)}."
            citizen = Citizen(
                municipality=municipality,
                municipality_id=municipality.id,
                cpr_hmac=facts.pseudonym,
                label=label,
                birth_year=facts.birth_year,
                sex=facts.sex,
                lives_alone=self.rng.random() < (0.62 if facts.sex is Sex.FEMALE else 0.45),
            )
            self.session.add(citizen)
            self.counts["citizens"] += 1
            self._course(citizen, plan)
        self.session.flush()

    def _course(self, citizen: Citizen, plan: object) -> None:
        providers = [p for p in self.providers.values() if p.municipality is citizen.municipality]
        provider = self.rng.choices(providers, weights=[3, 1][: len(providers)])[0]
        team = self.rng.choice([t for t in self.teams.values() if t.provider is provider])
        start = self.today - timedelta(days=self.rng.randrange(0, 730))
        end = start + timedelta(weeks=self.rng.randint(6, 12))
        known_end = end if end <= self.today + timedelta(weeks=2) else None
        course = _create_course(
            self.session,
            citizen=citizen,
            provider=provider,
            team=team,
            plan=plan,
            start_date=start,
            end_date=known_end,  # type: ignore[arg-type]
            today=self.today,
        )
        if known_end is not None and known_end < self.today:
            course.status = CourseStatus.ENDED
        self.counts["courses"] += 1
        self._answers(course)

    def _answers(self, course: Course) -> None:
        rng = self.rng
        wellbeing = min(95.0, max(8.0, rng.gauss(46, 17)))  # WHO-5 percentage at baseline
        disability = min(90.0, max(2.0, rng.gauss(36, 15)))  # WHODAS-12 percentage at baseline
        gain = rng.gauss(9, 13)
        dropout: DropoutReason | None = None
        for assignment in sorted(course.assignments, key=lambda a: a.due_date or date.max):
            if assignment.window_start is None or assignment.window_start > self.today:
                continue
            key = assignment.timepoint_key
            if dropout is not None and key != "baseline":
                self._decline(assignment, dropout)
                continue
            if (
                assignment.respondent is Respondent.CITIZEN
                and key != "baseline"
                and rng.random() < 0.04
            ):
                dropout = rng.choice(list(DropoutReason))
                self._decline(assignment, dropout)
                continue
            share = (
                RELATIVE_COMPLETION
                if assignment.respondent is Respondent.RELATIVE
                else COMPLETION.get(key, 0.6)
            )
            if rng.random() > share:
                continue  # missed: stays open, or expires when its window has passed
            phase = {"baseline": 0.0, "end": 1.0, "fu_3m": 0.9, "fu_1y": 0.7, "fu_2y": 0.5}[key]
            values = self._values(
                assignment, wellbeing + gain * phase, disability - 0.8 * gain * phase, key
            )
            self._respond(assignment, values)

    def _decline(self, assignment: Assignment, reason: DropoutReason) -> None:
        assignment.status = AssignmentStatus.DECLINED
        assignment.dropout_reason = reason
        self.counts["dropouts"] += 1

    def _values(
        self, assignment: Assignment, wellbeing: float, disability: float, key: str
    ) -> dict[str, int | AnswerState]:
        rng, instrument = self.rng, assignment.instrument_id
        answers: dict[str, int | AnswerState] = {}
        if instrument == "who5":
            for i in range(1, 6):
                answers[f"who5_{i}"] = _clip(round(wellbeing / 20 + rng.gauss(0, 0.8)), 0, 5)
        elif instrument in ("whodas12", "whodas12_proxy"):
            for i in range(1, 13):
                answers[f"S{i}"] = _clip(round(1 + disability / 25 + rng.gauss(0, 0.8)), 1, 5)
            if rng.random() < 0.7:
                answers["S12"] = AnswerState.NOT_APPLICABLE  # retired: no work or school
            if rng.random() < 0.03:
                answers.pop(f"S{rng.randint(1, 11)}")  # one item skipped: imputed
            if instrument == "whodas12":
                days = _clip(round(disability / 3 + rng.gauss(0, 4)), 0, 30)
                answers.update(H1=days, H2=_clip(days // 4, 0, days), H3=_clip(days // 2, 0, days))
            else:
                answers["H4"] = rng.choice((1, 3, 3, 3, 4, 5, 6))
        elif instrument == "start_meeting":
            base = 6.0 if key == "baseline" else 7.4
            for i in range(1, 5):
                answers[f"sm_{i}"] = _clip(round(rng.gauss(base, 1.9)), 0, 10)
            if rng.random() < 0.08:
                answers[f"sm_{rng.randint(1, 4)}"] = AnswerState.DONT_KNOW
        elif instrument == "course_outcome":
            answers.update(self._outcome(key))
        return answers

    def _outcome(self, key: str) -> dict[str, int | AnswerState]:
        rng = self.rng
        need = 0 if rng.random() < 0.55 else rng.choices((1, 2, 3), weights=(40, 39, 21))[0]
        sufficient = {"end": 0.55, "fu_3m": 0.5, "fu_1y": 0.46, "fu_2y": 0.43}.get(key, 0.5)
        outcome: dict[str, int | AnswerState] = {}
        if key == "end":  # self-rated quality of life at the end: better / unchanged / worse
            outcome["co_quality_of_life"] = rng.choices((1, 2, 3), weights=(61, 32, 7))[0]
        return outcome | {
            "co_help_need": need,
            "co_self_sufficient": int(rng.random() < sufficient),
            "co_pre_contact": rng.choices((1, 2, 3), weights=(57, 10, 33))[0],
        }

    def _respond(self, assignment: Assignment, values: dict[str, int | AnswerState]) -> None:
        window_end = min(assignment.window_end or self.today, self.today)
        span = max(0, (window_end - assignment.window_start).days)  # type: ignore[operator]
        day = assignment.window_start + timedelta(days=self.rng.randint(0, span))  # type: ignore[operator]
        submitted = datetime.combine(day, time(9, 0), tzinfo=UTC) + timedelta(
            minutes=self.rng.randrange(0, 8 * 60)
        )
        channel = {
            Respondent.CITIZEN: Channel.KIOSK if self.rng.random() < 0.8 else Channel.PAPER,
            Respondent.RELATIVE: Channel.LINK,
            Respondent.STAFF: Channel.STAFF,
        }[assignment.respondent]
        language = "en" if self.rng.random() < 0.03 else "da"
        record_complete_response(
            self.session,
            assignment,
            values,
            channel=channel,
            language=language,
            started_at=submitted - timedelta(minutes=self.rng.randint(3, 15)),
            submitted_at=submitted,
            registry=self.registry,
            flush=False,  # flushed with the next course
        )
        self.counts["responses"] += 1

    def summary(self) -> str:
        c = self.counts
        return (
            f"demo data loaded: {c['citizens']} citizens, {c['courses']} courses, "
            f"{c['responses']} responses, {c['dropouts']} drop-outs; "
            f"logins: {', '.join(u.username for u in DEMO_USERS)} (see README); "
            f"DEMO ONLY: {' and '.join(DEMO_TOTP_USERS)} also need a code from an authenticator "
            f"app with the key {DEMO_TOTP_SECRET} (or run `surveyapp demo-code`)"
        )


def _clip(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


DEMO_LINK_INSTRUMENTS = (
    ("who5", Respondent.CITIZEN),
    ("whodas12", Respondent.CITIZEN),
    ("start_meeting", Respondent.CITIZEN),
    ("whodas12_proxy", Respondent.RELATIVE),
    ("start_meeting", Respondent.RELATIVE),
)


@dataclass(frozen=True)
class DemoLink:
    instrument_id: str
    respondent: str
    token: str
    code: str


def make_demo_links(
    factory: sessionmaker[Session],
    settings: Settings,
    today: date | None = None,
    now: datetime | None = None,
) -> list[DemoLink]:
    """Fresh links to unanswered demo questionnaires, valid 14 days.

    The demo links made before (source "demo") are revoked first, so running this again and
    again never piles up live links.
    """
    from surveyapp.models import LinkToken, utcnow
    from surveyapp.services.links import issue_link

    if settings.is_production:
        raise RuntimeError("demo links are never made in production")
    today = today or today_in_denmark()
    now = now or utcnow()
    links = []
    with factory.begin() as session:
        municipality = session.scalars(
            select(Municipality).where(Municipality.code == DEMO_MUNICIPALITY[0])
        ).one_or_none()
        if municipality is None:
            return []
        session.execute(
            update(LinkToken)
            .where(
                LinkToken.source == "demo",
                LinkToken.revoked_at.is_(None),
                LinkToken.expires_at > now,
            )
            .values(revoked_at=now)
        )
        actor = audit.Actor(audit.SYSTEM.type, municipality_id=municipality.id)
        for instrument_id, respondent in DEMO_LINK_INSTRUMENTS:
            assignment = session.scalars(
                select(Assignment)
                .join(Course)
                .where(
                    Course.municipality_id == municipality.id,
                    Assignment.instrument_id == instrument_id,
                    Assignment.respondent == respondent,
                    Assignment.status.in_((AssignmentStatus.OPEN, AssignmentStatus.SCHEDULED)),
                    Assignment.window_start.is_not(None),
                    ~Assignment.response.has(),
                )
                .order_by(
                    (Assignment.status == AssignmentStatus.OPEN).desc(),
                    Assignment.window_end.desc(),
                    Assignment.id,
                )
            ).first()
            if assignment is not None:
                issued = issue_link(
                    session, assignment, actor=actor, valid_days=14, source="demo", now=now
                )
                links.append(DemoLink(instrument_id, respondent.value, issued.token, issued.code))
    return links
