"""The wide CSV export written by PostgreSQL: the same bytes as the generic Python path.

Compared byte for byte with `iter_rows` + `writers.write_csv` on the demo data and on crafted
rows that cover each conversion's edges, in both CSV formats; and the float formatting and
field quoting against Python on random values (hypothesis, one SQL round trip per example).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.demo import load_demo_data
from surveyapp.enums import AnswerState, Channel, Respondent
from surveyapp.exports import CodedMissing, writers
from surveyapp.instruments import default_registry
from surveyapp.models import (
    Answer,
    Citizen,
    Course,
    Municipality,
    Provider,
    Response,
    Score,
    Team,
)
from surveyapp.services import export_csv_sql
from surveyapp.services import exports as export_service
from surveyapp.services.exports import ExportQuery, Pseudonyms, SystemReach
from surveyapp.services.responses import open_response, record_complete_response, save_answer
from tests.support import factories

pytestmark = pytest.mark.postgres

REGISTRY = default_registry()
KEY = export_service.export_key("test-cpr-hmac-key-0123456789abcdef012345")
WHO5 = {"who5_1": 3, "who5_2": 4, "who5_3": 2, "who5_4": 5, "who5_5": 1}
WHODAS = {f"S{n}": 2 for n in range(1, 12)} | {"S12": AnswerState.NOT_APPLICABLE, "H1": 4}
START_MEETING = {"sm_1": AnswerState.DONT_KNOW, "sm_2": 7, "sm_3": 8, "sm_4": 9}

# Texts that each need one conversion: the delimiter of either format, the quote, CR, LF and
# CRLF (quoted or not depending on the format), a leading formula character, an empty text.
NASTY = [
    "Komma, Kommune",
    "Semi; kolon",
    'Citat "her" og "der"',
    "Linje\nskift",
    "Vogn\rretur",
    "Begge\r\nslags",
    "=SUM(A1:A9)",
    "+45 kommune",
    "-minus",
    "@snabel",
    "\tTab først",
    "\rCR først",
    '=1,"2";3\n',
    "",
    "Æble ø å 'enkelt'",
]
# Moments near midnight UTC: in summer (UTC+2) and winter (UTC+1) the Danish date differs.
MOMENTS = [
    datetime(2026, 7, 1, 21, 59, tzinfo=UTC),  # 23:59 in Denmark: same day
    datetime(2026, 7, 1, 22, 0, tzinfo=UTC),  # 00:00 on 2 July in Denmark
    datetime(2026, 1, 6, 22, 59, tzinfo=UTC),  # 23:59 in Denmark
    datetime(2026, 1, 6, 23, 30, tzinfo=UTC),  # 7 January in Denmark
]
SCORES = [0.0, 60.0, 100.0, 1 / 3, 2 / 3, 12.345678901234567, 99.99999999999999, 0.1, 1e-05]


@pytest.fixture
def backend() -> str:
    return "postgresql"


def _answer(
    session: Session, course: Course, instrument: str, answers: dict[str, Any], at: datetime
) -> None:
    record_complete_response(
        session,
        factories.assignment(course, instrument),
        answers,
        channel=Channel.KIOSK,
        language="da",
        registry=REGISTRY,
        started_at=at,
        submitted_at=at,
    )


@pytest.fixture
def crafted(session_factory: sessionmaker[Session], settings: Settings) -> SystemReach:
    """The demo data plus courses whose names, dates, scores and notes hit every edge."""
    load_demo_data(session_factory, settings, seed=9, citizens=12, today=date(2026, 6, 1))
    with session_factory.begin() as session:
        for n, name in enumerate(NASTY):
            course = factories.course(
                session, start=date(2026, 1, 5), today=date(2026, 1, 5), municipality_name=name
            )
            provider = session.get(Provider, course.provider_id)
            assert provider is not None
            provider.name = NASTY[(n + 1) % len(NASTY)]
            if n % 3 == 0:
                course.team_id = None  # no team: an empty field
            else:
                team = session.get(Team, course.team_id)
                assert team is not None
                team.name = NASTY[(n + 2) % len(NASTY)]
            moment = MOMENTS[n % len(MOMENTS)]
            _answer(session, course, "who5", WHO5, moment)
            _answer(session, course, "whodas12", WHODAS, moment)
            _answer(session, course, "start_meeting", START_MEETING, moment)
            if n % 2 == 0:  # a relative's form left half done
                proxy = factories.assignment(course, "whodas12_proxy", Respondent.RELATIVE)
                unfinished = open_response(
                    session, proxy, channel=Channel.LINK, language="da", registry=REGISTRY
                )
                save_answer(session, unfinished, "S1", 3, registry=REGISTRY)
        session.flush()
        municipality_ids = frozenset(session.scalars(select(Municipality.id)))
        # Scores with many decimals, whole numbers, 0 and small exponents.
        scores = session.scalars(select(Score).order_by(Score.id)).all()
        for n, found in enumerate(scores):
            found.value = SCORES[n % len(SCORES)] * (-1 if n % 7 == 3 else 1)
        # Notes: several (imputed among them), none, an empty list, texts that need quoting.
        responses = session.scalars(select(Response.id).order_by(Response.id)).all()
        notes: list[Any] = [
            ["missing:S3", "imputed:S3", "imputed:S7"],
            ["missing:S1"],
            [],
            None,
            ['=note, with; "quotes"\nand lines'],
            ["not_scorable:too_many_missing", "imputed:H1"],
        ]
        for n, response_id in enumerate(responses):
            session.execute(
                update(Response)
                .where(Response.id == response_id)
                .values(score_notes=notes[n % len(notes)])
            )
        # Each edge alone in an otherwise plain row (the demo's), and an empty-string text.
        for n, response_id in enumerate(responses[::3]):
            session.execute(
                update(Response)
                .where(Response.id == response_id)
                .values(text_version=NASTY[n % len(NASTY)])
            )
        session.execute(
            update(Response).where(Response.id.in_(responses[1::5])).values(language="")
        )
        # Living alone not known (an empty flag), and a scoring version that is empty text.
        session.execute(update(Citizen).where(Citizen.id % 2 == 0).values(lives_alone=None))
        session.execute(
            update(Response).where(Response.id.in_(responses[1::9])).values(scoring_version="")
        )
        # An answered value that equals a missing code, in responses without any coded missing
        # answer: it stays a number (only a response with a coded missing answer has codes).
        plain = (
            select(Answer.response_id)
            .where(Answer.item_id == "sm_2")
            .where(
                ~Answer.response_id.in_(
                    select(Answer.response_id).where(Answer.state != AnswerState.ANSWERED)
                )
            )
            .limit(3)
        )
        session.execute(
            update(Answer)
            .where(Answer.item_id == "sm_2", Answer.response_id.in_(plain))
            .values(value=CodedMissing.DONT_KNOW.code)
        )
    return SystemReach(municipality_ids)


def _generic(session: Session, reach: Any, query: ExportQuery, fmt: str) -> bytes:
    export = export_service.export_layout(REGISTRY, query)
    rows = export_service.iter_rows(session, reach, query, export, Pseudonyms(KEY))
    out = io.BytesIO()
    writers.write_csv(export, rows, out, excel_da=fmt == "csv-excel")
    return out.getvalue()


def _by_sql(session: Session, reach: Any, query: ExportQuery, fmt: str) -> tuple[bytes, int]:
    out = io.BytesIO()
    written = export_service.write_export(session, REGISTRY, reach, query, fmt, out, KEY)
    assert written is not None
    return out.getvalue(), written


QUERIES = [
    ExportQuery(),
    ExportQuery(include_in_progress=True, language="en"),
    *(ExportQuery(instrument=i, include_in_progress=True) for i in REGISTRY.ids()),
]


@pytest.mark.parametrize("fmt", ["csv", "csv-excel"])
def test_the_database_writes_the_same_bytes_as_python(
    session_factory: sessionmaker[Session], crafted: SystemReach, fmt: str
) -> None:
    with session_factory() as session:
        for query in QUERIES:
            export = export_service.export_layout(REGISTRY, query)
            assert export_csv_sql.applies(session.connection(), export, fmt)
            expected = _generic(session, crafted, query, fmt)
            found, written = _by_sql(session, crafted, query, fmt)
            assert found == expected, query
            chunks = export_service.csv_chunks(session, REGISTRY, crafted, query, fmt, KEY)
            assert b"".join(chunks) == expected  # the streaming download's bytes
            assert written == export_service.count_rows(session, crafted, query) > 0
        # The crafted edges are really in the file (so the comparison covers them).
        whole, _ = _by_sql(session, crafted, ExportQuery(include_in_progress=True), fmt)
    content = whole.decode("utf-8")
    assert content.startswith("\ufeff") is (fmt == "csv-excel")
    for needle in ('"Citat ""her""', "'=SUM(A1:A9)", "'@snabel", "Ved ikke", "Ikke relevant"):
        assert needle in content, needle
    assert "2026-07-02" in content and "2026-01-07" in content and "2026-07-01" in content
    third = "0,3333333333333333" if fmt == "csv-excel" else "0.3333333333333333"
    assert third in content and "1e-05" in content
    assert "'=note, with;" in content  # a note starting with "=" is neutralised


def test_other_exports_keep_the_generic_path(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        connection = session.connection()
        wide = export_service.export_layout(REGISTRY, ExportQuery())
        long = export_service.export_layout(REGISTRY, ExportQuery(long=True))
        assert export_csv_sql.applies(connection, wide, "csv")
        assert export_csv_sql.applies(connection, wide, "csv-excel")
        assert not export_csv_sql.applies(connection, long, "csv")
        assert not export_csv_sql.applies(connection, wide, "xlsx")


def test_the_pseudonyms_are_the_python_hmac(session_factory: sessionmaker[Session]) -> None:
    ikey, okey = export_csv_sql.hmac_pads(KEY)
    with session_factory() as session:
        found = session.execute(
            select(
                text(
                    "left(encode(sha256(:o || sha256(:i || convert_to('citizen:' || 12345, "
                    "'UTF8'))), 'hex'), 16)"
                ).bindparams(i=ikey, o=okey)
            )
        ).scalar_one()
    assert found == Pseudonyms(KEY)("citizen", 12345)


# --- Formatting and quoting on random values (hypothesis) ------------------------------------

EXAMPLES = 60  # per test; each example is one SQL round trip of up to 40 values
BOUNDED = hypothesis_settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
)

# Floats where PostgreSQL's output is proven equal to Python's: whole numbers below 2**63 and
# other values below 1e15 in magnitude (scores lie in 0..100); plus NaN and the infinities.
FLOATS = st.one_of(
    st.floats(min_value=-1e15, max_value=1e15, exclude_min=True, exclude_max=True),
    st.floats(min_value=0, max_value=100),
    st.integers(min_value=-(2**62), max_value=2**62).map(float),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1e-300]),
)
TEXTS = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(",;\"\r\n\t=+-@' ")),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=12,
)


def _round_trip(
    session: Session, expression: str, kind: str, values: list[Any], params: dict[str, Any]
) -> list[str]:
    """`expression` (over `v`) of each value, computed by PostgreSQL in one statement."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute("SET LOCAL extra_float_digits = 1")
        cursor.execute(
            f"SELECT {expression} FROM unnest(%(values)s::{kind}[]) WITH ORDINALITY AS t(v, o) "
            "ORDER BY o",
            {"values": values, **params},
        )
        return [r[0] for r in cursor.fetchall()]


