"""The evaluation reports on SQLite and PostgreSQL: the published tables from raw answers,
the SQL sums checked against Python, filters, scope, suppression and the audit trail."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import (
    ActorType,
    Anchor,
    AssignmentStatus,
    DropoutReason,
    LegalBasis,
    ProviderKind,
    Respondent,
    Role,
    Sex,
)
from surveyapp.instruments import default_registry
from surveyapp.models import AuditEvent, MeasurementPlan
from surveyapp.plans import DEFAULT_PLAN, PlanSpec, TimepointSpec
from surveyapp.report_tables import ReportResult
from surveyapp.scheduling import TimepointRule
from surveyapp.services import audit, reports
from surveyapp.services.courses import create_plan
from surveyapp.services.scope import ReportScope, Scope
from surveyapp.statistics import PairedSums, summarise
from tests.support.report_data import (
    HEDENSTED_HELD,
    HEDENSTED_READY,
    Seeder,
    hedensted,
    ishoj,
)

REGISTRY = default_registry()
T = 3


def scope_of(*seeders: Seeder) -> ReportScope:
    ids = frozenset(s.municipality.id for s in seeders)
    return ReportScope(Scope(1, Role.ADMIN, min(ids)), ids)


def run(
    session: Session, name: str, rscope: ReportScope, threshold: int = T, **filters: object
) -> ReportResult:
    return reports.REPORTS[name](
        session, rscope, REGISTRY, reports.ReportFilters(**filters), threshold
    )


def cell(result: ReportResult, table: str, **where: str) -> dict[str, Any]:
    """The record of the one cell of `table` whose dimensions match `where`."""
    found = [
        record
        for record in result.records()
        if record["table"] == table and all(record.get(k) == v for k, v in where.items())
    ]
    assert len(found) == 1, (table, where, found)
    return found[0]


# --- the published tables ----------------------------------------------------------------------


def test_the_hedensted_table_comes_out_of_raw_answers(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session, "Hedensted Kommune")
        hedensted(seeder)
        result = run(session, "start-meeting", scope_of(seeder))
    table = "start-meeting.start_meeting.citizen"
    code = seeder.municipality.code
    expected = {
        "sm_1": (5.77, 7.40),
        "sm_2": (6.00, 6.40),
        "sm_3": (5.69, 7.80),
        "sm_4": (6.15, 8.0),
    }
    for item, (before, after) in expected.items():
        score = f"start_meeting_{item}"
        at_start = cell(result, table, score=score, timepoint="baseline", municipality=code)
        at_next = cell(result, table, score=score, timepoint="next", municipality=code)
        assert (at_start["value"], at_start["n"]) == (before, 13)
        assert (at_next["value"], at_next["n"]) == (after, 10)
    held = cell(result, table, row="answered", timepoint="baseline", municipality=code)
    ready = cell(result, table, row="ready_for_follow_up", timepoint="next", municipality=code)
    assert (held["value"], ready["value"]) == (HEDENSTED_HELD, HEDENSTED_READY)
    assert not any(r["suppressed"] for r in result.records())
    # Relatives answered nothing: no table for them.
    assert {t.key for t in result.tables} == {table}


def test_the_ishoj_outcomes_come_out_of_raw_answers(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session, "Ishøj Kommune")
        ishoj(seeder)
        result = run(session, "outcomes", scope_of(seeder))
    need = "outcomes.course_outcome.co_help_need"

    def share(table: str, timepoint: str = "end", **where: str) -> int:
        found = cell(result, table, timepoint=timepoint, measure="share", **where)
        return found["value"]  # type: ignore[no-any-return]

    assert cell(result, need, timepoint="end", row="records")["value"] == 183
    assert cell(result, need, timepoint="end", row="answered")["value"] == 171
    assert cell(result, need, timepoint="end", row="blank")["value"] == 12
    assert share(need, option="0") == 55
    assert share(need, option_group="0") == 45  # published: 43 % (see the note in report_data)
    # "of whom": the group's options as shares of the group
    of_whom = [
        r
        for r in result.records()
        if r["table"] == need and r.get("within_group") == "0" and r["timepoint"] == "end"
    ]
    assert [(r["of_whom"], r["value"], r["count"], r["n"]) for r in of_whom] == [
        ("1", 40, 31, 77),
        ("2", 39, 30, 77),
        ("3", 21, 16, 77),
    ]
    life = "outcomes.course_outcome.co_quality_of_life"
    assert [share(life, option=o) for o in ("1", "2", "3")] == [61, 32, 7]
    contact = "outcomes.course_outcome.co_pre_contact"
    assert [share(contact, option=o) for o in ("1", "2", "3")] == [57, 10, 33]
    alone = "outcomes.course_outcome.co_self_sufficient"
    assert share(alone, "fu_1y", option="1") == 46
    assert share(alone, "fu_2y", option="1") == 43
    assert cell(result, alone, timepoint="fu_1y", row="answered")["value"] == 100


# --- coverage ----------------------------------------------------------------------------------


def test_coverage_counts_measurements_and_what_became_of_the_rest(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        who5 = {f"who5_{i}": 3 for i in range(1, 6)}
        municipal = [seeder.course() for _ in range(6)]
        private = [seeder.course(private=True) for _ in range(4)]
        for course in municipal + private:
            seeder.answer(course, "who5", "baseline", who5)
        for course in municipal[:4] + private[:3]:
            seeder.answer(course, "who5", "end", who5)
        for course in municipal[:3]:
            seeder.answer(course, "who5", "fu_3m", who5)
            seeder.answer(course, "who5", "fu_1y", who5)
        seeder.answer(private[0], "who5", "fu_1y", who5)
        seeder.answer(private[1], "who5", "fu_1y", who5)
        for course in municipal[3:6]:
            seeder.set_status(
                course, "who5", "fu_3m", AssignmentStatus.DECLINED, reason=DropoutReason.TOO_ILL
            )
        for course in private:
            seeder.set_status(course, "who5", "fu_2y", AssignmentStatus.SCHEDULED)
        result = run(session, "coverage", scope_of(seeder))
    measured = "coverage.measured.who5.citizen"
    code = seeder.municipality.code
    rows = {
        (r["provider"], r["timepoint"]): (r["value"], r["suppressed"])
        for r in result.records()
        if r["table"] == measured
    }
    home, other = seeder.municipal.name, seeder.private.name
    assert rows[(home, "baseline")] == (6, False)
    assert rows[(other, "baseline")] == (4, False)
    assert rows[("all", "baseline")] == (10, False)
    assert rows[(home, "end")] == (4, False)
    assert rows[(other, "end")] == (3, False)
    assert rows[("all", "end")] == (7, False)
    assert rows[(home, "fu_3m")] == (3, False)
    assert rows[(other, "fu_3m")] == (0, False)
    # Any follow-up counts each course once: 3 + 2 courses.
    assert rows[(other, "follow_up_any")] == (None, True)  # 2 courses: hidden
    # ... and one more, or the total minus the municipal provider's 3 would give the 2 away
    assert (rows[(home, "follow_up_any")], rows[("all", "follow_up_any")]) in (
        ((None, True), (5, False)),
        ((3, False), (None, True)),
        ((None, True), (None, True)),
    )
    status = "coverage.status.who5.citizen"

    def at(timepoint: str, column: str) -> object:
        return cell(result, status, municipality=code, timepoint=timepoint, column=column)["value"]

    assert at("fu_3m", "planned") == 10
    assert at("fu_3m", "measured") == 3
    assert at("fu_3m", "dropped_out") == 3
    assert at("fu_3m", "reason.too_ill") == 3
    assert at("fu_3m", "missed") == 4  # the window passed unanswered (expired)
    assert at("fu_2y", "pending") == 4
    assert at("fu_2y", "missed") == 6


def test_a_plan_s_baseline_is_found_by_its_role_whatever_its_key(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        renamed = PlanSpec(
            "Egen plan",
            tuple(
                TimepointSpec(
                    replace(
                        tp.rule,
                        key={"baseline": "start", "end": "slut"}.get(tp.rule.key, tp.rule.key),
                    ),
                    tp.label_da,
                    tp.label_en,
                    tp.items,
                )
                for tp in DEFAULT_PLAN.timepoints
            ),
        )
        seeder.plan = create_plan(session, renamed, municipality_id=seeder.municipality.id)
        courses = [seeder.course() for _ in range(4)]
        for index, course in enumerate(courses):
            seeder.answer(course, "who5", "start", {f"who5_{i}": 2 for i in range(1, 6)})
            seeder.answer(course, "who5", "slut", {f"who5_{i}": 3 + index % 2 for i in range(1, 6)})
        result = run(session, "progression", scope_of(seeder))
    row = cell(
        result,
        "progression.who5_percent.citizen",
        comparison="baseline-end",
        column="n",
    )
    assert row["value"] == 4
    change = cell(
        result, "progression.who5_percent.citizen", comparison="baseline-end", column="mean_change"
    )
    assert change["value"] == 30.0  # (20 + 20 + 40 + 40) / 4 points on 0-100


# --- progression -------------------------------------------------------------------------------


def test_progression_sums_in_sql_agree_with_python_and_never_pool_respondents(
    session_factory: sessionmaker[Session],
) -> None:
    pairs = [(2, 3), (2, 2), (3, 5), (1, 4), (4, 2), (2, 4), (3, 3)]  # WHO-5 item values
    relative = [(5, 8), (6, 6), (4, 7)]  # start meeting sm_1 by a relative
    citizen = [(3, 3), (7, 9), (5, 5), (8, 6)]  # start meeting sm_1 by the citizen
    with session_factory.begin() as session:
        seeder = Seeder(session)
        for before, after in pairs:
            course = seeder.course()
            seeder.answer(course, "who5", "baseline", {f"who5_{i}": before for i in range(1, 6)})
            seeder.answer(course, "who5", "end", {f"who5_{i}": after for i in range(1, 6)})
        lonely = seeder.course()  # a baseline without an end: not in any pair
        seeder.answer(lonely, "who5", "baseline", {f"who5_{i}": 5 for i in range(1, 6)})
        for who, values in ((Respondent.RELATIVE, relative), (Respondent.CITIZEN, citizen)):
            for before, after in values:
                course = seeder.course()
                for key, value in (("baseline", before), ("end", after)):
                    seeder.answer(
                        course,
                        "start_meeting",
                        key,
                        {"sm_1": value, "sm_2": 5, "sm_3": 5, "sm_4": 5},
                        who,
                    )
        result = run(session, "progression", scope_of(seeder))
    spec = REGISTRY.get("who5").score_spec("who5_percent")
    assert spec is not None
    percents = [(b * 20, a * 20) for b, a in pairs]
    expected = summarise(
        PairedSums(
            len(percents),
            sum(b for b, _a in percents),
            sum(a for _b, a in percents),
            sum(a - b for b, a in percents),
            sum((a - b) ** 2 for b, a in percents),
        )
    )
    table = "progression.who5_percent.citizen"

    def value(column: str, table: str = table) -> object:
        return cell(result, table, comparison="baseline-end", column=column)

    assert value("n")["value"] == 7
    assert value("mean_before")["value"] == pytest.approx(round(expected.mean_before, 1))
    assert value("mean_after")["value"] == pytest.approx(round(expected.mean_after, 1))
    change = value("mean_change")
    assert change["value"] == pytest.approx(round(expected.mean_change, 1))
    assert change["ci_low"] == pytest.approx(round(expected.ci_low, 1))
    assert change["ci_high"] == pytest.approx(round(expected.ci_high, 1))
    kinds = [spec.classify(b, a) for b, a in percents]
    counts = {
        name: sum(1 for k in kinds if k is not None and k.value == name)
        for name in ("improved", "unchanged", "worsened")
    }
    assert counts == {"improved": 4, "unchanged": 2, "worsened": 1}
    for name, count in counts.items():
        found = value(name)
        if 0 < count < T:
            assert found["suppressed"] and found["count"] is None
        if not found["suppressed"]:
            assert (found["count"], found["n"]) == (count, 7)
    # Relatives' and citizens' start-meeting answers: two tables, never one pool.
    rel = "progression.start_meeting_sm_1.relative"
    cit = "progression.start_meeting_sm_1.citizen"
    assert value("n", rel)["value"] == 3
    assert value("mean_change", rel)["value"] == pytest.approx(2.0)
    assert value("n", cit)["value"] == 4
    assert value("mean_change", cit)["value"] == pytest.approx(0.0)


# --- target group, filters, scope ---------------------------------------------------------------


def test_target_group_by_age_band_sex_and_living_alone(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        start = date(2024, 1, 8)
        for birth_year, sex, alone in [
            (1960, Sex.FEMALE, True),  # 64 at start: under 65
            (1959, Sex.FEMALE, True),  # 65
            (1950, Sex.MALE, False),  # 74
            (1949, Sex.MALE, None),  # 75
            (1940, Sex.FEMALE, True),  # 84
            (1939, Sex.FEMALE, True),  # 85
            (1930, Sex.MALE, False),  # 94
        ] * 3:
            seeder.course(start=start, birth_year=birth_year, sex=sex, lives_alone=alone)
        result = run(session, "target-group", scope_of(seeder))
    code = seeder.municipality.code

    def count(table: str, column: str) -> object:
        found = cell(result, table, municipality=code, provider="all", column=column)
        return found["count"] if found["measure"] == "share" else found["value"]

    assert count("target-group.age", "courses") == 21
    assert [count("target-group.age", b) for b in ("under_65", "65_74", "75_84", "85_plus")] == [
        3,
        6,
        6,
        6,
    ]
    assert [count("target-group.sex", s) for s in ("female", "male")] == [12, 9]
    assert [count("target-group.alone", a) for a in ("yes", "no", "unknown")] == [12, 6, 3]


def test_filters_narrow_every_report(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        for _ in range(4):
            seeder.course(start=date(2024, 1, 8))
        for _ in range(5):
            seeder.course(start=date(2024, 6, 3), private=True, legal_basis=LegalBasis.SEL_86)
        rscope = scope_of(seeder)

        def courses(**filters: object) -> object:
            result = run(session, "target-group", rscope, **filters)
            rows = [
                r
                for r in result.records()
                if r["table"] == "target-group.age"
                and r["provider"] == "all"
                and r["column"] == "courses"
            ]
            return rows[0]["value"]

        assert courses() == 9
        assert courses(provider_kind=ProviderKind.PRIVATE) == 5
        assert courses(provider_id=seeder.municipal.id) == 4
        assert courses(team_id=seeder.team.id) == 4
        assert courses(start_from=date(2024, 3, 1)) == 5
        assert courses(start_to=date(2024, 3, 1)) == 4
        assert courses(legal_basis=LegalBasis.SEL_86) == 5
        with pytest.raises(reports.FilterError) as caught:
            run(
                session,
                "target-group",
                rscope,
                start_from=date(2024, 3, 1),
                start_to=date(2024, 1, 1),
            )
        assert caught.value.field == "start_to"
        with pytest.raises(reports.FilterError):
            run(
                session,
                "target-group",
                rscope,
                provider_id=seeder.private.id,
                team_id=seeder.team.id,
            )
        with pytest.raises(reports.FilterError):
            run(
                session,
                "target-group",
                rscope,
                provider_id=seeder.private.id,
                provider_kind=ProviderKind.MUNICIPAL,
            )


def test_reports_see_only_their_scope(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        home, away = Seeder(session, "Hjemby Kommune"), Seeder(session, "Udeby Kommune")
        for seeder in (home, away):
            for _ in range(5):
                seeder.course()
        mine = scope_of(home)
        result = run(session, "target-group", mine)
        assert result.municipalities == ("Hjemby Kommune",)
        assert {r["municipality"] for r in result.records()} == {home.municipality.code}
        with pytest.raises(reports.FilterError):
            run(session, "target-group", mine, municipality_ids=frozenset({away.municipality.id}))
        with pytest.raises(reports.FilterError):
            run(session, "target-group", mine, provider_id=away.municipal.id)
        both = run(session, "target-group", scope_of(home, away))
        assert both.municipalities == ("Hjemby Kommune", "Udeby Kommune")
        assert {r["municipality"] for r in both.records()} == {
            home.municipality.code,
            away.municipality.code,
            "all",
        }


def test_small_groups_are_hidden_and_not_recoverable_from_the_totals(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        for _ in range(2):  # two private courses: too few to show
            seeder.course(private=True, birth_year=1930)
        for _ in range(7):
            seeder.course(birth_year=1945)
        result = run(session, "target-group", scope_of(seeder))
    records = [r for r in result.records() if r["table"] == "target-group.age"]
    private = [r for r in records if r["provider"] == seeder.private.name]
    assert all(r["suppressed"] and r["value"] is None and r["n"] is None for r in private)
    shown_totals = [r for r in records if r["column"] == "courses" and not r["suppressed"]]
    # With the private provider hidden, the municipal one or the total must be hidden too.
    assert len(shown_totals) <= 1
    for r in result.records():
        for name in ("value", "n", "count"):
            if r["measure"] != "count" and name == "value":
                continue
            if r[name] is not None:
                assert r[name] == 0 or r[name] >= T, r


def test_running_a_report_is_audited_without_personal_data(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        seeder.course()
        rscope = scope_of(seeder)
        reports.run_report(
            session,
            rscope,
            REGISTRY,
            "coverage",
            reports.ReportFilters(start_from=date(2024, 1, 1), respondent=Respondent.CITIZEN),
            T,
            actor=audit.SYSTEM,
            channel="cli",
        )
    with session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.view")).one()
    assert event.actor_type == ActorType.SYSTEM.value
    assert event.object_id == "coverage"
    assert event.details == {
        "report": "coverage",
        "channel": "cli",
        "threshold": T,
        "municipality_ids": [seeder.municipality.id],
        "filters": {"start_from": "2024-01-01", "respondent": "citizen"},
    }


def test_reports_of_a_plan_with_only_a_baseline(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        seeder = Seeder(session)
        only_start = PlanSpec(
            "Kun start",
            (
                TimepointSpec(
                    TimepointRule("start", Anchor.COURSE_START),
                    "Start",
                    "Start",
                    (("who5", Respondent.CITIZEN),),
                ),
            ),
        )
        seeder.plan = create_plan(session, only_start, municipality_id=seeder.municipality.id)
        for _ in range(3):
            seeder.answer(seeder.course(), "who5", "start", {f"who5_{i}": 3 for i in range(1, 6)})
        assert session.scalars(select(MeasurementPlan)).all()
        results = {name: run(session, name, scope_of(seeder)) for name in reports.REPORTS}
    coverage = results["coverage"]
    assert [t.key for t in coverage.tables] == [
        "coverage.measured.who5.citizen",
        "coverage.status.who5.citizen",
    ]
    assert [c.key for c in next(coverage.tables).columns] == ["baseline"]
    assert results["progression"].sections == ()  # nothing to pair with
    assert results["outcomes"].sections == ()
    assert results["start-meeting"].sections == ()
    ages = [
        r
        for r in results["target-group"].records()
        if r["column"] == "courses" and r["provider"] == "all"
    ]
    assert {r["value"] for r in ages} == {3}
