"""Score a CSV file of responses (e.g. paper data) and write it back with score columns.

Input: one response per row, a header row, item ids as column names. The delimiter is a
comma, or a semicolon if the header has more semicolons than commas (Danish Excel); the
output uses the same delimiter. Cells are whole numbers; an empty cell is a missing answer
(there is no other missing-value code: "NA" or "ved ikke" is an error).

Columns:
- a column named exactly as one of the instrument's item ids holds that item's answers;
- every required item needs a column (optional items, e.g. WHODAS H1-H3, may be absent);
- a column that looks like an item id but is not one of this instrument's is an error, as it
  is nearly always a typo or the wrong instrument: an item id of any loaded instrument in any
  case (`s1`, `H1` in a WHO-5 file), or such an id's letters with other digits (`who5_6`,
  `S13`);
- a column named like an appended score column is an error (it would appear twice);
- any other column (`id`, `respondent`, `timepoint`, `date`, ...) passes through unchanged.

Output: the same rows and columns, then one column per score (`<instrument>_<score>`, see
`scoring.score_names`) and `<instrument>_note` with the scoring notes ("; "-separated) that
say why a score is empty or imputed. Numbers use a decimal point; whole numbers have no ".0";
other values are written in full precision.

Every problem found (up to 20) is reported in one BatchError, one line each, naming the data
row (1 = first row after the header), the file line and the column; nothing is written then.
"""

from __future__ import annotations

import csv
import io
import re
from typing import TextIO

from surveyapp.instruments.loader import Registry, default_registry
from surveyapp.instruments.model import Instrument
from surveyapp.instruments.scoring import ScoringError, check_answer, score, score_names

MAX_PROBLEMS = 20
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")


class BatchError(ValueError):
    """The file cannot be scored; the message lists every problem, one per line."""


def _format(value: float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return str(int(value))


def _column_problems(
    instrument: Instrument, columns: list[str], outputs: list[str], registry: Registry
) -> list[str]:
    own = set(instrument.item_ids)
    known_ids = {item.id.lower(): item.id for i in registry for item in i.items}
    stems = {m.group(1) for i in known_ids if (m := re.fullmatch(r"(.*?)\d+", i))}
    problems = []
    seen: set[str] = set()
    for column in columns:
        if column in seen and column:
            problems.append(f"column '{column}' appears twice")
        seen.add(column)
        if column in own:
            continue
        if column in outputs:
            problems.append(f"column '{column}' is a score column this command adds; remove it")
            continue
        lower = column.lower()
        stem = m.group(1) if (m := re.fullmatch(r"(.*?)\d+", lower)) else None
        if lower in known_ids or stem in stems:
            hint = known_ids.get(lower) if known_ids.get(lower) in own else None
            problems.append(
                f"unknown column '{column}': not an item of {instrument.id}"
                + (f" (did you mean '{hint}'?)" if hint else "")
                + f"; its items are {', '.join(instrument.item_ids)}"
            )
    for item in instrument.items:
        if not item.optional and item.id not in seen:
            problems.append(
                f"missing column '{item.id}' (keep the column and leave a cell empty "
                "where the answer is missing)"
            )
    return problems


def score_csv(
    instrument_id: str, infile: TextIO, outfile: TextIO, registry: Registry | None = None
) -> None:
    """Read responses as CSV from `infile`, write them with scores appended to `outfile`."""
    registry = default_registry() if registry is None else registry
    if instrument_id not in registry:
        known = ", ".join(registry.ids())
        raise BatchError(f"unknown instrument '{instrument_id}' (known: {known})")
    instrument = registry.get(instrument_id)

    text = infile.read().removeprefix("\ufeff")
    first_line = text.partition("\n")[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header or not any(cell.strip() for cell in header):
        raise BatchError("the file is empty: expected a header row with item ids as columns")
    columns = [cell.strip() for cell in header]
    outputs = [*score_names(instrument), f"{instrument.id}_note"]
    problems = _column_problems(instrument, columns, outputs, registry)
    if problems:
        raise BatchError("\n".join(problems))

    items = {
        index: instrument.item(c) for index, c in enumerate(columns) if c in instrument.item_ids
    }
    out_rows: list[list[str]] = []
    row_number = 0
    for row in reader:
        if not row:
            continue  # an empty line is not a response (a line of empty cells is)
        row_number += 1
        where = f"row {row_number} (line {reader.line_num})"
        if len(row) != len(header):
            problems.append(f"{where}: {len(row)} cells, but the header has {len(header)}")
            continue
        answers: dict[str, int | None] = {}
        for index, item in items.items():
            cell = row[index].strip()
            try:
                if cell and not _WHOLE_NUMBER.fullmatch(cell):
                    raise ScoringError(
                        item.id,
                        f"'{cell}' is not a whole number (leave the cell empty if missing)",
                    )
                answers[item.id] = check_answer(item, int(cell) if cell else None)
            except ScoringError as exc:
                problems.append(f"{where}, column {item.id}: {exc.problem}")
        if problems:
            continue
        result = score(instrument, answers)
        scores = [_format(result.scores[name]) for name in outputs[:-1]]
        out_rows.append([*row, *scores, "; ".join(result.notes)])

    if problems:
        extra = len(problems) - MAX_PROBLEMS
        shown = problems[:MAX_PROBLEMS] + ([f"... and {extra} more"] if extra > 0 else [])
        raise BatchError("\n".join(shown))
    writer = csv.writer(outfile, delimiter=delimiter, lineterminator="\n")
    writer.writerow([*header, *outputs])
    writer.writerows(out_rows)
