"""The integrity invariants of a surveyapp database, as pure checks over rows (no database).

`surveyapp.services.integrity` reads the rows with SQL (grouped where the rows are many) and
hands them here; `surveyapp check` prints one line per `CheckResult`. Problems name ids,
instrument ids, item ids and score names only: never an answer, a score value or anything
else a person gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from surveyapp.instruments import SCORING_RULES, Instrument, Registry, score_names

#: How many problems of one check are kept to be printed (all are counted).
MAX_DETAILS = 20

ANSWERED, DONT_KNOW, NOT_APPLICABLE = "answered", "dont_know", "not_applicable"
COMPLETED = "completed"


@dataclass
class CheckResult:
    """One invariant: how many rows it looked at, how many problems, the first few named."""

    name: str
    examined: int = 0
    problems: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def add(self, detail: str) -> None:
        self.problems += 1
        if len(self.details) < MAX_DETAILS:
            self.details.append(detail)

    def lines(self) -> list[str]:
        """The check's line, and beneath it (indented) the first problems it found."""
        noun = "problem" if self.problems == 1 else "problems"
        head = (
            f"{'ok' if self.ok else 'FAILED':6} {self.name}: "
            f"{self.examined} rows examined, {self.problems} {noun}"
        )
        more = self.problems - len(self.details)
        tail = [f"         ... and {more} more"] if more > 0 else []
        return [head, *(f"         {detail}" for detail in self.details), *tail]


class _Known:
    """What the registry says about an instrument version, looked up once per version."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._instruments: dict[tuple[str, str], Instrument | None] = {}
        self._scoring: dict[str, frozenset[str]] = {}
        self._names: dict[tuple[str, str], frozenset[str]] = {}

    def instrument(self, instrument_id: str, version: str) -> Instrument | None:
        key = (instrument_id, version)
        if key not in self._instruments:
            try:
                self._instruments[key] = self.registry.get(instrument_id, version)
            except KeyError:
                self._instruments[key] = None
        return self._instruments[key]

    def scoring_versions(self, instrument_id: str) -> frozenset[str]:
        """Every scoring version the instrument's registered versions are scored with."""
        if instrument_id not in self._scoring:
            self._scoring[instrument_id] = frozenset(
                SCORING_RULES[self.registry.get(instrument_id, v).scoring].version
                for v in self.registry.versions(instrument_id)
            )
        return self._scoring[instrument_id]

    def score_names(self, instrument: Instrument) -> frozenset[str]:
        if instrument.key not in self._names:
            self._names[instrument.key] = frozenset(score_names(instrument))
        return self._names[instrument.key]


class ResponseRow(NamedTuple):
    id: int
    instrument_id: str
    instrument_version: str
    scoring_version: str | None
    submitted: bool
    assignment_status: str | None  # None when the assignment is missing (an orphan)
    score_rows: int


class ScoreNameGroup(NamedTuple):
    """Score rows of one name on responses of one instrument version."""

    instrument_id: str
    instrument_version: str
    name: str
    rows: int


def check_responses(
    rows: Iterable[ResponseRow], score_groups: Iterable[ScoreNameGroup], registry: Registry
) -> tuple[CheckResult, list[ScoreNameGroup]]:
    """Every submitted response scored with a known version, its score rows, and completed.

    Returns the result and the score-name groups that are not the instrument's (the caller
    names their rows' ids with `unknown_score_name`).
    """
    known = _Known(registry)
    result = CheckResult("responses-scored")
    for row in rows:
        result.examined += 1
        instrument = known.instrument(row.instrument_id, row.instrument_version)
        where = f"response {row.id}"
        if instrument is None:
            result.add(
                f"{where}: instrument {row.instrument_id} version {row.instrument_version} "
                "is not known"
            )
            continue
        if not row.submitted:
            if row.score_rows:
                result.add(f"{where}: not submitted but has {row.score_rows} score rows")
            if row.scoring_version is not None:
                result.add(f"{where}: not submitted but has a scoring version")
            continue
        if row.scoring_version is None:
            result.add(f"{where}: submitted but not scored (no scoring version)")
        elif row.scoring_version not in known.scoring_versions(row.instrument_id):
            result.add(
                f"{where}: scoring version {row.scoring_version!r} is not one of "
                f"{row.instrument_id}'s"
            )
        expected = len(known.score_names(instrument))
        if row.score_rows != expected:
            result.add(f"{where}: {row.score_rows} score rows, {expected} expected")
        if row.assignment_status is not None and row.assignment_status != COMPLETED:
            result.add(f"{where}: submitted, but its assignment is {row.assignment_status}")
    strange = []
    for group in score_groups:
        instrument = known.instrument(group.instrument_id, group.instrument_version)
        if instrument is not None and group.name not in known.score_names(instrument):
            strange.append(group)
    return result, strange


