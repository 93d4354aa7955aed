"""`surveyapp check`: the demo database passes; each planted breakage is named, with exit 1.

Every breakage is planted on its own in a fresh copy of a small demo database, on SQLite and
on PostgreSQL, the way damage gets in: SQL run by hand with the constraints or triggers off,
or a restore that failed to build a unique constraint.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection, text

from surveyapp.db import make_engine
from surveyapp.services import backup, integrity
from tests.db import integrity_support
from tests.db.integrity_support import constraints_off, drop_unique, run_cli

demo_databases = integrity_support.demo_databases  # fixtures
demo_url = integrity_support.demo_url

FIRST_WHO5 = (
    "SELECT min(id) FROM response WHERE instrument_id = 'who5' AND submitted_at IS NOT NULL"
)


def _one(conn: Connection, sql: str) -> int:
    return int(conn.execute(text(sql)).scalar_one())


def _delete_scores(conn: Connection) -> None:
    conn.execute(text(f"DELETE FROM score WHERE response_id = ({FIRST_WHO5})"))


def _unknown_scoring_version(conn: Connection) -> None:
    conn.execute(text(f"UPDATE response SET scoring_version = 'who5/9' WHERE id = ({FIRST_WHO5})"))


def _assignment_reopened(conn: Connection) -> None:
    conn.execute(
        text(
            "UPDATE assignment SET status = 'open' WHERE id = "
            f"(SELECT assignment_id FROM response WHERE id = ({FIRST_WHO5}))"
        )
    )


def _completed_without_response(conn: Connection) -> None:
    conn.execute(
        text(
            "UPDATE assignment SET status = 'completed' WHERE id = (SELECT min(a.id) FROM"
            " assignment a LEFT JOIN response r ON r.assignment_id = a.id WHERE r.id IS NULL)"
        )
    )


def _unsubmitted_with_scores(conn: Connection) -> None:
    conn.execute(
        text(
            "UPDATE response SET submitted_at = NULL, scoring_version = NULL "
            f"WHERE id = ({FIRST_WHO5})"
        )
    )


def _second_response_for_an_assignment(conn: Connection) -> None:
    drop_unique(conn, "response", "assignment_id")
    conn.execute(
        text(
            "INSERT INTO response (assignment_id, instrument_id, instrument_version, language,"
            " text_version, text_verified, channel, respondent, started_at) "
            "SELECT assignment_id, instrument_id, instrument_version, language, text_version,"
            " text_verified, channel, respondent, started_at FROM response"
            f" WHERE id = ({FIRST_WHO5})"
        )
    )


def _shared_submission_key(conn: Connection) -> None:
    drop_unique(conn, "response", "submission_key")
    conn.execute(
        text(
            "UPDATE response SET submission_key = 'retried-twice' WHERE id IN "
            "(SELECT id FROM response WHERE submitted_at IS NOT NULL ORDER BY id LIMIT 2)"
        )
    )


def _orphan_answer(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO answer (response_id, item_id, state, value, answered_at) "
            "VALUES (987654, 'who5_1', 'answered', 3, '2026-01-01 10:00:00')"
        )
    )


def _orphan_response(conn: Connection) -> None:
    conn.execute(text(f"UPDATE response SET assignment_id = 987654 WHERE id = ({FIRST_WHO5})"))


def _answer_to_a_missing_item(conn: Connection) -> None:
    conn.execute(
        text(
            "UPDATE answer SET item_id = 'who5_9' WHERE response_id = "
            f"({FIRST_WHO5}) AND item_id = 'who5_1'"
        )
    )


def _answer_out_of_range(conn: Connection) -> None:
    conn.execute(
        text(
            f"UPDATE answer SET value = 7 WHERE response_id = ({FIRST_WHO5}) AND item_id = 'who5_2'"
        )
    )


def _state_not_offered(conn: Connection) -> None:
    conn.execute(
        text(
            "UPDATE answer SET state = 'dont_know', value = NULL WHERE response_id = "
            f"({FIRST_WHO5}) AND item_id = 'who5_3'"
        )
    )


def _measurement_value_changed(conn: Connection) -> None:
    conn.execute(
        text(f"UPDATE measurement SET v0 = coalesce(v0, 0) + 4 WHERE response_id = ({FIRST_WHO5})")
    )


def _measurement_row_missing(conn: Connection) -> None:
    conn.execute(text(f"DELETE FROM measurement WHERE response_id = ({FIRST_WHO5})"))


def _visit(conn: Connection) -> int:
    conn.execute(
        text(
            "INSERT INTO kiosk_session (grant_hash, staff_user_id, municipality_id, citizen_id,"
            " assignment_ids, state, pin_failures, staff_login_at, started_at, last_activity_at)"
            " SELECT :grant, s.id, c.municipality_id, c.id, '[]', 'ended', 0,"
            " '2026-01-01 10:00:00', '2026-01-01 10:00:00', '2026-01-01 10:00:00'"
            " FROM staff_user s, citizen c WHERE s.id = (SELECT min(id) FROM staff_user)"
            " AND c.id = (SELECT min(id) FROM citizen)"
        ),
        {"grant": "g" * 64},
    )
    return _one(conn, "SELECT max(id) FROM kiosk_session")


def _offline_item(conn: Connection, visit: int, key: str, kind: str, assignment: str) -> None:
    conn.execute(
        text(
            "INSERT INTO offline_item (key, visit_id, seq, kind, digest, assignment_id, outcome,"
            f" received_at) VALUES (:key, :visit, 1, :kind, :digest, ({assignment}), 'stored',"
            " '2026-01-01 10:05:00')"
        ),
        {"key": key, "visit": visit, "kind": kind, "digest": "d" * 64},
    )


def _offline_key_twice(conn: Connection) -> None:
    drop_unique(conn, "offline_item", "key")
    visit = _visit(conn)
    for _ in range(2):
        _offline_item(conn, visit, "0b6f3c1e-0000-4000-8000-000000000001", "answer", "NULL")


def _offline_submit_lost(conn: Connection) -> None:
    unanswered = (
        "SELECT min(a.id) FROM assignment a LEFT JOIN response r ON r.assignment_id = a.id"
        " WHERE r.id IS NULL"
    )
    _offline_item(conn, _visit(conn), "0b6f3c1e-0000-4000-8000-000000000002", "submit", unanswered)


def _audit_event_edited(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for name in ("no_update", "no_delete", "chain", "advance"):
            conn.execute(text(f"DROP TRIGGER audit_event_{name}"))
    conn.execute(text("UPDATE audit_event SET action = 'login.failure' WHERE seq = 1"))


BREAKAGES: dict[str, tuple[str, Callable[[Connection], None]]] = {
    "score rows deleted": ("responses-scored", _delete_scores),
    "unknown scoring version": ("responses-scored", _unknown_scoring_version),
    "assignment of a submitted response reopened": ("responses-scored", _assignment_reopened),
    "scores on an unsubmitted response": ("responses-scored", _unsubmitted_with_scores),
    "assignment completed without a response": (
        "responses-scored",
        _completed_without_response,
    ),
    "two responses to one assignment": (
        "one-response-per-assignment",
        _second_response_for_an_assignment,
    ),
    "two responses with one submission key": (
        "one-response-per-submission-key",
        _shared_submission_key,
    ),
    "answer of a missing response": ("orphan-rows", _orphan_answer),
    "response of a missing assignment": ("orphan-rows", _orphan_response),
    "answer to an item the version lacks": ("answers-valid", _answer_to_a_missing_item),
    "answer value out of range": ("answers-valid", _answer_out_of_range),
    "answer state not offered": ("answers-valid", _state_not_offered),
    "measurement value changed": ("measurements", _measurement_value_changed),
    "measurement row missing": ("measurements", _measurement_row_missing),
    "offline key stored twice": ("offline-items", _offline_key_twice),
    "offline submit without a submitted response": ("offline-items", _offline_submit_lost),
    "audit event edited": ("audit-chain", _audit_event_edited),
}


def _plant(url: str, breakage: Callable[[Connection], None]) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            constraints_off(conn)
            breakage(conn)
            conn.commit()
    finally:
        engine.dispose()


def _lines(output: str) -> dict[str, str]:
    return {
        line.split()[1].rstrip(":"): line.split()[0]
        for line in output.splitlines()
        if line.startswith(("ok ", "FAILED "))
    }


def test_the_demo_database_passes_every_check(demo_url: str) -> None:
    code, output = run_cli("check", "--database-url", demo_url)
    assert code == 0, output
    checks = _lines(output)
    assert set(checks) == {name for name, _ in BREAKAGES.values()}
    assert set(checks.values()) == {"ok"}
    assert "responses-scored: 0 rows" not in output  # the demo's responses were looked at
    assert output.rstrip().endswith("all 8 checks hold")


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_planted_breakage_is_named_with_exit_1(demo_url: str, breakage: str) -> None:
    check, plant = BREAKAGES[breakage]
    _plant(demo_url, plant)
    code, output = run_cli("check", "--database-url", demo_url)
    assert code == 1, output
    assert _lines(output)[check] == "FAILED", output
    problems = [line for line in output.splitlines() if line.startswith("         ")]
    assert problems, output  # the problem itself is named, by ids
    assert "retried-twice" not in output  # a submission key is not shown


def test_the_check_writes_nothing(demo_url: str) -> None:
    engine = make_engine(demo_url)
    try:
        before = backup.checksums(engine)
        with integrity.read_only(engine) as session:
            integrity.run_checks(session, _registry())
            with pytest.raises(Exception, match="(?i)read.only|readonly"):
                session.execute(text("UPDATE response SET language = 'en'"))
        assert backup.checksums(engine) == before
    finally:
        engine.dispose()
    code, output = run_cli("check", url=demo_url)  # SURVEYAPP_DATABASE_URL is read as well
    assert code == 0, output
    engine = make_engine(demo_url)
    try:
        assert backup.checksums(engine) == before
    finally:
        engine.dispose()


def _registry() -> object:
    from surveyapp.instruments import default_registry

    return default_registry()
