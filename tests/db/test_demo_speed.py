"""The demo loads fast (bulk inserts, hashes computed once) and its rows stay exactly the same.

Each load is reduced to a canonical digest per table: every row in primary-key order, every
column's value, read back through the models' types (so SQLite and PostgreSQL give the same
text). The digests were recorded with the ORM row-by-row loader before it was replaced, and
the bulk loader must give the same rows, ids and values for the same seed and day.

Not compared as such, because they legitimately differ from one load to the next:
- times taken from the clock while loading (created_at, the status_changed_at of a
  measurement that no answer moved, totp_enrolled_at, the audit event's and chain head's
  occurred_at): every time after the demo's day must be such a clock time, and reads as
  "<clock>";
- the audit chain's hashes (audit_event.hash and prev_hash, audit_chain_head.hash), which
  cover occurred_at: the chain is verified instead;
- the argon2 hashes of the demo passwords and PINs (a random salt each): each must verify
  against its demo secret, and reads as "<argon2id:ok>".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import argon2
import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp import security
from surveyapp.config import Settings
from surveyapp.demo import DEMO_HASHES, DEMO_PIN, DEMO_USERS, load_demo_data
from surveyapp.enums import Channel, Sex
from surveyapp.instruments import default_registry
from surveyapp.models import Base, Citizen, Course, StaffUser
from surveyapp.services import audit
from surveyapp.services.backup import sequences_behind
from surveyapp.services.courses import create_course
from surveyapp.services.integrity import run_checks
from surveyapp.services.responses import record_complete_response

TODAY = date(2026, 11, 23)
#: After every time the demo itself makes (answers are given on or before its day).
CLOCK_AFTER = datetime.combine(TODAY + timedelta(days=1), time(0), tzinfo=UTC)
CHAIN_HASHES = {("audit_event", "hash"), ("audit_event", "prev_hash"), ("audit_chain_head", "hash")}
SECRETS = {
    "password_hash": {u.username: u.password for u in DEMO_USERS},
    "kiosk_pin_hash": {u.username: u.kiosk_pin for u in DEMO_USERS},
}

#: Recorded with the ORM loader (seed 11, 20 citizens, day 2026-11-23), the test settings' keys.
SMALL = {
    "answer": "e9d453a0fa9e16bb",
    "assignment": "e687522274bec799",
    "audit_chain_head": "c5a10584f7eeb2b5",
    "audit_event": "1b0f1bc1a742e19c",
    "citizen": "bd9b5ccf1578768e",
    "course": "a1321e5401f64926",
    "measurement": "d2a4aa55cd2e3f89",
    "measurement_column": "abb2035bd3d61fdb",
    "measurement_plan": "bb79e8b1a2c7c21c",
    "municipality": "1baa2ccecb09fe10",
    "plan_item": "7fb628dfc1a3d117",
    "plan_timepoint": "b7195f7434ab5bc0",
    "provider": "502951de327bddcb",
    "response": "d9e5bb70d3406df5",
    "score": "933ff7d7e423a7d9",
    "staff_user": "d0d781e5a008706e",
    "team": "65f918a27bc714e9",
}
SMALL_SUMMARY = "demo data loaded: 20 citizens, 20 courses, 182 responses, 18 drop-outs; "
#: The same for what `surveyapp demo` loads (seed 2026, 300 citizens) on that day.
FULL = {
    "answer": "9865def829848668",
    "assignment": "1edebf08e806c37e",
    "audit_chain_head": "c5a10584f7eeb2b5",
    "audit_event": "cd8d12d535db2a3b",
    "citizen": "dc69534e1563e4a3",
    "course": "4e226f750463dde5",
    "measurement": "c897b0619334aa8a",
    "measurement_column": "abb2035bd3d61fdb",
    "measurement_plan": "bb79e8b1a2c7c21c",
    "municipality": "1baa2ccecb09fe10",
    "plan_item": "7fb628dfc1a3d117",
    "plan_timepoint": "b7195f7434ab5bc0",
    "provider": "502951de327bddcb",
    "response": "f1a8df1c35ef79d2",
    "score": "4954739bf3101e13",
    "staff_user": "d0d781e5a008706e",
    "team": "65f918a27bc714e9",
}
FULL_SUMMARY = "demo data loaded: 300 citizens, 300 courses, 2977 responses, 322 drop-outs; "


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return "<clock>" if value >= CLOCK_AFTER else value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "value") and not isinstance(value, int | str | bool):  # an enum member
        return value.value
    return value


def table_digests(session: Session) -> tuple[dict[str, str], dict[str, int]]:
    """Each table's digest (16 hex digits) and row count, as the module docstring says."""
    digests, counts = {}, {}
    for table in Base.metadata.sorted_tables:
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        digest = hashlib.sha256()
        count = 0
        for row in rows:
            canonical = {}
            for name, value in row.items():
                if (table.name, name) in CHAIN_HASHES:
                    continue
                if table.name == "staff_user" and name in SECRETS and value is not None:
                    secret = SECRETS[name][row["username"]]
                    ok = secret is not None and security.verify_secret(value, secret)
                    canonical[name] = "<argon2id:ok>" if ok else value
                    continue
                canonical[name] = _canonical(value)
            digest.update(json.dumps(canonical, sort_keys=True, default=str).encode())
            digest.update(b"\n")
            count += 1
        if count:
            digests[table.name] = digest.hexdigest()[:16]
            counts[table.name] = count
    return digests, counts


