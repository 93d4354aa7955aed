"""The audit trail's hash chain: canonical form, hashes and verification (pure Python).

Each audit event carries `seq` (its place in the chain: 1, 2, 3, ... with no gaps), the
previous event's hash and its own hash. The hash is SHA-256 over the event's canonical form:
the JSON object of the fields in `HASHED_FIELDS` (keys sorted, no whitespace, UTF-8, non-ASCII
kept as is, `occurred_at` as ISO 8601 UTC with microseconds and a trailing Z, `details` as
nested JSON with sorted keys), plus `"v": 1`, the version of this form.

The IP address is kept outside the hashed content so that it can be forgotten after its
retention period without breaking the chain: the hash covers `ip_digest`, the SHA-256 of a
random per-event salt and the address. While the address is kept, verification checks that it
still matches the digest (an edited address is caught); when the address and its salt are
removed, the digest stays and reveals nothing (the 128-bit salt is gone, so the address cannot
be guessed back from it).

`verify` walks the events in `seq` order and reports the first broken link: a missing event
(a gap in `seq`), a previous hash that does not match, content that does not match its hash,
an IP address that does not match its digest (or was removed before its retention period
ended), and events missing at the end (fewer events than the chain head records).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FORM_VERSION = 1
GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "seq",
    "prev_hash",
    "occurred_at",
    "actor_type",
    "actor_user_id",
    "action",
    "object_type",
    "object_id",
    "municipality_id",
    "ip_digest",
    "details",
)


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a value: sorted keys, no whitespace, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def normalise_details(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The details exactly as they will read back from the database (JSON round trip)."""
    if details is None:
        return None
    result: dict[str, Any] = json.loads(canonical_json(details))
    return result


def timestamp_text(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with microseconds and Z."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime in the audit chain")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_ip_salt() -> str:
    """A fresh random salt (128 bits, hex) for one event's IP digest."""
    return secrets.token_hex(16)


def ip_digest(ip_address: str | None, salt: str | None) -> str | None:
    """The digest of an address under its salt; None when there is no address."""
    if ip_address is None:
        return None
    if not salt:
        raise ValueError("an IP address needs its salt")
    return hashlib.sha256(f"{salt}|{ip_address}".encode()).hexdigest()


def canonical_form(fields: Mapping[str, Any]) -> bytes:
    """The bytes the hash is taken over, from a mapping holding every HASHED_FIELDS key."""
    content: dict[str, Any] = {name: fields[name] for name in HASHED_FIELDS}
    content["occurred_at"] = timestamp_text(fields["occurred_at"])
    content["v"] = FORM_VERSION
    return canonical_json(content).encode("utf-8")


def event_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an event's canonical form."""
    return hashlib.sha256(canonical_form(fields)).hexdigest()


@dataclass(frozen=True)
class Head:
    """The chain head as the database records it: the last event's seq and hash."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Problem:
    """One broken link: at which seq, what kind, and a sentence for people."""

    seq: int
    kind: str  # missing, inserted, prev_hash, content, ip, truncated, head
    message: str


@dataclass
class Report:
    """What `verify` found: the first problem (if any), and what it checked."""

    checked: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    ips_forgotten: int = 0
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(
    events: Iterable[Mapping[str, Any]],
    head: Head | None,
    *,
    expect: Head | None = None,
    ips_kept_since: datetime | None = None,
) -> Report:
    """Walk the events (mappings with HASHED_FIELDS, `hash`, `ip_address`, `ip_salt`) in
    `seq` order and stop at the first broken link.

    `head` is the chain head stored in the database; `expect` is a head recorded earlier
    outside the database (a checkpoint): the event at its seq must still carry its hash.
    Events since `ips_kept_since` (now minus the IP retention period) must still have the IP
    address they were written with: removing it earlier is reported.
    """
    report = Report()
    expected_seq = 1
    prev = GENESIS_HASH
    seen_expect = expect is None
    for event in events:
        seq = int(event["seq"])
        if seq < expected_seq:
            report.problem = Problem(
                seq, "inserted", f"event {seq} appears twice or out of order (an inserted event)"
            )
            return report
        if seq > expected_seq:
            report.problem = Problem(
                expected_seq,
                "missing",
                f"events {expected_seq} to {seq - 1} are missing (deleted)"
                if seq - 1 > expected_seq
                else f"event {expected_seq} is missing (deleted)",
            )
            return report
        if event["prev_hash"] != prev:
            report.problem = Problem(
                seq,
                "prev_hash",
                f"event {seq} does not follow event {seq - 1} (its previous hash differs: "
                "an event before it was changed, removed or inserted)",
            )
            return report
        if event_hash(event) != event["hash"]:
            report.problem = Problem(
                seq, "content", f"event {seq} was changed after it was written (hash differs)"
            )
            return report
        address = event.get("ip_address")
        if address is not None:
            salt = event.get("ip_salt")
            if not salt or ip_digest(address, salt) != event["ip_digest"]:
                report.problem = Problem(seq, "ip", f"the IP address of event {seq} was changed")
                return report
        elif event["ip_digest"] is not None:
            if ips_kept_since is not None and event["occurred_at"] >= ips_kept_since:
                report.problem = Problem(
                    seq,
                    "ip",
                    f"the IP address of event {seq} was removed before its retention period ended",
                )
                return report
            report.ips_forgotten += 1
        if expect is not None and seq == expect.seq:
            if event["hash"] != expect.hash:
                report.problem = Problem(
                    seq, "head", f"event {seq} differs from the checkpoint recorded earlier"
                )
                return report
            seen_expect = True
        prev = event["hash"]
        report.checked += 1
        report.last_seq = seq
        report.last_hash = prev
        expected_seq += 1
    if head is None:
        if report.checked:
            report.problem = Problem(
                report.last_seq, "head", "the chain head is missing (it was removed)"
            )
        return report
    if head.seq > report.last_seq:
        report.problem = Problem(
            report.last_seq + 1,
            "truncated",
            f"events {report.last_seq + 1} to {head.seq} are missing at the end "
            f"(the chain head records {head.seq} events, {report.last_seq} are left)",
        )
        return report
    if head.seq < report.last_seq or head.hash != report.last_hash:
        report.problem = Problem(
            head.seq,
            "head",
            f"the chain head ({head.seq}) does not match the last event ({report.last_seq})",
        )
        return report
    if not seen_expect:
        assert expect is not None
        report.problem = Problem(
            expect.seq,
            "truncated",
            f"the checkpoint's event {expect.seq} is no longer in the chain",
        )
    return report
