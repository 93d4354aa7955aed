"""The real console command: `python -m surveyapp.cli score INSTRUMENT FILE`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHO5_CSV = "id,who5_1,who5_2,who5_3,who5_4,who5_5\nA,4,1,0,2,3\nB,3,3,3,3,\n"


def surveyapp_score(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command with fixed arguments
        [sys.executable, "-m", "surveyapp.cli", "score", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
        check=False,
    )


def test_scores_a_file_to_stdout(tmp_path: Path) -> None:
    path = tmp_path / "who5.csv"
    path.write_text(WHO5_CSV, encoding="utf-8")
    done = surveyapp_score("who5", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "id,who5_1,who5_2,who5_3,who5_4,who5_5,who5_raw,who5_percent,who5_poor_wellbeing,"
        "who5_likely_depression,who5_low_item,who5_note",
        "A,4,1,0,2,3,10,40,1,0,1,",
        "B,3,3,3,3,,,,,,,not_scorable:missing_items:1; missing:who5_5",
    ]


def test_reads_stdin_given_a_dash() -> None:
    done = surveyapp_score("start_meeting", "-", stdin="sm_1,sm_2,sm_3,sm_4\n6,7,8,9\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "6,7,8,9,6,7,8,9,7.5,4,"


def test_a_bad_file_exits_2_with_the_problem_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,who5_1,who5_2,who5_3,who5_4,who5_5\nA,4,7,0,2,3\n", encoding="utf-8")
    done = surveyapp_score("who5", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "row 1 (line 2), column who5_2: value 7 is outside 0–5" in done.stderr


def test_an_unknown_instrument_exits_2() -> None:
    done = surveyapp_score("who6", "-", stdin=WHO5_CSV)
    assert done.returncode == 2
    assert "unknown instrument 'who6'" in done.stderr
