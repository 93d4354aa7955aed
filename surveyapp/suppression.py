"""Data discretion: no published cell may rest on 1 or 2 citizens (pure Python).

A report table is a set of count cells, each with a key, and the sum relations readers know
hold between them (a total is the sum of its parts: providers add up to the municipality,
drop-out reasons add up to the drop-out, a row total is the sum of its row). `suppress`
returns the keys to hide:

- primary: every cell counting 1 to `threshold - 1` citizens (0 discloses nobody);
- secondary: more cells, so that no hidden cell can be worked out from the shown cells and
  the relations. A hidden cell is *determined* when some combination of the relations, with
  the shown cells filled in, leaves that cell alone: its unit vector lies in the row space of
  the relation matrix restricted to the hidden cells. `determined_cells` computes exactly
  that, by rational Gaussian elimination (`fractions.Fraction`, no floating point).
- remainder: where a relation's total is shown, a reader knows the sum of its hidden parts;
  that sum must not itself be 1 to `threshold - 1` (two hidden parts adding up to 2 would
  give both away as 1 each).

Secondary cells are chosen greedily: first, cheaply, for each relation with a single hidden
member; then for each cell the exact check finds determined, until none is. A candidate is a
shown member of a relation of the cell at risk. Preferred, in this order: a non-zero cell (a
zero only when nothing else is left); one that also protects other relations in need (one
cell for two, a rectangle rather than a whole row); a part rather than a total (hiding a
total spreads into the relations above it); the smallest count. Ties are broken by
`str(key)`, then by the order of `counts`, so the same table always gives the same cells.

The protection is against exact linear recovery and small remainders. Tighter bounds that a
reader could derive from the counts being non-negative integers (interval disclosure across
several relations) are not searched for.

A statistic (a mean, a share) built on fewer than `threshold` citizens is hidden with
`hide_statistic`. Hidden cells are shown as a dash with a footnote, never as 0.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
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
    """The keys of the cells to hide (primary and secondary suppression).

    Every relation member must be a key of `counts`; a relation needs at least one part and
    its total may not be one of its parts.
    """
    _check_relations(counts, relations)
    hidden = {k for k, n in counts.items() if is_too_small(n, threshold)}
    if not hidden:
        return frozenset()
    table = _Table(counts, relations, threshold)
    while True:
        table.close_cheaply(hidden)
        # Only the relations with a hidden member say anything about a hidden cell.
        at_risk = sorted(determined_cells(table.touching(hidden), hidden), key=table.rank)
        if not at_risk:
            return frozenset(hidden)
        touched: set[int] = set()
        needy = {index for cell in at_risk for index in table.relations_of[cell]}
        added = False
        for cell in at_risk:
            if not touched.isdisjoint(table.relations_of[cell]):
                continue  # a cell added in this round may already protect it; check again
            candidate = table.best_candidate(table.relations_of[cell], hidden, needy)
            if candidate is None:
                candidate = table.best_candidate(range(len(relations)), hidden, needy)
            if candidate is None:
                continue  # nothing shown is left to hide: the relations pin it whatever we do
            hidden.add(candidate)
            touched.update(table.relations_of[cell], table.relations_of[candidate])
            added = True
        if not added:
            return frozenset(hidden)


def determined_cells(relations: Sequence[SumRelation[K]], hidden: Collection[K]) -> frozenset[K]:
    """The hidden cells a reader can work out exactly from the shown cells and the relations.

    Each relation is the equation `total - sum(parts) = 0`; moving the shown cells to the
    right-hand side leaves a linear system in the hidden cells. A hidden cell is determined
    when its unit vector lies in the row space of that system, i.e. when its row of the
    reduced row echelon form has no other entry. Equations that share no hidden cell do not
    interact, so each connected group of them is reduced on its own (the answer is the same;
    a national table has thousands of small groups, and one elimination over all of them
    would compare every new row with every earlier one).
    """
    hidden = set(hidden)
    rows = [row for rel in relations if (row := _hidden_row(rel, hidden))]
    found: set[K] = set()
    for group in _connected(rows):
        found |= _reduced_singletons(group)
    return frozenset(found)


def _connected(rows: list[dict[K, Fraction]]) -> list[list[dict[K, Fraction]]]:
    """The rows in groups that share cells (union-find over the cells), in their order."""
    parent: dict[K, K] = {}

    def root(cell: K) -> K:
        parent.setdefault(cell, cell)
        while parent[cell] != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    for row in rows:
        cells = iter(row)
        first = root(next(cells))
        for cell in cells:
            other = root(cell)
            if other != first:
                parent[other] = first
    groups: dict[K, list[dict[K, Fraction]]] = {}
    for row in rows:
        groups.setdefault(root(next(iter(row))), []).append(row)
    return list(groups.values())


def _reduced_singletons(rows: list[dict[K, Fraction]]) -> set[K]:
    """The cells whose row of the reduced row echelon form of `rows` has no other entry."""
    basis: dict[K, dict[K, Fraction]] = {}  # pivot cell -> its row, reduced against the others
    for row in rows:
        for pivot in [cell for cell in row if cell in basis]:
            factor = row.get(pivot)
            if factor:
                _add_multiple(row, basis[pivot], -factor)
        if not row:
            continue
        pivot = next(iter(row))
        scale = row[pivot]
        for cell in row:
            row[cell] /= scale
        for other in basis.values():
            factor = other.get(pivot)
            if factor:
                _add_multiple(other, row, -factor)
        basis[pivot] = row
    return {pivot for pivot, row in basis.items() if len(row) == 1}


def is_determined(cell: K, relations: Sequence[SumRelation[K]], hidden: Collection[K]) -> bool:
    """Whether the hidden `cell` can be worked out from the shown cells and the relations."""
    return cell in hidden and cell in determined_cells(relations, hidden)


def _hidden_row(relation: SumRelation[K], hidden: set[K]) -> dict[K, Fraction]:
    """The relation's coefficients on the hidden cells (total +1, each part -1)."""
    row: dict[K, Fraction] = {}
    for cell, sign in ((relation.total, 1), *((part, -1) for part in relation.parts)):
        if cell in hidden:
            row[cell] = row.get(cell, Fraction(0)) + sign
    return {cell: value for cell, value in row.items() if value}