def _assert_sound(session: Session) -> None:
    results = run_checks(session, default_registry())
    assert all(r.ok for r in results), [line for r in results for line in r.lines()]
    assert audit.verify_chain(session).problem is None


@pytest.mark.parametrize(
    ("seed", "citizens", "expected", "summary"),
    [
        pytest.param(11, 20, SMALL, SMALL_SUMMARY, id="seed11-20"),
        pytest.param(2026, 300, FULL, FULL_SUMMARY, id="default-300"),
    ],
)
def test_demo_rows_are_those_recorded(
    session_factory: sessionmaker[Session],
    settings: Settings,
    seed: int,
    citizens: int,
    expected: dict[str, str],
    summary: str,
) -> None:
    said = load_demo_data(session_factory, settings, seed=seed, citizens=citizens, today=TODAY)
    with session_factory() as session:
        digests, counts = table_digests(session)
        _assert_sound(session)
    assert said.startswith(summary)
    assert digests == expected, counts


def _count_statements(factory: sessionmaker[Session]) -> list[str]:
    statements: list[str] = []
    engine = factory.kw["bind"]

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return statements


def test_the_demo_is_written_in_bulk(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """One INSERT per table of the citizens' data, however many rows (the ORM loader sent
    3,752 statements for these 20 citizens: one or more per row)."""
    statements = _count_statements(session_factory)
    load_demo_data(session_factory, settings, seed=11, citizens=20, today=TODAY)
    bulk = ("citizen", "course", "assignment", "response", "answer", "score", "measurement")
    inserts = Counter(
        match.group(1)
        for s in statements
        if (match := re.match(r"\s*INSERT INTO (\w+)", s, flags=re.IGNORECASE))
    )
    assert {table: inserts[table] for table in bulk} == dict.fromkeys(bulk, 1)
    # The rest: the organisations, users, the default plan (made on first use) and look-ups.
    assert len(statements) < 100, Counter(s[:60] for s in statements).most_common(5)


def _count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret argon2 hashes from now on (the hasher still runs)."""
    hashed: list[str] = []
    original = argon2.PasswordHasher.hash

    def counted(hasher: argon2.PasswordHasher, secret: str | bytes, **kw: Any) -> str:
        hashed.append(str(secret))
        return original(hasher, secret, **kw)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", counted)
    return hashed


def test_the_demo_secrets_are_not_hashed_again(
    session_factory: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's argon2 hashes are precomputed for the current profile: loading hashes none."""
    hashed = _count_hashes(monkeypatch)
    load_demo_data(session_factory, settings, seed=3, citizens=2, today=TODAY)
    assert hashed == []
    with session_factory() as session:
        digests, _counts = table_digests(session)  # every hash verifies with its demo secret
    assert digests["staff_user"] == SMALL["staff_user"]


def test_rows_added_after_the_demo_get_fresh_ids(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """The ids were assigned by the loader: PostgreSQL's sequences must have moved past them."""
    load_demo_data(session_factory, settings, seed=3, citizens=4, today=TODAY)
    with session_factory.begin() as session:
        engine_name = session.get_bind().dialect.name
        if engine_name == "postgresql":
            # (the chain head's one row is inserted with its id by the migration: not ours)
            behind = sequences_behind(session.connection())
            assert [b for b in behind if not b.startswith("sequence audit_chain_head_")] == []
        course = session.scalars(select(Course).order_by(Course.id)).first()
        assert course is not None
        citizen = Citizen(
            municipality_id=course.municipality_id,
            cpr_hmac="0" * 64,
            label="Ny borger",
            birth_year=1950,
            sex=Sex.FEMALE,
        )
        session.add(citizen)
        session.flush()
        new = create_course(
            session,
            citizen=citizen,
            provider=course.provider,
            team=course.team,
            plan=course.plan,
            start_date=TODAY,
            today=TODAY,
        )
        record_complete_response(
            session,
            next(a for a in new.assignments if a.instrument_id == "who5"),
            {f"who5_{i}": 3 for i in range(1, 6)},
            channel=Channel.KIOSK,
            language="da",
            registry=default_registry(),
            started_at=datetime(2026, 11, 23, 9, tzinfo=UTC),
            submitted_at=datetime(2026, 11, 23, 9, 5, tzinfo=UTC),
        )
        assert (citizen.id, new.id) == (5, 5)


def test_a_precomputed_hash_of_weaker_parameters_is_not_used(
    session_factory: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the library's profile grows stronger, each distinct demo secret is hashed anew."""
    stronger = argon2.PasswordHasher(time_cost=argon2.DEFAULT_TIME_COST + 1)
    monkeypatch.setattr(security, "_hasher", stronger)
    hashed = _count_hashes(monkeypatch)
    load_demo_data(session_factory, settings, seed=3, citizens=2, today=TODAY)
    assert sorted(hashed) == sorted({u.password for u in DEMO_USERS} | {DEMO_PIN})
    with session_factory() as session:
        users = session.scalars(select(StaffUser)).all()
        assert all(not security.needs_rehash(u.password_hash) for u in users)
        assert all(f"t={argon2.DEFAULT_TIME_COST + 1}," in u.password_hash for u in users)


@pytest.mark.parametrize("secret", sorted(DEMO_HASHES))
def test_every_precomputed_hash_verifies_with_its_secret(secret: str) -> None:
    assert security.verify_secret(DEMO_HASHES[secret], secret)
    assert not security.needs_rehash(DEMO_HASHES[secret])
