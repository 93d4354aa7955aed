"""Fixtures of the web tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from surveyapp.services import auth as auth_service


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every call of the argon2 verifier made by a login (each costs about 0.17 s CPU), also
    from concurrent threads (list.append is atomic)."""
    calls: list[str] = []
    real = auth_service.verify_secret

    def counting(stored: str, secret: str) -> bool:
        calls.append(secret)
        return real(stored, secret)

    monkeypatch.setattr(auth_service, "verify_secret", counting)
    yield calls
