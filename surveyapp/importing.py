"""Import of paper and legacy responses: read a CSV or .xlsx file and check every row (pure).

No Flask or SQLAlchemy here. `read_table` turns the file into plain rows of text; `validate`
checks every row and column against the instrument definitions and the batch-scoring contract
(item ids as columns, an empty cell is a missing answer) and returns the rows ready to store,
or raises `ImportRejected` listing EVERY problem found. What only the database can tell
(unknown municipality, provider or timepoint, a measurement already answered) is checked by
`surveyapp.services.imports` in a dry run; it reports in the same `ImportProblem` form.

The CPR number is turned into the keyed pseudonym here (`surveyapp.pseudonym.read_cpr`) and
then dropped: `ImportRow` has no CPR field, and no message ever holds a CPR number (a cell
value echoed in a message is masked if it looks like one).

Row numbers are the spreadsheet's: the header is row 1, the first response row 2.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from zoneinfo import ZoneInfo

from surveyapp.enums import AnswerState, Respondent, Sex
from surveyapp.instruments import Instrument, Registry, RespondentKind
from surveyapp.pseudonym import CPRFacts, InvalidCPR, read_cpr

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
LABEL_LENGTH = 40  # Citizen.label
DEFAULT_LABEL = "Import"
DEFAULT_LANGUAGE = "da"
DENMARK = ZoneInfo("Europe/Copenhagen")

REQUIRED_COLUMNS = (
    "municipality",
    "provider",
    "cpr",
    "course_start",
    "timepoint",
    "instrument",
    "respondent",
    "answered_on",
)
OPTIONAL_COLUMNS = ("team", "course_end", "label", "language")
FIXED_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

CPR_LIKE = re.compile(r"\d{6}[-\s]?\d{4}")
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "extract, translate later"
    """Mark a message for translation without translating it (Babel extracts N_)."""
    return message


#: Every problem an import can report, by code: English source text, translated in the browser.
MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        # the file as a whole
        "file_too_large": N_("The file is larger than %(limit)s MB."),
        "too_many_rows": N_(
            "The file has too many rows (the limit is %(limit)s); split it into smaller files."
        ),
        "unreadable": N_("The file cannot be read as CSV or as an Excel workbook (.xlsx)."),
        "old_excel": N_("Old Excel files (.xls) cannot be read; save the file as .xlsx or CSV."),
        "encoding": N_("The file is not text in UTF-8 or Windows-1252; save it as CSV UTF-8."),
        "empty": N_("The file is empty: the first row must name the columns."),
        "no_rows": N_("The file has a header row but no responses."),
        "missing_columns": N_("Missing columns: %(columns)s."),
        "unknown_columns": N_(
            "Unknown columns: %(columns)s. Columns are the fixed ones (municipality, provider, "
            "cpr, …) and the item ids of the instruments."
        ),
        "duplicate_columns": N_("Columns named twice: %(columns)s."),
        "unnamed_column": N_("Column %(number)s has values but no name in the header row."),
        "missing_item_columns": N_(
            "%(instrument)s needs the columns %(columns)s (leave a cell empty where an answer "
            "is missing)."
        ),
        # one row
        "extra_cells": N_("more cells than the header has columns"),
        "no_answers": N_("every item of %(instrument)s is empty"),
        # one cell
        "required": N_("empty; this column must be filled in"),
        "invalid_cpr": N_("not a valid CPR number"),
        "invalid_date": N_("'%(value)s' is not a date written YYYY-MM-DD"),
        "future_date": N_("the date lies in the future"),
        "end_before_start": N_("the course cannot end before it starts"),
        "unknown_instrument": N_("unknown instrument '%(value)s' (known: %(known)s)"),
        "invalid_respondent": N_(
            "'%(value)s' is not a respondent: write citizen, relative or staff"
        ),
        "respondent_mismatch": N_("%(instrument)s is not answered by '%(value)s'"),
        "unknown_language": N_("%(instrument)s has no language '%(value)s' (it has %(known)s)"),
        "not_a_number": N_(
            "'%(value)s' is not a whole number (leave the cell empty if the answer is missing)"
        ),
        "invalid_value": N_("'%(value)s' is not an answer to this item (allowed: %(allowed)s)"),
        "dont_know_not_offered": N_('"Don\'t know" is not offered for this item'),
        "not_applicable_not_offered": N_('"Not applicable" is not offered for this item'),
        "other_instrument": N_("must be empty: this column is not an item of %(instrument)s"),
        "label_too_long": N_("too long (characters allowed: %(limit)s)"),
        "label_is_cpr": N_("looks like a CPR number, which a label must never hold"),
        # found in the database (surveyapp.services.imports)
        "unknown_municipality": N_("no municipality '%(value)s' (name or kommunekode)"),
        "other_municipality": N_("you can import only into your own municipality"),
        "unknown_provider": N_("%(municipality)s has no provider '%(value)s'"),
        "unknown_team": N_("%(provider)s has no team '%(value)s'"),
        "unknown_timepoint": N_(
            "the course's plan has no timepoint '%(value)s' (it has %(known)s)"
        ),
        "not_in_plan": N_(
            "the course's plan does not give %(instrument)s to %(respondent)s at %(timepoint)s"
        ),
        "already_answered": N_(
            "this measurement is already answered (on %(date)s, channel %(channel)s); "
            "a response is never stored twice"
        ),
        "dropped_out": N_("this measurement is recorded as a drop-out"),
        "duplicate_row": N_("the same measurement as row %(other)s"),
        "course_end_differs": N_("the course already ends on %(date)s"),
        "team_differs": N_("the course already has the team %(team)s"),
        "label_differs": N_("another label than row %(other)s for the same citizen"),
    }
)
ROW_AND_COLUMN = N_("row %(row)s, column %(column)s: %(message)s")
ROW_ONLY = N_("row %(row)s: %(message)s")

DONT_KNOW_WORDS = frozenset({"ved ikke", "don't know", "dont know", "do not know"})
NOT_APPLICABLE_WORDS = frozenset({"ikke relevant", "not applicable", "n/a"})
RESPONDENT_WORDS: Mapping[str, Respondent] = MappingProxyType(
    {
        "citizen": Respondent.CITIZEN,
        "borger": Respondent.CITIZEN,
        "relative": Respondent.RELATIVE,
        "pårørende": Respondent.RELATIVE,
        "staff": Respondent.STAFF,
        "medarbejder": Respondent.STAFF,
    }
)

#: A translation function: gettext(template, **params) -> text (Flask-Babel's signature).
Translate = Callable[..., str]


def english(template: str, **params: object) -> str:
    """Render a message template untranslated (the command line speaks English)."""
    return template % params if params else template


def safe_value(text: object, limit: int = 40) -> str:
    """A cell value fit to echo in a message: shortened, and never a CPR number."""
    shown = CPR_LIKE.sub("######-####", str(text).strip())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with a file: where (row and column, if any) and what (a code)."""

    code: str
    row: int | None = None  # the spreadsheet's row number (header = 1); None: the whole file
    column: str | None = None
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def render(self, gettext: Translate = english) -> str:
        """The message, translated with `gettext` (English by default)."""
        message = gettext(MESSAGES[self.code], **self.params)
        if self.row is None:
            return message
        if self.column is None:
            return gettext(ROW_ONLY, row=self.row, message=message)
        return gettext(ROW_AND_COLUMN, row=self.row, column=self.column, message=message)

    def __str__(self) -> str:
        return self.render()

    @property
    def sort_key(self) -> tuple[int, int]:
        """The file's problems first, then row by row (a row's in the order they were found)."""
        return (0 if self.row is None else 1, self.row or 0)


