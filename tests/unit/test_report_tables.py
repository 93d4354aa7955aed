"""Report cells: counts, relations and statistics resolved with data discretion (pure)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from surveyapp.report_tables import (
    AGE_BANDS,
    REPORT_NAMES,
    CellStore,
    Column,
    Kind,
    ReportResult,
    Row,
    Section,
    Table,
    Term,
    age_band,
    record_columns,
    rounded,
    to_json,
    write_csv,
    write_xlsx,
)
from surveyapp.statistics import PairedSums, summarise

ROOT = Path(__file__).resolve().parents[2]


def test_small_counts_are_hidden_and_a_second_cell_protects_them() -> None:
    store = CellStore()
    store.count(("a",), 2)
    store.count(("b",), 10)
    store.count(("c",), 7)
    store.sum_of(("total",), [("a",), ("b",), ("c",)])
    cells = store.resolve(3)
    assert cells[("a",)].hidden and cells[("a",)].value is None and cells[("a",)].n is None
    assert cells[("total",)].value == 19
    # One more part is hidden, or 19 - 10 - 7 would give the 2 away.
    assert sum(cells[(k,)].hidden for k in "abc") == 2


def test_zero_is_shown_and_discloses_nobody() -> None:
    store = CellStore()
    store.count(("a",), 0)
    store.count(("b",), 5)
    store.sum_of(("t",), [("a",), ("b",)])
    cells = store.resolve(3)
    assert [cells[k].value for k in (("a",), ("b",), ("t",))] == [0, 5, 5]
    assert not any(c.hidden for c in cells.values())


def test_statistics_rest_on_their_counts() -> None:
    store = CellStore()
    store.count(("n", "small"), 2)
    store.count(("n", "big"), 40)
    store.count(("yes", "big"), 2)
    store.count(("n", "none"), 0)
    store.mean(("mean", "small"), 9.0, ("n", "small"))
    store.mean(("mean", "big"), 200.0, ("n", "big"), decimals=2)
    store.mean(("mean", "none"), None, ("n", "none"))
    store.share(("share", "big"), ("yes", "big"), ("n", "big"))
    store.share(("share", "none"), ("yes", "none"), ("n", "none"))
    cells = store.resolve(3)
    assert cells[("mean", "small")].hidden  # on 2 citizens
    big = cells[("mean", "big")]
    assert (big.kind, big.value, big.n, big.decimals) == (Kind.MEAN, 5.0, 40, 2)
    assert cells[("share", "big")].hidden  # its count, 2, is hidden
    none = cells[("mean", "none")]
    assert none.value is None and not none.hidden and none.empty  # nobody: nothing to hide
    assert cells[("share", "none")].empty


def test_a_statistic_is_hidden_with_its_count_even_when_that_is_large() -> None:
    store = CellStore()
    store.count(("n", "a"), 2)
    store.count(("n", "b"), 30)
    store.sum_of(("n", "all"), [("n", "a"), ("n", "b")])
    store.mean(("m", "b"), 300.0, ("n", "b"))
    store.mean(("m", "all"), 320.0, ("n", "all"))
    cells = store.resolve(3)
    # n of b (30) or of all (32) is hidden as a second cell; its mean goes with it, or the
    # two means and the total n would give a's sum away.
    assert cells[("n", "b")].hidden or cells[("n", "all")].hidden
    assert cells[("m", "b")].hidden == cells[("n", "b")].hidden
    assert cells[("m", "all")].hidden == cells[("n", "all")].hidden


def test_a_change_carries_its_confidence_interval() -> None:
    store = CellStore()
    store.count(("n",), 4)
    summary = summarise(PairedSums(4, 10, 18, 8, 20))
    store.change(("change",), summary, ("n",), decimals=1)
    cell = store.resolve(3)[("change",)]
    assert cell.kind is Kind.CHANGE and cell.value == 2.0
    assert cell.ci_low is not None and cell.ci_high is not None
    assert cell.ci_low < 2.0 < cell.ci_high


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 12), min_size=1, max_size=5), min_size=1, max_size=5),
    st.integers(3, 6),
)
def test_no_shown_count_or_n_rests_on_too_few(rows: list[list[int]], threshold: int) -> None:
    """A random table with row totals, column totals and shares: whatever is shown rests on
    0 or at least `threshold` citizens, and a share is never shown when its count is not."""
    store = CellStore()
    width = max(len(r) for r in rows)
    for i, row in enumerate(rows):
        for j in range(width):
            store.count(("c", i, j), row[j] if j < len(row) else 0)
        store.sum_of(("row", i), [("c", i, j) for j in range(width)])
        for j in range(width):
            store.share(("s", i, j), ("c", i, j), ("row", i))
    for j in range(width):
        store.sum_of(("col", j), [("c", i, j) for i in range(len(rows))])
    cells = store.resolve(threshold)
    for key, cell in cells.items():
        if cell.hidden:
            assert cell.value is None and cell.n is None and cell.count is None
            continue
        for number in (cell.n, cell.count):
            assert number is None or number == 0 or number >= threshold, (key, cell)
        if key[0] == "s":
            assert not cells[("c", key[1], key[2])].hidden
    small = [k for k, c in cells.items() if c.kind is Kind.COUNT and 0 < (c.n or 0) < threshold]
    assert small == []


def test_age_bands_cover_every_age_once() -> None:
    for age in range(0, 120):
        assert sum(band.contains(age) for band in AGE_BANDS) == 1
    assert [age_band(a).key for a in (64, 65, 74, 75, 84, 85)] == [
        "under_65",
        "65_74",
        "65_74",
        "75_84",
        "75_84",
        "85_plus",
    ]


def _result() -> ReportResult:
    store = CellStore()
    store.count(("n", "a"), 2)
    store.count(("n", "b"), 12)
    store.count(("yes", "b"), 6)
    store.sum_of(("n", "all"), [("n", "a"), ("n", "b")])
    store.share(("s", "b"), ("yes", "b"), ("n", "b"))
    table = Table(
        key="t",
        title=Term("x"),
        row_headers=(Term("municipality"),),
        columns=(Column("n", "n"), Column("yes", "yes", dims=(("answer", "yes"),))),
        rows=(
            Row(("=A Kommune",), (("n", "a"), None), dims=(("municipality", "=A"),)),
            Row(("B",), (("n", "b"), ("s", "b")), dims=(("municipality", "b"),)),
            Row(("All",), (("n", "all"), None), dims=(("municipality", "all"),), total=True),
        ),
    )
    return ReportResult("coverage", 3, (Section("s", (table,)),), store.resolve(3))


def test_records_keep_hidden_cells_in_place_without_any_number() -> None:
    result = _result()
    records = list(result.records())
    assert [(r["municipality"], r["column"], r["suppressed"]) for r in records] == [
        ("=A", "n", True),
        ("b", "n", True),  # the second cell
        ("b", "yes", True),
        ("all", "n", False),
    ]
    hidden = records[0]
    assert (hidden["value"], hidden["n"], hidden["count"]) == (None, None, None)
    assert records[3]["value"] == 14 and result.any_hidden


def test_csv_json_and_excel_carry_the_same_records() -> None:
    result = _result()
    text = io.StringIO()
    write_csv(result, text)
    lines = text.getvalue().splitlines()
    assert lines[0] == (
        "report,table,municipality,answer,column,measure,value,n,count,ci_low,ci_high,suppressed"
    )
    assert lines[1] == "coverage,t,'=A,,n,count,,,,,,true"  # a formula made plain text
    assert lines[-1] == "coverage,t,all,,n,count,14,14,,,,false"
    document = json.loads(to_json(result, {"filters": {}}))
    assert document["threshold"] == 3
    assert document["records"][0]["value"] is None and document["records"][0]["suppressed"]
    binary = io.BytesIO()
    write_xlsx(result, binary, {"filters": {}})
    book = load_workbook(io.BytesIO(binary.getvalue()))
    rows = list(book["coverage"].iter_rows(values_only=True))
    assert rows[0] == tuple(record_columns([{"report": 1, **r} for r in result.records()]))
    assert rows[1][2] == "'=A" and rows[1][6] is None and rows[1][-1] is True
    assert rows[-1][6] == 14
    assert dict(book["about"].iter_rows(values_only=True))["threshold"] == 3


def test_shares_are_whole_percentages_in_records() -> None:
    store = CellStore()
    store.count(("y",), 101)
    store.count(("n",), 183)
    store.share(("s",), ("y",), ("n",))
    assert rounded(store.resolve(3)[("s",)]) == 55


def test_report_names_are_the_services_reports() -> None:
    from surveyapp.services.reports import REPORTS

    assert tuple(REPORTS) == REPORT_NAMES


def test_report_tables_is_pure() -> None:
    script = (
        "import sys, surveyapp.report_tables;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'flask_babel', 'wtforms')))"
    )
    done = subprocess.run(  # noqa: S603 - the running interpreter with a fixed script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("threshold", [3, 5])
def test_the_threshold_is_the_one_given(threshold: int) -> None:
    store = CellStore()
    store.count(("a",), 4)
    assert store.resolve(threshold)[("a",)].hidden is (threshold > 4)


def test_the_suppression_threshold_is_a_setting_that_never_goes_below_three() -> None:
    from surveyapp.config import ConfigError, Settings

    assert Settings.from_env({}).suppression_threshold == 3
    assert Settings.from_env({"SURVEYAPP_SUPPRESSION_THRESHOLD": "5"}).suppression_threshold == 5
    for bad in ("2", "0", "tre"):
        with pytest.raises(ConfigError, match="SURVEYAPP_SUPPRESSION_THRESHOLD"):
            Settings.from_env({"SURVEYAPP_SUPPRESSION_THRESHOLD": bad})
