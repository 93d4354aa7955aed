"""The writers: CSV, Danish-Excel CSV, .xlsx, .sav and .dta, opened as their readers would."""

from __future__ import annotations

import io
import math
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pyreadstat
import pytest

from surveyapp.exports import (
    CodedMissing,
    Layout,
    build_codebook,
    build_frame,
    iter_csv,
    layout,
    neutralise,
    write_codebook_csv,
    write_csv,
    write_dta,
    write_sav,
    write_xlsx,
    writers,
)
from surveyapp.instruments import default_registry

REGISTRY = default_registry()


def _row(found: Layout, **values: Any) -> tuple[Any, ...]:
    cells: list[Any] = [None] * len(found.variables)
    for name, value in values.items():
        cells[found.index(name)] = value
    return tuple(cells)


@pytest.fixture
def whodas() -> Layout:
    return layout(REGISTRY, instrument="whodas12")


def _rows(found: Layout) -> list[tuple[Any, ...]]:
    return [
        _row(
            found,
            response="r1",
            citizen="c1",
            municipality='=HYPERLINK("http://x")',
            team="-Team Syd",
            course_start=date(2026, 1, 5),
            birth_year=1940,
            lives_alone=1,
            S1=2,
            S12=CodedMissing.NOT_APPLICABLE,
            H1=-3,  # a negative number is a number: never neutralised
            whodas12_percent=41.666666666666664,
            whodas12_sum=32.0,
            scoring_version="whodas12_simple/1",
            imputed=0,
        ),
        _row(found, response="r2", citizen="c1", S1=None, team="@sum", whodas12_percent=-2.5),
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+45 1234", "'+45 1234"),
        ("-8", "'-8"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("", ""),
        ("a=b", "a=b"),
        ("Team Nord", "Team Nord"),
    ],
)
def test_formula_starts_are_neutralised(text: str, shown: str) -> None:
    assert neutralise(text) == shown


def test_plain_csv_has_points_codes_as_text_and_numbers_untouched(whodas: Layout) -> None:
    out = io.BytesIO()
    assert write_csv(whodas, _rows(whodas), out) == 2
    text = out.getvalue().decode("utf-8")
    assert not text.startswith("\ufeff") and "\r\n" not in text
    lines = text.split("\n")
    header = lines[0].split(",")
    assert header == list(whodas.names)
    import csv

    first, second = list(csv.reader(lines[1:3]))
    row = dict(zip(header, first, strict=True))
    assert row["municipality"] == '\'=HYPERLINK("http://x")'
    assert row["team"] == "'-Team Syd"
    assert row["S12"] == "Ikke relevant"  # a coded missing value, not a blank
    assert row["S2"] == ""  # not answered
    assert row["H1"] == "-3"
    assert row["whodas12_percent"] == "41.666666666666664"
    assert row["whodas12_sum"] == "32"
    assert row["course_start"] == "2026-01-05"
    assert dict(zip(header, second, strict=True))["whodas12_percent"] == "-2.5"


def test_danish_excel_csv_has_bom_semicolons_decimal_comma_and_crlf(whodas: Layout) -> None:
    data = b"".join(iter_csv(whodas, _rows(whodas), excel_da=True))
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[0].split(";") == list(whodas.names)
    import csv

    cells = dict(zip(whodas.names, next(csv.reader([lines[1]], delimiter=";")), strict=True))
    assert cells["whodas12_percent"] == "41,666666666666664"
    assert cells["birth_year"] == "1940"
    assert cells["H1"] == "-3"
    assert text.count("\n") == text.count("\r\n") == 3


def test_csv_is_written_in_chunks(whodas: Layout) -> None:
    rows = _rows(whodas) * 200
    chunks = list(iter_csv(whodas, rows, chunk_bytes=1000))
    assert len(chunks) > 10
    assert b"".join(chunks).count(b"\n") == 401


