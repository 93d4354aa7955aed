"""Password and PIN hashing with argon2id (argon2-cffi), the hasher's slots, random tokens."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

logger = logging.getLogger(__name__)

# argon2id with 64 MiB and 3 passes (RFC 9106's second recommended profile, and argon2-cffi's
# default) but on ONE lane: parallelism=4 let one hash take every core of a small server, so
# that a burst of logins stopped citizens' answering. The work (and so an attacker's cost per
# guess: memory x passes) is the same; the hash takes one core for about 0.17 s instead of all
# of them for less. Far above OWASP's argon2id minimum (m=19 MiB, t=2, p=1). Hashes of the
# earlier profile (p=4) still verify (argon2 reads the parameters from the hash) and are
# replaced at the user's next successful login (`needs_rehash`).
TIME_COST = 3
MEMORY_COST_KIB = 65536
PARALLELISM = 1
_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)


def hash_secret(secret: str) -> str:
    """Hash a password or PIN with argon2id."""
    return _hasher.hash(secret)


def verify_secret(stored_hash: str, secret: str) -> bool:
    """True if `secret` matches `stored_hash`; never raises for a wrong or malformed hash."""
    try:
        return _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True if the hash was made with other parameters than the current profile's."""
    return _hasher.check_needs_rehash(stored_hash)


class HasherSlots:
    """At most `slots` argon2 computations at once on this host, over every app process and
    thread: each slot is an exclusive `flock` on a file of `directory` (released by the
    kernel if the process dies). A login that finds no free slot within its wait is answered
    "try again" instead of queueing a worker behind the hasher while citizens wait for it.
    """

    def __init__(self, directory: str | os.PathLike[str], slots: int) -> None:
        self.directory = Path(directory)
        self.slots = max(1, slots)

    @contextmanager
    def hold(self, wait: float) -> Iterator[bool]:
        """A slot for the block (True), or False if none came free within `wait` seconds.

        If the lock files cannot be made (a read-only temporary directory), every caller
        gets a slot: the limit is lost, never the login (logged as a warning)."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = self._take()
        except OSError as exc:
            logger.warning("hasher slots unavailable (%s): not limited", type(exc).__name__)
            yield True
            return
        deadline = time.monotonic() + max(wait, 0.0)
        while descriptor is None and time.monotonic() < deadline:
            time.sleep(0.005)
            descriptor = self._take()
        try:
            yield descriptor is not None
        finally:
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)

    def _take(self) -> int | None:
        for number in range(self.slots):
            descriptor = os.open(
                self.directory / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600
            )
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            return descriptor
        return None


def new_token() -> str:
    """A URL-safe random token of 256 bits (for links and QR codes)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 hex of a token: what the database stores instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
