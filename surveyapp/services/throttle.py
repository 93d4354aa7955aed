"""Fixed-window rate limits kept in the database (`RateCounter`), shared by every app process.

Why a table and not Flask-Limiter: the app already runs on one database that every process
(gunicorn workers, several hosts) shares, and the link guesses are counted the same way
(`LinkAttempt`); Flask-Limiter would need a shared Redis or Memcached just for this, and its
in-memory default counts per process, so that four workers allow four times the limit. The
counter is updated in the caller's transaction, in one atomic upsert that returns the new
count, so two processes counting at once both count and each sees its own number.

The key of a counter is a keyed hash (HMAC-SHA256 with the app's secret key) of what is
counted: a client address, a typed username, a user id. Neither an address nor a typed
username (which may be a mistyped password or a CPR number) is ever stored.

Kinds and their limits (the defaults; each is a Flask config setting, see web.auth):
- "login_ip": failed logins per client address, 20 per 15 minutes;
- "login_account": failed passwords per typed username, 5 per 15 minutes;
- "login_code": wrong second-factor codes per user, 5 per 15 minutes;
- "cpr_lookup": CPR look-ups per user, 30 per 15 minutes;
- "offline_refused": refused requests to the offline kiosk's sync endpoints per client
  address, 200 per 15 minutes (surveyapp.web.offline).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from surveyapp.models import RateCounter, utcnow


@dataclass(frozen=True)
class Limit:
    """At most `max_hits` of `kind` per key in each fixed window of length `window`."""

    kind: str
    max_hits: int
    window: timedelta

    def window_start(self, now: datetime) -> datetime:
        seconds = max(int(self.window.total_seconds()), 1)
        return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)

    def window_end(self, now: datetime) -> datetime:
        return self.window_start(now) + self.window


def key_of(secret: str, kind: str, value: object) -> str:
    """The counter key of a value: a keyed hash, so the value itself is never stored."""
    message = f"{kind}:{value if value is not None else '-'}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def hits(session: Session, limit: Limit, key: str, *, now: datetime | None = None) -> int:
    """How often `key` has been counted in the current window."""
    found = session.scalar(
        select(RateCounter.hits).where(
            RateCounter.kind == limit.kind,
            RateCounter.key == key,
            RateCounter.window_start == limit.window_start(now or utcnow()),
        )
    )
    return found or 0


def exceeded(session: Session, limit: Limit, key: str, *, now: datetime | None = None) -> bool:
    """True if `key` has used up its hits in the current window."""
    return hits(session, limit, key, now=now) >= limit.max_hits


def hit(
    session: Session, limit: Limit, key: str, *, now: datetime | None = None, by: int = 1
) -> int:
    """Count one hit (or `by`) of `key` and return the new count, in one atomic statement.

    An INSERT ... ON CONFLICT DO UPDATE ... RETURNING (PostgreSQL, SQLite 3.35+): however
    many processes count the same key at once, each gets its own number, so a caller that
    counts *before* doing what is limited (`reserve`) lets exactly `max_hits` through. The
    first hit of a key's window also forgets the kind's windows that have passed.
    """
    window = limit.window_start(now or utcnow())
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    first = insert(RateCounter).values(kind=limit.kind, key=key, window_start=window, hits=by)
    upsert = first.on_conflict_do_update(
        index_elements=[RateCounter.kind, RateCounter.key, RateCounter.window_start],
        set_={"hits": RateCounter.hits + by},
    ).returning(RateCounter.hits)
    count = int(session.execute(upsert).scalar_one())
    if count == by:
        session.execute(
            delete(RateCounter)
            .where(RateCounter.kind == limit.kind, RateCounter.window_start < window)
            .execution_options(synchronize_session=False)
        )
    return count


def reserve(session: Session, limit: Limit, key: str, *, now: datetime | None = None) -> int:
    """Take one of `key`'s hits before the limited thing is done; the count including it.

    A count above `limit.max_hits` means refused: the caller must not go on (the hits beyond
    the limit are the refusals of the window). Commit before the limited work starts, so that
    concurrent callers see each other's reservations; `give_back` one that was not used up.
    """
    return hit(session, limit, key, now=now)


@dataclass
class _Over:
    until: datetime  # the end of the window in which the key is over its limit
    pending: int = 0  # refusals not yet added to the key's counter
    flushed: float = field(default_factory=time.monotonic)


class OverLimit:
    """This process's memory of keys found over their limit, until their window ends.

    A key over its limit stays over it until its window ends (counts only grow within a
    window), so a process that has once seen it there in the database can refuse it again
    without asking: a flood's refusals cost no database statement. They are counted here and
    added to the key's counter (`take_due`) at most every `flush_every` seconds, so the count
    in the database lags by that much (and a process that ends loses its last pending ones).
    """

    MAX_KEYS = 10_000

    def __init__(self, flush_every: float = 1.0) -> None:
        self.flush_every = flush_every
        self._keys: dict[tuple[str, str], _Over] = {}
        self._lock = threading.Lock()

    def note(self, limit: Limit, key: str, now: datetime) -> None:
        """`key` was found over `limit` in the database (at `now`)."""
        with self._lock:
            if len(self._keys) >= self.MAX_KEYS:
                self._keys = {k: v for k, v in self._keys.items() if v.until > now}
                if len(self._keys) >= self.MAX_KEYS:
                    self._keys.clear()
            self._keys.setdefault((limit.kind, key), _Over(limit.window_end(now)))

    def refuse(self, limit: Limit, key: str, now: datetime) -> bool:
        """True (and counted) if `key` is known to be over `limit` at `now`."""
        with self._lock:
            over = self._keys.get((limit.kind, key))
            if over is None:
                return False
            if now >= over.until:
                del self._keys[(limit.kind, key)]
                return False
            over.pending += 1
            return True

    def take_due(self, limit: Limit, key: str) -> int:
        """The refusals to add to the counter now (0 until `flush_every` has passed)."""
        with self._lock:
            over = self._keys.get((limit.kind, key))
            if over is None or time.monotonic() - over.flushed < self.flush_every:
                return 0
            pending, over.pending, over.flushed = over.pending, 0, time.monotonic()
            return pending


def give_back(session: Session, limit: Limit, key: str, *, now: datetime | None = None) -> None:
    """Return a hit taken by `reserve` that turned out not to count (e.g. a right password)."""
    session.execute(
        update(RateCounter)
        .where(
            RateCounter.kind == limit.kind,
            RateCounter.key == key,
            RateCounter.window_start == limit.window_start(now or utcnow()),
            RateCounter.hits > 0,
        )
        .values(hits=RateCounter.hits - 1)
        .execution_options(synchronize_session=False)
    )


def clear(session: Session, kind: str, key: str) -> None:
    """Forget every count of `key` (an admin lifting a lock, a successful login)."""
    session.execute(
        delete(RateCounter)
        .where(RateCounter.kind == kind, RateCounter.key == key)
        .execution_options(synchronize_session=False)
    )