def test_xlsx_has_data_codebook_and_instrument_sheets(whodas: Layout, tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    assert write_xlsx(whodas, _rows(whodas), path, build_codebook(whodas)) == 2
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Data", "Kodebog", "Spørgeskemaer", "Noter"]
    data = book["Data"]
    header = [c.value for c in data[1]]
    assert header == list(whodas.names)
    row = dict(zip(header, data[2], strict=True))
    assert row["municipality"].value == '\'=HYPERLINK("http://x")'
    assert row["municipality"].data_type == "s"
    assert row["team"].value == "'-Team Syd"
    assert row["S12"].value == "Ikke relevant"
    assert row["H1"].value == -3 and row["H1"].data_type == "n"
    assert row["whodas12_percent"].value == pytest.approx(41.666666666666664)
    assert row["course_start"].value.date() == date(2026, 1, 5)
    codebook = {r[0].value: [c.value for c in r] for r in book["Kodebog"].iter_rows(min_row=2)}
    assert codebook["S1"][1] == REGISTRY.get("whodas12").item("S1").text["da"].value
    assert "1=Ingen" in codebook["S1"][6]
    assert (
        codebook["S12"][7] == 'Ikke relevant: -9 (SPSS), .b (Stata), "Ikke relevant" (CSV, Excel)'
    )
    instruments = [[c.value for c in r] for r in book["Spørgeskemaer"].iter_rows(min_row=2)]
    assert [instruments[0][0], instruments[0][5], instruments[0][7]] == ["whodas12", "da", "nej"]


def test_xlsx_continues_on_a_second_sheet_past_the_row_limit(
    whodas: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "EXCEL_MAX_ROWS", 3)
    path = tmp_path / "x.xlsx"
    assert write_xlsx(whodas, _rows(whodas) * 3, path, build_codebook(whodas)) == 6
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames[:3] == ["Data", "Data 2", "Data 3"]
    assert [len(list(book[n].rows)) for n in book.sheetnames[:3]] == [3, 3, 3]


def test_sav_has_labels_value_labels_and_user_missing_codes(whodas: Layout, tmp_path: Path) -> None:
    path = tmp_path / "x.sav"
    assert write_sav(whodas, _rows(whodas), path, build_codebook(whodas)) == 2
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert list(frame.columns) == list(whodas.names)
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["S1"] == REGISTRY.get("whodas12").item("S1").text["da"].value
    assert labels["birth_year"] == "Fødselsår"
    assert meta.variable_value_labels["S12"][-9.0] == "Ikke relevant"
    assert meta.variable_value_labels["S12"][1.0] == "Ingen"
    assert meta.missing_ranges["S12"] == [{"lo": -9.0, "hi": -9.0}]
    assert frame["S12"][0] == -9 and frame["S1"][0] == 2 and math.isnan(frame["S1"][1])
    assert frame["H1"][0] == -3
    assert frame["whodas12_percent"][0] == pytest.approx(41.666666666666664)
    assert frame["course_start"][0] == date(2026, 1, 5)
    assert frame["team"][0] == "-Team Syd"  # no formulas in SPSS: text as it is
    plain, _ = pyreadstat.read_sav(str(path))
    assert math.isnan(plain["S12"][0])  # declared missing: SPSS leaves it out of analyses


def test_dta_has_labels_and_extended_missing_values(whodas: Layout, tmp_path: Path) -> None:
    path = tmp_path / "x.dta"
    assert write_dta(whodas, _rows(whodas), path, build_codebook(whodas)) == 2
    frame, meta = pyreadstat.read_dta(str(path), user_missing=True)
    assert list(frame.columns) == list(whodas.names)
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["S1"] == REGISTRY.get("whodas12").item("S1").text["da"].value[:80]
    assert meta.missing_user_values["S12"] == ["b"]
    assert frame["S12"][0] == "b"  # Stata's .b
    label_set = meta.variable_to_label["S12"]
    assert meta.value_labels[label_set]["b"] == "Ikke relevant"
    assert meta.value_labels[label_set][1] == "Ingen"
    assert frame["S1"][0] == 2 and math.isnan(frame["S1"][1])
    assert frame["whodas12_percent"][1] == -2.5


def test_every_format_copes_with_an_empty_export(whodas: Layout, tmp_path: Path) -> None:
    book = build_codebook(whodas)
    assert write_sav(whodas, [], tmp_path / "e.sav", book) == 0
    assert write_dta(whodas, [], tmp_path / "e.dta", book) == 0
    assert write_xlsx(whodas, [], tmp_path / "e.xlsx", book) == 0
    assert b"".join(iter_csv(whodas, [])).decode().strip() == ",".join(whodas.names)
    assert pyreadstat.read_sav(str(tmp_path / "e.sav"))[0].empty


def test_a_sparse_combined_export_writes_to_spss_and_stata(tmp_path: Path) -> None:
    combined = layout(REGISTRY)
    rows = [
        _row(combined, response="r1", who5_1=3, who5_percent=60.0),
        _row(combined, response="r2", sm_1=CodedMissing.DONT_KNOW, start_meeting_mean=7.5),
    ]
    book = build_codebook(combined)
    write_sav(combined, rows, tmp_path / "c.sav", book)
    write_dta(combined, rows, tmp_path / "c.dta", book)
    sav, _ = pyreadstat.read_sav(str(tmp_path / "c.sav"), user_missing=True)
    dta, _ = pyreadstat.read_dta(str(tmp_path / "c.dta"), user_missing=True)
    assert sav["sm_1"][1] == -8 and dta["sm_1"][1] == "a"
    assert sav["who5_1"][0] == 3 and dta["who5_1"][0] == 3


def test_the_codebook_csv_lists_every_variable(whodas: Layout) -> None:
    out = io.BytesIO()
    write_codebook_csv(build_codebook(whodas), out)
    lines = out.getvalue().decode("utf-8").splitlines()
    assert lines[0].startswith("variabel,etiket,type")
    assert len(lines) == len(whodas.variables) + 1


def test_spss_and_stata_frames_use_compact_types(whodas: Layout) -> None:
    frame = build_frame(whodas, _rows(whodas), stata=False)
    assert str(frame["S1"].dtype) == "Int8" and str(frame["H1"].dtype) == "Int8"
    assert str(frame["birth_year"].dtype) == "Int16"
    assert str(frame["whodas12_percent"].dtype) == "float64"
    stata = build_frame(whodas, _rows(whodas), stata=True)
    assert stata["S12"][0] == "b" and math.isnan(stata["S12"][1])  # extended missing, blank
    # A value outside the declared range (not possible through the app) still exports.
    odd = [_row(whodas, S1=300), *_rows(whodas)]
    assert list(build_frame(whodas, odd, stata=False)["S1"])[:2] == [300, 2]
