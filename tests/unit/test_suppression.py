"""Data discretion: worked examples and properties of `suppress` over random tables.

The properties are checked with an independent test of recovery written here (numpy's matrix
rank on the relation matrix, not the module's own elimination), and each check is shown able
to fail on the implementations that are not enough: primary suppression only, and one more
cell per relation with a single hidden member (the first skeleton).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from surveyapp.suppression import (
    DEFAULT_THRESHOLD,
    SumRelation,
    _Table,
    determined_cells,
    hide_statistic,
    is_determined,
    is_too_small,
    small_remainders,
    suppress,
)

ROOT = Path(__file__).resolve().parents[2]
Table = tuple[dict[str, int], list[SumRelation[str]]]

# ---------------------------------------------------------------------------------------
# Tables


def grid_table(grid: Sequence[Sequence[int]]) -> Table:
    """Cells r{i}c{j}, row totals r{i}T, column totals Tc{j} and the grand total TT."""
    rows, cols = len(grid), len(grid[0])
    counts: dict[str, int] = {}
    for i in range(rows):
        for j in range(cols):
            counts[f"r{i}c{j}"] = grid[i][j]
        counts[f"r{i}T"] = sum(grid[i])
    for j in range(cols):
        counts[f"Tc{j}"] = sum(row[j] for row in grid)
    counts["TT"] = sum(map(sum, grid))
    relations = [
        SumRelation(f"r{i}T", tuple(f"r{i}c{j}" for j in range(cols))) for i in range(rows)
    ]
    relations += [
        SumRelation(f"Tc{j}", tuple(f"r{i}c{j}" for i in range(rows))) for j in range(cols)
    ]
    relations.append(SumRelation("TT", tuple(f"Tc{j}" for j in range(cols))))
    relations.append(SumRelation("TT", tuple(f"r{i}T" for i in range(rows))))
    return counts, relations


def tree_table(tree: object, key: str = "all") -> Table:
    """A nested table: a leaf is a count, a node a list of subtrees whose sum it is."""
    counts: dict[str, int] = {}
    relations: list[SumRelation[str]] = []

    def walk(node: object, key: str) -> int:
        if isinstance(node, int):
            counts[key] = node
            return node
        assert isinstance(node, list)
        parts = [f"{key}/{index}" for index in range(len(node))]
        counts[key] = 0  # keeps totals before their parts in the mapping
        counts[key] = sum(walk(child, part) for child, part in zip(node, parts, strict=True))
        relations.append(SumRelation(key, tuple(parts)))
        return counts[key]

    walk(tree, key)
    return counts, relations


def row_table(parts: Sequence[int]) -> Table:
    counts = {f"p{index}": n for index, n in enumerate(parts)}
    counts["total"] = sum(parts)
    return counts, [SumRelation("total", tuple(f"p{index}" for index in range(len(parts))))]


def nested_rows_table(tree: list[list[list[int]]]) -> Table:
    """Municipality and provider rows with subtotals, crossed with category columns + total."""
    counts: dict[str, int] = {}
    relations: list[SumRelation[str]] = []
    cols = len(tree[0][0])

    def add_row(name: str, values: Sequence[int]) -> None:
        for j, value in enumerate(values):
            counts[f"{name}:c{j}"] = value
        counts[f"{name}:T"] = sum(values)
        relations.append(SumRelation(f"{name}:T", tuple(f"{name}:c{j}" for j in range(cols))))

    def total_of(rows: Sequence[Sequence[int]]) -> list[int]:
        return [sum(row[j] for row in rows) for j in range(cols)]

    municipalities = []
    for m, providers in enumerate(tree):
        for p, values in enumerate(providers):
            add_row(f"m{m}p{p}", values)
        municipality = total_of(providers)
        municipalities.append(municipality)
        add_row(f"m{m}", municipality)
        for column in [*(f"c{j}" for j in range(cols)), "T"]:
            parts = tuple(f"m{m}p{p}:{column}" for p in range(len(providers)))
            relations.append(SumRelation(f"m{m}:{column}", parts))
    add_row("all", total_of(municipalities))
    for column in [*(f"c{j}" for j in range(cols)), "T"]:
        parts = tuple(f"m{m}:{column}" for m in range(len(tree)))
        relations.append(SumRelation(f"all:{column}", parts))
    return counts, relations


small_or_any = st.one_of(st.sampled_from([0, 0, 1, 1, 2, 2, 3, 4, 5, 8]), st.integers(0, 20))


@st.composite
def grids(draw: st.DrawFn) -> Table:
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return grid_table([[draw(small_or_any) for _ in range(cols)] for _ in range(rows)])


def subtree(depth: int) -> st.SearchStrategy[object]:
    if depth == 0:
        return small_or_any
    return st.lists(subtree(depth - 1), min_size=1, max_size=4)


trees = st.builds(tree_table, subtree(3))
rows = st.builds(row_table, st.lists(small_or_any, min_size=1, max_size=8))
nested_rows = st.integers(1, 4).flatmap(
    lambda cols: st.builds(
        nested_rows_table,
        st.lists(
            st.lists(st.lists(small_or_any, min_size=cols, max_size=cols), min_size=1, max_size=3),
            min_size=1,
            max_size=3,
        ),
    )
)
tables = st.one_of(grids(), trees, rows, nested_rows)

# ---------------------------------------------------------------------------------------
# The independent check


def recoverable(relations: Sequence[SumRelation[str]], hidden: frozenset[str]) -> set[str]:
    """Hidden cells whose unit vector is in the row space of the hidden part (numpy rank)."""
    cells = sorted(hidden)
    column = {cell: index for index, cell in enumerate(cells)}
    matrix = np.zeros((len(relations), len(cells)))
    for i, rel in enumerate(relations):
        if rel.total in column:
            matrix[i, column[rel.total]] += 1
        for part in rel.parts:
            if part in column:
                matrix[i, column[part]] -= 1
    rank = np.linalg.matrix_rank(matrix) if len(relations) else 0
    found = set()
    for cell in cells:
        unit = np.zeros((1, len(cells)))
        unit[0, column[cell]] = 1
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.add(cell)
    return found


def problems(table: Table, hidden: frozenset[str], threshold: int = DEFAULT_THRESHOLD) -> list:
    """Everything wrong with hiding `hidden` in `table`; empty when it is safe."""
    counts, relations = table
    found: list[object] = []
    found += [
        ("shown small", k) for k, n in counts.items() if 0 < n < threshold and k not in hidden
    ]
    found += [("recoverable", k) for k in sorted(recoverable(relations, hidden))]
    for rel in relations:
        remainder = sum(counts[part] for part in rel.parts if part in hidden)
        if rel.total not in hidden and 0 < remainder < threshold:
            found.append(("small remainder", rel.total))
    return found


def primary_only(
    counts: Mapping[str, int], relations: object = (), threshold: int = 3
) -> frozenset:
    return frozenset(k for k, n in counts.items() if 0 < n < threshold)


def one_per_relation(
    counts: Mapping[str, int], relations: Sequence[SumRelation[str]], threshold: int = 3
) -> frozenset[str]:
    """The first skeleton: one more cell for each relation with a single hidden member."""
    hidden = set(primary_only(counts, threshold=threshold))
    changed = True
    while changed:
        changed = False
        for rel in relations:
            if sum(m in hidden for m in (rel.total, *rel.parts)) == 1:
                shown = sorted((m for m in rel.parts if m not in hidden), key=lambda m: counts[m])
                if shown:
                    hidden.add(shown[0])
                    changed = True
    return frozenset(hidden)


# The bridge: two closed rectangles of small cells joined by one small cell r0c2. Every row and
# column has two or more hidden cells, yet r0c2 = (rows 0-1) - (columns 0-1) of the hidden part.
BRIDGE = [[1, 2, 1, 9], [2, 1, 8, 9], [9, 8, 1, 2], [9, 9, 2, 1]]

# ---------------------------------------------------------------------------------------
# Worked examples


def test_counts_of_one_and_two_are_too_small_zero_is_not() -> None:
    assert [n for n in range(6) if is_too_small(n)] == [1, 2]
    assert [n for n in range(6) if is_too_small(n, threshold=5)] == [1, 2, 3, 4]
    assert [n for n in range(5) if hide_statistic(n)] == [0, 1, 2]


def test_a_lone_small_part_takes_the_smallest_other_part_with_it() -> None:
    counts, relations = row_table([1, 7, 5, 9])
    assert suppress(counts, relations) == {"p0", "p2"}


def test_a_zero_is_not_chosen_while_a_non_zero_part_can_be() -> None:
    counts, relations = row_table([0, 2, 6, 9])
    assert suppress(counts, relations) == {"p1", "p2"}


def test_two_small_parts_adding_up_to_two_take_a_third_with_them() -> None:
    counts, relations = row_table([1, 1, 7, 4])
    # Neither 1 is recoverable on its own, but 13 - 7 - 4 tells they are 1 and 1.
    assert recoverable(relations, frozenset({"p0", "p1"})) == set()
    assert small_remainders(counts, relations, {"p0", "p1"}) == relations
    assert suppress(counts, relations) == {"p0", "p1", "p3"}


def test_a_small_total_hides_with_its_parts_and_that_is_safe() -> None:
    counts, relations = row_table([1, 0, 1])
    hidden = suppress(counts, relations)
    assert hidden == {"p0", "p2", "total"}
    assert problems((counts, relations), hidden) == []


def test_the_bridge_fools_the_one_per_relation_rule_and_the_exact_check_adds_a_cell() -> None:
    counts, relations = grid_table(BRIDGE)
    naive = one_per_relation(counts, relations)
    primary = primary_only(counts)
    assert naive == primary  # every row and column already has two hidden cells
    assert recoverable(relations, naive) == {"r0c2"}
    assert determined_cells(relations, naive) == {"r0c2"}
    hidden = suppress(counts, relations)
    assert hidden == primary | {"r1c2"}  # 8: the smallest shown cell of r0c2's row or column
    assert problems((counts, relations), hidden) == []


def test_a_cell_that_protects_two_relations_is_preferred_to_a_smaller_one() -> None:
    # r0c1 = 1 and r1c2 = 2. Row 0's smallest other cell is r0c0 = 4, but r0c2 = 6 also
    # protects r1c2 in column 2; likewise r1c1 = 3 serves row 1 and column 1: a rectangle of
    # four cells instead of the whole body of the table.
    counts, relations = grid_table([[4, 1, 6], [7, 3, 2]])
    hidden = suppress(counts, relations)
    assert hidden == {"r0c1", "r0c2", "r1c1", "r1c2"}
    assert problems((counts, relations), hidden) == []


def test_a_hidden_subtotal_spreads_up_and_down_the_hierarchy() -> None:
    # Provider 0 has two small teams (1 + 1 = 2, itself small); provider 1 has 3 + 4.
    counts, relations = tree_table([[[1, 1], [3, 4]], [[5, 6]]])
    hidden = suppress(counts, relations)
    assert {"all/0/0/0", "all/0/0/1", "all/0/0"} <= hidden
    assert "all/0/1" in hidden  # else all/0 - all/0/1 gives provider 0 away
    assert problems((counts, relations), hidden) == []


def test_a_member_of_two_relations_is_pinned_by_the_one_whose_other_members_are_shown() -> None:
    # r0c0 is small; hiding r0c1 protects it in row 0, but column 0 would still give it away
    # unless a cell of column 0 goes too.
    counts, relations = grid_table([[1, 5, 9], [6, 7, 8], [9, 9, 9]])
    hidden = suppress(counts, relations)
    assert sum(cell.endswith("c0") and cell != "r0c0" for cell in hidden) >= 1
    assert problems((counts, relations), hidden) == []


def test_nothing_small_hides_nothing() -> None:
    counts, relations = grid_table([[0, 3, 4], [5, 0, 6]])
    assert suppress(counts, relations) == frozenset()


def test_a_custom_threshold() -> None:
    counts, relations = row_table([4, 9, 12])
    assert suppress(counts, relations, threshold=3) == frozenset()
    assert suppress(counts, relations, threshold=5) == {"p0", "p1"}


def test_is_determined_answers_for_one_cell() -> None:
    _, relations = row_table([1, 5, 9])
    assert is_determined("p0", relations, {"p0"})
    assert not is_determined("p0", relations, {"p0", "p1"})
    assert not is_determined("p2", relations, {"p0"})  # shown, not hidden


def test_relations_must_name_counted_cells_and_have_parts() -> None:
    with pytest.raises(KeyError):
        suppress({"a": 1}, [SumRelation("a", ("b",))])
    with pytest.raises(ValueError, match="no parts"):
        suppress({"a": 1}, [SumRelation("a", ())])
    with pytest.raises(ValueError, match="also one of its parts"):
        suppress({"a": 1, "b": 2}, [SumRelation("a", ("a", "b"))])


def test_keys_need_not_be_strings() -> None:
    counts = {("m1", "p1"): 1, ("m1", "p2"): 6, ("m1", None): 7}
    relation = SumRelation(("m1", None), (("m1", "p1"), ("m1", "p2")))
    assert suppress(counts, [relation]) == {("m1", "p1"), ("m1", "p2")}


# ---------------------------------------------------------------------------------------
# Properties over random tables

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


@PROPERTY_SETTINGS
@given(tables)
def test_no_small_cell_is_shown_and_none_hidden_can_be_recovered(table: Table) -> None:
    counts, relations = table
    hidden = suppress(counts, relations)
    assert problems(table, hidden) == []
    assert determined_cells(relations, hidden) == frozenset()  # the module agrees


@PROPERTY_SETTINGS
@given(tables)
def test_the_modules_exact_check_agrees_with_numpy(table: Table) -> None:
    counts, relations = table
    naive = one_per_relation(counts, relations)
    assert determined_cells(relations, naive) == recoverable(relations, naive)


@PROPERTY_SETTINGS
@given(tables)
def test_every_secondary_cell_is_hidden_beside_another_hidden_cell(table: Table) -> None:
    counts, relations = table
    hidden = suppress(counts, relations)
    for cell in hidden - primary_only(counts):
        companions = {
            member
            for rel in relations
            if cell in (rel.total, *rel.parts)
            for member in (rel.total, *rel.parts)
            if member != cell
        }
        assert companions & hidden, cell


@PROPERTY_SETTINGS
@given(tables)
def test_a_table_without_small_cells_hides_nothing(table: Table) -> None:
    counts, relations = table
    big = {k: (n if not is_too_small(n) else n + 3) for k, n in counts.items()}
    assert suppress(big, relations) == frozenset()


@PROPERTY_SETTINGS
@given(tables, st.randoms(use_true_random=False))
def test_the_same_table_gives_the_same_cells_in_any_key_order(table: Table, rng: object) -> None:
    counts, relations = table
    keys = list(counts)
    rng.shuffle(keys)  # type: ignore[attr-defined]
    shuffled = {k: counts[k] for k in keys}
    assert suppress(shuffled, relations) == suppress(counts, relations)
    assert suppress(counts, relations) == suppress(dict(counts), list(relations))


def _close_with_full_passes(self: _Table[str], hidden: set[str]) -> None:
    """`_Table.close_cheaply` as first written: every pass visits every relation."""
    changed = True
    while changed:
        changed = False
        for index in range(len(self.relations)):
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
                hidden.add(min(pool, key=lambda cell: self.preference(cell, needy)))
                changed = True


@PROPERTY_SETTINGS
@given(tables)
def test_passes_over_the_relations_with_a_hidden_member_hide_what_passes_over_all_do(
    table: Table,
) -> None:
    counts, relations = table
    fast = suppress(counts, relations)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Table, "close_cheaply", _close_with_full_passes)
        assert suppress(counts, relations) == fast


def test_the_same_table_gives_the_same_cells_under_any_hash_seed() -> None:
    script = (
        "from tests.unit.test_suppression import BRIDGE, grid_table, nested_rows_table\n"
        "from surveyapp.suppression import suppress\n"
        "for table in (grid_table(BRIDGE), nested_rows_table("
        "[[[1, 2, 0], [0, 5, 9]], [[2, 2, 2], [7, 1, 4], [3, 3, 3]]])):\n"
        "    print(sorted(suppress(*table)))\n"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(  # noqa: S603 - the running interpreter with a fixed script
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


# ---------------------------------------------------------------------------------------
# The checks can fail

FIND_SETTINGS = settings(
    max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@pytest.mark.parametrize("broken", [primary_only, one_per_relation])
def test_the_properties_catch_an_implementation_that_is_not_enough(broken: object) -> None:
    def fails(table: Table) -> bool:
        return bool(problems(table, broken(*table)))  # type: ignore[operator]

    example = find(tables, fails, settings=FIND_SETTINGS)
    assert problems(example, broken(*example))  # type: ignore[operator]


def test_the_recovery_check_catches_the_one_per_relation_rule_on_random_grids() -> None:
    def fails(table: Table) -> bool:
        return bool(recoverable(table[1], one_per_relation(*table)))

    counts, relations = find(grids(), fails, settings=FIND_SETTINGS)
    assert recoverable(relations, one_per_relation(counts, relations))


def test_the_independent_check_sees_a_lone_hidden_cell() -> None:
    _, relations = row_table([1, 5, 9])
    assert recoverable(relations, frozenset({"p0"})) == {"p0"}
    assert recoverable(relations, frozenset({"p0", "p1"})) == set()
