"""Paired summaries from sums: worked examples and agreement with scipy on random pairs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from surveyapp.statistics import (
    PairedSummary,
    PairedSums,
    change_variance,
    paired_sums,
    share,
    summarise,
    t_quantile_975,
)


def scipy_interval(before: list[float], after: list[float]) -> tuple[float, float]:
    interval = stats.ttest_rel(after, before).confidence_interval(0.95)
    return float(interval.low), float(interval.high)


def test_a_worked_example_matches_scipy_and_the_formula() -> None:
    before = [40.0, 52.0, 28.0, 60.0, 44.0]
    after = [48.0, 64.0, 40.0, 56.0, 60.0]  # changes 8, 12, 12, -4, 16: mean 8.8
    summary = summarise(paired_sums(zip(before, after, strict=True), 3, 1, 1))
    assert summary.n == 5
    assert summary.mean_before == pytest.approx(44.8)
    assert summary.mean_after == pytest.approx(53.6)
    assert summary.mean_change == pytest.approx(8.8)
    sd = math.sqrt(sum((d - 8.8) ** 2 for d in (8, 12, 12, -4, 16)) / 4)
    assert summary.sd_change == pytest.approx(sd)
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t(0.975, 4)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((8.8 - half, 8.8 + half))
    assert (summary.ci_low, summary.ci_high) == pytest.approx(scipy_interval(before, after))
    assert (summary.improved, summary.unchanged, summary.worsened) == (3, 1, 1)


def test_a_worsening_gives_a_negative_interval() -> None:
    before, after = [20.0, 30.0, 25.0], [30.0, 38.0, 36.0]  # WHODAS %: higher is worse
    summary = summarise(paired_sums(zip(before, after, strict=True)))
    assert summary.ci_low is not None and summary.ci_low > 0
    assert (summary.ci_low, summary.ci_high) == pytest.approx(scipy_interval(before, after))


def test_the_t_quantile() -> None:
    assert t_quantile_975(1) == pytest.approx(12.706204736)
    assert t_quantile_975(30) == pytest.approx(2.042272456)
    assert t_quantile_975(10**6) == pytest.approx(1.959966, abs=1e-5)


def test_no_pairs_give_no_values() -> None:
    assert summarise(PairedSums(0, 0.0, 0.0, 0.0, 0.0)) == PairedSummary(
        0, None, None, None, None, None, 0, 0, 0
    )


def test_one_pair_gives_means_but_no_interval() -> None:
    summary = summarise(paired_sums([(40.0, 52.0)], improved=1))
    assert (summary.mean_before, summary.mean_after, summary.mean_change) == (40.0, 52.0, 12.0)
    assert summary.ci_low is None and summary.ci_high is None and summary.sd_change is None
    assert summary.improved == 1


def test_identical_changes_give_an_interval_of_no_width() -> None:
    # 0.1 is not exact in binary: the naive variance comes out a hair off zero.
    summary = summarise(paired_sums([(0.3, 0.4), (1.3, 1.4), (2.3, 2.4)]))
    assert summary.sd_change == 0.0
    assert summary.ci_low == summary.ci_high == summary.mean_change
    assert summary.mean_change == pytest.approx(0.1)


def test_no_change_at_all() -> None:
    summary = summarise(paired_sums([(50.0, 50.0)] * 4, unchanged=4))
    assert (summary.mean_change, summary.ci_low, summary.ci_high) == (0.0, 0.0, 0.0)


def test_rounding_never_makes_the_variance_negative() -> None:
    # Sums a database may return with the last bits off: sum_diff_sq a bit under sum_diff^2/n.
    assert change_variance(3, 30.0, 299.99999999999994) == 0.0
    with pytest.raises(ValueError, match="two pairs"):
        change_variance(1, 1.0, 1.0)


def test_large_groups_stay_accurate() -> None:
    pairs = [(50.0 + (i % 7), 58.0 + (i % 11)) for i in range(200_000)]
    before = [b for b, _ in pairs]
    after = [a for _, a in pairs]
    summary = summarise(paired_sums(pairs))
    assert (summary.ci_low, summary.ci_high) == pytest.approx(
        scipy_interval(before, after), rel=1e-9
    )


def test_inconsistent_sums_are_refused() -> None:
    with pytest.raises(ValueError, match="more pairs classified"):
        summarise(PairedSums(2, 1.0, 2.0, 1.0, 1.0, improved=2, unchanged=1))
    with pytest.raises(ValueError, match="negative"):
        summarise(PairedSums(-1, 0.0, 0.0, 0.0, 0.0))


def test_share() -> None:
    assert share(3, 4) == 0.75
    assert share(0, 5) == 0.0
    assert share(0, 0) is None
    for bad in ((5, 4), (-1, 3), (0, -1)):
        with pytest.raises(ValueError):
            share(*bad)


scores = st.integers(0, 25).map(lambda raw: raw * 4.0)  # WHO-5 percent
whodas = st.integers(0, 48).map(lambda raw: raw * 100 / 48)  # WHODAS-12 percent
values = st.one_of(scores, whodas)
pairs_of = st.lists(st.tuples(values, values), min_size=2, max_size=300)


@settings(max_examples=300, deadline=None)
@given(pairs_of)
def test_the_interval_agrees_with_scipys_paired_t_test(pairs: list[tuple[float, float]]) -> None:
    before = [b for b, _ in pairs]
    after = [a for _, a in pairs]
    summary = summarise(paired_sums(pairs))
    assert summary.n == len(pairs)
    assert summary.mean_change == pytest.approx(sum(after) / len(after) - sum(before) / len(before))
    diffs = [a - b for b, a in pairs]
    if max(diffs) - min(diffs) < 1e-9:  # scipy has no interval for a constant change
        assert summary.ci_low == summary.ci_high == pytest.approx(diffs[0])
        return
    low, high = scipy_interval(before, after)
    assert summary.ci_low == pytest.approx(low, rel=1e-9, abs=1e-9)
    assert summary.ci_high == pytest.approx(high, rel=1e-9, abs=1e-9)
    assert summary.ci_low is not None and summary.ci_high is not None
    assert summary.ci_low <= summary.mean_change <= summary.ci_high


@given(st.integers(0, 1000), st.integers(0, 1000))
def test_a_share_is_a_fraction_of_one(count: int, extra: int) -> None:
    n = count + extra
    value = share(count, n)
    assert value is None if n == 0 else 0.0 <= value <= 1.0  # type: ignore[operator]