def problem(
    code: str, row: int | None = None, column: str | None = None, **params: object
) -> ImportProblem:
    """An ImportProblem whose parameters are made safe to show (see `safe_value`)."""
    if code not in MESSAGES:
        raise KeyError(f"no message for problem {code!r}")
    return ImportProblem(
        code, row, column, MappingProxyType({k: safe_value(v, 200) for k, v in params.items()})
    )


class ImportRejected(ValueError):
    """The file cannot be imported; `problems` lists every problem found, in file order."""

    def __init__(self, problems: Iterable[ImportProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A file's header and its non-empty rows as plain dicts of cell text."""

    columns: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]  # (spreadsheet row number, {column: text})


def read_table(data: bytes, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> Table:
    """Read a CSV file (UTF-8 with or without BOM, Windows-1252, UTF-16) or an .xlsx workbook.

    A CSV is comma, semicolon or tab separated, whichever the header row has most of.

    The kind is told by the content, not the file name. Raises ImportRejected.
    """
    if len(data) > max_bytes:
        raise ImportRejected([problem("file_too_large", limit=max_bytes // (1024 * 1024))])
    if data.startswith(b"PK\x03\x04"):
        records: Iterator[list[object]] = _xlsx_records(data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportRejected([problem("old_excel")])
    else:
        records = _csv_records(data)
    return _table(records, max_rows)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRejected([problem("encoding")])


def _csv_records(data: bytes) -> Iterator[list[object]]:
    text = _decode(data)
    if "\x00" in text:
        raise ImportRejected([problem("unreadable")])
    first_line = text.lstrip("\r\n").partition("\n")[0]
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error:
        raise ImportRejected([problem("unreadable")]) from None


def _xlsx_records(data: bytes) -> Iterator[list[object]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, KeyError, OSError, ValueError):
        raise ImportRejected([problem("unreadable")]) from None
    try:
        if not workbook.worksheets:
            return
        for row in workbook.worksheets[0].iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


def _cell_text(value: object, column: str) -> str:
    """A cell as text: numbers without ".0", dates as YYYY-MM-DD, CPR numbers with 10 digits."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and column == "cpr":
        return f"{value:010d}"  # a spreadsheet stores 0101401234 as the number 101401234
    return str(value).strip()


def _table(records: Iterator[list[object]], max_rows: int) -> Table:
    numbered = enumerate(records, start=1)  # the spreadsheet's row numbers
    header_cells: list[object] | None = None
    for _number, cells in numbered:
        if any(_cell_text(c, "") for c in cells):
            header_cells = cells  # the first row with anything in it
            break
    if header_cells is None:
        raise ImportRejected([problem("empty")])
    columns = [_column_name(_cell_text(c, "")) for c in header_cells]
    while columns and not columns[-1]:
        columns.pop()
    problems: list[ImportProblem] = []
    rows: list[tuple[int, dict[str, str]]] = []
    unnamed: set[int] = set()
    for row_number, cells in numbered:
        texts = [_cell_text(c, columns[i] if i < len(columns) else "") for i, c in enumerate(cells)]
        if not any(texts):
            continue  # an empty line is not a response
        if len(rows) >= max_rows:
            raise ImportRejected([problem("too_many_rows", limit=max_rows)])
        if any(texts[len(columns) :]):
            problems.append(problem("extra_cells", row_number))
        unnamed.update(i for i, t in enumerate(texts[: len(columns)]) if t and not columns[i])
        row = {c: (texts[i] if i < len(texts) else "") for i, c in enumerate(columns) if c}
        rows.append((row_number, row))
    problems += [problem("unnamed_column", number=i + 1) for i in sorted(unnamed)]
    if problems:
        raise ImportRejected(problems)
    if not rows:
        raise ImportRejected([problem("no_rows")])
    return Table(tuple(columns), tuple(rows))


def _column_name(text: str) -> str:
    lowered = text.strip().lower()
    return lowered if lowered in FIXED_COLUMNS else text.strip()


# --- validating --------------------------------------------------------------------------------

Answer = int | AnswerState


@dataclass(frozen=True)
class ImportRow:
    """One checked response, ready to store: no CPR number, only what may be kept of it."""

    row: int
    municipality: str  # name or kommunekode, as written (resolved by the service)
    provider: str
    team: str | None
    pseudonym: str
    birth_year: int
    sex: Sex
    label: str | None
    course_start: date
    course_end: date | None
    timepoint: str
    instrument_id: str
    instrument_version: str
    respondent: Respondent
    language: str
    answered_on: date
    answers: Mapping[str, Answer]  # only the items answered (or "don't know"/"not applicable")

    @property
    def submitted_at(self) -> datetime:
        """Noon, Danish time, on the day the form was answered (in UTC)."""
        return datetime.combine(self.answered_on, time(12, 0), tzinfo=DENMARK).astimezone(UTC)


def validate(
    table: Table, *, registry: Registry, hmac_key: str | bytes, today: date
) -> list[ImportRow]:
    """Check every row and column; return the rows, or raise ImportRejected with every problem."""
    items = _item_columns(registry)
    problems = _header_problems(table.columns, items)
    canonical = {c: (c if c in FIXED_COLUMNS else items.get(c.lower(), c)) for c in table.columns}
    item_ids = set(items.values())
    item_columns = [c for c in dict.fromkeys(canonical.values()) if c in item_ids]
    present = set(canonical.values())
    rows: list[ImportRow] = []
    used: dict[str, Instrument] = {}
    for number, raw in table.rows:
        cells = {canonical[k]: v for k, v in raw.items()}
        checked = _RowCheck(number, cells, present, item_columns, registry, hmac_key, today)
        row = checked.run()
        problems += checked.problems
        if checked.instrument is not None:
            used[checked.instrument.id] = checked.instrument
        if row is not None:
            rows.append(row)
    for instrument in sorted(used.values(), key=lambda i: i.id):
        missing = [i.id for i in instrument.items if not i.optional and i.id not in present]
        if missing:
            problems.append(
                problem(
                    "missing_item_columns", instrument=instrument.id, columns=", ".join(missing)
                )
            )
    if problems:
        raise ImportRejected(problems)
    return rows


def parse(
    data: bytes, *, registry: Registry, hmac_key: str | bytes, today: date
) -> list[ImportRow]:
    """Read and check a whole file (see `read_table` and `validate`)."""
    return validate(read_table(data), registry=registry, hmac_key=hmac_key, today=today)


def _item_columns(registry: Registry) -> dict[str, str]:
    """Every loaded instrument's item ids, by lower-cased id (ids are unique without case)."""
    return {item.id.lower(): item.id for i in registry for item in i.items}


def _header_problems(columns: tuple[str, ...], items: Mapping[str, str]) -> list[ImportProblem]:
    found: list[ImportProblem] = []
    named = [c for c in columns if c]
    canonical = [c if c in FIXED_COLUMNS else items.get(c.lower(), c) for c in named]
    twice = sorted({c for c in canonical if canonical.count(c) > 1})
    if twice:
        found.append(problem("duplicate_columns", columns=", ".join(twice)))
    missing = [c for c in REQUIRED_COLUMNS if c not in named]
    if missing:
        found.append(problem("missing_columns", columns=", ".join(missing)))
    unknown = [c for c in named if c not in FIXED_COLUMNS and c.lower() not in items]
    if unknown:
        found.append(problem("unknown_columns", columns=", ".join(unknown)))
    return found


def _words(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").lower().split())


class _RowCheck:
    """The checks of one row; collects every problem instead of stopping at the first."""

    def __init__(
        self,
        number: int,
        cells: Mapping[str, str],
        present: set[str],
        item_columns: list[str],
        registry: Registry,
        hmac_key: str | bytes,
        today: date,
    ) -> None:
        self.number = number
        self.cells = cells
        self.present = present
        self.item_columns = item_columns
        self.registry = registry
        self.hmac_key = hmac_key
        self.today = today
        self.problems: list[ImportProblem] = []
        self.instrument: Instrument | None = None

    def fail(self, code: str, column: str | None = None, **params: object) -> None:
        self.problems.append(problem(code, self.number, column, **params))

    def text(self, column: str) -> str:
        value = self.cells.get(column, "").strip()
        if not value and column in REQUIRED_COLUMNS and column in self.present:
            self.fail("required", column)
        return value

    def day(self, column: str) -> date | None:
        value = self.text(column)
        if not value:
            return None
        try:
            if not _ISO_DATE.fullmatch(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.fail("invalid_date", column, value=value)
            return None

    def run(self) -> ImportRow | None:
        municipality, provider = self.text("municipality"), self.text("provider")
        team = self.text("team") or None
        facts = self.cpr()
        course_start, course_end = self.day("course_start"), self.day("course_end")
        if course_start and course_end and course_end < course_start:
            self.fail("end_before_start", "course_end")
        answered_on = self.day("answered_on")
        if answered_on and answered_on > self.today:
            self.fail("future_date", "answered_on")
        timepoint = self.text("timepoint")
        self.instrument = instrument = self.find_instrument()
        respondent = self.respondent(instrument)
        language = self.language(instrument)
        label = self.label()
        answers = self.answers(instrument) if instrument is not None else {}
        if (
            self.problems
            or facts is None
            or course_start is None
            or answered_on is None
            or instrument is None
            or respondent is None
            or language is None
        ):
            return None  # a missing required column is reported once, for the header
        return ImportRow(
            row=self.number,
            municipality=municipality,
            provider=provider,
            team=team,
            pseudonym=facts.pseudonym,
            birth_year=facts.birth_year,
            sex=facts.sex,
            label=label,
            course_start=course_start,
            course_end=course_end,
            timepoint=timepoint,
            instrument_id=instrument.id,
            instrument_version=instrument.version,
            respondent=respondent,
            language=language,
            answered_on=answered_on,
            answers=MappingProxyType(answers),
        )

    def cpr(self) -> CPRFacts | None:
        value = self.text("cpr")
        if not value:
            return None
        try:
            return read_cpr(value, self.hmac_key, today=self.today)
        except InvalidCPR:
            self.fail("invalid_cpr", "cpr")  # never the value, nor the reason's details
            return None

    def find_instrument(self) -> Instrument | None:
        value = self.text("instrument")
        if not value:
            return None
        if value.lower() not in self.registry:
            self.fail(
                "unknown_instrument",
                "instrument",
                value=value,
                known=", ".join(self.registry.ids()),
            )
            return None
        return self.registry.get(value.lower())

    def respondent(self, instrument: Instrument | None) -> Respondent | None:
        value = self.text("respondent")
        if not value:
            return None
        respondent = RESPONDENT_WORDS.get(_words(value))
        if respondent is None:
            self.fail("invalid_respondent", "respondent", value=value)
            return None
        if instrument is not None and not _answers(instrument.respondent, respondent):
            self.fail("respondent_mismatch", "respondent", instrument=instrument.id, value=value)
            return None
        return respondent

    def language(self, instrument: Instrument | None) -> str | None:
        value = self.text("language").lower()
        if instrument is None:
            return value or DEFAULT_LANGUAGE
        if not value:
            return (
                DEFAULT_LANGUAGE
                if DEFAULT_LANGUAGE in instrument.languages
                else (instrument.default_language)
            )
        if value not in instrument.languages:
            known = ", ".join(instrument.languages)
            self.fail(
                "unknown_language", "language", instrument=instrument.id, value=value, known=known
            )
            return None
        return value

    def label(self) -> str | None:
        value = self.text("label")
        if not value:
            return None
        if CPR_LIKE.search(value):
            self.fail("label_is_cpr", "label")
            return None
        if len(value) > LABEL_LENGTH:
            self.fail("label_too_long", "label", limit=LABEL_LENGTH)
            return None
        return value

    def answers(self, instrument: Instrument) -> dict[str, Answer]:
        own = set(instrument.item_ids)
        found: dict[str, Answer] = {}
        for column in self.item_columns:
            value = self.cells.get(column, "").strip()
            if column not in own:
                if value:
                    self.fail("other_instrument", column, instrument=instrument.id)
                continue
            if value:
                answer = self.answer(instrument, column, value)
                if answer is not None:
                    found[column] = answer
        if not found and not any(p.column in own for p in self.problems):
            self.fail("no_answers", instrument=instrument.id)
        return found

    def answer(self, instrument: Instrument, item_id: str, value: str) -> Answer | None:
        item = instrument.item(item_id)
        words = _words(value)
        labels = {_words(t) for t in (instrument.dont_know_label or {}).values()}
        if words in DONT_KNOW_WORDS | labels:
            if not item.dont_know:
                self.fail("dont_know_not_offered", item_id)
                return None
            return AnswerState.DONT_KNOW
        labels = {_words(t) for t in (instrument.not_applicable_label or {}).values()}
        if words in NOT_APPLICABLE_WORDS | labels:
            if not item.not_applicable:
                self.fail("not_applicable_not_offered", item_id)
                return None
            return AnswerState.NOT_APPLICABLE
        if not _WHOLE_NUMBER.fullmatch(value):
            self.fail("not_a_number", item_id, value=value)
            return None
        number = int(value)
        if number not in item.values:
            self.fail("invalid_value", item_id, value=value, allowed=_allowed(item.values))
            return None
        return number


def _allowed(values: Iterable[int]) -> str:
    ordered = sorted(values)
    if len(ordered) > 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(map(str, ordered))


def _answers(kind: RespondentKind, respondent: Respondent) -> bool:
    """Whether this kind of respondent may answer an instrument of this kind."""
    if kind is RespondentKind.STAFF:
        return respondent is Respondent.STAFF
    if kind is RespondentKind.PROXY:
        return respondent is Respondent.RELATIVE
    return respondent in (Respondent.CITIZEN, Respondent.RELATIVE)


# --- keeping checked rows between preview and confirmation -------------------------------------


def rows_to_json(rows: Iterable[ImportRow]) -> str:
    """The checked rows as JSON (no CPR number is in them), for `rows_from_json`."""
    return json.dumps(
        [
            {
                **{k: getattr(r, k) for k in _PLAIN_FIELDS},
                "sex": r.sex.value,
                "respondent": r.respondent.value,
                "course_start": r.course_start.isoformat(),
                "course_end": r.course_end.isoformat() if r.course_end else None,
                "answered_on": r.answered_on.isoformat(),
                "answers": {
                    k: (v.value if isinstance(v, AnswerState) else v) for k, v in r.answers.items()
                },
            }
            for r in rows
        ],
        ensure_ascii=False,
    )


_PLAIN_FIELDS = (
    "row",
    "municipality",
    "provider",
    "team",
    "pseudonym",
    "birth_year",
    "label",
    "timepoint",
    "instrument_id",
    "instrument_version",
    "language",
)


def rows_from_json(text: str) -> list[ImportRow]:
    """The rows written by `rows_to_json`."""
    rows = []
    for d in json.loads(text):
        rows.append(
            ImportRow(
                **{k: d[k] for k in _PLAIN_FIELDS},
                sex=Sex(d["sex"]),
                respondent=Respondent(d["respondent"]),
                course_start=date.fromisoformat(d["course_start"]),
                course_end=date.fromisoformat(d["course_end"]) if d["course_end"] else None,
                answered_on=date.fromisoformat(d["answered_on"]),
                answers=MappingProxyType(
                    {
                        k: (AnswerState(v) if isinstance(v, str) else int(v))
                        for k, v in d["answers"].items()
                    }
                ),
            )
        )
    return rows
