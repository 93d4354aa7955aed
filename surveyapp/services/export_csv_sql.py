"""The wide CSV export on PostgreSQL, written by the database: one finished CSV line per row.

The generic path (`exports.iter_rows` + `writers.iter_csv`) decodes a hundred typed columns
per response in Python, builds the row (pseudonyms, timepoint role, local dates, coded
missing values, notes) and hands it to the csv module: for the national dataset that is three
quarters of the export's time. Here the same statement (`exports._with_laterals`) is wrapped
as a subquery and PostgreSQL selects one text column per response, the complete CSV line;
Python only streams the lines from a server-side cursor. The header (and Danish Excel's BOM)
still comes from the csv module.

Every conversion of the generic path is done identically in SQL (the tests compare the two
files byte for byte, both formats):

- pseudonyms: HMAC-SHA256 of "kind:id" under the export key, first 16 hex digits, with
  PostgreSQL's built-in `sha256(bytea)`: sha256(okey || sha256(ikey || message)), the inner
  and outer keys computed here and sent as bytea parameters (never in the SQL text);
- the timepoint role: the mapping (anchor, months, days) -> role worked out in Python by
  `scheduling.timepoint_role` for the timepoints the plans have, written as a CASE;
- dates as ISO text (`to_char`, whatever the session's DateStyle), the start and submit
  timestamps as their date in Europe/Copenhagen, flags as 1/0, integers as digits;
- scores as `writers._number_text` writes them: a whole number without ".0", any other value
  as Python's repr. PostgreSQL 15's float8 output (extra_float_digits = 1, set here) is the
  shortest text that reads back as the same value, like repr, and is the same text for every
  finite value that is not whole and below 1e15 in magnitude (repr switches to an exponent
  at 1e16, PostgreSQL at 1e15); whole values below 2**63 are cast to bigint. Scores lie in
  0..100, far inside both ranges. Danish Excel gets a decimal comma in score columns only;
- an item value of -8 or -9 in a response with a coded missing answer becomes the column's
  label ("Ved ikke", "Ikke relevant"), neutralised and quoted as the csv module would;
- texts neutralised (a leading = + - @ tab or CR gets a single quote) and quoted as CPython's
  csv module does with QUOTE_MINIMAL: a field holding the delimiter, the quote character or
  a character of the line terminator is put in double quotes with its quotes doubled
  (no quoting for a CR in the plain format, whose line terminator is LF); NULL and an empty
  text are both an empty field;
- the scoring notes (a JSON array) joined by "; ", and the imputed flag (1 when a note starts
  with "imputed:", 0 otherwise, empty without a scoring version).

What the SQL does not copy is behaviour the data never has: notes that are not JSON texts
(str() of a JSON number or object in Python), and an item code -8/-9 in a column whose
instrument does not allow that coded missing value (Python writes the enum's name or fails).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from surveyapp.enums import Anchor
from surveyapp.exports import Kind, Layout, writers
from surveyapp.exports.layout import SCORING_COLUMNS, WIDE_FIXED
from surveyapp.exports.writers import neutralise
from surveyapp.models import PlanTimepoint
from surveyapp.scheduling import timepoint_role

CSV_FORMATS = ("csv", "csv-excel")
FORMULA_STARTS = tuple(sorted(writers.FORMULA_STARTS))  # a leading one is neutralised
FETCH = 5000  # lines per fetch from the server-side cursor
CHUNK_BYTES = 256 * 1024

# The fixed columns of a wide row: which column of `exports._responses` each one comes from,
# and how (see `exports._keys` and `exports._started_row`).
_FIXED_SOURCES: dict[str, tuple[str, int]] = {
    "response": ("pseudonym:response", 0),
    "citizen": ("pseudonym:citizen", 1),
    "course": ("pseudonym:course", 2),
    "municipality_code": ("text", 3),
    "municipality": ("text", 4),
    "provider": ("text", 5),
    "provider_kind": ("text", 6),
    "team": ("text", 7),
    "legal_basis": ("text", 8),
    "course_start": ("date", 9),
    "course_end": ("date", 10),
    "timepoint": ("text", 11),
    "timepoint_role": ("role", 12),  # anchor, months, days: 12, 13, 14
    "instrument": ("text", 15),
    "instrument_version": ("text", 16),
    "text_version": ("text", 17),
    "text_verified": ("flag", 18),
    "language": ("text", 19),
    "channel": ("text", 20),
    "respondent": ("text", 21),
    "started": ("local_date", 22),
    "submitted": ("local_date", 23),
    "birth_year": ("integer", 24),
    "sex": ("text", 25),
    "lives_alone": ("flag", 26),
}
_SCORING_VERSION, _NOTES = 27, 28


@dataclass(frozen=True)
class Dialect:
    """The CSV dialect of one format, as `writers.iter_csv` writes it."""

    delimiter: str
    lineterminator: str
    decimal_comma: bool
    bom: bool

    @classmethod
    def of(cls, fmt: str) -> Dialect:
        if fmt == "csv":
            return cls(",", "\n", decimal_comma=False, bom=False)
        if fmt == "csv-excel":
            return cls(";", "\r\n", decimal_comma=True, bom=True)
        raise ValueError(f"not a CSV format: {fmt!r}")

    @property
    def quote_triggers(self) -> str:
        """The characters that make the csv module quote a field (QUOTE_MINIMAL)."""
        return "".join(dict.fromkeys(self.delimiter + '"' + self.lineterminator))

    def writer(self, buffer: IO[str]) -> Any:
        return csv.writer(
            buffer,
            delimiter=self.delimiter,
            lineterminator=self.lineterminator,
            quoting=csv.QUOTE_MINIMAL,
        )

    def field(self, text: str) -> str:
        """One field as the csv module writes it (for constants: labels, roles)."""
        buffer = io.StringIO()
        self.writer(buffer).writerow([text, ""])
        return buffer.getvalue()[: -len(self.delimiter + self.lineterminator)]

    def header(self, export: Layout) -> str:
        buffer = io.StringIO()
        if self.bom:
            buffer.write("\ufeff")
        self.writer(buffer).writerow(export.names)
        return buffer.getvalue()


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104) for `key`."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class SqlCells:
    """Builds the per-cell SQL expressions; constants go in as parameters."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.params: dict[str, Any] = {}
        # While a list: text columns are written as they are and collected here (the fast
        # line, for rows none of whose texts needs a quote; see `line_statement`).
        self.plain: list[str] | None = None

    def param(self, value: Any, cast: str = "text") -> str:
        name = f"csv_{len(self.params)}"
        self.params[name] = value
        return f"%({name})s::{cast}"

    def constant(self, text: str) -> str:
        """A constant field, neutralised and quoted by Python itself."""
        return self.param(self.dialect.field(neutralise(text)))

    def text(self, x: str) -> str:
        """A text column: neutralised, then quoted when the csv module would."""
        if self.plain is not None:
            self.plain.append(x)
            return x
        return self.full_text(x)

    def full_text(self, x: str) -> str:
        """A text neutralised and quoted (whatever the mode)."""
        starts = ", ".join(self.param(c) for c in FORMULA_STARTS)
        neutralised = f"CASE WHEN left({x}, 1) IN ({starts}) THEN '''' || {x} ELSE {x} END"
        triggers = " OR ".join(
            f"strpos({x}, {self.param(c)}) > 0" for c in self.dialect.quote_triggers
        )
        quoted = f"""'"' || replace({neutralised}, '"', '""') || '"'"""
        return f"CASE WHEN {triggers} THEN {quoted} ELSE {neutralised} END"

    def number(self, x: str) -> str:
        shown = (
            f"CASE WHEN abs({x}) < 9.2e18 AND {x} = trunc({x}) THEN {x}::bigint::text"
            f" WHEN {x} = 'NaN'::float8 THEN 'nan' WHEN {x} = 'Infinity'::float8 THEN 'inf'"
            f" WHEN {x} = '-Infinity'::float8 THEN '-inf' ELSE {x}::text END"
        )
        return f"replace({shown}, '.', ',')" if self.dialect.decimal_comma else shown

    @staticmethod
    def integer(x: str) -> str:
        return f"{x}::text"

    @staticmethod
    def flag(x: str) -> str:
        return f"CASE WHEN {x} THEN '1' WHEN NOT {x} THEN '0' END"

    @staticmethod
    def date(x: str) -> str:
        return f"to_char({x}, 'YYYY-MM-DD')"

    def local_date(self, x: str) -> str:
        return f"to_char({x} AT TIME ZONE {self.param('Europe/Copenhagen')}, 'YYYY-MM-DD')"

    def needs_care(self, texts: list[str]) -> str:
        """Whether any of these texts needs a quote or neutralising: one regular expression
        over them all, each after a \x01 (a \x01 in a text only makes the row take the
        careful way, which is right for every row)."""
        triggers = "".join(sorted(self.dialect.quote_triggers))
        starts = "".join(sorted(FORMULA_STARTS, key=lambda c: c == "-"))  # "-" last
        pattern = self.param(f"[{triggers}]|\x01[{starts}]")
        return f"concat_ws(E'\\x01', '', {', '.join(texts)}) ~ {pattern}"

    def pseudonym(self, kind: str, x: str, pads: tuple[str, str]) -> str:
        inner, outer = pads
        message = f"convert_to({self.param(kind + ':')} || {x}::text, 'UTF8')"
        return f"left(encode(sha256({outer} || sha256({inner} || {message})), 'hex'), 16)"

    def role(self, anchor: str, months: str, days: str, roles: dict[str, list[Any]]) -> str:
        whens = []
        for role, keys in roles.items():
            values = ", ".join(
                f"({self.param(a)}, {self.param(m, 'integer')}, {self.param(d, 'integer')})"
                for a, m, d in keys
            )
            whens.append(
                f"WHEN ({anchor}::text, coalesce({months}, 0), coalesce({days}, 0)) "
                f"IN ({values}) THEN {self.constant(role)}"
            )
        return f"CASE WHEN {anchor} IS NULL THEN NULL {' '.join(whens)} END" if whens else "NULL"


