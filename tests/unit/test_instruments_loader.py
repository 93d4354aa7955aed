"""The loader rejects broken definition files loudly, naming the file and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from surveyapp.instruments import DefinitionError, ItemKind, load_definition

VALID = """\
id = "demo"
version = "1"
respondent = "self"
scoring = "none"
licence = "own"
citation = "test"

[title]
da = "Demo"
en = "Demo"

[languages.da]
text_version = "demo-da-1"
verified = true

[languages.en]
text_version = "demo-en-1"
verified = false

[dont_know_label]
da = "Ved ikke"
en = "Don't know"

[[items]]
id = "q1"
kind = "single_choice"
min = 0
max = 2
text.da = "Spørgsmål"
text.en = "Question"
options = [
  { value = 0, da = "Nej", en = "No" },
  { value = 1, da = "Lidt", en = "A little" },
  { value = 2, da = "Ja", en = "Yes" },
]

[[items]]
id = "q2"
kind = "scale"
min = 0
max = 10
dont_know = true
text.da = { text = "Hvor meget?", verified = false }
text.en = "How much?"
min_label.da = "Slet ikke"
min_label.en = "Not at all"
max_label.da = "Meget"
max_label.en = "Very much"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_valid_example_loads(tmp_path: Path) -> None:
    demo = load_definition(write(tmp_path, VALID))
    assert demo.item_ids == ("q1", "q2")
    assert demo.item("q2").kind is ItemKind.SCALE
    assert demo.languages["da"].unverified_texts == ("q2",)
    assert demo.languages["en"].verified is False
    assert demo.item("q1").text["da"].verified is True


