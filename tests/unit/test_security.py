"""argon2id hashing (its profile, its slots) and link tokens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from surveyapp.security import (
    HasherSlots,
    hash_secret,
    needs_rehash,
    new_token,
    token_hash,
    verify_secret,
)


def test_argon2id_hash_verifies_only_the_right_secret() -> None:
    stored = hash_secret("1234")
    assert stored.startswith("$argon2id$")
    assert verify_secret(stored, "1234")
    assert not verify_secret(stored, "1235")
    assert not verify_secret("not-a-hash", "1234")
    assert not needs_rehash(stored)


def test_tokens_have_at_least_128_bits_and_are_stored_hashed() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert token_hash(token) != token and len(token_hash(token)) == 64


def test_the_profile_is_one_lane_argon2id_above_the_owasp_minimum() -> None:
    from argon2 import extract_parameters

    found = extract_parameters(hash_secret("a secret"))
    assert found.parallelism == 1  # one core per hash, however busy the server
    assert found.memory_cost >= 19 * 1024 and found.time_cost >= 2  # OWASP: m=19 MiB, t=2
    assert (found.memory_cost, found.time_cost) == (65536, 3)  # the work RFC 9106 recommends


def test_hashes_of_the_earlier_four_lane_profile_verify_and_are_replaced() -> None:
    from argon2 import PasswordHasher

    earlier = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("a secret")
    assert verify_secret(earlier, "a secret")
    assert needs_rehash(earlier)


def test_hasher_slots_are_shared_by_threads_and_processes(tmp_path: Path) -> None:
    slots = HasherSlots(tmp_path / "slots", 1)
    with slots.hold(0) as first:
        assert first
        with slots.hold(0.02) as second:
            assert not second  # the one slot is taken (even in the same process)
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from surveyapp.security import HasherSlots\n"
                f"with HasherSlots({str(tmp_path / 'slots')!r}, 1).hold(0.02) as held:\n"
                "    sys.exit(0 if held else 3)",
            ],
            cwd=Path(__file__).resolve().parents[2],
            check=False,
        )
        assert other.returncode == 3  # nor in another process
    with slots.hold(0) as again:
        assert again  # given back when the block ends
    two = HasherSlots(tmp_path / "slots", 2)
    with two.hold(0) as a, two.hold(0) as b, two.hold(0.01) as c:
        assert (a, b, c) == (True, True, False)


def test_without_a_usable_folder_the_slots_never_stop_a_login(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with HasherSlots(blocker / "slots", 1).hold(0) as held:
        assert held
