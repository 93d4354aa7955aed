"""Bulk row writing: the one path by which many rows are stored at once, bypassing the ORM.

Used by the demo loader (surveyapp.demo) and the national-scale benchmark generator
(bench/national_data.py), so that the benchmark data is stored exactly as the demo's is:
- ids are handed out up front (`ids`), from the table's highest id on, so that child rows can
  name their parents before anything is written;
- each table is written in one statement: an `executemany` INSERT (optionally in chunks of
  `chunk_rows`), or with `copy=True` on PostgreSQL one `COPY ... FROM STDIN` (the fastest way
  for millions of rows; it bypasses SQLAlchemy's statement events);
- values go through the columns' own type conversions (`write_rows`, or `dt`/`day`/`flag` for
  rows built as tuples in a hot loop), so the rows read back as if the ORM had written them;
- `finish` moves PostgreSQL's id sequences past the ids used (SQLite needs nothing).

Works on a SQLAlchemy Connection inside the caller's transaction; commits nothing itself.
No Flask import, and no import of the models: tables are passed in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - names for the type checker only
    from sqlalchemy import Connection, Table

Processor = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


class BulkWriter:
    """Writes plain rows of whole tables on one connection, in the connection's transaction."""

    def __init__(
        self, connection: Connection, *, copy: bool = False, chunk_rows: int | None = None
    ) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.postgres = self.dialect.name == "postgresql"
        self.copy = copy and self.postgres
        self.chunk_rows = chunk_rows
        self._tables_with_ids: dict[str, None] = {}  # ordered set: tables whose ids were used
        self._processors: dict[tuple[str, str], Processor | None] = {}
        self._dt: Processor = _identity
        self._day: Processor = _identity

    @property
    def dbapi(self) -> Any:
        """The driver's connection under the SQLAlchemy one (same transaction)."""
        return self.connection.connection.dbapi_connection

    # -- ids ----------------------------------------------------------------------------------

    def ids(self, table: Table) -> Iterator[int]:
        """The ids to give new rows of `table`: one past its highest id, counting up."""
        highest = self.connection.exec_driver_sql(
            f"SELECT max(id) FROM {table.name}"  # noqa: S608 - a table's own name
        ).scalar()
        self._tables_with_ids[table.name] = None
        return itertools.count((highest or 0) + 1)

    # -- conversions of Python values to what the driver takes ----------------------------------

    def processor(self, table: Table, column: str) -> Processor | None:
        """The column type's own conversion of a Python value for this dialect (None: as is)."""
        key = (table.name, column)
        if key not in self._processors:
            impl = table.c[column].type.dialect_impl(self.dialect)
            self._processors[key] = impl.bind_processor(self.dialect)
        return self._processors[key]

    def use_types(
        self, *, datetime_column: tuple[Table, str], date_column: tuple[Table, str]
    ) -> None:
        """Take `dt` and `day` from a timestamp column's and a date column's types."""
        self._dt = self.processor(*datetime_column) or _identity
        self._day = self.processor(*date_column) or _identity

    def dt(self, value: datetime) -> Any:
        """A timestamp as the driver takes it (after `use_types`)."""
        return self._dt(value)

    def day(self, value: date | None) -> Any:
        """A date or None as the driver takes it (after `use_types`)."""
        return None if value is None else self._day(value)

    def flag(self, value: bool | None) -> Any:
        """A boolean or None as the driver takes it (SQLite stores 0 and 1)."""
        if value is None or self.postgres:
            return value
        return int(value)

    # -- writing ------------------------------------------------------------------------------

    def write_rows(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
        """Write rows given as dicts of Python values, as `insert(table)` with them would.

        The columns are those of the first row (every row must have them); a column it leaves
        out that has a Python-side default gets the default, evaluated per row. Returns the
        number of rows written."""
        if not rows:
            return 0
        given = set(rows[0])
        unknown = given - set(table.c.keys())
        if unknown:
            raise KeyError(f"{table.name} has no column {sorted(unknown)}")
        columns: list[str] = []
        getters: list[Callable[[Mapping[str, Any]], Any]] = []
        for column in table.c:
            name = column.key
            if name in given:
                columns.append(name)
                getters.append(_item_getter(name, self.processor(table, name)))
            elif column.default is not None:
                columns.append(name)
                getters.append(_default_getter(column.default, self.processor(table, name)))
        tuples = [tuple(get(row) for get in getters) for row in rows]
        self.write(table.name, columns, tuples)
        if "id" in given:
            self._tables_with_ids[table.name] = None
        return len(tuples)

    def write(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Write rows already in the driver's terms (tuples in the order of `columns`)."""
        if not rows:
            return
        names = ", ".join(columns)
        if self.copy:
            with (
                self.dbapi.cursor() as cursor,
                cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,  # fixed names
            ):
                for row in rows:
                    copy.write_row(row)
            return
        marker = "?" if self.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join([marker] * len(columns))})"  # noqa: S608
        step = self.chunk_rows or len(rows)
        for start in range(0, len(rows), step):
            # Through SQLAlchemy's connection (its events see one executemany per chunk).
            self.connection.exec_driver_sql(sql, list(rows[start : start + step]))

    def finish(self) -> None:
        """Move PostgreSQL's id sequences past the highest id of every table given ids."""
        if not self.postgres:
            return
        for table in self._tables_with_ids:
            self.connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            )


def _item_getter(name: str, process: Processor | None) -> Callable[[Mapping[str, Any]], Any]:
    if process is None:
        return lambda row: row[name]
    return lambda row: process(row[name])


def _default_getter(default: Any, process: Processor | None) -> Callable[[Mapping[str, Any]], Any]:
    if default.is_scalar:
        value = default.arg if process is None else process(default.arg)
        return lambda _row: value
    if default.is_callable:
        make = default.arg  # SQLAlchemy wraps a callable default to take the execution context
        if process is None:
            return lambda _row: make(None)
        return lambda _row: process(make(None))
    raise ValueError(f"a SQL expression default ({default!r}) cannot be written in bulk")
