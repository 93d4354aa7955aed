"""Project-wide checks that run with the suite: translations, lint and types."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PURE = [
    "surveyapp/instruments",
    "surveyapp/pseudonym.py",
    "surveyapp/scheduling.py",
    "surveyapp/enums.py",
    "surveyapp/plans.py",
    "surveyapp/linkcodes.py",
    "surveyapp/logs/__init__.py",
    "surveyapp/letters.py",
    "surveyapp/notify.py",
    "surveyapp/suppression.py",
    "surveyapp/statistics.py",
    "surveyapp/report_tables.py",
    "surveyapp/importing.py",
    "surveyapp/auditchain.py",
    "surveyapp/audit_actions.py",
    "surveyapp/redirects.py",
    "surveyapp/passwords.py",
    "surveyapp/offline_keys.py",
    "surveyapp/integrity.py",
]


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_translations_are_complete_and_compiled() -> None:
    result = _run(sys.executable, "scripts/i18n_check.py")
    assert result.returncode == 0, result.stderr


def test_ruff_finds_nothing() -> None:
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout


def test_pure_modules_type_check() -> None:
    result = _run(str(BIN / "mypy"), *PURE)
    assert result.returncode == 0, result.stdout
