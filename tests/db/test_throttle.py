"""The rate-limit counters (surveyapp.services.throttle) on SQLite and PostgreSQL.

Two sessions stand for two app processes: each counts in its own transaction and both counts
land, including the first hit of a window that both try to insert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.models import RateCounter
from surveyapp.services import throttle

LIMIT = throttle.Limit("login_account", 3, timedelta(minutes=15))
NOW = datetime(2026, 12, 1, 12, 7, tzinfo=UTC)


def test_counts_windows_and_clearing(session_factory: sessionmaker[Session]) -> None:
    key = throttle.key_of("secret", LIMIT.kind, "koordinator")
    assert key != throttle.key_of("other-secret", LIMIT.kind, "koordinator")
    assert "koordinator" not in key
    with session_factory.begin() as session:
        assert [throttle.hit(session, LIMIT, key, now=NOW) for _ in range(3)] == [1, 2, 3]
        assert throttle.exceeded(session, LIMIT, key, now=NOW)
        assert not throttle.exceeded(session, LIMIT, "another key", now=NOW)
    later = NOW + timedelta(minutes=15)
    with session_factory.begin() as session:
        assert not throttle.exceeded(session, LIMIT, key, now=later)  # a new window
        throttle.hit(session, LIMIT, key, now=later)
        # The window that has passed is forgotten as the new one starts.
        assert session.scalar(select(func.count()).select_from(RateCounter)) == 1
        throttle.clear(session, LIMIT.kind, key)
        assert throttle.hits(session, LIMIT, key, now=later) == 0


def test_two_processes_counting_at_once_both_count(session_factory: sessionmaker[Session]) -> None:
    key = throttle.key_of("secret", LIMIT.kind, "admin")
    one, two = session_factory(), session_factory()
    try:
        one.begin()
        two.begin()
        assert throttle.hit(one, LIMIT, key, now=NOW) == 1
        one.commit()
        # The second "process" began before the first committed; it still adds to the row.
        assert throttle.hit(two, LIMIT, key, now=NOW) == 2
        two.commit()
    finally:
        one.close()
        two.close()
    with session_factory() as session:
        assert throttle.hits(session, LIMIT, key, now=NOW) == 2
