"""argon2id hashing and link tokens."""

from __future__ import annotations

from surveyapp.security import hash_secret, needs_rehash, new_token, token_hash, verify_secret


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
