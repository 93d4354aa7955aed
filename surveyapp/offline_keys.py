"""The kiosk's offline keys: answers waiting on a tablet are sealed for the server only.

While the network is gone, the kiosk's browser keeps every answer in its own storage, sealed
with the server's public key (RSA-OAEP wrapping a fresh AES-256-GCM key per item), so that
nobody who picks up the tablet can read what the citizen answered. Only the server, holding the
private key, opens them when they are sent.

A key directory holds `offline-<kid>.pem` files (RSA 3072, PKCS#8 PEM, unencrypted, mode
0600; the directory 0700) and a file `current` naming the key new items are sealed with.
Rotation adds a key and makes it current; old keys stay, so items sealed before still open.

The envelope the browser stores and sends (every field required):

    {"key": <uuid4>, "kid": <16 hex>, "visit": <int>, "seq": <int >= 1>,
     "wrapped": <base64 RSA-OAEP(SHA-256) of the 32-byte AES key>,
     "iv": <base64 of 12 bytes>, "data": <base64 AES-256-GCM ciphertext + 16-byte tag>}

The AES-GCM additional data is `f"{key}|{kid}|{visit}|{seq}"` in UTF-8, binding the plain
metadata to the ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BITS = 3072
CURRENT = "current"
KID_RE = re.compile(r"[0-9a-f]{16}")
UUID4_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
ENVELOPE_FIELDS = frozenset({"key", "kid", "visit", "seq", "wrapped", "iv", "data"})
MAX_ID = 2**31 - 1
MAX_DATA_CHARS = 48 * 1024  # base64 of the ciphertext; an answer's plaintext is ~300 bytes
WRAPPED_CHARS = (512, 1024)  # base64 of 384 bytes (RSA 3072) up to RSA 6144
IV_CHARS = 16  # base64 of 12 bytes


class OfflineKeyError(RuntimeError):
    """The key directory cannot be used; the message says what to do."""


class Undecryptable(ValueError):
    """The envelope does not open with the key it names (tampered with, or not ours)."""


class UnknownKey(ValueError):
    """The envelope names a key this server does not hold."""


class MalformedEnvelope(ValueError):
    """The envelope does not have the required shape."""


def kid_of(public_key: rsa.RSAPublicKey) -> str:
    """First 16 hex digits of SHA-256 of the public key's SPKI DER."""
    return hashlib.sha256(_spki(public_key)).hexdigest()[:16]