REJECTIONS = [
    # (what is broken, replace this, with this, message names this)
    ("unknown kind", 'kind = "scale"', 'kind = "slider"', "item 'q2': unknown item kind 'slider'"),
    ("duplicate id", 'id = "q2"', 'id = "q1"', "item 'q1': duplicate item id"),
    ("missing text", 'text.en = "Question"\n', "", "item 'q1': text: no text for language 'en'"),
    ("missing label", 'max_label.en = "Very much"\n', "", "max_label: no text for language 'en'"),
    ("missing title", 'en = "Demo"\n', "", "title: no text for language 'en'"),
    (
        "undeclared lang",
        'text.en = "How much?"',
        'text.en = "How much?"\ntext.de = "Wie viel?"',
        "text in undeclared language 'de'",
    ),
    (
        "duplicate option",
        '{ value = 1, da = "Lidt"',
        '{ value = 0, da = "Lidt"',
        "item 'q1': option value 0 appears twice",
    ),
    (
        "option outside range",
        '{ value = 2, da = "Ja"',
        '{ value = 7, da = "Ja"',
        "item 'q1': option value 7 outside 0–2",
    ),
    (
        "option without label",
        '{ value = 2, da = "Ja", en = "Yes" }',
        '{ value = 2, da = "Ja" }',
        "option 2: no text for language 'en'",
    ),
    (
        "unknown scoring rule",
        'scoring = "none"',
        'scoring = "magic"',
        "unknown scoring rule 'magic' (known: who5, whodas12_simple",
    ),
    (
        "rule does not fit",
        'scoring = "none"',
        'scoring = "who5"',
        "scoring rule 'who5' needs items who5_1",
    ),
    ("missing field", 'citation = "test"\n', "", "missing required field 'citation'"),
    (
        "missing item field",
        "min = 0\nmax = 10\n",
        "max = 10\n",
        "item 'q2': missing required field 'min'",
    ),
    (
        "string for number",
        "max = 10",
        'max = "10"',
        "item 'q2': field 'max' must be a whole number, not '10'",
    ),
    ("bool for number", "max = 10", "max = true", "item 'q2': field 'max' must be a whole number"),
    ("number for string", 'version = "1"', "version = 1", "field 'version' must be text in quotes"),
    (
        "string for bool",
        "verified = true",
        'verified = "yes"',
        "languages.da: field 'verified' must be true or false",
    ),
    ("text not a string", 'text.en = "Question"', "text.en = 3", "en: must be text in quotes"),
    (
        "undeclared placeholder",
        'text.en = "How much?"',
        'text.en = "How much in {kommune}?"',
        "placeholder {kommune} is not declared in [parameters]",
    ),
    ("stray brace", 'text.en = "How much?"', 'text.en = "How much {?"', "stray '{' or '}'"),
    (
        "misspelt field",
        'citation = "test"',
        'citation = "test"\ncitatoin = "x"',
        "unknown field 'citatoin'",
    ),
    (
        "misspelt item field",
        "dont_know = true",
        "dont_knwo = true",
        "item 'q2': unknown field 'dont_knwo'",
    ),
    (
        "unknown respondent",
        'respondent = "self"',
        'respondent = "nurse"',
        "unknown respondent 'nurse'",
    ),
    (
        "options on a scale",
        "dont_know = true",
        "dont_know = true\noptions = []",
        "item 'q2': only single_choice items have options",
    ),
    (
        "label on a choice",
        'text.da = "Spørgsmål"',
        'text.da = "Spørgsmål"\nmin_label.da = "x"',
        "item 'q1': only scale items have min_label",
    ),
    (
        "min not below max",
        "min = 0\nmax = 10",
        "min = 10\nmax = 10",
        "item 'q2': min 10 must be below max 10",
    ),
    (
        "dont_know without label",
        '[dont_know_label]\nda = "Ved ikke"\nen = "Don\'t know"\n',
        "",
        "item 'q2': dont_know = true needs [dont_know_label] texts",
    ),
    (
        "undeclared domain",
        "dont_know = true",
        'dont_know = true\ndomain = "mobility"',
        "item 'q2': domain 'mobility' is not in domains",
    ),
    ("bad item id", 'id = "q2"', 'id = "q 2"', "an item id is a letter then letters"),
    ("bad version", 'version = "1"', 'version = "v1"', "version 'v1' must be a number"),
    ("bad language code", "[languages.en]", "[languages.english]", "two-letter code"),
    ("no items", "[[items]]", "[[notitems]]", "unknown field 'notitems'"),
    ("not TOML", 'citation = "test"', "citation = test", "cannot read"),
]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_a_broken_file_is_rejected(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


OPTIONS = VALID[VALID.index("options = [") : VALID.index("]\n", VALID.index("options = [")) + 2]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("", "item 'q1': a single_choice item needs options"),
        ("options = []\n", "item 'q1': options: the list is empty"),
        ('options = "yesno"\n', "item 'q1': options: no option set 'yesno' in [option_sets]"),
        ("options = [1, 2]\n", "item 'q1': options: each option must be a table, not 1"),
        ("options = 3\n", "item 'q1': a single_choice item needs options (a list or a set name)"),
    ],
)
def test_broken_options_are_rejected(tmp_path: Path, options: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=re.escape(message)):
        load_definition(write(tmp_path, VALID.replace(OPTIONS, options)))


def test_an_option_set_must_be_a_list(tmp_path: Path) -> None:
    text = VALID.replace("[[items]]", "[option_sets.yesno]\nvalue = 1\n\n[[items]]", 1)
    with pytest.raises(DefinitionError, match="option_sets.yesno: options must be a list"):
        load_definition(write(tmp_path, text))


def test_a_shared_option_set_is_used_in_its_order(tmp_path: Path) -> None:
    shared = (
        '[[option_sets.yesno]]\nvalue = 1\nda = "Ja"\nen = "Yes"\n\n'
        '[[option_sets.yesno]]\nvalue = 0\nda = "Nej"\nen = "No"\n\n'
    )
    text = VALID.replace("[[items]]", shared + "[[items]]", 1).replace(
        OPTIONS, 'options = "yesno"\n'
    )
    demo = load_definition(write(tmp_path, text))
    assert demo.item("q1").values == (1, 0)
    assert demo.item("q1").options[0].label["da"].value == "Ja"


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="nope.toml: cannot read"):
        load_definition(tmp_path / "nope.toml")


# --- declared scores ---------------------------------------------------------------------------

