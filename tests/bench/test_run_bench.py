"""`bench/run.py` (the second half of `make bench`) still walks the link's questionnaires as
the app serves them, so that it cannot rot (it did once: it used the link's old addresses)."""

from __future__ import annotations

import pytest

from bench import run


def test_the_page_weight_and_answer_timings_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    run.main()
    printed = capsys.readouterr().out
    assert "question page with CSS and JS, who5:" in printed
    assert "save one answer (HTTP POST + redirect), n=" in printed
    assert "last answer + submit + score, n=" in printed
