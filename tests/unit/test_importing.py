"""Reading and checking import files (surveyapp.importing): pure, no database."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import Workbook

from surveyapp.enums import AnswerState, Respondent, Sex
from surveyapp.importing import (
    FIXED_COLUMNS,
    MESSAGES,
    ImportProblem,
    ImportRejected,
    parse,
    read_table,
    rows_from_json,
    rows_to_json,
    validate,
)
from surveyapp.instruments import default_registry
from surveyapp.pseudonym import normalise_cpr, pseudonymise
from tests.unit.test_purity import forbidden_modules_loaded

KEY = "unit-test-cpr-key"
TODAY = date(2025, 6, 1)
REGISTRY = default_registry()
CPR = "120134-1111"
OTHER_CPR = "230338-2222"
BASE = {
    "municipality": "990",
    "provider": "Hjemmeplejen",
    "cpr": CPR,
    "course_start": "2025-01-06",
    "timepoint": "baseline",
    "instrument": "who5",
    "respondent": "citizen",
    "answered_on": "2025-01-07",
}
WHO5 = {f"who5_{i}": "3" for i in range(1, 6)}
SM = {"sm_1": "8", "sm_2": "9", "sm_3": "10", "sm_4": "7"}
WHODAS = {f"S{i}": "2" for i in range(1, 13)}

# Problems only the database can find (surveyapp.services.imports; tests/db/test_imports.py).
DATABASE_CODES = {
    "unknown_municipality",
    "other_municipality",
    "unknown_provider",
    "unknown_team",
    "unknown_timepoint",
    "not_in_plan",
    "already_answered",
    "dropped_out",
    "duplicate_row",
    "course_end_differs",
    "team_differs",
    "label_differs",
}


def csv_bytes(
    rows: list[dict[str, str]],
    columns: list[str] | None = None,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> bytes:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    out.write(delimiter.join(columns) + "\n")
    for r in rows:
        out.write(delimiter.join(r.get(c, "") for c in columns) + "\n")
    return out.getvalue().encode(encoding)


def check(data: bytes) -> list:  # type: ignore[type-arg]
    return parse(data, registry=REGISTRY, hmac_key=KEY, today=TODAY)


def problems_of(data: bytes) -> list[ImportProblem]:
    with pytest.raises(ImportRejected) as caught:
        check(data)
    return caught.value.problems


def where(problems: list[ImportProblem]) -> list[tuple[int | None, str | None, str]]:
    return [(p.row, p.column, p.code) for p in problems]


# --- reading ---------------------------------------------------------------------------------


def test_a_comma_csv_becomes_checked_rows_with_the_pseudonym_and_no_cpr() -> None:
    rows = check(csv_bytes([{**BASE, **WHO5, "team": "Team Nord", "label": "AB"}]))
    assert len(rows) == 1
    row = rows[0]
    assert row.row == 2  # the header is row 1
    assert row.pseudonym == pseudonymise(normalise_cpr(CPR), KEY)
    assert (row.birth_year, row.sex) == (1934, Sex.MALE)
    assert (row.municipality, row.provider, row.team, row.label) == (
        "990",
        "Hjemmeplejen",
        "Team Nord",
        "AB",
    )
    assert (row.course_start, row.course_end, row.answered_on) == (
        date(2025, 1, 6),
        None,
        date(2025, 1, 7),
    )
    assert (row.timepoint, row.instrument_id, row.instrument_version) == ("baseline", "who5", "1")
    assert row.respondent is Respondent.CITIZEN
    assert row.language == "da"
    assert dict(row.answers) == {f"who5_{i}": 3 for i in range(1, 6)}
    assert not any("cpr" in name for name in vars(row))
    assert CPR not in repr(row) and normalise_cpr(CPR) not in repr(row)


def test_answered_on_is_noon_in_denmark_winter_and_summer() -> None:
    winter, summer = check(
        csv_bytes([{**BASE, **WHO5}, {**BASE, **WHO5, "answered_on": "2025-05-05"}])
    )
    assert winter.submitted_at == datetime(2025, 1, 7, 11, 0, tzinfo=UTC)
    assert summer.submitted_at == datetime(2025, 5, 5, 10, 0, tzinfo=UTC)


def test_semicolon_csv_with_bom_as_danish_excel_saves_it() -> None:
    data = b"\xef\xbb\xbf" + csv_bytes(
        [{**BASE, **WHO5, "provider": "Omsorg & Træning ApS", "municipality": "Sølvstrand"}],
        delimiter=";",
    )
    (row,) = check(data)
    assert row.provider == "Omsorg & Træning ApS"
    assert row.municipality == "Sølvstrand"
    assert row.answers["who5_5"] == 3


def test_windows_1252_and_tab_separated_files_are_read() -> None:
    data = csv_bytes([{**BASE, **WHO5, "provider": "Træning"}], delimiter=";", encoding="cp1252")
    assert check(data)[0].provider == "Træning"
    tabbed = csv_bytes([{**BASE, **WHO5}], delimiter="\t")
    assert check(tabbed)[0].answers["who5_1"] == 3
    unicode_text = csv_bytes([{**BASE, **WHO5, "provider": "Ø"}], delimiter="\t", encoding="utf-16")
    assert check(unicode_text)[0].provider == "Ø"  # Excel's "Unicode text" (UTF-16, tabs)


def test_an_xlsx_workbook_gives_the_same_rows_as_the_csv() -> None:
    cpr = "0101401234"  # a leading zero: the spreadsheet keeps the number 101401234
    workbook = Workbook()
    sheet = workbook.active
    columns = [*BASE, *WHO5]
    sheet.append(columns)
    sheet.append(
        [
            990,
            "Hjemmeplejen",
            int(cpr),
            datetime(2025, 1, 6),
            "baseline",
            "who5",
            "citizen",
            datetime(2025, 1, 7),
            3,
            3.0,
            3,
            3,
            3,
        ]
    )
    sheet.append([None] * len(columns))  # an empty row is skipped, but counted
    sheet.append([990, "Hjemmeplejen", cpr, "2025-01-06", "end", "who5", "citizen", "2025-02-01"])
    for cell in sheet[4][8:13]:
        cell.value = 4
    out = io.BytesIO()
    workbook.save(out)
    first, second = check(out.getvalue())
    same = check(csv_bytes([{**BASE, **WHO5, "cpr": cpr}]))[0]
    assert first == same
    assert second.row == 4 and second.timepoint == "end"
    assert dict(second.answers) == {f"who5_{i}": 4 for i in range(1, 6)}


def test_dont_know_and_not_applicable_are_states_where_the_item_offers_them() -> None:
    rows = check(
        csv_bytes(
            [
                {**BASE, "instrument": "start_meeting", **SM, "sm_2": "Ved ikke"},
                {**BASE, "instrument": "start_meeting", **SM, "sm_3": "VED IKKE", "sm_4": ""},
                {**BASE, "instrument": "start_meeting", **SM, "sm_1": "Don\u2019t know"},
                {**BASE, "instrument": "whodas12", **WHODAS, "S12": "ikke relevant"},
                {**BASE, "instrument": "whodas12", **WHODAS, "S12": "Not applicable"},
            ]
        )
    )
    assert rows[0].answers["sm_2"] is AnswerState.DONT_KNOW
    assert rows[1].answers["sm_3"] is AnswerState.DONT_KNOW
    assert "sm_4" not in rows[1].answers  # empty = missing, not a state
    assert rows[2].answers["sm_1"] is AnswerState.DONT_KNOW
    assert rows[3].answers["S12"] is AnswerState.NOT_APPLICABLE
    assert rows[4].answers["S12"] is AnswerState.NOT_APPLICABLE
    problems = problems_of(
        csv_bytes(
            [
                {**BASE, **WHO5, "who5_1": "Ved ikke"},
                {**BASE, "instrument": "whodas12", **WHODAS, "S1": "Ikke relevant"},
            ]
        )
    )
    assert where(problems) == [
        (2, "who5_1", "dont_know_not_offered"),
        (3, "S1", "not_applicable_not_offered"),
    ]


def test_several_instruments_in_one_file_keep_to_their_own_columns() -> None:
    rows = check(
        csv_bytes(
            [
                {**BASE, **WHO5},
                {**BASE, "instrument": "whodas12", **WHODAS},
                {
                    **BASE,
                    "instrument": "whodas12_proxy",
                    "respondent": "relative",
                    **WHODAS,
                    "H4": "1",
                },
                {**BASE, "instrument": "start_meeting", "respondent": "pårørende", **SM},
                {
                    **BASE,
                    "instrument": "course_outcome",
                    "respondent": "staff",
                    "co_help_need": "1",
                },
            ]
        )
    )
    assert [r.instrument_id for r in rows] == [
        "who5",
        "whodas12",
        "whodas12_proxy",
        "start_meeting",
        "course_outcome",
    ]
    assert rows[3].respondent is Respondent.RELATIVE
    assert set(rows[2].answers) == {*WHODAS, "H4"}  # S1-S12 are shared by the two forms
    problems = problems_of(csv_bytes([{**BASE, **WHO5, "sm_1": "5"}, {**BASE, **WHO5, "S3": "2"}]))
    assert where(problems) == [(2, "sm_1", "other_instrument"), (3, "S3", "other_instrument")]
    assert (
        str(problems[0]) == "row 2, column sm_1: must be empty: this column is not an item of who5"
    )


def test_row_numbers_are_the_spreadsheets_even_after_empty_rows() -> None:
    data = b"\n;;\n" + csv_bytes([{**BASE, **WHO5}, {**BASE, **WHO5, "who5_1": "7"}], delimiter=";")
    assert where(problems_of(data)) == [(5, "who5_1", "invalid_value")]  # header on row 3


def test_header_names_are_forgiving_about_case_and_spaces() -> None:
    data = csv_bytes(
        [
            {
                **{k.upper(): v for k, v in BASE.items()},
                " WHO5_1 ": "1",
                **dict.fromkeys(list(WHO5)[1:], "2"),
            }
        ]
    )
    (row,) = check(data)
    assert row.answers["who5_1"] == 1 and row.answers["who5_2"] == 2


# --- problems --------------------------------------------------------------------------------

ROW_CASES = [
    ({"cpr": ""}, "cpr", "required"),
    ({"municipality": ""}, "municipality", "required"),
    ({"cpr": "12345"}, "cpr", "invalid_cpr"),
    ({"cpr": "310299-1234"}, "cpr", "invalid_cpr"),  # no 31 February
    ({"cpr": "010130-5000"}, "cpr", "invalid_cpr"),  # born 2030: in the future
    ({"course_start": "06-01-2025"}, "course_start", "invalid_date"),
    ({"answered_on": "2025-02-30"}, "answered_on", "invalid_date"),
    ({"answered_on": "2025-06-02"}, "answered_on", "future_date"),
    ({"course_end": "2025-01-01"}, "course_end", "end_before_start"),
    ({"instrument": "who6"}, "instrument", "unknown_instrument"),
    ({"respondent": "neighbour"}, "respondent", "invalid_respondent"),
    ({"respondent": "staff"}, "respondent", "respondent_mismatch"),
    ({"language": "de"}, "language", "unknown_language"),
    ({"who5_3": "x"}, "who5_3", "not_a_number"),
    ({"who5_3": "2.5"}, "who5_3", "not_a_number"),
    ({"who5_3": "6"}, "who5_3", "invalid_value"),
    ({"label": "x" * 41}, "label", "label_too_long"),
    ({"label": "120134-1111"}, "label", "label_is_cpr"),
    ({**dict.fromkeys(WHO5, "")}, None, "no_answers"),
]


@pytest.mark.parametrize(("change", "column", "code"), ROW_CASES)
def test_each_bad_cell_is_named_by_row_and_column(
    change: dict[str, str], column: str | None, code: str
) -> None:
    good = {**BASE, **WHO5, "language": "", "label": "", "course_end": ""}
    problems = problems_of(csv_bytes([good, {**good, **change}, good]))
    assert where(problems) == [(3, column, code)]


def test_a_proxy_form_is_for_relatives_and_staff_forms_for_staff() -> None:
    problems = problems_of(
        csv_bytes(
            [
                {**BASE, "instrument": "whodas12_proxy", **WHODAS, "H4": "1"},
                {
                    **BASE,
                    "instrument": "course_outcome",
                    "respondent": "relative",
                    "co_help_need": "1",
                },
            ]
        )
    )
    assert where(problems) == [
        (2, "respondent", "respondent_mismatch"),
        (3, "respondent", "respondent_mismatch"),
    ]


FILE_CASES = [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (csv_bytes([], list(BASE) + list(WHO5)), "no_rows"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest of an old workbook", "old_excel"),
    (b"PK\x03\x04 not really a zip", "unreadable"),
    (b"a,b\n\x00\x01\x02", "unreadable"),
    (b"municipality,provider\n\x81\x8d\xff", "encoding"),  # neither UTF-8 nor Windows-1252
]


@pytest.mark.parametrize(("data", "code"), FILE_CASES)
def test_a_file_that_cannot_be_read_says_why(data: bytes, code: str) -> None:
    assert where(problems_of(data)) == [(None, None, code)]


def test_header_problems_name_every_column_at_once() -> None:
    row = {**BASE, **WHO5, "notes": "x", "foo": "", "who5_6": "1"}
    del row["timepoint"], row["answered_on"]
    columns = [*row, "who5_1"]
    problems = problems_of(csv_bytes([row], columns))
    assert where(problems) == [
        (None, None, "duplicate_columns"),
        (None, None, "missing_columns"),
        (None, None, "unknown_columns"),
    ]
    assert dict(problems[1].params) == {"columns": "timepoint, answered_on"}
    assert dict(problems[2].params) == {"columns": "notes, foo, who5_6"}


def test_an_instrument_in_the_file_needs_all_its_required_item_columns() -> None:
    row = {**BASE, "instrument": "whodas12", **WHODAS}
    del row["S7"]
    problems = problems_of(csv_bytes([row]))  # H1-H3 are optional and may be absent
    assert where(problems) == [(None, None, "missing_item_columns")]
    assert dict(problems[0].params) == {"instrument": "whodas12", "columns": "S7"}


def test_cells_beyond_the_header_and_unnamed_columns_with_values_are_errors() -> None:
    header = ",".join([*BASE, "", *WHO5])  # column 9 has no name
    good = ",".join([*BASE.values(), "", *WHO5.values()])
    named = ",".join([*BASE.values(), "x", *WHO5.values()])
    data = f"{header},,\n{good},,\n{good},,extra\n{named}\n".encode()
    problems = problems_of(data)
    assert where(problems) == [(None, None, "unnamed_column"), (3, None, "extra_cells")]
    assert dict(problems[0].params) == {"number": "9"}
    assert check(f"{header},,\n{good},,\n".encode())[0].answers["who5_1"] == 3


def test_every_bad_row_and_column_is_listed_not_only_the_first() -> None:
    good = {**BASE, **WHO5}
    rows = (
        [good] * 3
        + [
            {**good, "cpr": "nope", "who5_1": "9"},
            good,
            {**good, "answered_on": "yesterday", "instrument": "whodas"},
        ]
        + [{**good, "who5_2": "-1"}] * 30
    )
    problems = problems_of(csv_bytes(rows))
    assert where(problems)[:4] == [
        (5, "cpr", "invalid_cpr"),
        (5, "who5_1", "invalid_value"),
        (7, "answered_on", "invalid_date"),
        (7, "instrument", "unknown_instrument"),
    ]
    assert len(problems) == 34
    assert problems[-1].row == 37


def test_every_problem_the_file_alone_shows_is_tested() -> None:
    tested = {code for *_, code in ROW_CASES} | {code for _, code in FILE_CASES}
    tested |= {
        "dont_know_not_offered",
        "not_applicable_not_offered",
        "other_instrument",
        "duplicate_columns",
        "missing_columns",
        "unknown_columns",
        "missing_item_columns",
        "unnamed_column",
        "extra_cells",
        "file_too_large",
        "too_many_rows",
    }
    assert tested | DATABASE_CODES == set(MESSAGES)
    assert not tested & DATABASE_CODES


def test_size_limits_have_clear_messages() -> None:
    data = csv_bytes([{**BASE, **WHO5}] * 5)
    with pytest.raises(ImportRejected) as caught:
        read_table(data, max_rows=4)
    assert str(caught.value) == (
        "The file has too many rows (the limit is 4); split it into smaller files."
    )
    with pytest.raises(ImportRejected) as caught:
        read_table(b"x" * (2 * 1024 * 1024 + 1), max_bytes=2 * 1024 * 1024)
    assert str(caught.value) == "The file is larger than 2 MB."
    assert len(read_table(data, max_rows=5).rows) == 5


# --- the CPR number never comes back ---------------------------------------------------------


def test_no_message_ever_holds_a_cpr_number() -> None:
    cprs = ["120134-1111", "1201341111", "310299-1234", "120134 1111"]
    rows = [
        {**BASE, **WHO5, "cpr": cprs[2]},  # not a valid date: the message must not say it
        {**BASE, **WHO5, "label": cprs[0]},
        {**BASE, **WHO5, "municipality": cprs[1], "provider": cprs[0], "who5_1": cprs[3]},
        {**BASE, **WHO5, "instrument": cprs[0], "respondent": cprs[1], "timepoint": cprs[0]},
        {**BASE, **WHO5, "answered_on": cprs[0], "course_start": cprs[1], "language": cprs[1]},
    ]
    columns = [*BASE, *WHO5, "label", "language", "120134-1111"]
    problems = problems_of(csv_bytes(rows, columns))
    assert len(problems) >= 8
    text = "\n".join(str(p) for p in problems) + repr(problems)
    for cpr in cprs:
        assert cpr not in text
    assert "1201341111" not in text.replace("-", "").replace(" ", "")
    assert "######-####" in text  # echoed values are masked, not dropped silently
    assert "row 2, column cpr: not a valid CPR number" in text


def test_rows_survive_the_trip_through_json_without_a_cpr_number() -> None:
    rows = check(
        csv_bytes(
            [
                {**BASE, **WHO5, "course_end": "2025-03-01", "team": "T", "label": "Æ"},
                {**BASE, "instrument": "start_meeting", **SM, "sm_1": "Ved ikke"},
            ]
        )
    )
    text = rows_to_json(rows)
    assert CPR not in text and normalise_cpr(CPR) not in text
    assert rows_from_json(text) == rows


def test_validate_takes_plain_rows() -> None:
    table = read_table(csv_bytes([{**BASE, **WHO5}]))
    assert table.columns == (*BASE, *WHO5)
    assert table.rows[0] == (2, {**BASE, **WHO5})
    assert set(FIXED_COLUMNS) >= set(BASE)
    assert validate(table, registry=REGISTRY, hmac_key=KEY, today=TODAY)[0].row == 2


def test_the_module_loads_no_web_or_database_library() -> None:
    assert forbidden_modules_loaded("surveyapp.importing") == []
