"""Typeable letter codes: what a relative types when they cannot scan the QR code (pure).

A code is 20 characters from an alphabet without look-alikes (no 0/O, no 1/I/L), shown in
five groups of four (`K7MQ-X9PA-…`): 20 × log2(31) ≈ 99 random bits, beyond guessing even
without the rate limit. Typing is forgiving: case, spaces and dashes do not matter. Only a
hash of the normalised code is stored.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0, O, 1, I, L
LENGTH = 20
GROUP = 4
BITS = LENGTH * math.log2(len(ALPHABET))
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—_.]+")


def new_code() -> str:
    """A fresh code, grouped for the letter (e.g. `K7MQ-X9PA-2BCD-EFGH-JKMN`)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return format_code(raw)


def format_code(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


def normalise_code(typed: str) -> str | None:
    """The code as stored (upper case, no separators), or None if it cannot be a code."""
    if len(typed) > 80:
        return None
    compact = _SEPARATORS.sub("", typed).upper()
    if len(compact) != LENGTH or any(c not in ALPHABET for c in compact):
        return None
    return compact


def code_hash(code: str) -> str:
    """SHA-256 hex of the normalised code (what the database keeps)."""
    return hashlib.sha256(f"code:{code}".encode("ascii")).hexdigest()
