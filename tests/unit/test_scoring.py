"""Scoring: the published worked examples, the flags, missing data and invalid answers."""

from __future__ import annotations

from statistics import mean
from types import MappingProxyType

import pytest

from surveyapp.instruments import (
    Instrument,
    Item,
    ItemKind,
    LanguageInfo,
    Option,
    RespondentKind,
    ScoringError,
    Text,
    default_registry,
    score,
)

WHO5 = default_registry().get("who5")
WHODAS = default_registry().get("whodas12")
PROXY = default_registry().get("whodas12_proxy")
START = default_registry().get("start_meeting")
COURSE = default_registry().get("course_outcome")
S_ITEMS = [f"S{n}" for n in range(1, 13)]


def who5(*values: int | None) -> dict[str, int | None]:
    return {f"who5_{n}": v for n, v in enumerate(values, start=1)}


def whodas(**values: int | None) -> dict[str, int | None]:
    """All twelve items "Moderate" (code 3) unless given."""
    return {item: values.get(item, 3) for item in S_ITEMS}


# --- WHO-5 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "raw", "percent"),
    [  # who5.md, worked examples (awell-health/awell-score test data)
        ((0, 0, 0, 0, 0), 0, 0),
        ((3, 3, 3, 3, 3), 15, 60),
        ((5, 5, 5, 5, 5), 25, 100),
        ((4, 1, 0, 2, 3), 10, 40),
    ],
)
def test_who5_worked_examples(items: tuple[int, ...], raw: int, percent: int) -> None:
    result = score(WHO5, who5(*items))
    assert (result.scores["who5_raw"], result.scores["who5_percent"]) == (raw, percent)
    assert result.scorable and not result.imputed and result.notes == ()
    assert result.scoring_version == "who5/1"


def test_who5_with_any_item_missing_is_not_scored() -> None:
    result = score(WHO5, who5(5, 5, None, 5))  # who5_5 left out altogether
    assert result.scores == dict.fromkeys(
        ["who5_raw", "who5_percent", "who5_poor_wellbeing", "who5_likely_depression"]
        + ["who5_low_item"]
    )
    assert not result.scorable
    assert result.notes == ("not_scorable:missing_items:2", "missing:who5_3", "missing:who5_5")


@pytest.mark.parametrize(
    ("items", "poor", "depression", "low_item"),
    [
        ((3, 3, 2, 2, 2), 1, 0, 0),  # raw 12 = 48 %: poor well-being (<= 50)
        ((3, 3, 3, 2, 2), 0, 0, 0),  # raw 13 = 52 %
        ((2, 2, 2, 2, 2), 1, 0, 0),  # 40 %, no item below 2
        ((2, 2, 1, 1, 1), 1, 1, 1),  # raw 7 = 28 %: likely depression (<= 28)
        ((2, 2, 2, 2, 1), 1, 0, 1),  # raw 9 = 36 %
        ((5, 5, 5, 5, 1), 0, 0, 1),  # 84 %, but an item answered 1
        ((5, 5, 5, 5, 0), 0, 0, 1),  # an item answered 0
    ],
)
def test_who5_flags(items: tuple[int, ...], poor: int, depression: int, low_item: int) -> None:
    scores = score(WHO5, who5(*items)).scores
    assert scores["who5_poor_wellbeing"] == poor
    assert scores["who5_likely_depression"] == depression
    assert scores["who5_low_item"] == low_item


def test_who5_likely_depression_boundary() -> None:
    assert score(WHO5, who5(2, 2, 2, 1, 1)).scores["who5_likely_depression"] == 0  # 32 %
    assert score(WHO5, who5(2, 2, 1, 1, 1)).scores["who5_likely_depression"] == 1  # 28 %


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (40, 50, "improved"),
        (40, 49, "unchanged"),
        (40, 31, "unchanged"),
        (40, 30, "worsened"),
        (40, 40, "unchanged"),
        (0, 100, "improved"),
        (52.0, 41.5, "worsened"),
    ],
)
def test_who5_change(before: float, after: float, change: str) -> None:
    """The WHO-5 file declares the published 10-point threshold; higher is better."""
    spec = WHO5.score_spec("who5_percent")
    assert spec is not None and spec.change_threshold == 10
    assert spec.classify(before, after) == change


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [(40, 30, "improved"), (40, 31, "unchanged"), (40, 50, "worsened"), (10, 0, "improved")],
)
def test_whodas_change_lower_is_better(before: float, after: float, change: str) -> None:
    spec = WHODAS.score_spec("whodas12_percent")
    assert spec is not None and not spec.higher_is_better
    assert spec.classify(before, after) == change


