"""The shipped definitions: item-id contract, validated wording, flags; the registry API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from surveyapp.instruments import (
    DEFINITIONS_DIR,
    ITEM_KINDS,
    DefinitionError,
    ItemKind,
    Registry,
    RespondentKind,
    TextParameterError,
    default_registry,
    load_registry,
    score_names,
)

# Copied from /work/shared/instruments/*.md (the validated wording).
WHO5_ITEMS = {
    "who5_1": (
        "I de sidste 2 uger har jeg været glad og i godt humør",
        "I have felt cheerful and in good spirits",
    ),
    "who5_2": (
        "I de sidste 2 uger har jeg følt mig rolig og afslappet",
        "I have felt calm and relaxed",
    ),
    "who5_3": (
        "I de sidste 2 uger har jeg følt mig aktiv og energisk",
        "I have felt active and vigorous",
    ),
    "who5_4": (
        "I de sidste 2 uger er jeg vågnet frisk og udhvilet",
        "I woke up feeling fresh and rested",
    ),
    "who5_5": (
        "I de sidste 2 uger har min dagligdag været fyldt med ting der interesserer mig",
        "My daily life has been filled with things that interest me",
    ),
}
WHO5_OPTIONS = [
    (5, "Hele tiden", "All of the time"),
    (4, "Det meste af tiden", "Most of the time"),
    (3, "Lidt mere end halvdelen af tiden", "More than half of the time"),
    (2, "Lidt mindre end halvdelen af tiden", "Less than half of the time"),
    (1, "Lidt af tiden", "Some of the time"),
    (0, "På intet tidspunkt", "At no time"),
]
WHO5_INSTRUCTION_EN = (
    "Please indicate for each of the five statements which is closest to how you have been "
    "feeling over the last two weeks. Notice that higher numbers mean better well-being."
)
WHODAS_SELF_EN = {
    "S1": "Standing for long periods such as 30 minutes?",
    "S2": "Taking care of your household responsibilities?",
    "S3": "Learning a new task, for example, learning how to get to a new place?",
    "S4": "How much of a problem did you have in joining in community activities (for "
    "example, festivities, religious or other activities) in the same way as anyone else can?",
    "S5": "How much have you been emotionally affected by your health problems?",
    "S6": "Concentrating on doing something for ten minutes?",
    "S7": "Walking a long distance such as a kilometre [or equivalent]?",
    "S8": "Washing your whole body?",
    "S9": "Getting dressed?",
    "S10": "Dealing with people you do not know?",
    "S11": "Maintaining a friendship?",
    "S12": "Your day-to-day work/school?",
    "H1": "Overall, in the past 30 days, how many days were these difficulties present?",
    "H2": "In the past 30 days, for how many days were you totally unable to carry out your "
    "usual activities or work because of any health condition?",
    "H3": "In the past 30 days, not counting the days that you were totally unable, for how "
    "many days did you cut back or reduce your usual activities or work because of any "
    "health condition?",
}
WHODAS_SELF_PREAMBLE = (
    "This questionnaire asks about difficulties due to health conditions. Health conditions "
    "include diseases or illnesses, other health problems that may be short or long lasting, "
    "injuries, mental or emotional problems, and problems with alcohol or drugs. Think back "
    "over the past 30 days and answer these questions, thinking about how much difficulty you "
    "had doing the following activities."
)
WHODAS_PROXY_EN = {
    "S1": "Standing for long periods such as 30 minutes?",
    "S2": "Taking care of his or her household responsibilities?",
    "S3": "Learning a new task, for example, learning how to get to a new place?",
    "S4": "How much of a problem did your relative have in joining in community activities "
    "(for example, festivities, religious or other activities) in the same way as anyone "
    "else can?",
    "S5": "How much has your relative been emotionally affected by his or her health condition?",
    "S6": "Concentrating on doing something for ten minutes?",
    "S7": "Walking a long distance such as a kilometre [or equivalent]?",
    "S8": "Washing his or her whole body?",
    "S9": "Getting dressed?",
    "S10": "Dealing with people he or she does not know?",
    "S11": "Maintaining a friendship?",
    "S12": "His or her day-to-day work/school?",
    "H4": "I am the ______ (choose one) of this person.",
}
WHODAS_PROXY_PREAMBLE = (
    "This questionnaire asks about difficulties due to health conditions experienced by the "
    "person about whom you are responding in your role as friend, relative, or carer. Health "
    "conditions include diseases or illnesses, other health problems that may be short or "
    "long lasting, injuries, mental or emotional problems, and problems with alcohol or drugs. "
    "Think back over the past 30 days and, to the best of your knowledge, answer these "
    "questions thinking about how much difficulty your friend, relative, or carer had while "
    'doing the following activities. (Note: the questionnaire uses the term "relative" to '
    'mean "friend," "relative," or "carer.")'
)
WHODAS_DOMAINS = {
    "cognition": ("S3", "S6"),
    "mobility": ("S1", "S7"),
    "self_care": ("S8", "S9"),
    "getting_along": ("S10", "S11"),
    "life_activities": ("S2", "S12"),
    "participation": ("S4", "S5"),
}
START_MEETING_DA = {
    "sm_1": "I hvilken udstrækning oplever du dig set, hørt og forstået i forbindelse med "
    "opstart af hjælp og støtte fra {unit} i {municipality}?",
    "sm_2": "I hvilken udstrækning oplever du opstarten af hjælp og støtte fra {municipality} "
    "som et sammenhængende og koordineret borgerforløb?",
    "sm_3": "I hvilken udstrækning oplever du at den nødvendige hjælp og støtte blev "
    "tilrettelagt så de ting du selv kan blev brugt?",
    "sm_4": "Hvad er din samlede oplevelse af opstarten af samarbejdet med {unit} i "
    "{municipality}?",
}
S_ITEMS = [f"S{n}" for n in range(1, 13)]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def test_every_shipped_definition_loads(registry: Registry) -> None:
    assert registry.ids() == (
        "course_outcome",
        "start_meeting",
        "who5",
        "whodas12",
        "whodas12_proxy",
    )
    assert len(registry) == len(list(DEFINITIONS_DIR.glob("*.toml")))


def test_item_ids_match_the_contract(registry: Registry) -> None:
    assert registry.get("who5").item_ids == ("who5_1", "who5_2", "who5_3", "who5_4", "who5_5")
    assert registry.get("whodas12").item_ids == (*S_ITEMS, "H1", "H2", "H3")
    assert registry.get("whodas12_proxy").item_ids == (*S_ITEMS, "H4")
    assert registry.get("start_meeting").item_ids == ("sm_1", "sm_2", "sm_3", "sm_4")
    assert registry.get("course_outcome").item_ids == (
        "co_help_need",
        "co_self_sufficient",
        "co_quality_of_life",
        "co_pre_contact",
    )


def test_value_ranges_match_the_contract(registry: Registry) -> None:
    for item in registry.get("who5").items:
        assert (item.kind, item.min, item.max, item.values) == (
            ItemKind.SINGLE_CHOICE,
            0,
            5,
            (5, 4, 3, 2, 1, 0),
        )
    for instrument_id in ("whodas12", "whodas12_proxy"):
        instrument = registry.get(instrument_id)
        for item_id in S_ITEMS:
            assert instrument.item(item_id).values == (1, 2, 3, 4, 5)
        assert [i.id for i in instrument.items if i.not_applicable] == ["S12"]
    for item_id in ("H1", "H2", "H3"):
        item = registry.get("whodas12").item(item_id)
        assert (item.kind, item.min, item.max, item.optional) == (ItemKind.INTEGER, 0, 30, True)
    assert registry.get("whodas12_proxy").item("H4").values == tuple(range(1, 9))
    for item in registry.get("start_meeting").items:
        assert (item.kind, item.min, item.max, item.dont_know) == (ItemKind.SCALE, 0, 10, True)


def test_score_names_match_the_batch_contract(registry: Registry) -> None:
    assert {"who5_raw", "who5_percent"} <= set(score_names(registry.get("who5")))
    assert {"whodas12_sum", "whodas12_percent"} <= set(score_names(registry.get("whodas12")))
    assert "start_meeting_mean" in score_names(registry.get("start_meeting"))
    assert score_names(registry.get("course_outcome")) == ()


def test_who5_wording_is_the_validated_text(registry: Registry) -> None:
    who5 = registry.get("who5")
    for item_id, (da, en) in WHO5_ITEMS.items():
        assert (who5.text(item_id, "da"), who5.text(item_id, "en")) == (da, en)
        options = who5.item(item_id).options
        assert [(o.value, o.label["da"].value, o.label["en"].value) for o in options] == (
            WHO5_OPTIONS
        )
    assert who5.text("instruction", "en") == WHO5_INSTRUCTION_EN
    assert who5.text("stem", "en") == "Over the last two weeks:"


def test_who5_danish_instruction_is_the_only_unverified_text(registry: Registry) -> None:
    who5 = registry.get("who5")
    assert who5.texts["instruction"]["da"].verified is False
    assert who5.languages["da"].verified is False
    assert who5.languages["da"].unverified_texts == ("instruction",)
    assert who5.languages["en"].verified is True
    assert who5.codes == {"snomed_ct": "1144665009"}
    assert "CC BY-NC-SA 3.0 IGO" in who5.citation


def test_whodas_english_wording_is_the_validated_text(registry: Registry) -> None:
    self_form, proxy = registry.get("whodas12"), registry.get("whodas12_proxy")
    for item_id, text in WHODAS_SELF_EN.items():
        assert self_form.text(item_id, "en") == text
    for item_id, text in WHODAS_PROXY_EN.items():
        assert proxy.text(item_id, "en") == text
    assert self_form.text("preamble", "en") == WHODAS_SELF_PREAMBLE
    assert (
        self_form.text("stem", "en") == "In the past 30 days, how much difficulty did you have in:"
    )
    assert proxy.text("preamble", "en") == WHODAS_PROXY_PREAMBLE
    assert proxy.text("stem", "en") == (
        "In the past 30 days, how much difficulty did your relative have in:"
    )
    labels = [o.label["en"].value for o in self_form.item("S1").options]
    assert labels == ["None", "Mild", "Moderate", "Severe", "Extreme or cannot do"]


def test_whodas_verification_flags(registry: Registry) -> None:
    self_form, proxy = registry.get("whodas12"), registry.get("whodas12_proxy")
    assert self_form.languages["en"].verified is True
    assert self_form.languages["da"].verified is False
    assert proxy.languages["en"].verified is False
    assert proxy.languages["da"].verified is False
    assert all(not item.text["da"].verified for item in self_form.items)
    for instrument in (self_form, proxy):
        assert instrument.codes == {"snomed_ct": "719091001"}
        assert "permission" in instrument.licence_note and "WHO" in instrument.licence_note
        assert "simple" in instrument.scoring_note.lower()
    assert self_form.respondent is RespondentKind.SELF
    assert proxy.respondent is RespondentKind.PROXY


def test_whodas_domains_are_the_published_pairs(registry: Registry) -> None:
    for instrument_id in ("whodas12", "whodas12_proxy"):
        instrument = registry.get(instrument_id)
        assert instrument.domains == tuple(WHODAS_DOMAINS)
        for domain, pair in WHODAS_DOMAINS.items():
            assert tuple(i.id for i in instrument.items if i.domain == domain) == tuple(
                sorted(pair, key=lambda s: int(s[1:]))
            )


def test_start_meeting_danish_is_verbatim_with_parameters(registry: Registry) -> None:
    sm = registry.get("start_meeting")
    for item_id, text in START_MEETING_DA.items():
        assert sm.item(item_id).text["da"].value == text
        assert sm.item(item_id).text["da"].verified is True
    params = {"unit": "Hjemmeplejen", "municipality": "Aarhus Kommune"}
    assert sm.text("sm_4", "da", params) == (
        "Hvad er din samlede oplevelse af opstarten af samarbejdet med Hjemmeplejen i "
        "Aarhus Kommune?"
    )
    assert "{" not in sm.text("sm_1", "en", params)
    assert sm.text("sm_3", "da") == START_MEETING_DA["sm_3"]  # no placeholders, no params
    assert sm.languages["en"].verified is False
    # The 0-10 scale and its end labels are inferred, not from the municipality's report.
    assert sm.languages["da"].verified is False
    assert {t.split(".")[1] for t in sm.languages["da"].unverified_texts} == {
        "min_label",
        "max_label",
    }
    labels = sm.item("sm_4").min_label, sm.item("sm_4").max_label
    assert [t["da"].value for t in labels if t] == ["Meget dårlig", "Meget god"]
    assert sm.dont_know_label == {"da": "Ved ikke", "en": "Don't know"}


def test_missing_text_parameter_is_a_clear_error(registry: Registry) -> None:
    sm = registry.get("start_meeting")
    with pytest.raises(TextParameterError, match="municipality"):
        sm.text("sm_1", "da", {"unit": "Hjemmeplejen"})


def test_course_outcome_is_a_staff_form_without_scores(registry: Registry) -> None:
    co = registry.get("course_outcome")
    assert co.respondent is RespondentKind.STAFF
    assert co.scoring == "none" and co.licence == "own"
    assert all(lang.verified for lang in co.languages.values())
    assert co.item("co_help_need").values == (0, 1, 2, 3)
    assert co.item("co_self_sufficient").values == (1, 0)


def test_instrument_lookups(registry: Registry) -> None:
    who5 = registry.get("who5")
    assert who5.default_language == "da"
    assert who5.text("preamble", "da") == ""  # WHO-5 has none
    with pytest.raises(KeyError):
        who5.text("who5_1", "de")
    with pytest.raises(KeyError):
        who5.item("S1")


def test_item_kinds_are_registered_in_one_place(registry: Registry) -> None:
    assert set(ITEM_KINDS) == {"single_choice", "scale", "integer"}
    used = {item.kind for instrument in registry for item in instrument.items}
    assert used == set(ITEM_KINDS)


def test_registry_versions_and_unknown_ids(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(KeyError, match="known: course_outcome, start_meeting, who5"):
        registry.get("who6")
    with pytest.raises(KeyError, match="version '9'"):
        registry.get("who5", "9")
    assert "who5" in registry and "who6" not in registry

    text = (DEFINITIONS_DIR / "who5.v1.toml").read_text(encoding="utf-8")
    (tmp_path / "who5.v2.toml").write_text(
        text.replace('version = "1"', 'version = "2"', 1), encoding="utf-8"
    )
    extended = load_registry([tmp_path])
    assert extended.versions("who5") == ("1", "2")
    assert extended.get("who5").version == "2"
    assert extended.get("who5", "1").path == DEFINITIONS_DIR / "who5.v1.toml"
    assert [i.key for i in extended if i.id == "who5"] == [("who5", "1"), ("who5", "2")]


def test_default_registry_is_loaded_once() -> None:
    assert default_registry() is default_registry()
    assert default_registry().ids() == load_registry().ids()


def test_a_licensed_text_replaces_the_shipped_one(tmp_path: Path) -> None:
    text = (DEFINITIONS_DIR / "whodas12.v1.toml").read_text(encoding="utf-8")
    licensed = text.replace(
        '"whodas12-da-working-1"\nverified = false', '"whodas12-da-who-2020"\nverified = true'
    ).replace("Vaske hele kroppen?", "Vaske hele kroppen (licenseret tekst)?")
    (tmp_path / "whodas12-licensed.toml").write_text(licensed, encoding="utf-8")
    registry = load_registry([tmp_path])
    whodas = registry.get("whodas12")
    assert whodas.path == tmp_path / "whodas12-licensed.toml"
    assert whodas.text("S8", "da") == "Vaske hele kroppen (licenseret tekst)?"
    assert whodas.languages["da"].text_version == "whodas12-da-who-2020"
    assert whodas.languages["da"].verified is True
    assert registry.versions("whodas12") == ("1",)


def test_a_replacement_may_not_change_items_or_values(tmp_path: Path) -> None:
    text = (DEFINITIONS_DIR / "who5.v1.toml").read_text(encoding="utf-8")
    (tmp_path / "who5.toml").write_text(
        text.replace('id = "who5_1"', 'id = "who5_1"\noptional = true'), encoding="utf-8"
    )
    with pytest.raises(DefinitionError, match=r"who5\.toml: replaces .*new version"):
        load_registry([tmp_path])


def test_two_files_with_the_same_id_and_version_in_one_directory(tmp_path: Path) -> None:
    for name in ("a.toml", "b.toml"):
        shutil.copy(DEFINITIONS_DIR / "who5.v1.toml", tmp_path / name)
    with pytest.raises(DefinitionError, match=r"b\.toml: who5 version 1 is also defined in"):
        load_registry([tmp_path])


def test_a_missing_extra_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="not a directory"):
        load_registry([tmp_path / "nope"])