def _add_multiple(row: dict[K, Fraction], other: Mapping[K, Fraction], factor: Fraction) -> None:
    """row += factor * other, dropping the entries that become zero."""
    for cell, value in other.items():
        new = row.get(cell, Fraction(0)) + factor * value
        if new:
            row[cell] = new
        else:
            row.pop(cell, None)


def _check_relations(counts: Mapping[K, int], relations: Sequence[SumRelation[K]]) -> None:
    for rel in relations:
        if not rel.parts:
            raise ValueError(f"relation with total {rel.total!r} has no parts")
        if rel.total in rel.parts:
            raise ValueError(f"relation total {rel.total!r} is also one of its parts")
        missing = [cell for cell in (rel.total, *rel.parts) if cell not in counts]
        if missing:
            raise KeyError(f"relation cells without a count: {missing!r}")


class _Table(Generic[K]):
    """The counts and relations of one table, indexed for choosing secondary cells."""

    def __init__(
        self, counts: Mapping[K, int], relations: Sequence[SumRelation[K]], threshold: int
    ) -> None:
        self.counts = counts
        self.relations = relations
        self.threshold = threshold
        self.totals = frozenset(rel.total for rel in relations)
        self.order = {cell: index for index, cell in enumerate(counts)}
        # The indexes of the relations each cell is a member of, in increasing order (only
        # cells in some relation are here: the others are never a candidate).
        self.relations_of: dict[K, list[int]] = {}
        for index, rel in enumerate(relations):
            for cell in (rel.total, *rel.parts):
                found = self.relations_of.setdefault(cell, [])
                if not found or found[-1] != index:
                    found.append(index)

    def rank(self, cell: K) -> tuple[int, str, int]:
        return self.counts[cell], str(cell), self.order[cell]

    def preference(
        self, cell: K, needy: Collection[int] = frozenset()
    ) -> tuple[bool, int, bool, int, str, int]:
        """Smaller is better: non-zero before zero, then the cell in most of the `needy`
        relations (one cell protecting two), parts before totals, then by rank."""
        helps = sum(index in needy for index in self.relations_of[cell])
        return (self.counts[cell] == 0, -helps, cell in self.totals, *self.rank(cell))

    def best_candidate(
        self, relation_indexes: Iterable[int], hidden: set[K], needy: Collection[int] = ()
    ) -> K | None:
        shown = {
            cell for index in relation_indexes for cell in self.members(index) if cell not in hidden
        }
        return min(shown, key=lambda cell: self.preference(cell, needy), default=None)

    def members(self, index: int) -> tuple[K, ...]:
        rel = self.relations[index]
        return (rel.total, *rel.parts)

    def touching(self, cells: Iterable[K]) -> list[SumRelation[K]]:
        """The relations with a member among `cells`, in their order."""
        indexes = {index for cell in cells for index in self.relations_of.get(cell, ())}
        return [self.relations[index] for index in sorted(indexes)]

    def needs_cell(self, index: int, hidden: set[K]) -> bool:
        """The relation gives a hidden member away: it has one, or a small known remainder."""
        inside = sum(cell in hidden for cell in self.members(index))
        if inside == 0:
            return False
        return inside == 1 or _small_remainder(
            self.counts, self.relations[index], hidden, self.threshold
        )

    def close_cheaply(self, hidden: set[K]) -> None:
        """Hide cells until no relation has one hidden member or a small known remainder.

        Passes over the relations in their order until one changes nothing. A relation
        without a hidden member needs nothing, so a pass visits only those with one: the
        ones that had one when it began, and those that get one during it (a cell hidden at
        relation i is seen by the relations after i in the same pass, by the others in the
        next), which is exactly what a pass over all of them would do.
        """
        active = {index for cell in hidden for index in self.relations_of.get(cell, ())}
        changed = True
        while changed:
            changed = False
            queue = sorted(active)
            heapq.heapify(queue)
            visited = -1
            while queue:
                index = heapq.heappop(queue)
                if index <= visited:
                    continue  # pushed twice
                visited = index
                if not self.needs_cell(index, hidden):
                    continue
                pool = [cell for cell in self.members(index) if cell not in hidden]
                needy = {
                    other
                    for cell in pool
                    for other in self.relations_of[cell]
                    if other != index and self.needs_cell(other, hidden)
                }
                if pool:
                    cell = min(pool, key=lambda cell: self.preference(cell, needy))
                    hidden.add(cell)
                    changed = True
                    for other in self.relations_of[cell]:
                        if other not in active:
                            active.add(other)
                        if other > index:
                            heapq.heappush(queue, other)


def small_remainders(
    counts: Mapping[K, int],
    relations: Sequence[SumRelation[K]],
    hidden: Collection[K],
    threshold: int = DEFAULT_THRESHOLD,
) -> list[SumRelation[K]]:
    """The relations whose total is shown while their hidden parts add up to 1..threshold-1."""
    return [rel for rel in relations if _small_remainder(counts, rel, hidden, threshold)]


def _small_remainder(
    counts: Mapping[K, int], rel: SumRelation[K], hidden: Collection[K], threshold: int
) -> bool:
    """The total is shown, so a reader knows its hidden parts add up to 1..threshold-1."""
    if rel.total in hidden:
        return False
    return is_too_small(sum(counts[cell] for cell in rel.parts if cell in hidden), threshold)
