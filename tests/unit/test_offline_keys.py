"""The kiosk's offline keys: envelopes sealed as the browser seals them open on the server only.

The session's key (tests/support/offline.py) is shared; only the rotation and refusal tests
make keys of their own (a few RSA 3072 generations, well under a second each here).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from surveyapp import offline_keys
from surveyapp.offline_keys import (
    MalformedEnvelope,
    OfflineKeyError,
    Undecryptable,
    UnknownKey,
    load,
)
from surveyapp.services.offline import credential_for, visit_of
from tests.support.offline import seal

PLAIN = {
    "v": 1,
    "credential": "c",
    "kind": "answer",
    "assignment": 7,
    "item": "who5_1",
    "answer": 3,
    "language": "da",
    "at": "2026-12-03T10:00:00+01:00",
}


@pytest.fixture(scope="module")
def ring(offline_key_dir: Path) -> offline_keys.KeyRing:
    return load(offline_key_dir)


def _sealed(ring: offline_keys.KeyRing, **fields: Any) -> dict[str, Any]:
    return seal(ring.public_spki_b64, ring.current_kid, visit=5, seq=1, plaintext=PLAIN, **fields)


def test_an_envelope_sealed_as_the_browser_does_opens(ring: offline_keys.KeyRing) -> None:
    envelope = _sealed(ring)
    assert set(envelope) == {"key", "kid", "visit", "seq", "wrapped", "iv", "data"}
    assert offline_keys.UUID4_RE.fullmatch(envelope["key"])
    assert len(base64.b64decode(envelope["iv"])) == 12
    assert b'"item": "who5_1"' in ring.open(envelope)


def test_the_kid_is_the_start_of_the_public_keys_sha256(ring: offline_keys.KeyRing) -> None:
    der = base64.b64decode(ring.public_spki_b64)
    assert ring.current_kid == hashlib.sha256(der).hexdigest()[:16]
    assert ring.kids == (ring.current_kid,)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key", "0b7e3a52-6f1c-4d5e-9a8b-0c1d2e3f4a5b"),
        ("visit", 6),
        ("seq", 2),
    ],
)
def test_changed_metadata_does_not_open(
    ring: offline_keys.KeyRing, field: str, value: object
) -> None:
    envelope = _sealed(ring)
    assert envelope[field] != value
    with pytest.raises(Undecryptable):
        ring.open({**envelope, field: value})


def _flip(text: str, at: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("field", ["iv", "data", "wrapped"])
def test_changed_ciphertext_does_not_open(ring: offline_keys.KeyRing, field: str) -> None:
    envelope = _sealed(ring)
    with pytest.raises(Undecryptable):
        ring.open({**envelope, field: _flip(envelope[field], at=5)})


def test_another_kid_is_unknown_and_a_bad_kid_malformed(ring: offline_keys.KeyRing) -> None:
    envelope = _sealed(ring)
    with pytest.raises(UnknownKey):
        ring.open({**envelope, "kid": "0123456789abcdef"})
    with pytest.raises(MalformedEnvelope):
        ring.open({**envelope, "kid": "0123456789ABCDEF"})


@pytest.mark.parametrize(
    "change",
    [
        {"key": "not-a-uuid"},
        {"key": "0B7E3A52-6F1C-4D5E-9A8B-0C1D2E3F4A5B"},  # uppercase
        {"key": "0b7e3a52-6f1c-1d5e-9a8b-0c1d2e3f4a5b"},  # uuid1
        {"visit": "5"},
        {"visit": True},
        {"seq": 0},
        {"seq": 1.0},
        {"seq": 2**40},
        {"iv": "AAAA"},
        {"iv": "!!!!!!!!!!!!!!!!"},
        {"data": "QUJD"},  # too short for the tag
        {"data": "A" * (offline_keys.MAX_DATA_CHARS + 4)},
        {"wrapped": 7},
        {"extra": 1},
    ],
)
def test_a_misshapen_envelope_is_malformed(
    ring: offline_keys.KeyRing, change: dict[str, object]
) -> None:
    with pytest.raises(MalformedEnvelope):
        ring.open({**_sealed(ring), **change})


def test_an_envelope_missing_a_field_is_malformed(ring: offline_keys.KeyRing) -> None:
    envelope = _sealed(ring)
    del envelope["iv"]
    with pytest.raises(MalformedEnvelope):
        ring.open(envelope)
    with pytest.raises(MalformedEnvelope):
        offline_keys.check_envelope([envelope])


def test_rotation_keeps_old_envelopes_readable(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    first = offline_keys.generate(directory)
    old = load(directory)
    sealed_before = seal(old.public_spki_b64, first, visit=1, seq=1, plaintext=PLAIN)
    second = offline_keys.rotate(directory)
    ring = load(directory)
    assert second != first and ring.current_kid == second
    assert set(ring.kids) == {first, second}
    assert b"who5_1" in ring.open(sealed_before)
    sealed_after = seal(ring.public_spki_b64, second, visit=1, seq=1, plaintext=PLAIN)
    assert b"who5_1" in ring.open(sealed_after)
    with pytest.raises(UnknownKey):
        old.open(sealed_after)  # an app not restarted since holds only the first key
    assert [info.current for info in offline_keys.describe(directory)] == [False, True]


def test_keys_are_written_for_the_owner_only(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    kid = offline_keys.generate(directory)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / f"offline-{kid}.pem").stat().st_mode & 0o777 == 0o600
    assert (directory / "current").read_text().strip() == kid
    assert b"BEGIN PRIVATE KEY" in (directory / f"offline-{kid}.pem").read_bytes()


@pytest.fixture(scope="module")
def spare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("spare") / "keys"
    offline_keys.generate(directory)
    return directory


def _copy(spare: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    shutil.copytree(spare, directory)
    os.chmod(directory, 0o700)
    return directory


def test_a_copy_of_a_good_directory_loads(spare: Path, tmp_path: Path) -> None:
    assert load(_copy(spare, tmp_path)).current_kid == load(spare).current_kid


def test_load_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OfflineKeyError, match="does not exist.*offline-keys generate"):
        load(tmp_path / "nowhere")


def test_load_refuses_a_directory_without_current(spare: Path, tmp_path: Path) -> None:
    directory = _copy(spare, tmp_path)
    (directory / "current").unlink()
    with pytest.raises(OfflineKeyError, match="no file 'current'"):
        load(directory)


def test_load_refuses_a_current_key_that_is_missing(spare: Path, tmp_path: Path) -> None:
    directory = _copy(spare, tmp_path)
    for pem in directory.glob("offline-*.pem"):
        pem.unlink()
    with pytest.raises(OfflineKeyError, match="current key .* is missing"):
        load(directory)


def test_load_refuses_a_malformed_key_or_current(spare: Path, tmp_path: Path) -> None:
    directory = _copy(spare, tmp_path)
    pem = next(directory.glob("offline-*.pem"))
    pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")
    with pytest.raises(OfflineKeyError, match="not an unencrypted PEM private key"):
        load(directory)
    (directory / "current").write_text("not a kid\n")
    with pytest.raises(OfflineKeyError, match="16 hex digits"):
        load(directory)


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_load_refuses_a_key_others_may_read(spare: Path, tmp_path: Path, mode: int) -> None:
    directory = _copy(spare, tmp_path)
    pem = next(directory.glob("offline-*.pem"))
    os.chmod(pem, mode)
    with pytest.raises(OfflineKeyError, match="may be read by others.*chmod 0600"):
        load(directory)


def test_load_refuses_a_directory_others_may_enter(spare: Path, tmp_path: Path) -> None:
    directory = _copy(spare, tmp_path)
    os.chmod(directory, 0o750)
    with pytest.raises(OfflineKeyError, match="chmod 0700"):
        load(directory)


def test_the_credential_names_its_visit_and_only_ours() -> None:
    secret = "s" * 40
    credential = credential_for(secret, 42)
    assert visit_of(secret, credential) == 42
    assert visit_of("t" * 40, credential) is None
    assert visit_of(secret, credential[:-2] + "xx") is None
    assert visit_of(secret, "") is None
    assert visit_of(secret, credential_for(secret, 43)) == 43
