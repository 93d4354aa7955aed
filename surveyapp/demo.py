"""Demo data: two municipalities, providers, teams, one staff user per role, and a few hundred
pseudonymous citizens with courses across two years, realistic answers and some drop-out.

Deterministic for a given seed and day. Loaded by `surveyapp demo` (and `make run`) only into
an empty database, never in production. Every demo login is listed in DEMO_USERS and the README.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.bulkload import BulkWriter
from surveyapp.config import Settings
from surveyapp.enums import (
    AnswerState,
    AssignmentStatus,
    Channel,
    CourseStatus,
    DropoutReason,
    LegalBasis,
    ProviderKind,
    Respondent,
    Role,
    Sex,
)
from surveyapp.instruments import Instrument, Registry, default_registry, score
from surveyapp.models import (
    MEASUREMENT_VALUES,
    Answer,
    Assignment,
    Base,
    Citizen,
    Course,
    Measurement,
    MeasurementPlan,
    Municipality,
    Provider,
    Response,
    Score,
    StaffUser,
    Team,
    utcnow,
)
from surveyapp.pseudonym import read_cpr
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret, needs_rehash
from surveyapp.services import audit, measurements
from surveyapp.services.courses import default_plan, planned_assignments
from surveyapp.services.responses import CLOSED_STATUSES, AnswerRejected, check_answer


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
DEMO_PROVIDERS: dict[str, list[tuple[str, ProviderKind, str, tuple[str, ...]]]] = {
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
    """Fill an empty database with demo data and say what was made (or that nothing was).

    The organisations and users go through the ORM (a few rows); the citizens, courses,
    measurements, responses, answers, scores and measurement rows are built as plain rows
    with their ids assigned here and written with one bulk INSERT per table: under a second
    of CPU for the default 300 citizens, where the ORM's row-by-row flushes took 10 (15-55 s
    on a loaded machine). tests/db/test_demo_speed.py keeps the rows those flushes made.
    """
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
        builder.write()
        audit.record(
            session, audit.SYSTEM, "demo.load", details={"seed": seed, "citizens": citizens}
        )
        return builder.summary()


# The argon2id hashes of the demo passwords and PIN (public demo values, like the secrets
# themselves), made once with surveyapp.security's profile: hashing them on every load took
# 0.16 s each. A hash made with weaker parameters than the current ones is not used; then each
# distinct secret is hashed once (tests/db/test_demo_speed.py checks that every one verifies).
_DEMO_PROFILE = "$argon2id$v=19$m=65536,t=3,p=1$"  # surveyapp.security's profile
DEMO_HASHES = {
    "2468": _DEMO_PROFILE + "XENcg6629Vx1zRWuwElZvQ$DOWU2INFywa52M6S9ORx+rQ+THu8PIkfds+VtiR0q1M",
    "demo-admin": _DEMO_PROFILE
    + "Kn7/JPlNF9yWGS5t/NW+Yg$WGsspc5cMhrApjhLNn6SAQoZCbxPr39PQ5Pes5D+cDg",
    "demo-analytiker": _DEMO_PROFILE
    + "ZkeXzSGni6Sk79LqStLxyw$NK4oxBxQSp51A10oeXaRDHPItKQlkrT6FaDSb43BWhE",
    "demo-koordinator": _DEMO_PROFILE
    + "DJcmxYqmj5i+McJqKTnkwg$tY7L3/JJUDq5G692beliYnNwjRSMTJRt/nEhHvW56NE",
    "demo-leverandoer": _DEMO_PROFILE
    + "TwhHnES+z3vVJVvCJGyj0w$fpbEZ84mmVz67CS7DLlCSeW4VB8DEyVRBcyNlcQk6Zg",
    "demo-nabo": _DEMO_PROFILE
    + "dA/d8Tsv6E088wPYQJgg8w$Ali4a7oyuC/jp1u352E9+u9r0BNvZ4/hQNDrssHD3Ac",
    "demo-terapeut": _DEMO_PROFILE
    + "+n9MITUVG5CB7zoR2RKmFQ$Us3n4Fyh+v1r2yIDBF6gUY1M14vMLrsSnDTeHHa449A",
}


def demo_hashes(secrets: Iterable[str]) -> dict[str, str]:
    """An argon2id hash of each demo secret: the precomputed one if current, else one made."""
    hashes = {}
    for secret in secrets:
        known = DEMO_HASHES.get(secret)
        hashes[secret] = known if known and not needs_rehash(known) else hash_secret(secret)
    return hashes


Row = dict[str, Any]
# The tables written in bulk, parents before children (the order of the INSERTs).
_BULK = (Citizen, Course, Assignment, Response, Answer, Score, Measurement)


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
        self.now = utcnow()  # the clock time of every created_at of the load
        self.municipalities: dict[str, Municipality] = {}
        self.providers: dict[str, Provider] = {}
        self.teams: dict[str, Team] = {}
        self.counts = {"citizens": 0, "courses": 0, "responses": 0, "dropouts": 0}
        self.rows: dict[str, list[Row]] = {model.__tablename__: [] for model in _BULK}
        self.writer = BulkWriter(session.connection())
        self.ids: dict[str, Iterator[int]] = {}
        self.layouts: dict[tuple[str, str], dict[str, int]] = {}

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
        pins = {u.kiosk_pin for u in DEMO_USERS if u.kiosk_pin}
        hashes = demo_hashes(dict.fromkeys([*(u.password for u in DEMO_USERS), *pins]))
        for user in DEMO_USERS:
            self.session.add(
                StaffUser(
                    username=user.username,
                    full_name=user.full_name,
                    role=user.role,
                    municipality=self.municipalities[user.municipality],
                    provider=self.providers[user.provider] if user.provider else None,
                    team=self.teams[user.team] if user.team else None,
                    password_hash=hashes[user.password],
                    kiosk_pin_hash=hashes[user.kiosk_pin] if user.kiosk_pin else None,
                    totp_secret=DEMO_TOTP_SECRET if user.username in DEMO_TOTP_USERS else None,
                    totp_enrolled_at=self.now if user.username in DEMO_TOTP_USERS else None,
                )
            )
        self.session.flush()

    def _add(self, model: type[Base], row: Row) -> Row:
        """Keep a row for the bulk INSERT of its table, its id assigned now if it has one."""
        table = model.__table__
        if "id" in table.c:
            if table.name not in self.ids:
                self.ids[table.name] = self.writer.ids(table)
            row["id"] = next(self.ids[table.name])
        self.rows[table.name].append(row)
        return row

    def write(self) -> None:
        """One bulk write per table (surveyapp.bulkload), then the id sequences moved on."""
        for model in _BULK:
            self.writer.write_rows(model.__table__, self.rows[model.__tablename__])
        self.writer.finish()

    def _layout(self, instrument: Instrument) -> dict[str, int]:
        """The instrument's measurement layout, read (or handed out) once per load.

        A version seen for the first time may hand out positions, which every version's rows
        then fill: the layouts kept for the instrument's other versions are read again."""
        if instrument.key not in self.layouts:
            for key in [k for k in self.layouts if k[0] == instrument.id]:
                del self.layouts[key]
            self.layouts[instrument.key] = measurements.stored_layout(self.session, instrument)
        return self.layouts[instrument.key]

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
            citizen = self._add(
                Citizen,
                {
                    "municipality_id": municipality.id,
                    "cpr_hmac": facts.pseudonym,
                    "label": label,
                    "birth_year": facts.birth_year,
                    "sex": facts.sex,
                    "lives_alone": self.rng.random() < (0.62 if facts.sex is Sex.FEMALE else 0.45),
                    "created_at": self.now,
                    "created_by_id": None,
                    "anonymised_at": None,
                },
            )
            self.counts["citizens"] += 1
            self._course(citizen, municipality, plan)

    def _course(self, citizen: Row, municipality: Municipality, plan: MeasurementPlan) -> None:
        providers = [p for p in self.providers.values() if p.municipality is municipality]
        provider = self.rng.choices(providers, weights=[3, 1][: len(providers)])[0]
        team = self.rng.choice([t for t in self.teams.values() if t.provider is provider])
        start = self.today - timedelta(days=self.rng.randrange(0, 730))
        end = start + timedelta(weeks=self.rng.randint(6, 12))
        known_end = end if end <= self.today + timedelta(weeks=2) else None
        # As services.courses.create_course makes it.
        if known_end is not None and known_end < self.today:
            status = CourseStatus.ENDED
        else:
            status = CourseStatus.ACTIVE if start <= self.today else CourseStatus.PLANNED
        course = self._add(
            Course,
            {
                "citizen_id": citizen["id"],
                "municipality_id": municipality.id,
                "provider_id": provider.id,
                "team_id": team.id,
                "plan_id": plan.id,
                "legal_basis": LegalBasis.SEL_83A,
                "start_date": start,
                "end_date": known_end,
                "status": status,
                "created_at": self.now,
                "created_by_id": None,
            },
        )
        assignments = [
            self._add(
                Assignment,
                row
                | {
                    "course_id": course["id"],
                    "channel": None,
                    "dropout_reason": None,
                    "status_changed_at": self.now,
                    "created_at": self.now,
                },
            )
            for row in planned_assignments(plan, start, known_end, today=self.today)
        ]
        self.counts["courses"] += 1
        self._answers(assignments)

    def _answers(self, assignments: list[Row]) -> None:
        rng = self.rng
        wellbeing = min(95.0, max(8.0, rng.gauss(46, 17)))  # WHO-5 percentage at baseline
        disability = min(90.0, max(2.0, rng.gauss(36, 15)))  # WHODAS-12 percentage at baseline
        gain = rng.gauss(9, 13)
        dropout: DropoutReason | None = None
        for assignment in sorted(assignments, key=lambda a: a["due_date"] or date.max):
            if assignment["window_start"] is None or assignment["window_start"] > self.today:
                continue
            key = assignment["timepoint_key"]
            if dropout is not None and key != "baseline":
                self._decline(assignment, dropout)
                continue
            if (
                assignment["respondent"] is Respondent.CITIZEN
                and key != "baseline"
                and rng.random() < 0.04
            ):
                dropout = rng.choice(list(DropoutReason))
                self._decline(assignment, dropout)
                continue
            share = (
                RELATIVE_COMPLETION
                if assignment["respondent"] is Respondent.RELATIVE
                else COMPLETION.get(key, 0.6)
            )
            if rng.random() > share:
                continue  # missed: stays open, or expires when its window has passed
            phase = {"baseline": 0.0, "end": 1.0, "fu_3m": 0.9, "fu_1y": 0.7, "fu_2y": 0.5}[key]
            values = self._values(
                assignment, wellbeing + gain * phase, disability - 0.8 * gain * phase, key
            )
            self._respond(assignment, values)

    def _decline(self, assignment: Row, reason: DropoutReason) -> None:
        assignment["status"] = AssignmentStatus.DECLINED
        assignment["dropout_reason"] = reason
        self.counts["dropouts"] += 1

    def _values(
        self, assignment: Row, wellbeing: float, disability: float, key: str
    ) -> dict[str, int | AnswerState]:
        rng, instrument = self.rng, assignment["instrument_id"]
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

    def _respond(self, assignment: Row, values: dict[str, int | AnswerState]) -> None:
        window_end = min(assignment["window_end"] or self.today, self.today)
        span = max(0, (window_end - assignment["window_start"]).days)
        day = assignment["window_start"] + timedelta(days=self.rng.randint(0, span))
        submitted = datetime.combine(day, time(9, 0), tzinfo=UTC) + timedelta(
            minutes=self.rng.randrange(0, 8 * 60)
        )
        channel = {
            Respondent.CITIZEN: Channel.KIOSK if self.rng.random() < 0.8 else Channel.PAPER,
            Respondent.RELATIVE: Channel.LINK,
            Respondent.STAFF: Channel.STAFF,
        }[assignment["respondent"]]
        language = "en" if self.rng.random() < 0.03 else "da"
        started = submitted - timedelta(minutes=self.rng.randint(3, 15))
        self._complete(assignment, values, channel, language, started, submitted)
        self.counts["responses"] += 1

    def _complete(
        self,
        assignment: Row,
        values: dict[str, int | AnswerState],
        channel: Channel,
        language: str,
        started: datetime,
        submitted: datetime,
    ) -> None:
        """The rows of a whole response, as services.responses.record_complete_response makes
        them: opened at `started`, every answer given and the response scored at `submitted`."""
        if assignment["status"] in CLOSED_STATUSES:
            raise AnswerRejected("closed", "this questionnaire is closed")
        instrument = self.registry.get(assignment["instrument_id"])
        info = instrument.languages[language]
        response = self._add(
            Response,
            {
                "assignment_id": assignment["id"],
                "instrument_id": instrument.id,
                "instrument_version": instrument.version,
                "language": language,
                "text_version": info.text_version,
                "text_verified": info.verified,
                "channel": channel,
                "respondent": assignment["respondent"],
                "entered_by_id": None,
                "started_at": started,
                "last_answer_at": submitted if values else None,
                "submitted_at": submitted,
                "submission_key": None,
            },
        )
        given: dict[str, int | None] = {}
        for item_id, answer in values.items():
            check_answer(instrument.item(item_id), answer)
            state = answer if isinstance(answer, AnswerState) else AnswerState.ANSWERED
            value = None if isinstance(answer, AnswerState) else answer
            self._add(
                Answer,
                {
                    "response_id": response["id"],
                    "item_id": item_id,
                    "state": state,
                    "value": value,
                    "answered_at": submitted,
                },
            )
            if state is AnswerState.ANSWERED:
                given[item_id] = value
        result = score(instrument, {item_id: given.get(item_id) for item_id in instrument.item_ids})
        scores = {name: None if v is None else float(v) for name, v in result.scores.items()}
        for name, score_value in scores.items():
            self._add(Score, {"response_id": response["id"], "name": name, "value": score_value})
        every = self._layout(instrument)
        if every:  # an instrument that reports no score (a staff form) has no measurement row
            self._add(
                Measurement,
                {
                    "instrument_id": instrument.id,
                    "course_id": assignment["course_id"],
                    "respondent": assignment["respondent"],
                    "response_id": response["id"],
                    "timepoint_id": assignment["timepoint_id"],
                }
                | {f"v{position}": None for position in range(MEASUREMENT_VALUES)}
                | measurements.row_values(every, scores),
            )
        response["scoring_version"] = result.scoring_version
        response["score_notes"] = list(result.notes)
        assignment["channel"] = channel
        assignment["status"] = AssignmentStatus.COMPLETED
        assignment["status_changed_at"] = submitted

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
