"""Data discretion: no published cell may rest on 1 or 2 citizens (pure Python).

A report table is a set of count cells, each with a key, and the sum relations readers know
hold between them (a total is the sum of its parts: providers add up to the municipality,
drop-out reasons add up to the drop-out). `suppress` returns the keys to hide:

- primary: every cell counting 1 to `threshold - 1` citizens;
- secondary: more cells, so that no hidden cell can be worked out from the shown cells and
  the relations (a relation with exactly one hidden member would give it away).

A statistic (a mean, a share) built on fewer than `threshold` citizens is hidden with
`hide_statistic`. Hidden cells are shown as a dash with a footnote, never as 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

DEFAULT_THRESHOLD = 3


@dataclass(frozen=True)
class SumRelation(Generic[K]):
    """`total` is the sum of `parts`; both are keys of cells."""

    total: K
    parts: tuple[K, ...]


def is_too_small(n: int, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """A count of 1 to threshold-1 citizens discloses them (0 discloses nobody)."""
    return 0 < n < threshold


def hide_statistic(n: int, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """A mean or share built on fewer than `threshold` citizens is not shown (n = 0: no value)."""
    return n < threshold


def suppress(
    counts: Mapping[K, int],
    relations: Sequence[SumRelation[K]] = (),
    threshold: int = DEFAULT_THRESHOLD,
) -> frozenset[K]:
    """The keys of the cells to hide (primary and secondary suppression)."""
    hidden = {k for k, n in counts.items() if is_too_small(n, threshold)}
    changed = True
    while changed:
        changed = False
        for rel in relations:
            members = (rel.total, *rel.parts)
            if sum(m in hidden for m in members) == 1:
                candidates = sorted(
                    (m for m in rel.parts if m not in hidden), key=lambda m: counts[m]
                )
                if candidates:
                    hidden.add(candidates[0])
                    changed = True
    return frozenset(hidden)