# --- WHODAS 2.0 12-item --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "total", "percent"),
    [(1, 12, 0), (2, 24, 25), (3, 36, 50), (4, 48, 75), (5, 60, 100)],
)
def test_whodas_all_same_worked_examples(code: int, total: int, percent: float) -> None:
    # whodas.md: all twelve items 0..4 on the 0-4 codes -> 0/12/24/36/48, 0/25/50/75/100 %.
    for instrument in (WHODAS, PROXY):
        result = score(instrument, dict.fromkeys(S_ITEMS, code))
        scores = result.scores
        prefix = instrument.id
        assert scores[f"{prefix}_sum"] == total == 12 + 12 * (code - 1)  # 0-4 sum: 12 x (code-1)
        assert scores[f"{prefix}_percent"] == pytest.approx(percent)
        assert result.scorable and not result.imputed and result.notes == ()
        assert result.scoring_version == "whodas12_simple/1"


def test_whodas_german_mii_all_moderate_is_24_on_the_0_to_4_codes() -> None:
    total = score(WHODAS, whodas()).scores["whodas12_sum"]
    assert total is not None and total - 12 == 24  # the sum of the 0-4 codes
    assert total == 36


def test_whodas_domain_scores_are_pair_sums_on_the_1_to_5_codes() -> None:
    answers = whodas(S3=1, S6=2, S1=5, S7=4, S8=1, S9=1, S10=2, S11=3, S2=4, S12=5, S4=3, S5=2)
    scores = score(WHODAS, answers).scores
    assert {k: v for k, v in scores.items() if k not in ("whodas12_sum", "whodas12_percent")} == {
        "whodas12_cognition": 3,
        "whodas12_mobility": 9,
        "whodas12_self_care": 2,
        "whodas12_getting_along": 5,
        "whodas12_life_activities": 9,
        "whodas12_participation": 5,
    }
    assert scores["whodas12_sum"] == 33
    assert scores["whodas12_percent"] == pytest.approx(21 * 100 / 48)  # 43.75


def test_whodas_one_missing_item_takes_its_domain_partners_value() -> None:
    # S12 not applicable (retired): S2 = 4, so S12 is imputed as 4.
    answers = whodas(S1=2, S2=4, S12=None)
    result = score(WHODAS, answers)
    # 3 x 9 other items + S1 2 + S2 4 + imputed S12 4 = 27 + 10 = 37
    assert result.scores["whodas12_sum"] == 37
    assert result.scores["whodas12_percent"] == pytest.approx(25 * 100 / 48)
    assert result.scores["whodas12_life_activities"] == 8
    assert result.imputed and result.scorable
    assert result.notes == ("imputed:S12",)


def test_whodas_two_missing_items_in_different_domains_are_both_imputed() -> None:
    answers = whodas(S2=2, S12=None, S4=5, S5=None, S8=1)
    result = score(WHODAS, answers)
    # S1 S3 S6 S7 S9 S10 S11 at 3; S2 2 and imputed S12 2; S4 5 and imputed S5 5; S8 1.
    expected = 7 * 3 + 2 + 2 + 5 + 5 + 1
    assert result.scores["whodas12_sum"] == expected == 36
    assert result.scores["whodas12_participation"] == 10
    assert result.scores["whodas12_life_activities"] == 4
    assert result.notes == ("imputed:S5", "imputed:S12")
    assert result.imputed and result.scorable


def test_whodas_both_items_of_one_domain_missing_is_not_scorable() -> None:
    result = score(WHODAS, whodas(S2=None, S12=None, S1=5))
    assert result.scores["whodas12_sum"] is None
    assert result.scores["whodas12_percent"] is None
    assert result.scores["whodas12_life_activities"] is None
    assert result.scores["whodas12_mobility"] == 8  # complete domains are still scored
    assert result.notes == (
        "not_scorable:domain_missing:life_activities",
        "missing:S2",
        "missing:S12",
    )
    assert not result.scorable and not result.imputed


def test_whodas_more_than_two_missing_is_not_scored() -> None:
    result = score(WHODAS, whodas(S1=None, S5=None, S9=None))
    assert set(result.scores.values()) == {None}
    assert result.notes == (
        "not_scorable:missing_items:3",
        "missing:S1",
        "missing:S5",
        "missing:S9",
    )
    assert not result.scorable


def test_whodas_missing_is_never_counted_as_zero() -> None:
    complete = score(WHODAS, whodas(S12=1)).scores["whodas12_sum"]
    imputed = score(WHODAS, whodas(S12=None)).scores["whodas12_sum"]
    assert complete == 34 and imputed == 36  # S12 imputed as S2 = 3, not 0 and not 1


def test_whodas_day_counts_and_relationship_are_not_scored() -> None:
    base = score(WHODAS, whodas()).scores
    assert score(WHODAS, {**whodas(), "H1": 30, "H2": 0, "H3": None}).scores == base
    proxy = score(PROXY, {**whodas(), "H4": 8}).scores
    assert proxy == {k.replace("whodas12", "whodas12_proxy"): v for k, v in base.items()}


