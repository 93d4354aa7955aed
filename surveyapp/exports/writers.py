"""Writers of export rows: CSV, CSV for Danish Excel, Excel, SPSS and Stata (no Flask).

Rows are sequences aligned with `Layout.variables`: str, int, float, date, `CodedMissing`
or None (a blank: not answered, or not known). CSV and Excel are written row by row (memory
stays flat whatever the number of rows); SPSS and Stata files are written by pyreadstat from
one DataFrame, which holds every row (built chunk by chunk with compact column types).

Text cells beginning with `=`, `+`, `-`, `@`, a tab or a carriage return are prefixed with a
single quote in CSV and Excel (OWASP's CSV-injection advice), so that a spreadsheet never runs
them as formulas. Numbers are never touched: they are written as numbers, and a negative
number is a number, not a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from surveyapp.exports.codebook import SHEET_NAMES, Codebook
from surveyapp.exports.layout import CodedMissing, Kind, Layout, Variable

Row = Sequence[Any]
FORMULA_STARTS = frozenset("=+-@\t\r")
EXCEL_MAX_ROWS = 1_048_576  # per sheet, the header row included
CHUNK_BYTES = 64 * 1024
STATA_LABEL_MAX = 80


def neutralise(text: str) -> str:
    """Text a spreadsheet will show as text: a leading formula character gets a quote."""
    return "'" + text if text[:1] in FORMULA_STARTS and text else text


# --- CSV -------------------------------------------------------------------------------------


def _number_text(decimal_comma: bool) -> Callable[[Any], str]:
    def text(value: Any) -> str:
        if isinstance(value, float):
            shown = str(int(value)) if value.is_integer() else repr(value)
        else:
            shown = str(value)
        return shown.replace(".", ",") if decimal_comma else shown

    return text


def _missing_text(
    variable: Variable, clean: Callable[[str], str] = neutralise
) -> Callable[[Any], Any]:
    labels = {m: clean(text) for m, text in variable.missing.items()}

    def text(value: Any) -> Any:
        return labels[value] if isinstance(value, CodedMissing) else value

    return text


def _csv_columns(
    layout: Layout,
) -> tuple[list[int], list[int], list[tuple[int, Mapping[CodedMissing, str]]]]:
    """The columns whose values may need more than str(): texts, numbers (scores) and
    columns that may hold a coded missing value (with the labels written for it)."""
    strings: list[int] = []
    numbers: list[int] = []
    missing: list[tuple[int, Mapping[CodedMissing, str]]] = []
    for index, variable in enumerate(layout.variables):
        if variable.kind is Kind.STRING:
            strings.append(index)
        elif variable.kind is Kind.NUMBER:
            numbers.append(index)
        elif variable.missing:
            missing.append((index, {m: neutralise(t) for m, t in variable.missing.items()}))
    return strings, numbers, missing


def iter_csv(
    layout: Layout, rows: Iterable[Row], *, excel_da: bool = False, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The CSV file as UTF-8 byte chunks (a header, then the rows), for a streaming response.

    Plain: comma, point decimals, LF line ends. Danish Excel (`excel_da`): semicolon, decimal
    comma, CRLF line ends and a UTF-8 byte-order mark, so that Excel opens it as UTF-8.
    """
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=";" if excel_da else ",",
        lineterminator="\r\n" if excel_da else "\n",
        quoting=csv.QUOTE_MINIMAL,
    )
    strings, numbers, missing = _csv_columns(layout)
    number = _number_text(excel_da)
    if excel_da:
        buffer.write("\ufeff")
    writer.writerow(layout.names)
    # Column by kind, inline rather than a function call per cell (a national export has
    # 100 million cells): a text that a spreadsheet would read as a formula gets a quote;
    # a float is written as the number it is ("60", not "60.0"; a decimal comma for Danish
    # Excel); a coded missing value becomes its label. Whole numbers, dates and blanks are
    # written as they are (str() of a date is its ISO form).
    for row in rows:
        cells = list(row)
        for index in strings:
            value = cells[index]
            if value and value[0] in FORMULA_STARTS:
                cells[index] = "'" + value
        for index in numbers:
            value = cells[index]
            if value.__class__ is float or (excel_da and value is not None):
                cells[index] = number(value)
        for index, labels in missing:
            value = cells[index]
            if value.__class__ is CodedMissing:
                cells[index] = labels[value]
        writer.writerow(cells)
        if buffer.tell() >= chunk_bytes:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_csv(
    layout: Layout, rows: Iterable[Row], out: IO[bytes], *, excel_da: bool = False
) -> int:
    """Write the CSV to a binary file; return the number of data rows."""
    counted = _Counter(rows)
    for chunk in iter_csv(layout, counted, excel_da=excel_da):
        out.write(chunk)
    return counted.count


