"""Every audit action code has a readable name in English and Danish; the chain's hash form.

The source is read, not run: every code given to `audit.record(...)` (directly, through a
variable named `action`, or as an f-string pattern) must be in surveyapp.audit_actions, so
a new code without a name fails here as well as at run time (`record` refuses it).
"""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from surveyapp import auditchain
from surveyapp.audit_actions import ACTION_NAMES, ACTIONS
from surveyapp.services import audit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (ROOT / "surveyapp", ROOT / "bench", ROOT / "scripts")


def _codes_in_source() -> tuple[set[str], list[str]]:
    literals: set[str] = set()
    patterns: list[str] = []
    for path in (p for source in SOURCES for p in source.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant | ast.IfExp | ast.JoinedStr)
                and any(isinstance(t, ast.Name) and t.id == "action" for t in node.targets)
            ):
                arg: ast.AST | None = node.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "audit"
                and len(node.args) >= 3
            ):
                arg = node.args[2]
            else:
                continue
            for sub in ast.walk(arg):
                if isinstance(sub, ast.JoinedStr):
                    parts = [
                        re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z_]+"
                        for v in sub.values
                    ]
                    patterns.append("".join(parts))
                elif (
                    isinstance(sub, ast.Constant)
                    and isinstance(sub.value, str)
                    and not any(isinstance(p, ast.JoinedStr) for p in ast.walk(arg))
                ):
                    literals.add(sub.value)
    return literals, patterns


def test_every_action_code_in_the_source_has_a_name() -> None:
    literals, patterns = _codes_in_source()
    assert len(literals) > 30  # the scan finds the calls (it would pass vacuously otherwise)
    assert literals - ACTIONS == set(), "audit codes without a name in audit_actions.py"
    for pattern in patterns:
        assert any(re.fullmatch(pattern, code) for code in ACTIONS), pattern


def test_record_refuses_a_code_without_a_name() -> None:
    with pytest.raises(audit.UnknownAction, match="audit_actions.py"):
        audit.record(None, audit.SYSTEM, "made.up")  # type: ignore[arg-type]


def test_every_name_has_a_danish_translation() -> None:
    with open(ROOT / "translations/da/LC_MESSAGES/messages.po", "rb") as f:
        catalogue = {m.id: m.string for m in read_po(f) if m.id and m.string}
    incoming: dict[str, str] = {}
    for path in (ROOT / "translations/incoming").glob("*.json"):
        incoming.update(json.loads(path.read_text(encoding="utf-8")))
    missing = [n for n in ACTION_NAMES.values() if not (catalogue.get(n) or incoming.get(n))]
    assert missing == []


EVENT = {
    "seq": 7,
    "prev_hash": "a" * 64,
    "occurred_at": datetime(2026, 12, 1, 13, 5, 9, 123456, tzinfo=UTC),
    "actor_type": "staff",
    "actor_user_id": 3,
    "action": "citizen.view",
    "object_type": "citizen",
    "object_id": "42",
    "municipality_id": 1,
    "ip_digest": None,
    "details": {"ø": [1, 2], "a": None},
}


def test_the_canonical_form_is_fixed() -> None:
    assert auditchain.canonical_form(EVENT).decode() == (
        '{"action":"citizen.view","actor_type":"staff","actor_user_id":3,'
        '"details":{"a":null,"ø":[1,2]},"ip_digest":null,"municipality_id":1,'
        '"object_id":"42","object_type":"citizen","occurred_at":"2026-12-01T13:05:09.123456Z",'
        '"prev_hash":"' + "a" * 64 + '","seq":7,"v":1}'
    )
    assert auditchain.event_hash(EVENT) == auditchain.event_hash(
        {**EVENT, "ip_address": "192.0.2.1", "ip_salt": "00"}  # the address is not hashed
    )
    assert auditchain.event_hash(EVENT) != auditchain.event_hash({**EVENT, "object_id": "43"})


def test_an_ip_digest_reveals_nothing_without_its_salt() -> None:
    one, two = auditchain.new_ip_salt(), auditchain.new_ip_salt()
    assert len(one) == 32 and one != two
    assert auditchain.ip_digest("192.0.2.1", one) != auditchain.ip_digest("192.0.2.1", two)
    assert auditchain.ip_digest(None, None) is None
