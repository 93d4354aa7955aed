"""Export columns come from the registry; the codebook says what each one means."""

from __future__ import annotations

from pathlib import Path

import pytest

from surveyapp.exports import CodedMissing, Kind, Source, build_codebook, codebook_json, layout
from surveyapp.exports.layout import LONG_COLUMNS, MAX_NAME, SCORING_COLUMNS, WIDE_FIXED
from surveyapp.instruments import default_registry, load_registry, score_names

REGISTRY = default_registry()

MADE_UP = """
id = "grip"
version = "1"
respondent = "self"
scoring = "item_mean"
licence = "own"
citation = "a made-up test instrument"

[title]
da = "Grebsstyrke"
en = "Grip strength"

[languages.da]
text_version = "grip-da-1"
verified = true

[languages.en]
text_version = "grip-en-1"
verified = false

[dont_know_label]
da = "Ved det ikke"
en = "No idea"

[[items]]
id = "g_left"
kind = "scale"
min = 0
max = 10
dont_know = true
text.da = "Venstre hånd"
text.en = "Left hand"
min_label.da = "Svag"
min_label.en = "Weak"
max_label.da = "Stærk"
max_label.en = "Strong"

[[items]]
id = "S1"
kind = "integer"
min = 0
max = 99
optional = true
text.da = "Antal forsøg"
text.en = "Attempts"
"""


def test_a_per_instrument_layout_has_the_fixed_columns_items_and_every_score() -> None:
    for instrument in REGISTRY:
        found = layout(REGISTRY, instrument=instrument.id)
        names = found.names
        assert names[: len(WIDE_FIXED)] == WIDE_FIXED
        assert names[-len(SCORING_COLUMNS) :] == SCORING_COLUMNS
        items = [v.name for v in found.variables if v.source is Source.ITEM]
        assert items == list(instrument.item_ids)  # named as in the import and batch files
        scores = [v.name for v in found.variables if v.source is Source.SCORE]
        assert scores == list(score_names(instrument))


def test_a_combined_layout_prefixes_only_item_ids_that_two_instruments_share() -> None:
    found = layout(REGISTRY)
    names = found.names
    assert len(set(names)) == len(names)
    assert all(len(n) <= MAX_NAME for n in names)
    assert "whodas12_S1" in names and "whodas12_proxy_S1" in names and "S1" not in names
    assert "who5_1" in names and "who5_who5_1" not in names
    for instrument in REGISTRY:
        for item_id in instrument.item_ids:
            index = found.item_columns[(instrument.id, item_id)]
            assert found.variables[index].instrument == instrument.id
            assert found.variables[index].ref == item_id
        for name in score_names(instrument):
            assert found.variables[found.score_columns[name]].ref == name


def test_labels_value_labels_and_coded_missing_come_from_the_definition_files() -> None:
    whodas = REGISTRY.get("whodas12")
    found = layout(REGISTRY, instrument="whodas12")
    s12 = found.variables[found.index("S12")]
    assert s12.label == whodas.item("S12").text["da"].value
    assert s12.value_labels[1] == "Ingen"
    assert s12.missing == {CodedMissing.NOT_APPLICABLE: "Ikke relevant"}
    assert found.variables[found.index("S1")].missing == {}
    english = layout(REGISTRY, instrument="whodas12", language="en")
    assert english.variables[english.index("S12")].missing == {
        CodedMissing.NOT_APPLICABLE: "Not applicable"
    }
    percent = found.variables[found.index("whodas12_percent")]
    assert percent.kind is Kind.NUMBER
    assert percent.label == whodas.score_spec("whodas12_percent").label["da"]
    assert found.variables[found.index("lives_alone")].value_labels == {1: "Ja", 0: "Nej"}


def test_a_made_up_instrument_in_a_folder_is_exported_with_no_code_change(tmp_path: Path) -> None:
    (tmp_path / "grip.v1.toml").write_text(MADE_UP, encoding="utf-8")
    registry = load_registry([tmp_path])
    found = layout(registry, instrument="grip", language="en")
    left = found.variables[found.index("g_left")]
    assert left.value_labels == {0: "Weak", 10: "Strong"}
    assert left.missing == {CodedMissing.DONT_KNOW: "No idea"}
    assert "grip_mean" in found.names
    combined = layout(registry)
    # S1 is also a WHODAS item, so in the combined file every S1 is prefixed.
    assert {"grip_S1", "whodas12_S1", "g_left"} <= set(combined.names)
    book = build_codebook(found)
    grip = [row for row in book.instruments if row["instrument"] == "grip"]
    assert [(r["language"], r["verified"]) for r in grip] == [("da", "yes"), ("en", "no")]


def test_the_long_layout_has_one_value_column_with_both_missing_codes() -> None:
    found = layout(REGISTRY, long=True)
    assert found.names == LONG_COLUMNS
    assert set(found.variables[-1].missing) == set(CodedMissing)


def test_the_codebook_lists_versions_verification_and_values() -> None:
    found = layout(REGISTRY, instrument="who5")
    book = build_codebook(found)
    rows = {row["variable"]: row for row in book.variables}
    assert rows["who5_1"]["values"].startswith("0=")
    assert rows["who5_1"]["scoring_version"] == "who5/1"
    assert "who5-da-kl-1" in rows["who5_1"]["text_versions"]
    # Danish WHO-5 has one unverified text (the instruction); the codebook names it.
    assert "instruction" in rows["who5_1"]["text_versions"]
    assert rows["channel"]["values"] == "kiosk, link, paper, staff, import"
    languages = {(r["instrument"], r["language"]): r for r in book.instruments}
    assert languages[("who5", "da")]["unverified_texts"] == "instruction"
    data = codebook_json(book, found)
    assert data["missing_codes"]["dont_know"] == {
        "spss": -8,
        "stata": ".a",
        "csv_excel": "label text",
    }
    sm_layout = layout(REGISTRY, instrument="start_meeting")
    sm = codebook_json(build_codebook(sm_layout), sm_layout)
    sm_1 = next(v for v in sm["variables"] if v["name"] == "sm_1")
    assert sm_1["missing"] == {"dont_know": {"code": -8, "label": "Ved ikke"}}


def test_an_unknown_instrument_or_language_is_refused() -> None:
    with pytest.raises(KeyError):
        layout(REGISTRY, instrument="nope")
    with pytest.raises(ValueError, match="labels are in"):
        layout(REGISTRY, language="sv")


def _loaded_after_importing(*modules: str) -> list[str]:
    import json
    import subprocess
    import sys

    script = (
        "import importlib, json, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'flask', 'flask_babel', 'flask_wtf', 'wtforms', 'sqlalchemy'})))\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter with a fixed script
        [sys.executable, "-c", script, *modules], capture_output=True, text=True, check=True
    )
    found: list[str] = json.loads(done.stdout)
    return found


def test_the_exports_package_loads_neither_flask_nor_sqlalchemy() -> None:
    modules = ("surveyapp.exports", "surveyapp.exports.writers", "surveyapp.exports.codebook")
    assert _loaded_after_importing(*modules) == []
    assert _loaded_after_importing(*modules, "sqlalchemy") == ["sqlalchemy"]  # it can fail