def _roles(connection: Connection) -> dict[str, list[tuple[str, int, int]]]:
    """The timepoint role of every (anchor, months, days) the plans have, grouped by role."""
    found: dict[str, list[tuple[str, int, int]]] = {}
    keys = connection.execute(
        select(PlanTimepoint.anchor, PlanTimepoint.offset_months, PlanTimepoint.offset_days)
        .distinct()
        .order_by(PlanTimepoint.anchor, PlanTimepoint.offset_months, PlanTimepoint.offset_days)
    )
    for anchor, months, days in keys:
        key = (Anchor(anchor).value, months or 0, days or 0)
        found.setdefault(timepoint_role(Anchor(anchor), key[1], key[2]).value, []).append(key)
    return found


def _cells(
    sql: SqlCells, export: Layout, placing: Any, pads: tuple[str, str], roles: dict[str, Any]
) -> list[str]:
    """One SQL expression per column of the layout, over the columns r.c0, r.c1, ..."""
    from surveyapp.exports import CodedMissing

    def c(index: int) -> str:
        return f"r.c{index}"

    cells: list[str] = []
    for name in WIDE_FIXED:
        how, index = _FIXED_SOURCES[name]
        if how.startswith("pseudonym:"):
            cells.append(sql.pseudonym(how.split(":", 1)[1], c(index), pads))
        elif how == "text":
            cells.append(sql.text(c(index)))
        elif how == "date":
            cells.append(sql.date(c(index)))
        elif how == "local_date":
            cells.append(sql.local_date(c(index)))
        elif how == "flag":
            cells.append(sql.flag(c(index)))
        elif how == "integer":
            cells.append(sql.integer(c(index)))
        elif how == "role":
            cells.append(sql.role(c(index), c(index + 1), c(index + 2), roles))
    # Items and scores: the row's columns from `placing.first` on are the layout's columns
    # from `placing.start` on; each item column knows its instrument's coded-missing flag.
    flag_of: dict[int, int] = {}
    for flag, a, b in placing.flags:
        for column in range(a, b):
            flag_of[column] = flag
    if placing.start != len(cells):
        raise AssertionError("items and scores follow the fixed columns")
    for k in range(placing.width):
        column = placing.start + k
        variable = export.variables[column]
        x = c(placing.first + k)
        if variable.kind is Kind.NUMBER:
            cells.append(sql.number(x))
        elif column in flag_of and variable.missing:
            whens = " ".join(
                f"WHEN {x} = {m.code} AND {c(flag_of[column])} = 1 "
                f"THEN {sql.constant(variable.missing[m])}"
                for m in CodedMissing
                if m in variable.missing
            )
            cells.append(f"CASE {whens} ELSE {x}::text END")
        else:
            cells.append(sql.integer(x))
    version, notes = c(_SCORING_VERSION), c(_NOTES)
    # Most responses have no notes: "[]" is told apart by its text, before parsing the JSON.
    has_notes = (
        f"(CASE WHEN {notes} IS NULL OR {notes}::text = '[]' THEN false "
        f"ELSE json_typeof({notes}) = 'array' AND json_array_length({notes}) > 0 END)"
    )
    imputed = (
        f"(SELECT bool_or(left(e, 8) = {sql.param('imputed:')}) "  # noqa: S608 - parameters
        f"FROM json_array_elements_text({notes}) AS e)"
    )
    joined = (
        f"(SELECT {sql.full_text('s.v')} FROM (SELECT string_agg(e, {sql.param('; ')} "  # noqa: S608
        f"ORDER BY o) AS v FROM json_array_elements_text({notes}) WITH ORDINALITY AS t(e, o)) "
        "AS s)"
    )
    cells.append(sql.text(version))
    cells.append(
        f"CASE WHEN {version} IS NULL OR {version} = '' THEN NULL "
        f"WHEN {has_notes} THEN CASE WHEN {imputed} THEN '1' ELSE '0' END ELSE '0' END"
    )
    cells.append(f"CASE WHEN {has_notes} THEN {joined} END")
    return cells