def write_codebook_csv(codebook: Codebook, out: IO[bytes], *, excel_da: bool = False) -> None:
    """The variables table of the codebook as CSV (instrument and text versions per row)."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig" if excel_da else "utf-8", newline="")
    writer = csv.writer(
        text, delimiter=";" if excel_da else ",", lineterminator="\r\n" if excel_da else "\n"
    )
    writer.writerow(codebook.variable_headings())
    for row in codebook.variable_rows():
        writer.writerow([neutralise(cell) for cell in row])
    text.flush()
    text.detach()


class _Counter:
    """Pass rows through, counting them."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Row]:
        for row in self.rows:
            self.count += 1
            yield row


# --- Excel -----------------------------------------------------------------------------------


def write_xlsx(
    layout: Layout, rows: Iterable[Row], target: str | Path | IO[bytes], codebook: Codebook
) -> int:
    """Write an .xlsx (openpyxl write-only: row by row) with codebook sheets; return rows.

    A sheet holds at most 1,048,575 data rows; more continue on "Data 2", "Data 3", ...
    """
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def clean(text: str) -> str:
        return neutralise(ILLEGAL_CHARACTERS_RE.sub("", text))

    names = SHEET_NAMES[layout.language]
    workbook = Workbook(write_only=True)
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for index, variable in enumerate(layout.variables):
        if variable.kind is Kind.STRING:
            converters.append((index, clean))
        elif variable.missing:
            converters.append((index, _missing_text(variable, clean)))

    def sheet(number: int) -> Any:
        title = names["data"] if number == 1 else f"{names['data']} {number}"
        created = workbook.create_sheet(title)
        created.freeze_panes = "A2"
        created.append(list(layout.names))
        return created

    number, current, in_sheet, count = 1, sheet(1), 0, 0
    for row in rows:
        if in_sheet == EXCEL_MAX_ROWS - 1:
            number += 1
            current, in_sheet = sheet(number), 0
        cells = list(row)
        for index, convert in converters:
            value = cells[index]
            if value is not None:
                cells[index] = convert(value)
        current.append(cells)
        in_sheet += 1
        count += 1

    variables = workbook.create_sheet(names["variables"])
    variables.append(codebook.variable_headings())
    for values in codebook.variable_rows():
        variables.append([clean(v) for v in values])
    instruments = workbook.create_sheet(names["instruments"])
    instruments.append(codebook.instrument_headings())
    for values in codebook.instrument_rows():
        instruments.append([clean(v) for v in values])
    notes = workbook.create_sheet(names["notes"])
    for note in codebook.notes:
        notes.append([clean(note)])
    workbook.save(target)
    return count


# --- SPSS and Stata --------------------------------------------------------------------------

FRAME_CHUNK = 20_000
_INTERN_LIMIT = 100_000  # a column with more distinct texts than this is not interned


class _Column:
    """One column of the DataFrame, built chunk by chunk in a compact type."""

    def __init__(self, variable: Variable, stata: bool) -> None:
        self.variable = variable
        self.stata = stata
        self.chunks: list[Any] = []
        self.interned: dict[Any, Any] = {}

    def _intern(self, value: Any) -> Any:
        if value is None:
            return None
        found = self.interned.get(value)
        if found is not None:
            return found
        if len(self.interned) < _INTERN_LIMIT:
            self.interned[value] = value
        return value

    def add(self, values: Sequence[Any]) -> None:
        import numpy as np
        import pandas as pd

        kind = self.variable.kind
        if kind in (Kind.STRING, Kind.DATE):
            self.chunks.append(np.array([self._intern(v) for v in values], dtype=object))
        elif kind is Kind.NUMBER:
            nan = float("nan")
            self.chunks.append(
                np.fromiter((nan if v is None else v for v in values), float, len(values))
            )
        elif self.stata and self.variable.missing:
            # Stata's extended missing values are written from their letters (.a, .b).
            self.chunks.append(
                np.array(
                    [
                        v.stata_tag
                        if isinstance(v, CodedMissing)
                        else None
                        if v is None
                        else self._intern(float(v))
                        for v in values
                    ],
                    dtype=object,
                )
            )
        else:
            cells = [v.code if isinstance(v, CodedMissing) else v for v in values]
            try:
                self.chunks.append(pd.array(cells, dtype=self.integer_type))
            except (TypeError, ValueError, OverflowError):  # a value outside the declared range
                self.chunks.append(pd.array(cells, dtype="Int64"))

    @property
    def integer_type(self) -> str:
        """The smallest nullable integer type that holds the column's declared range."""
        low, high = self.variable.low, self.variable.high
        if low is None or high is None:
            return "Int32"
        for name, bits in (("Int8", 8), ("Int16", 16)):
            if -(2 ** (bits - 1)) <= low and high < 2 ** (bits - 1):
                return name
        return "Int32"

    def finish(self) -> Any:
        import numpy as np
        import pandas as pd

        chunks, self.chunks, self.interned = self.chunks, [], {}
        kind = self.variable.kind
        if kind is Kind.INTEGER and not (self.stata and self.variable.missing):
            if not chunks:
                return pd.array([], dtype=self.integer_type)
            if len({c.dtype for c in chunks}) > 1:
                chunks = [c.astype("Int64") for c in chunks]
            return type(chunks[0])._concat_same_type(chunks)
        if not chunks:
            return np.array([], dtype=float if kind is Kind.NUMBER else object)
        return np.concatenate(chunks)


