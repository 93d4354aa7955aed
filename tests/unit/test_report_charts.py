"""Charts of report tables carry the tables' suppression: no bar, no point for a hidden cell."""

from __future__ import annotations

import base64
import re

from surveyapp.report_tables import (
    CellStore,
    ChartKind,
    ChartSpec,
    Column,
    Label,
    Row,
    Table,
)
from surveyapp.services.report_charts import ChartText, chart_data, chart_svg, data_uri
from surveyapp.statistics import PairedSums, summarise


def _text(label: Label | None) -> str:
    if label is None:
        return ""
    if isinstance(label, str):
        return label
    if isinstance(label, dict):
        return label["en"]
    return str(getattr(label, "key", label))


TEXT = ChartText(
    text=_text,
    number=lambda v: f"{v:g}",
    percent=lambda v: f"{v:g} %",
    hidden_note="–: fewer than 3 citizens, not shown",
    no_data="No answers yet",
)


def _bars() -> tuple[Table, dict]:  # type: ignore[type-arg]
    store = CellStore()
    store.count(("a", "x"), 2)  # hidden
    store.count(("a", "y"), 7)
    store.count(("b", "x"), 9)
    store.count(("b", "y"), 4)
    store.count(("c", "x"), 0)
    store.count(("c", "y"), 5)
    table = Table(
        key="t",
        title="Courses",
        row_headers=("Provider",),
        columns=(Column("x", "Baseline"), Column("y", "End")),
        rows=tuple(Row((name,), ((name, "x"), (name, "y"))) for name in ("a", "b", "c")),
        chart=ChartSpec(ChartKind.BARS, ("x", "y"), "Courses"),
    )
    return table, store.resolve(3)


def test_a_hidden_cell_gets_no_bar_only_a_dash() -> None:
    table, cells = _bars()
    data = chart_data(table, cells, _text)
    assert data.categories == ("a", "b", "c") and data.series == ("Baseline", "End")
    by_place = {(p.row, p.series): p for p in data.points}
    assert by_place[(0, 0)].value is None and by_place[(0, 0)].hidden
    assert by_place[(2, 0)].value == 0 and not by_place[(2, 0)].hidden
    svg = chart_svg(table, cells, TEXT)
    assert svg is not None and svg.startswith("<?xml")
    assert 'id="hidden-0-0"' in svg
    assert 'id="bar-0-0"' not in svg
    bars = set(re.findall(r'id="bar-(\d+)-(\d+)"', svg))
    assert bars == {("0", "1"), ("1", "0"), ("1", "1"), ("2", "0"), ("2", "1")}


def test_the_same_table_gives_the_same_svg() -> None:
    table, cells = _bars()
    assert chart_svg(table, cells, TEXT) == chart_svg(table, cells, TEXT)


def test_mean_changes_are_points_with_their_interval_and_hidden_ones_are_not() -> None:
    store = CellStore()
    store.count(("n", "a"), 12)
    store.count(("n", "b"), 2)
    store.change(("c", "a"), summarise(PairedSums(12, 500, 620, 120, 2400)), ("n", "a"))
    store.change(("c", "b"), summarise(PairedSums(2, 80, 100, 20, 250)), ("n", "b"))
    cells = store.resolve(3)
    table = Table(
        key="p",
        title="WHO-5",
        row_headers=("Municipality",),
        columns=(Column("mean_change", "Mean change", with_n=False),),
        rows=(Row(("A",), (("c", "a"),)), Row(("B",), (("c", "b"),))),
        chart=ChartSpec(ChartKind.CHANGE, ("mean_change",), "Change"),
    )
    data = chart_data(table, cells, _text)
    a, b = data.points
    assert a.value == 10.0 and a.low is not None and a.low < 10.0 < (a.high or 0)
    assert b.value is None and b.hidden
    svg = chart_svg(table, cells, TEXT)
    assert svg is not None
    assert 'id="point-0-0"' in svg and 'id="point-1-0"' not in svg and 'id="hidden-1-0"' in svg


def test_shares_are_drawn_in_percent_and_rows_can_stay_out_of_the_chart() -> None:
    store = CellStore()
    store.count(("n",), 40)
    store.count(("yes",), 10)
    store.share(("s",), ("yes",), ("n",))
    table = Table(
        key="s",
        title="Share",
        row_headers=("",),
        columns=(Column("v", "End"),),
        rows=(Row(("n",), (("n",),), chart=False), Row(("Yes",), (("s",),))),
        chart=ChartSpec(ChartKind.BARS, ("v",), "Share", (0.0, 1.0), percent=True),
    )
    data = chart_data(table, store.resolve(3), _text)
    assert data.categories == ("Yes",)
    assert [p.value for p in data.points] == [25.0]


def test_a_table_without_a_chart_draws_nothing() -> None:
    table, cells = _bars()
    plain = Table(table.key, table.title, table.row_headers, table.columns, table.rows)
    assert chart_svg(plain, cells, TEXT) is None


def test_charts_go_into_the_page_as_data_addresses() -> None:
    uri = data_uri("<svg>ø</svg>")
    assert uri.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]).decode() == "<svg>ø</svg>"