def line_statement(
    connection: Connection, inner: Any, export: Layout, placing: Any, key: bytes, fmt: str
) -> tuple[str, dict[str, Any]]:
    """The SQL selecting one finished CSV line per row of `inner` (`exports._with_laterals`).

    Returns the SQL text (psycopg's pyformat parameters) and its parameters.
    """
    dialect = Dialect.of(fmt)
    compiled = inner.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    width = len(inner.selected_columns)
    sql = SqlCells(dialect)
    sql.params.update({f"inner_{k}": v for k, v in compiled.params.items()})
    inner_sql = str(compiled)
    for k in compiled.params:
        inner_sql = inner_sql.replace(f"%({k})s", f"%(inner_{k})s")
    ikey, okey = hmac_pads(key)
    pads = (sql.param(ikey, "bytea"), sql.param(okey, "bytea"))
    roles = _roles(connection)

    names = export.names
    if names[: len(WIDE_FIXED)] != WIDE_FIXED or names[-len(SCORING_COLUMNS) :] != SCORING_COLUMNS:
        raise AssertionError("the wide layout's fixed columns are the ones this SQL writes")
    # Two lines per row: the careful one (every text neutralised and quoted as needed) and a
    # fast one with the texts as they are, used when no text of the row needs either (nearly
    # every row); one regular expression over the row's texts tells which.
    cells = _cells(sql, export, placing, pads, roles)
    sql.plain = []
    fast = _cells(sql, export, placing, pads, roles)
    texts, sql.plain = sql.plain, None
    if len(cells) != len(names):
        raise AssertionError("one SQL expression per column of the layout")
    aliases = ", ".join(f"c{i}" for i in range(width))
    separator = sql.param(dialect.delimiter)
    terminator = sql.param(dialect.lineterminator)
    line = (
        f"CASE WHEN {sql.needs_care(texts)} THEN {_joined(cells, separator, terminator)} "
        f"ELSE {_joined(fast, separator, terminator)} END"
    )
    # Generated SQL only: every value (keys, labels, the inner statement's) is a parameter.
    statement = f"SELECT {line} FROM ({inner_sql}) AS r({aliases}) ORDER BY r.c0"  # noqa: S608
    return statement, sql.params