def build_frame(layout: Layout, rows: Iterable[Row], *, stata: bool) -> Any:
    """Every row in one pandas DataFrame with compact column types (see _Column)."""
    import pandas as pd

    columns = [_Column(v, stata) for v in layout.variables]
    chunk: list[Row] = []

    def flush() -> None:
        for column, values in zip(columns, zip(*chunk, strict=True), strict=True):
            column.add(values)
        chunk.clear()

    for row in rows:
        chunk.append(row)
        if len(chunk) >= FRAME_CHUNK:
            flush()
    if chunk:
        flush()
    data = {}
    for column in columns:
        data[column.variable.name] = column.finish()
    return pd.DataFrame(data, copy=False)


def _value_labels(layout: Layout, frame: Any, *, stata: bool) -> dict[str, dict[Any, str]]:
    found: dict[str, dict[Any, str]] = {}
    for v in layout.variables:
        labels: dict[Any, str] = dict(v.value_labels)
        for m, text in v.missing.items():
            labels[m.stata_tag if stata else m.code] = text
        if labels and v.kind in (Kind.INTEGER, Kind.NUMBER):
            found[v.name] = labels
    return found


def _file_notes(codebook: Codebook) -> list[str]:
    """The codebook's notes and text versions as SPSS document lines (80 characters each)."""
    import textwrap

    notes = list(codebook.notes)
    for row in codebook.instruments:
        notes.append(
            f"{row['instrument']} {row['version']} {row['language']}: {row['text_version']} "
            f"(verified: {row['verified']}; {row['scoring_version']})"
        )
    lines = []
    for note in notes:
        for line in textwrap.wrap(note, 60):
            while len(line.encode("utf-8")) > 80:  # 80 bytes: letters like ø take two
                lines.append(line[:40])
                line = line[40:]
            lines.append(line)
    return lines


def write_sav(layout: Layout, rows: Iterable[Row], path: str | Path, codebook: Codebook) -> int:
    """Write an SPSS .sav file with labels and user-missing codes; return the rows written."""
    import pyreadstat

    frame = build_frame(layout, rows, stata=False)
    pyreadstat.write_sav(
        frame,
        str(path),
        file_label="surveyapp export",
        column_labels={v.name: v.label for v in layout.variables},
        variable_value_labels=_value_labels(layout, frame, stata=False),
        missing_ranges={v.name: [m.code for m in v.missing] for v in layout.variables if v.missing},
        variable_measure={
            v.name: "scale" if v.kind is Kind.NUMBER else "nominal"
            for v in layout.variables
            if v.kind in (Kind.NUMBER, Kind.STRING)
        },
        note=_file_notes(codebook),
    )
    return len(frame)


def write_dta(layout: Layout, rows: Iterable[Row], path: str | Path, codebook: Codebook) -> int:
    """Write a Stata .dta file with labels and extended missing .a/.b; return the rows."""
    import pyreadstat

    frame = build_frame(layout, rows, stata=True)
    pyreadstat.write_dta(
        frame,
        str(path),
        file_label="surveyapp export",
        column_labels={v.name: v.label[:STATA_LABEL_MAX] for v in layout.variables},
        variable_value_labels=_value_labels(layout, frame, stata=True),
        missing_user_values={
            v.name: [m.stata_tag for m in v.missing] for v in layout.variables if v.missing
        },
    )
    return len(frame)
