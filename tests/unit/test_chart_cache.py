"""The chart's cache key covers everything the chart draws, and the cache stays in its bounds."""

from __future__ import annotations

import dataclasses
import random
from datetime import date

from surveyapp.enums import Respondent
from surveyapp.instruments import ScoreSpec
from surveyapp.services.charts import ChartCache, ChartLabels, Panel, Series, chart_key

LABELS = ChartLabels(
    no_data="Ingen svar endnu",
    band=lambda t: f"Start ±{t:g} point",
    respondent={Respondent.CITIZEN: "", Respondent.RELATIVE: "(pårørende)"},
)


def _panels() -> list[Panel]:
    spec = ScoreSpec(
        name="who5_percent",
        label={"da": "WHO-5", "en": "WHO-5"},
        min=0,
        max=100,
        higher_is_better=True,
        change_threshold=10,
        baseline_band=True,
        chart="wellbeing",
    )
    line = Series("WHO-5", [(date(2026, 1, 5), 40.0), (date(2026, 4, 2), 56.0)], baseline=40.0)
    return [Panel("wellbeing", "Trivsel", 0, 100, [spec], [line], [(50.0, "Grænse")])]


def test_the_key_changes_with_everything_drawn_and_only_with_that() -> None:
    base = chart_key(_panels(), LABELS, "course", 7, "da")
    assert chart_key(_panels(), LABELS, "course", 7, "da") == base
    changed = []
    panels = _panels()
    panels[0].series[0].points.append((date(2026, 6, 1), 60.0))  # a new answer
    changed.append(chart_key(panels, LABELS, "course", 7, "da"))
    panels = _panels()
    panels[0].series[0].points[1] = (date(2026, 4, 2), 52.0)  # a score changed
    changed.append(chart_key(panels, LABELS, "course", 7, "da"))
    panels = _panels()
    panels[0].series[0].points[1] = (date(2026, 4, 3), 56.0)  # another day
    changed.append(chart_key(panels, LABELS, "course", 7, "da"))
    panels = _panels()
    panels[0].title = "Well-being"  # a label
    changed.append(chart_key(panels, LABELS, "course", 7, "da"))
    panels = _panels()
    panels[0].specs[0] = dataclasses.replace(panels[0].specs[0], change_threshold=8)  # the band
    changed.append(chart_key(panels, LABELS, "course", 7, "da"))
    changed.append(chart_key(_panels(), LABELS, "course", 8, "da"))  # another course
    changed.append(chart_key(_panels(), LABELS, "course", 7, "en"))  # another language
    english = ChartLabels(no_data="No answers yet", band=LABELS.band, respondent={})
    changed.append(chart_key(_panels(), english, "course", 7, "da"))
    comma = ChartLabels(
        no_data=LABELS.no_data,
        band=LABELS.band,
        respondent=LABELS.respondent,
        number=lambda v: f"{v:g}".replace(".", ","),
    )
    changed.append(chart_key(_panels(), comma, "course", 7, "da"))  # the decimal separator
    assert base not in changed and len(set(changed)) == len(changed)


def test_the_cache_keeps_the_most_recently_used_within_its_bytes() -> None:
    rng = random.Random(3)
    svgs = {f"k{n}": "".join(rng.choice("<svg/>abcdef0123") for _ in range(4000)) for n in range(6)}
    cache = ChartCache(max_bytes=5000)  # about two of them, compressed
    for key in ("k0", "k1", "k2"):
        cache.put(key, svgs[key])
    assert cache.size <= 5000
    kept = [k for k in ("k0", "k1", "k2") if cache.get(k) is not None]
    assert kept and kept[-1] == "k2" and "k0" not in kept  # the oldest went first
    assert cache.get("k2") == svgs["k2"]
    drawn = []
    assert cache.svg("k5", lambda: drawn.append(1) or svgs["k5"]) == svgs["k5"]
    assert cache.svg("k5", lambda: drawn.append(1) or "other") == svgs["k5"]
    assert drawn == [1] and cache.size <= 5000
    cache.put("huge", "x" * 10 + "".join(rng.choice("ab") for _ in range(200_000)))
    assert cache.get("huge") is None and cache.get("k5") == svgs["k5"]  # too big to keep