def unknown_score_name(
    result: CheckResult, group: ScoreNameGroup, score_ids: Sequence[int]
) -> None:
    """Count a group of score rows whose name the instrument version does not produce."""
    for score_id in score_ids:
        result.add(f"score {score_id}: {group.name} is not a score of {group.instrument_id}")
    for _ in range(group.rows - len(score_ids)):
        result.add(f"score of {group.name}: not a score of {group.instrument_id}")


class AnswerGroup(NamedTuple):
    """Answers with the same item, state and value on responses of one instrument version."""

    instrument_id: str
    instrument_version: str
    item_id: str
    state: str
    value: int | None
    rows: int


def answer_problem(group: AnswerGroup, known: _Known) -> str | None:
    """Why answers of this group are not allowed by their instrument version (None: they are)."""
    instrument = known.instrument(group.instrument_id, group.instrument_version)
    if instrument is None:
        return f"instrument {group.instrument_id} version {group.instrument_version} is not known"
    try:
        item = instrument.item(group.item_id)
    except KeyError:
        return f"{group.instrument_id} {group.instrument_version} has no item {group.item_id}"
    if group.state == ANSWERED:
        if group.value is None or group.value not in item.values:
            return f"item {item.id}: a value its item does not allow"
        return None
    offered = {DONT_KNOW: item.dont_know, NOT_APPLICABLE: item.not_applicable}.get(group.state)
    if not offered:
        return f"item {item.id}: state {group.state} is not offered"
    if group.value is not None:
        return f"item {item.id}: state {group.state} with a value"
    return None


def bad_answer_groups(
    groups: Iterable[AnswerGroup], registry: Registry
) -> tuple[int, list[tuple[AnswerGroup, str]]]:
    """How many answers the groups hold, and the groups that break a rule (with why)."""
    known = _Known(registry)
    examined = 0
    bad = []
    for group in groups:
        examined += group.rows
        problem = answer_problem(group, known)
        if problem is not None:
            bad.append((group, problem))
    return examined, bad


MEASUREMENT_KEYS = ("instrument_id", "course_id", "respondent", "timepoint_id")


def compare_measurements(
    result: CheckResult,
    expected: Iterable[Sequence[Any]],
    stored: Iterable[Sequence[Any]],
) -> None:
    """Merge two streams of measurement rows, each ordered by response id, and count drift.

    A row is (response_id, instrument_id, course_id, respondent, timepoint_id, v0, ..., v11);
    `expected` is what `surveyapp migrate` would build from the scores, `stored` the table.
    """
    wanted, have = _rows(expected), _rows(stored)
    a, b = next(wanted, None), next(have, None)
    while a is not None or b is not None:
        result.examined += 1
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            result.add(f"response {a[0]}: no measurement row")
            a = next(wanted, None)
        elif a is None or b[0] < a[0]:
            result.add(f"response {b[0]}: a measurement row without a scored response")
            b = next(have, None)
        else:
            for n, key in enumerate(MEASUREMENT_KEYS, start=1):
                if a[n] != b[n]:
                    result.add(f"response {a[0]}: measurement {key} differs")
            changed = [f"v{n}" for n, (x, y) in enumerate(zip(a[5:], b[5:], strict=True)) if x != y]
            if changed:
                result.add(f"response {a[0]}: measurement {', '.join(changed)} differ from scores")
            a, b = next(wanted, None), next(have, None)


def _rows(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield tuple(row)


def missing_positions(registry: Registry, instrument_id: str, stored: Iterable[str]) -> list[str]:
    """Reported scores of the instrument's versions that have no measurement column yet."""
    have = set(stored)
    names: list[str] = []
    for version in registry.versions(instrument_id):
        for spec in registry.get(instrument_id, version).reported_scores:
            if spec.name not in have and spec.name not in names:
                names.append(spec.name)
    return names


def summary(results: Sequence[CheckResult]) -> str:
    """The last line: every check holds, or how many failed."""
    failed = [r.name for r in results if not r.ok]
    if not failed:
        return f"all {len(results)} checks hold"
    return f"{len(failed)} of {len(results)} checks FAILED: {', '.join(failed)}"