def _spki(public_key: rsa.RSAPublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate(directory: Path) -> str:
    """Write a new key into `directory` (made if needed, mode 0700), make it current."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    kid = kid_of(private.public_key())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(directory / f"offline-{kid}.pem", pem)
    _write_private(directory / CURRENT, (kid + "\n").encode())
    return kid


def rotate(directory: Path) -> str:
    """A new current key; the old ones are kept, so items sealed with them still open."""
    load(directory)  # rotating a broken directory would hide the problem
    return generate(directory)


def _write_private(path: Path, content: bytes) -> None:
    """Write a file only its owner can read, replacing any earlier one atomically."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    current: bool
    created: datetime  # the key file's modification time


def describe(directory: Path) -> list[KeyInfo]:
    """The directory's keys, oldest first (for `surveyapp offline-keys list`)."""
    ring = load(directory)
    infos = [
        KeyInfo(
            kid,
            kid == ring.current_kid,
            datetime.fromtimestamp(
                (Path(directory) / f"offline-{kid}.pem").stat().st_mtime, tz=UTC
            ),
        )
        for kid in ring.kids
    ]
    return sorted(infos, key=lambda info: (info.created, info.kid))


def has_current(directory: Path) -> bool:
    return (Path(directory) / CURRENT).is_file()


def load(directory: Path) -> KeyRing:
    """Read every key of the directory; OfflineKeyError says what is wrong."""
    directory = Path(directory)
    hint = "create one with `surveyapp offline-keys generate`"
    if not directory.is_dir():
        raise OfflineKeyError(f"offline key directory {directory} does not exist ({hint})")
    _check_private(directory)
    current_file = directory / CURRENT
    if not current_file.is_file():
        raise OfflineKeyError(f"offline key directory {directory} has no file 'current' ({hint})")
    _check_private(current_file)
    try:
        current = current_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise OfflineKeyError(f"cannot read {current_file}: {error}") from None
    if not KID_RE.fullmatch(current):
        raise OfflineKeyError(f"{current_file} must hold a key id (16 hex digits)")
    keys: dict[str, rsa.RSAPrivateKey] = {}
    for path in sorted(directory.glob("offline-*.pem")):
        _check_private(path)
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as error:
            raise OfflineKeyError(
                f"{path} is not an unencrypted PEM private key: {error}"
            ) from None
        if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < KEY_BITS:
            raise OfflineKeyError(f"{path} is not an RSA key of at least {KEY_BITS} bits")
        kid = kid_of(private.public_key())
        if path.name != f"offline-{kid}.pem":
            raise OfflineKeyError(f"{path} holds the key {kid}: its name must say so")
        keys[kid] = private
    if current not in keys:
        raise OfflineKeyError(f"the current key {current} named in {current_file} is missing")
    return KeyRing(current, keys)


def _check_private(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise OfflineKeyError(f"cannot read {path}: {error}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        wanted = "0700" if path.is_dir() else "0600"
        raise OfflineKeyError(
            f"{path} may be read by others (mode {stat.S_IMODE(mode):04o}): chmod {wanted} it"
        )


class KeyRing:
    """The server's offline keys: the current one seals, every one opens."""

    def __init__(self, current_kid: str, keys: Mapping[str, rsa.RSAPrivateKey]) -> None:
        self.current_kid = current_kid
        self._keys = dict(keys)
        self.public_spki_b64 = base64.b64encode(_spki(self._keys[current_kid].public_key())).decode(
            "ascii"
        )

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def open(self, envelope: Mapping[str, Any]) -> bytes:
        """The plaintext of a well-formed envelope (see `check_envelope`).

        UnknownKey for a key we do not hold, Undecryptable for anything that does not open.
        """
        check_envelope(envelope)
        private = self._keys.get(envelope["kid"])
        if private is None:
            raise UnknownKey(envelope["kid"])
        wrapped = _b64(envelope["wrapped"])
        iv = _b64(envelope["iv"])
        data = _b64(envelope["data"])
        try:
            aes_key = private.decrypt(
                wrapped,
                padding.OAEP(
                    mgf=padding.MGF1(algorithm=hashes.SHA256()),
                    algorithm=hashes.SHA256(),
                    label=None,
                ),
            )
        except ValueError:
            raise Undecryptable("the key does not unwrap") from None
        if len(aes_key) != 32:
            raise Undecryptable("the wrapped key is not an AES-256 key")
        try:
            return AESGCM(aes_key).decrypt(iv, data, additional_data(envelope))
        except InvalidTag:
            raise Undecryptable("the ciphertext or its metadata was changed") from None


def additional_data(envelope: Mapping[str, Any]) -> bytes:
    """The AES-GCM additional data binding the plain metadata to the ciphertext."""
    return f"{envelope['key']}|{envelope['kid']}|{envelope['visit']}|{envelope['seq']}".encode()


def check_envelope(envelope: object) -> None:
    """Raise MalformedEnvelope unless `envelope` has exactly the required shape."""
    if not isinstance(envelope, Mapping) or set(envelope) != ENVELOPE_FIELDS:
        raise MalformedEnvelope("the envelope needs exactly its seven fields")
    key, kid = envelope["key"], envelope["kid"]
    if not isinstance(key, str) or not UUID4_RE.fullmatch(key):
        raise MalformedEnvelope("key must be a lowercase uuid4")
    if not isinstance(kid, str) or not KID_RE.fullmatch(kid):
        raise MalformedEnvelope("kid must be 16 hex digits")
    for name, low in (("visit", 1), ("seq", 1)):
        value = envelope[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_ID:
            raise MalformedEnvelope(f"{name} must be a whole number from {low}")
    for name, (shortest, longest) in (
        ("wrapped", WRAPPED_CHARS),
        ("iv", (IV_CHARS, IV_CHARS)),
        ("data", (24, MAX_DATA_CHARS)),  # 24: the 16-byte tag and at least two bytes
    ):
        value = envelope[name]
        if not isinstance(value, str):
            raise MalformedEnvelope(f"{name} must be base64 text")
        if not shortest <= len(value) <= longest:
            raise MalformedEnvelope(f"{name} has the wrong length")
        try:
            _b64(value)
        except ValueError:
            raise MalformedEnvelope(f"{name} is not standard base64") from None


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ValueError(str(error)) from None
