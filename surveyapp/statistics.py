"""Statistics of the evaluation reports, from sums a database can aggregate (pure Python).

The progression report compares a score at two timepoints for citizens with both; the database
returns per group the sufficient statistics (`PairedSums`) and `summarise` turns them into the
means, the mean change with its 95 % paired confidence interval, and the shares improved,
unchanged and worsened.

The interval is the paired t interval, mean ± t(0.975, n-1) · sd / √n, the one
`scipy.stats.ttest_rel(after, before).confidence_interval()` gives. scipy is imported only
when a quantile is needed, so importing this module stays light.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

# A variance below this fraction of the mean squared change is rounding left over from
# subtracting two nearly equal sums: every change was the same, and the variance is 0.
_RELATIVE_VARIANCE_NOISE = 1e-10


@dataclass(frozen=True)
class PairedSums:
    """What SQL aggregates per group: n pairs, sums of both ends, of the change and its square."""

    n: int
    sum_before: float
    sum_after: float
    sum_diff: float  # sum of (after - before)
    sum_diff_sq: float  # sum of (after - before) ** 2
    improved: int = 0
    unchanged: int = 0
    worsened: int = 0


@dataclass(frozen=True)
class PairedSummary:
    n: int
    mean_before: float | None
    mean_after: float | None
    mean_change: float | None
    ci_low: float | None  # 95 % confidence interval of the mean change (paired t); n >= 2
    ci_high: float | None
    improved: int
    unchanged: int
    worsened: int
    sd_change: float | None = None  # sample standard deviation of the change; n >= 2


def paired_sums(
    pairs: Iterable[tuple[float, float]], improved: int = 0, unchanged: int = 0, worsened: int = 0
) -> PairedSums:
    """The sums of (before, after) pairs, as the database would aggregate them."""
    n = 0
    sum_before = sum_after = sum_diff = sum_diff_sq = 0.0
    for before, after in pairs:
        n += 1
        sum_before += before
        sum_after += after
        sum_diff += after - before
        sum_diff_sq += (after - before) ** 2
    return PairedSums(
        n, sum_before, sum_after, sum_diff, sum_diff_sq, improved, unchanged, worsened
    )


@lru_cache(maxsize=4096)
def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom (remembered per df)."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def change_variance(n: int, sum_diff: float, sum_diff_sq: float) -> float:
    """The sample variance of the change from its sums (n >= 2), never negative."""
    if n < 2:
        raise ValueError("a variance needs at least two pairs")
    mean_square = sum_diff_sq / n
    variance = (sum_diff_sq - sum_diff * sum_diff / n) / (n - 1)
    if variance <= _RELATIVE_VARIANCE_NOISE * mean_square:
        return 0.0
    return variance


def summarise(sums: PairedSums) -> PairedSummary:
    """Means, mean change with its 95 % CI, and the change categories of paired scores.

    n = 0 gives no means; n = 1 gives means but no interval; when every change is the same
    the interval has no width.
    """
    n = sums.n
    if n < 0 or min(sums.improved, sums.unchanged, sums.worsened) < 0:
        raise ValueError("counts cannot be negative")
    if sums.improved + sums.unchanged + sums.worsened > n:
        raise ValueError("more pairs classified than there are pairs")
    if n == 0:
        return PairedSummary(0, None, None, None, None, None, 0, 0, 0)
    mean_change = sums.sum_diff / n
    low = high = sd = None
    if n >= 2:
        variance = change_variance(n, sums.sum_diff, sums.sum_diff_sq)
        sd = math.sqrt(variance)
        half = t_quantile_975(n - 1) * sd / math.sqrt(n) if variance else 0.0
        low, high = mean_change - half, mean_change + half
    return PairedSummary(
        n=n,
        mean_before=sums.sum_before / n,
        mean_after=sums.sum_after / n,
        mean_change=mean_change,
        ci_low=low,
        ci_high=high,
        improved=sums.improved,
        unchanged=sums.unchanged,
        worsened=sums.worsened,
        sd_change=sd,
    )


def share(count: int, n: int) -> float | None:
    """count / n as a fraction of 1 (format it with Babel's percent), or None when n is 0."""
    if n < 0 or count < 0 or count > n:
        raise ValueError(f"a share needs 0 <= count <= n, got {count} of {n}")
    return count / n if n else None