def _joined(cells: list[str], separator: str, terminator: str) -> str:
    """The cells as one line (a NULL cell is an empty field)."""
    return f"array_to_string(ARRAY[{', '.join(cells)}], {separator}, '') || {terminator}"


def applies(connection: Connection, export: Layout, fmt: str) -> bool:
    """Whether the database writes this export: a wide CSV on PostgreSQL."""
    return fmt in CSV_FORMATS and not export.long and connection.dialect.name == "postgresql"


def iter_lines(
    session: Session,
    reach: Any,
    query: Any,
    export: Layout,
    key: bytes,
    fmt: str,
    counter: list[int] | None = None,
) -> Iterator[bytes]:
    """The CSV file as UTF-8 chunks (header first), each line made by PostgreSQL.

    `counter`, when given, holds the number of data rows written so far in its one element.
    """
    from surveyapp.services import exports

    connection = session.connection()
    connection.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
    connection.exec_driver_sql("SET LOCAL extra_float_digits = 1")
    # The line expressions are large: compiling them with LLVM costs more than it saves
    # (measured: the server's CPU for the national export nearly doubles with JIT).
    connection.exec_driver_sql("SET LOCAL jit = off")
    inner, placing = exports._with_laterals(exports._responses(reach, query), export)
    statement, params = line_statement(connection, inner, export, placing, key, fmt)
    yield Dialect.of(fmt).header(export).encode("utf-8")
    driver = connection.connection.driver_connection
    assert driver is not None

    def batches() -> Iterator[list[tuple[str]]]:
        with driver.cursor(name="surveyapp_csv_export") as cursor:
            cursor.execute(statement, params)
            while batch := cursor.fetchmany(FETCH):
                yield batch

    pending: list[str] = []
    size = 0
    for batch in exports.prefetched(batches()):
        text = "".join([r[0] for r in batch])
        if counter is not None:
            counter[0] += len(batch)
        pending.append(text)
        size += len(text)
        if size >= CHUNK_BYTES:
            yield "".join(pending).encode("utf-8")
            pending, size = [], 0
    if pending:
        yield "".join(pending).encode("utf-8")


def write_csv(
    session: Session,
    reach: Any,
    query: Any,
    export: Layout,
    out: IO[bytes],
    key: bytes,
    fmt: str,
) -> int:
    """Write the CSV made by PostgreSQL to a binary file; return the number of data rows."""
    counter = [0]
    for chunk in iter_lines(session, reach, query, export, key, fmt, counter):
        out.write(chunk)
    return counter[0]
