"""Export rows from the database: values, coded missing, scope, filters, pseudonyms, streaming."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AnswerState, Channel, Respondent, Role
from surveyapp.exports import CodedMissing, Layout
from surveyapp.instruments import default_registry, score
from surveyapp.models import AnalystGrant, Course, StaffUser
from surveyapp.pseudonym import pseudonymise
from surveyapp.services import exports as export_service
from surveyapp.services.exports import ExportQuery, Pseudonyms, SystemReach
from surveyapp.services.responses import open_response, record_complete_response, save_answer
from surveyapp.services.scope import OutOfScope, Scope, report_scope
from tests.support import factories

REGISTRY = default_registry()
KEY = export_service.export_key("test-cpr-hmac-key-0123456789abcdef012345")
CPR = "0101401234"
SECRET_LABEL = "QX-Hemmelig-Borger"
START = date(2026, 1, 5)
WHO5 = {"who5_1": 3, "who5_2": 4, "who5_3": 2, "who5_4": 5, "who5_5": 1}
WHODAS = {f"S{n}": 2 for n in range(1, 12)} | {"S12": AnswerState.NOT_APPLICABLE, "H1": 4}
START_MEETING = {"sm_1": AnswerState.DONT_KNOW, "sm_2": 7, "sm_3": 8, "sm_4": 9}


def _answer(session: Session, course: Course, instrument: str, answers: dict[str, Any]) -> None:
    record_complete_response(
        session,
        factories.assignment(course, instrument),
        answers,
        channel=Channel.KIOSK,
        language="da",
        registry=REGISTRY,
        started_at=datetime(2026, 1, 6, 9, 0, tzinfo=UTC),
        submitted_at=datetime(2026, 1, 6, 23, 30, tzinfo=UTC),  # 7 January in Denmark
    )


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> dict[str, Any]:
    with session_factory.begin() as session:
        home = factories.course(session, start=START, today=START)
        home.citizen.label = SECRET_LABEL
        home.citizen.cpr_hmac = pseudonymise(CPR, "test-cpr-hmac-key-0123456789abcdef012345")
        _answer(session, home, "who5", WHO5)
        _answer(session, home, "whodas12", WHODAS)
        _answer(session, home, "start_meeting", START_MEETING)
        proxy = factories.assignment(home, "whodas12_proxy", Respondent.RELATIVE)
        unfinished = open_response(
            session, proxy, channel=Channel.LINK, language="da", registry=REGISTRY
        )
        save_answer(session, unfinished, "S1", 3, registry=REGISTRY)
        away = factories.course(
            session, start=date(2026, 3, 2), today=date(2026, 3, 2), municipality_name="Nabolund"
        )
        _answer(session, away, "who5", WHO5)
        return {
            "home": home.municipality_id,
            "away": away.municipality_id,
            "home_citizen": home.citizen_id,
            "home_course": home.id,
            "home_provider": home.provider_id,
        }


def _rows(
    session: Session, reach: Any, query: ExportQuery | None = None
) -> tuple[Layout, list[dict[str, Any]]]:
    query = query or ExportQuery()
    export = export_service.export_layout(REGISTRY, query)
    rows = export_service.iter_rows(session, reach, query, export, Pseudonyms(KEY))
    return export, [dict(zip(export.names, r, strict=True)) for r in rows]


def _everywhere(seeded: dict[str, Any]) -> SystemReach:
    return SystemReach(frozenset({seeded["home"], seeded["away"]}))


def test_wide_rows_carry_values_coded_missing_scores_and_keys(
    session_factory: sessionmaker[Session], seeded: dict[str, Any]
) -> None:
    with session_factory() as session:
        home = SystemReach(frozenset({seeded["home"]}))
        _, rows = _rows(session, home)
        assert len(rows) == 3  # submitted only: the relative's unfinished form is left out
        by = {r["instrument"]: r for r in rows}
        who5 = by["who5"]
        assert [who5[i] for i in WHO5] == list(WHO5.values())
        assert who5["who5_percent"] == score(REGISTRY.get("who5"), WHO5).scores["who5_percent"]
        assert who5["timepoint"] == "baseline" and who5["timepoint_role"] == "baseline"
        assert who5["course_start"] == START and who5["submitted"] == date(2026, 1, 7)
        assert who5["birth_year"] == 1940 and who5["sex"] == "female"
        assert who5["lives_alone"] == 1 and who5["text_verified"] in (0, 1)
        assert who5["provider"] == "Hjemmeplejen" and who5["team"] == "Team Nord"
        assert who5["legal_basis"] == "83a" and who5["channel"] == "kiosk"
        whodas = by["whodas12"]
        assert whodas["whodas12_S12"] is CodedMissing.NOT_APPLICABLE
        assert whodas["whodas12_S1"] == 2 and whodas["H1"] == 4 and whodas["H2"] is None
        assert whodas["scoring_version"] == "whodas12_simple/1"
        assert whodas["imputed"] == 1 and "imputed:S12" in whodas["score_notes"]
        assert whodas["who5_1"] is None  # sparse: another instrument's column
        assert by["start_meeting"]["sm_1"] is CodedMissing.DONT_KNOW
        assert by["start_meeting"]["start_meeting_mean"] == pytest.approx(8.0)


def test_in_progress_responses_come_only_when_asked_for(
    session_factory: sessionmaker[Session], seeded: dict[str, Any]
) -> None:
    query = ExportQuery(include_in_progress=True, instrument="whodas12_proxy")
    with session_factory() as session:
        reach = _everywhere(seeded)
        _, rows = _rows(session, reach, query)
        assert [(r["S1"], r["submitted"], r["scoring_version"]) for r in rows] == [(3, None, None)]
        assert export_service.count_rows(session, reach, query) == 1
        assert _rows(session, reach, ExportQuery(instrument="whodas12_proxy"))[1] == []


def test_long_rows_are_one_per_stored_answer(
    session_factory: sessionmaker[Session], seeded: dict[str, Any]
) -> None:
    query = ExportQuery(long=True, instrument="start_meeting")
    with session_factory() as session:
        reach = _everywhere(seeded)
        _, rows = _rows(session, reach, query)
        assert export_service.count_rows(session, reach, query) == len(rows) == 4
        assert [(r["item"], r["state"], r["value"]) for r in rows] == [
            ("sm_1", "dont_know", CodedMissing.DONT_KNOW),
            ("sm_2", "answered", 7),
            ("sm_3", "answered", 8),
            ("sm_4", "answered", 9),
        ]


def test_scope_keeps_other_municipalities_out_and_grants_let_an_analyst_in(
    session_factory: sessionmaker[Session], seeded: dict[str, Any]
) -> None:
    with session_factory.begin() as session:
        analyst = StaffUser(
            username="ana",
            full_name="Ana",
            role=Role.ANALYST,
            municipality_id=seeded["home"],
            password_hash="x",
        )
        session.add(analyst)
        session.flush()
        scope = Scope(analyst.id, Role.ANALYST, seeded["home"])
        own = report_scope(session, scope)
        _, rows = _rows(session, own)
        assert {r["municipality"] for r in rows} == {"Sølvstrand Kommune"}
        with pytest.raises(OutOfScope):
            _rows(session, own, ExportQuery(municipality_ids=frozenset({seeded["away"]})))
        session.add(
            AnalystGrant(
                user_id=analyst.id, municipality_id=seeded["away"], granted_by_id=analyst.id
            )
        )
        session.flush()
        granted = report_scope(session, scope)
        _, rows = _rows(session, granted)
        assert {r["municipality"] for r in rows} == {"Sølvstrand Kommune", "Nabolund"}
        only_away = ExportQuery(municipality_ids=frozenset({seeded["away"]}))
        assert {r["municipality"] for r in _rows(session, granted, only_away)[1]} == {"Nabolund"}


def test_filters_by_period_provider_and_instrument(
    session_factory: sessionmaker[Session], seeded: dict[str, Any]
) -> None:
    with session_factory() as session:
        reach = _everywhere(seeded)

        def count(**kwargs: Any) -> int:
            return len(_rows(session, reach, ExportQuery(**kwargs))[1])

        assert count() == 4
        assert count(start_from=date(2026, 2, 1)) == 1
        assert count(start_to=date(2026, 2, 1)) == 3
        assert count(start_from=START, start_to=START) == 3
        assert count(provider_id=seeded["home_provider"]) == 3
        assert count(instrument="who5") == 2


def test_pseudonyms_are_stable_and_reveal_no_id_cpr_or_label(
    session_factory: sessionmaker[Session], seeded: dict[str, Any]
) -> None:
    with session_factory() as session:
        _, first = _rows(session, _everywhere(seeded))
        _, again = _rows(session, _everywhere(seeded))
    assert [r["citizen"] for r in first] == [r["citizen"] for r in again]
    home = [r for r in first if r["municipality_code"] != first[-1]["municipality_code"]]
    assert len({r["citizen"] for r in home}) == 1 and len({r["response"] for r in first}) == 4
    citizen = home[0]["citizen"]
    assert len(citizen) == 16 and citizen != str(seeded["home_citizen"])
    assert home[0]["course"] != str(seeded["home_course"])
    assert Pseudonyms(export_service.export_key("another key"))("citizen", 1) != Pseudonyms(KEY)(
        "citizen", 1
    )


FORMATS = ("csv", "csv-excel", "xlsx", "sav", "dta", "codebook-csv", "codebook-json")


@pytest.mark.parametrize("long", [False, True])
def test_no_format_contains_the_cpr_its_hash_or_the_label(
    session_factory: sessionmaker[Session], seeded: dict[str, Any], tmp_path: Path, long: bool
) -> None:
    secrets = [
        CPR.encode(),
        pseudonymise(CPR, "test-cpr-hmac-key-0123456789abcdef012345").encode(),
        SECRET_LABEL.encode(),
        SECRET_LABEL.encode("utf-16-le"),
    ]
    query = ExportQuery(long=long, include_in_progress=True)
    # What the search does find in the same bytes: the citizen's pseudonym.
    pseudonym = Pseudonyms(KEY)("citizen", seeded["home_citizen"]).encode()
    with session_factory() as session:
        for fmt in FORMATS:
            path = tmp_path / f"export.{fmt}"
            export_service.write_export(
                session, REGISTRY, _everywhere(seeded), query, fmt, path, KEY
            )
            data = path.read_bytes()
            if fmt == "xlsx":
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    data = b"".join(archive.read(n) for n in archive.namelist())
            assert (pseudonym in data) is not export_service.is_codebook(fmt), fmt
            for secret in secrets:
                assert secret not in data, fmt


def test_rows_are_streamed_batch_by_batch(
    session_factory: sessionmaker[Session], seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_factory() as session:
        _, whole = _rows(session, _everywhere(seeded))
        monkeypatch.setattr(export_service, "BATCH", 1)
        _, batched = _rows(session, _everywhere(seeded))
    assert batched == whole and len(whole) == 4


def test_begin_export_audits_filters_and_row_count_without_personal_data(
    session_factory: sessionmaker[Session], seeded: dict[str, Any]
) -> None:
    from sqlalchemy import select

    from surveyapp.models import AuditEvent
    from surveyapp.services import audit

    with session_factory.begin() as session:
        rows = export_service.begin_export(
            session, audit.SYSTEM, _everywhere(seeded), ExportQuery(instrument="who5"), "sav"
        )
    assert rows == 2
    with session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "export.download"))
        found = event.one()
    assert found.actor_type == "system"
    assert found.details["format"] == "sav" and found.details["rows"] == 2
    assert found.details["municipality_ids"] == sorted({seeded["home"], seeded["away"]})
    assert SECRET_LABEL not in str(found.details)


def test_the_export_command_writes_the_file_and_codebook_and_audits_as_the_system(
    session_factory: sessionmaker[Session], seeded: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    import pyreadstat
    from click.testing import CliRunner
    from sqlalchemy import select

    from surveyapp.cli import main
    from surveyapp.models import AuditEvent, Municipality

    with session_factory() as session:
        code = session.get(Municipality, seeded["home"]).code  # type: ignore[union-attr]
    env = {"SURVEYAPP_DATABASE_URL": settings.database_url, "SURVEYAPP_ENV": "test"}
    out, book = tmp_path / "who5.dta", tmp_path / "book.json"
    args = ["export", "--format", "dta", "--instrument", "who5", "--municipality", code]
    done = CliRunner().invoke(main, [*args, "--out", str(out), "--codebook", str(book)], env=env)
    assert done.exit_code == 0, done.output
    assert f"{out}: 1 rows" in done.output
    frame, _ = pyreadstat.read_dta(str(out))
    assert list(frame["who5_1"]) == [WHO5["who5_1"]]
    assert '"instrument": "who5"' in book.read_text(encoding="utf-8")
    with session_factory() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.download")
        ).all()
    assert [(e.actor_type, e.details["format"]) for e in events] == [
        ("system", "dta"),
        ("system", "codebook-json"),
    ]
    assert events[0].details["municipality_ids"] == [seeded["home"]]
    bad = CliRunner().invoke(main, ["export", "--municipality", "000", "--out", str(out)], env=env)
    assert bad.exit_code == 2 and "unknown municipality code: 000" in bad.output


def test_batches_fetched_ahead_arrive_in_order_errors_surface_and_a_closed_export_stops() -> None:
    assert list(export_service.prefetched(iter(range(50)))) == list(range(50))

    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        list(export_service.prefetched(broken()))
    produced: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    batches = export_service.prefetched(endless(), depth=2)
    assert next(batches) == 0
    batches.close()  # the download was closed: the fetching thread ends
    seen = len(produced)
    time.sleep(0.3)
    assert len(produced) == seen <= 5