# --- start meeting -------------------------------------------------------------------------


def test_start_meeting_item_scores_mean_and_n() -> None:
    result = score(START, {"sm_1": 7, "sm_2": 8, "sm_3": None, "sm_4": 10})
    assert result.scores == {
        "start_meeting_sm_1": 7,
        "start_meeting_sm_2": 8,
        "start_meeting_sm_3": None,
        "start_meeting_sm_4": 10,
        "start_meeting_mean": pytest.approx(25 / 3),
        "start_meeting_n": 3,
    }
    assert result.notes == ("missing:sm_3",)
    assert result.scorable and result.scoring_version == "start_meeting_mean/1"


def test_start_meeting_with_nothing_answered_has_no_mean() -> None:
    result = score(START, {"sm_1": None})
    assert result.scores["start_meeting_mean"] is None
    assert result.scores["start_meeting_n"] == 0
    assert result.notes[0] == "not_scorable:no_items_answered"
    assert not result.scorable


def spread(total: int, n: int) -> list[int]:
    """Return n whole numbers 0-10 adding up to total."""
    return [total // n + (1 if k < total % n else 0) for k in range(n)]


@pytest.mark.parametrize(
    ("n", "published"),
    [  # start_meeting.md: means per question at Baseline and Måling 1
        (13, {"sm_1": "5,77", "sm_2": "6,00", "sm_3": "5,69", "sm_4": "6,15"}),
        (5, {"sm_1": "7,40", "sm_2": "6,40", "sm_3": "7,80", "sm_4": "8,0"}),
    ],
)
def test_start_meeting_reproduces_the_published_table(n: int, published: dict[str, str]) -> None:
    # Response sets consistent with the published means (n = 13, then 5 respondents).
    totals = {item: round(float(mean_.replace(",", ".")) * n) for item, mean_ in published.items()}
    columns = {item: spread(total, n) for item, total in totals.items()}
    results = [score(START, {item: columns[item][k] for item in columns}) for k in range(n)]
    for item, shown in published.items():
        means = mean(r.scores[f"start_meeting_{item}"] or 0 for r in results)
        decimals = len(shown.split(",")[1])
        assert f"{means:.{decimals}f}".replace(".", ",") == shown


# --- staff form, validation ------------------------------------------------------------------


def test_course_outcome_has_no_scores() -> None:
    result = score(COURSE, {"co_help_need": 1, "co_self_sufficient": 0, "co_pre_contact": None})
    assert result.scores == {} and result.notes == () and result.scorable
    assert result.scoring_version == "none/1"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"who5_6": 3}, "item 'who5_6': not an item of who5"),
        ({"who5_1": 6}, "item 'who5_1': value 6 is outside 0–5"),
        ({"who5_1": -1}, "item 'who5_1': value -1 is outside 0–5"),
        ({"who5_1": True}, "item 'who5_1': expected a whole number, got bool True"),
        ({"who5_1": False}, "got bool False"),
        ({"who5_1": 2.5}, "item 'who5_1': 2.5 is not a whole number"),
        ({"who5_1": "3"}, "item 'who5_1': expected a whole number, got str '3'"),
        ({"who5_1": [3]}, "got list [3]"),
    ],
)
def test_invalid_answers_raise_scoring_error(answers: dict[str, object], message: str) -> None:
    with pytest.raises(ScoringError) as caught:
        score(WHO5, answers)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.item_id == next(iter(answers))


def test_whole_floats_are_accepted() -> None:
    assert score(WHO5, who5(3.0, 3, 3, 3, 3)).scores["who5_raw"] == 15  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 31])
def test_out_of_range_integer_items(value: int) -> None:
    if value == 0:
        assert score(WHODAS, {**whodas(), "H2": 0}).scorable
    else:
        with pytest.raises(ScoringError, match="value 31 is outside 0–30"):
            score(WHODAS, {**whodas(), "H2": value})


def test_a_value_between_options_is_rejected() -> None:
    texts = MappingProxyType({"da": Text("x", True)})
    item = Item(
        id="q",
        kind=ItemKind.SINGLE_CHOICE,
        text=texts,
        min=0,
        max=2,
        options=(Option(0, texts), Option(2, texts)),
    )
    instrument = Instrument(
        id="gaps",
        version="1",
        title={"da": "x"},
        respondent=RespondentKind.SELF,
        languages={"da": LanguageInfo("da", "x", True, ())},
        licence="own",
        citation="",
        scoring="none",
        items=(item,),
        texts={},
    )
    with pytest.raises(ScoringError, match="value 1 is not one of the options 0, 2"):
        score(instrument, {"q": 1})
    assert score(instrument, {"q": 2}).scorable