@pytest.mark.parametrize("fmt", ["csv", "csv-excel"])
def test_floats_are_written_as_python_writes_them(
    session_factory: sessionmaker[Session], fmt: str
) -> None:
    dialect = export_csv_sql.Dialect.of(fmt)
    builder = export_csv_sql.SqlCells(dialect)
    expression = builder.number("v")
    python = writers._number_text(dialect.decimal_comma)
    with session_factory() as session:

        @hypothesis_settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
        )
        @given(st.lists(FLOATS, min_size=1, max_size=40))
        def check(values: list[float]) -> None:
            found = _round_trip(session, expression, "float8", values, builder.params)
            assert found == [python(v) for v in values]

        check()


@pytest.mark.parametrize("fmt", ["csv", "csv-excel"])
def test_texts_are_neutralised_and_quoted_as_the_csv_module_does(
    session_factory: sessionmaker[Session], fmt: str
) -> None:
    dialect = export_csv_sql.Dialect.of(fmt)
    builder = export_csv_sql.SqlCells(dialect)
    expression = builder.text("v")

    def python(value: str) -> str:
        buffer = io.StringIO()
        dialect.writer(buffer).writerow([writers.neutralise(value), "x"])
        return buffer.getvalue()[: -len(dialect.delimiter + "x" + dialect.lineterminator)]

    with session_factory() as session:

        @hypothesis_settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
        )
        @given(st.lists(TEXTS, min_size=1, max_size=40))
        def check(values: list[str]) -> None:
            found = _round_trip(session, expression, "text", values, builder.params)
            assert found == [python(v) for v in values]

        check()
        # Every character below U+3000 one by one: only the dialect's own trigger quoting.
        chars = [chr(n) for n in range(1, 0x3000) if not 0xD800 <= n < 0xE000]
        values = [f"a{c}b" for c in chars] + [f"{c}a" for c in chars]
        assert _round_trip(session, expression, "text", values, builder.params) == [
            python(v) for v in values
        ]
