"""The kiosk browser's sealing, in Python: tests post the envelopes a tablet would.

Exactly the algorithm of the lead's WebCrypto code: a fresh AES-256-GCM key and 12-byte IV per
item, the key wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256, no label) under the server's
current public key (SPKI, base64), the plain metadata bound as additional data.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from surveyapp import offline_keys

_SESSION_KEYS: dict[str, Path] = {}


def session_key_dir() -> Path:
    """A key directory made once per test process (RSA generation takes a while), shared
    by every test app (tests/conftest.py `settings`, tests/e2e/conftest.py `serving`)."""
    if "dir" not in _SESSION_KEYS:
        base = Path(tempfile.mkdtemp(prefix="surveyapp-offline-keys-"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        directory = base / "keys"
        offline_keys.generate(directory)
        _SESSION_KEYS["dir"] = directory
    return _SESSION_KEYS["dir"]


def seal(
    spki_b64: str,
    kid: str,
    *,
    visit: int,
    seq: int,
    plaintext: dict[str, Any],
    key: str | None = None,
) -> dict[str, Any]:
    """The envelope the browser stores and sends for one item."""
    key = key or str(uuid.uuid4())
    public = serialization.load_der_public_key(base64.b64decode(spki_b64))
    assert isinstance(public, rsa.RSAPublicKey)
    aes_key = AESGCM.generate_key(bit_length=256)
    iv = os.urandom(12)
    wrapped = public.encrypt(
        aes_key,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )
    envelope: dict[str, Any] = {"key": key, "kid": kid, "visit": visit, "seq": seq}
    data = AESGCM(aes_key).encrypt(
        iv, json.dumps(plaintext).encode(), offline_keys.additional_data(envelope)
    )
    envelope.update(
        wrapped=base64.b64encode(wrapped).decode(),
        iv=base64.b64encode(iv).decode(),
        data=base64.b64encode(data).decode(),
    )
    return envelope
