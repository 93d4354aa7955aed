"""Statistics of the evaluation reports, from sums a database can aggregate (pure Python).

The progression report compares a score at two timepoints for citizens with both; the database
returns per group the sufficient statistics (`PairedSums`) and `summarise` turns them into the
means, the mean change with its 95 % paired confidence interval, and the shares improved,
unchanged and worsened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom."""
    from scipy.stats import t  # type: ignore[import-untyped]

    return float(t.ppf(0.975, df))


def summarise(sums: PairedSums) -> PairedSummary:
    """Means, mean change with its 95 % CI, and the change categories of paired scores."""
    n = sums.n
    if n == 0:
        return PairedSummary(0, None, None, None, None, None, 0, 0, 0)
    mean_change = sums.sum_diff / n
    low = high = None
    if n >= 2:
        variance = max(0.0, (sums.sum_diff_sq - n * mean_change**2) / (n - 1))
        half = t_quantile_975(n - 1) * math.sqrt(variance / n)
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
    )
