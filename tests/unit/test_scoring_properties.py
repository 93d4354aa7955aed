"""Invariants of the scoring rules, checked on generated answers (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from surveyapp.instruments import default_registry, score, score_names

REGISTRY = default_registry()
WHO5 = REGISTRY.get("who5")
WHODAS = REGISTRY.get("whodas12")
START = REGISTRY.get("start_meeting")
S_ITEMS = [f"S{n}" for n in range(1, 13)]
PAIRS = [("S3", "S6"), ("S1", "S7"), ("S8", "S9"), ("S10", "S11"), ("S2", "S12"), ("S4", "S5")]

who5_values = st.lists(st.integers(0, 5), min_size=5, max_size=5)
whodas_values = st.lists(st.integers(1, 5), min_size=12, max_size=12)
# One or two missing items, never both of one domain.
imputable_missing = st.sets(st.sampled_from(S_ITEMS), min_size=1, max_size=2).filter(
    lambda missing: not any(set(pair) <= missing for pair in PAIRS)
)


@given(who5_values)
def test_who5_percent_is_four_times_raw(values: list[int]) -> None:
    scores = score(WHO5, {f"who5_{n}": v for n, v in enumerate(values, 1)}).scores
    raw, percent = scores["who5_raw"], scores["who5_percent"]
    assert raw == sum(values) and percent == 4 * raw
    assert 0 <= percent <= 100
    assert scores["who5_poor_wellbeing"] == int(percent <= 50)
    assert scores["who5_likely_depression"] <= scores["who5_poor_wellbeing"]  # type: ignore[operator]


@given(who5_values, st.integers(0, 4))
def test_who5_with_a_missing_item_is_never_scored(values: list[int], gap: int) -> None:
    answers: dict[str, int | None] = {f"who5_{n}": v for n, v in enumerate(values, 1)}
    answers[f"who5_{gap + 1}"] = None
    result = score(WHO5, answers)
    assert set(result.scores.values()) == {None} and not result.scorable


@given(whodas_values)
def test_whodas_complete_answers(values: list[int]) -> None:
    scores = score(WHODAS, dict(zip(S_ITEMS, values, strict=True))).scores
    total, percent = scores["whodas12_sum"], scores["whodas12_percent"]
    assert isinstance(total, int) and isinstance(percent, float)
    assert 12 <= total <= 60 and 0 <= percent <= 100
    assert percent == (total - 12) * 100 / 48
    domains = [v for k, v in scores.items() if k not in ("whodas12_sum", "whodas12_percent")]
    assert sum(domains) == total  # type: ignore[arg-type]


@given(whodas_values, st.sampled_from(S_ITEMS))
def test_whodas_is_monotone_in_each_item(values: list[int], item: str) -> None:
    answers: dict[str, int | None] = dict(zip(S_ITEMS, values, strict=True))
    value = answers[item]
    assert value is not None
    if value < 5:
        before = score(WHODAS, answers).scores
        after = score(WHODAS, {**answers, item: value + 1}).scores
        assert after["whodas12_sum"] == before["whodas12_sum"] + 1  # type: ignore[operator]
        assert after["whodas12_percent"] > before["whodas12_percent"]  # type: ignore[operator]


@given(whodas_values, imputable_missing)
def test_whodas_imputed_total_stays_within_the_answered_values(
    values: list[int], missing: set[str]
) -> None:
    answers: dict[str, int | None] = dict(zip(S_ITEMS, values, strict=True))
    for item in missing:
        answers[item] = None
    answered = [v for v in answers.values() if v is not None]
    result = score(WHODAS, answers)
    total = result.scores["whodas12_sum"]
    assert result.scorable and result.imputed
    assert isinstance(total, int)
    assert 12 * min(answered) <= total <= 12 * max(answered)
    assert total >= sum(answered) + len(missing)  # a missing item never counts as 0 (or 1)
    assert 0 <= result.scores["whodas12_percent"] <= 100  # type: ignore[operator]
    assert sorted(result.notes) == sorted(f"imputed:{item}" for item in missing)


@given(whodas_values, st.sets(st.sampled_from(S_ITEMS), min_size=3))
def test_whodas_more_than_two_missing_is_never_scored(values: list[int], missing: set[str]) -> None:
    answers = {k: (None if k in missing else v) for k, v in zip(S_ITEMS, values, strict=True)}
    result = score(WHODAS, answers)
    assert set(result.scores.values()) == {None} and not result.scorable


@given(st.lists(st.one_of(st.none(), st.integers(0, 10)), min_size=4, max_size=4))
def test_start_meeting_mean_lies_between_the_answers(values: list[int | None]) -> None:
    answers = dict(zip(("sm_1", "sm_2", "sm_3", "sm_4"), values, strict=True))
    scores = score(START, answers).scores
    answered = [v for v in values if v is not None]
    assert scores["start_meeting_n"] == len(answered)
    mean = scores["start_meeting_mean"]
    if answered:
        assert mean is not None and min(answered) <= mean <= max(answered)
    else:
        assert mean is None


@given(st.data())
def test_every_rule_always_returns_all_its_score_names(data: st.DataObject) -> None:
    instrument = data.draw(st.sampled_from(list(REGISTRY)))
    answers = {
        item.id: data.draw(st.one_of(st.none(), st.sampled_from(item.values)))
        for item in instrument.items
    }
    assert tuple(score(instrument, answers).scores) == score_names(instrument)