SCORED = (
    VALID.replace('scoring = "none"', 'scoring = "item_mean"').replace(
        """[[items]]
id = "q1"
kind = "single_choice"
min = 0
max = 2
text.da = "Spørgsmål"
text.en = "Question"
options = [
  { value = 0, da = "Nej", en = "No" },
  { value = 1, da = "Lidt", en = "A little" },
  { value = 2, da = "Ja", en = "Yes" },
]
""",
        "",
    )
    + """
[[scores]]
name = "demo_mean"
label = { da = "Gennemsnit", en = "Mean" }
min = 0
max = 10
higher_is_better = false
change_threshold = 2
chart = "demo"
chart_label = { da = "Demo", en = "Demo" }
baseline_band = true
reference_lines = [ { value = 5, da = "Midten", en = "Middle" } ]
"""
)


def test_declared_scores_load_with_their_meaning(tmp_path: Path) -> None:
    demo = load_definition(write(tmp_path, SCORED))
    (spec,) = demo.scores
    assert (spec.name, spec.label["en"], spec.min, spec.max) == ("demo_mean", "Mean", 0, 10)
    assert spec.reported and not spec.higher_is_better and spec.baseline_band
    assert spec.reference_lines[0].value == 5 and spec.reference_lines[0].label["da"] == "Midten"
    assert spec.classify(6, 4).value == "improved" and spec.classify(6, 7).value == "unchanged"
    assert demo.reported_scores == (spec,) and demo.score_spec("demo_n") is None


SCORE_REJECTIONS = [
    ('name = "demo_mean"', 'name = "demo_total"', "score 'demo_total': the scoring rule does"),
    ("max = 10\nhigher", "max = 0\nhigher", "score 'demo_mean': min 0 must be below max 0"),
    ("change_threshold = 2", "change_threshold = 0", "change_threshold must be above 0"),
    ("change_threshold = 2\n", "", "baseline_band = true needs a change_threshold"),
    ("{ value = 5,", "{ value = 50,", "reference line 50 is outside 0–10"),
    (', en = "Mean" }', " }", "no text for language 'en'"),
    ("higher_is_better = false\n", "", "missing required field 'higher_is_better'"),
    ('chart = "demo"\n', "", "chart_label needs a chart panel name"),
    ("reference_lines", "colour = 1\nreference_lines", "unknown field 'colour'"),
]


@pytest.mark.parametrize(("old", "new", "message"), SCORE_REJECTIONS)
def test_bad_score_declarations_are_refused(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in SCORED
    with pytest.raises(DefinitionError, match=re.escape(message)):
        load_definition(write(tmp_path, SCORED.replace(old, new, 1)))


def test_option_groups_must_use_the_items_values(tmp_path: Path) -> None:
    grouped = VALID.replace(
        'options = [\n  { value = 0, da = "Nej"',
        'reported = true\noption_groups = [ { label = { da = "Noget", en = "Some" }, '
        'values = [1, 2] } ]\noptions = [\n  { value = 0, da = "Nej"',
    )
    demo = load_definition(write(tmp_path, grouped))
    assert demo.item("q1").reported and demo.item("q1").option_groups[0].values == (1, 2)
    with pytest.raises(DefinitionError, match="option group values must be values"):
        load_definition(write(tmp_path, grouped.replace("values = [1, 2]", "values = [1, 5]")))


def test_an_item_is_under_the_stem_unless_the_file_says_it_is_a_question_of_its_own(
    tmp_path: Path,
) -> None:
    own = VALID.replace('id = "q2"\n', 'id = "q2"\nunder_stem = false\n')
    demo = load_definition(write(tmp_path, own))
    assert demo.item("q1").under_stem is True
    assert demo.item("q2").under_stem is False
    broken = VALID.replace('id = "q2"\n', 'id = "q2"\nunder_stem = "no"\n')
    with pytest.raises(DefinitionError, match="field 'under_stem' must be true or false"):
        load_definition(write(tmp_path, broken))


def test_the_whodas_forms_show_the_stem_only_above_the_activities() -> None:
    from surveyapp.instruments import default_registry

    for instrument_id, own in (("whodas12", "S4 S5 H1 H2 H3"), ("whodas12_proxy", "S4 S5 H4")):
        instrument = default_registry().get(instrument_id)
        assert instrument.texts["stem"]
        assert [i.id for i in instrument.items if not i.under_stem] == own.split()
