"""Issue 11, the citizen page: a raw sum is shown beside its percentage as the file declares,
and the empty chart's "no answers" text is never struck through by a reference line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from surveyapp.instruments import DefinitionError, load_definition
from surveyapp.instruments.loader import default_registry
from surveyapp.services.charts import Panel, no_data_position
from tests.unit.test_instruments_loader import SCORED, write

BESIDE = (
    SCORED
    + """
[[scores]]
name = "demo_n"
label = { da = "Antal svar", en = "Answers" }
min = 0
max = 10
higher_is_better = true
reported = false
decimals = 0
shown_beside = "demo_mean"
"""
)


def test_a_score_declares_the_score_it_is_shown_beside(tmp_path: Path) -> None:
    demo = load_definition(write(tmp_path, BESIDE))
    mean, count = demo.scores
    assert count.shown_beside == "demo_mean" and mean.shown_beside is None
    assert demo.shown_beside("demo_mean") == count
    assert demo.shown_beside("demo_n") is None


@pytest.mark.parametrize(
    ("shown_beside", "message"),
    [
        ("demo_nothing", "shown_beside 'demo_nothing' is not a score declared in this file"),
        ("demo_n", "shown_beside cannot name the score itself"),
    ],
)
def test_a_bad_shown_beside_is_refused(tmp_path: Path, shown_beside: str, message: str) -> None:
    text = BESIDE.replace('shown_beside = "demo_mean"', f'shown_beside = "{shown_beside}"')
    with pytest.raises(DefinitionError, match=re.escape(message)):
        load_definition(write(tmp_path, text))


def test_the_shipped_files_show_the_raw_sums_beside_the_percentages() -> None:
    registry = default_registry()
    expected = {
        "who5": ("who5_percent", "who5_raw", 0, 25),
        "whodas12": ("whodas12_percent", "whodas12_sum", 12, 60),
        "whodas12_proxy": ("whodas12_proxy_percent", "whodas12_proxy_sum", 12, 60),
    }
    for instrument_id, (percent, raw, low, high) in expected.items():
        beside = registry.get(instrument_id).shown_beside(percent)
        assert beside is not None, instrument_id
        assert (beside.name, beside.min, beside.max) == (raw, low, high)


def test_the_no_data_text_keeps_clear_of_the_reference_lines() -> None:
    panel = Panel("who5", "WHO-5", 0, 100, lines=[(50.0, "50")])
    y = no_data_position(panel)
    line = (50 - 0) / (100 * 1.05)  # the axis runs to high + 5 % padding
    assert abs(y - line) >= 0.15
    assert 0.1 <= y <= 0.9
    several = Panel("x", "X", 0, 10, lines=[(2.0, "a"), (5.0, "b"), (8.0, "c")])
    y = no_data_position(several)
    assert all(abs(y - v / 10.5) >= 0.1 for v in (2, 5, 8))
    assert no_data_position(Panel("y", "Y", 0, 10)) == 0.5
