"""The offline keys at start and on the command line: production refuses to start without them."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from surveyapp import offline_keys
from surveyapp.app import create_app
from surveyapp.cli import main
from surveyapp.config import ConfigError, Settings

PROD = {"secret_key": "p" * 40, "cpr_hmac_key": "c" * 40, "env": "production"}


def test_production_refuses_to_start_without_the_key_directory(settings: Settings) -> None:
    production = replace(settings, offline_key_dir=None, **PROD)
    with pytest.raises(ConfigError, match="SURVEYAPP_OFFLINE_KEY_DIR.*offline-keys generate"):
        create_app(production)


def test_production_refuses_to_start_when_the_key_cannot_be_loaded(
    settings: Settings, tmp_path: Path
) -> None:
    production = replace(settings, offline_key_dir=str(tmp_path / "missing"), **PROD)
    with pytest.raises(ConfigError, match="SURVEYAPP_OFFLINE_KEY_DIR: .* does not exist"):
        create_app(production)


def test_production_starts_with_the_keys_and_loads_them(settings: Settings) -> None:
    app = create_app(replace(settings, **PROD))
    try:
        ring = app.extensions["surveyapp.offline_keys"]
        assert ring is not None and ring.current_kid in ring.kids
        with app.app_context():
            from surveyapp.web.offline import keyring

            assert keyring() is ring
    finally:
        app.extensions["surveyapp.engine"].dispose()


def test_a_configured_but_broken_directory_stops_development_too(
    settings: Settings, offline_key_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "keys"
    shutil.copytree(offline_key_dir, broken)
    os.chmod(broken, 0o700)
    os.chmod(next(broken.glob("offline-*.pem")), 0o644)
    with pytest.raises(ConfigError, match="may be read by others"):
        create_app(replace(settings, offline_key_dir=str(broken)))


def test_max_days_comes_from_the_environment() -> None:
    assert Settings.from_env({}).offline_max_days == 14
    assert Settings.from_env({"SURVEYAPP_OFFLINE_MAX_DAYS": "30"}).offline_max_days == 30
    assert Settings.from_env({"SURVEYAPP_OFFLINE_KEY_DIR": "/k"}).offline_key_dir == "/k"
    with pytest.raises(ConfigError, match="SURVEYAPP_OFFLINE_MAX_DAYS must be at least 1"):
        Settings.from_env({"SURVEYAPP_OFFLINE_MAX_DAYS": "0"})


def test_the_cli_generates_once_rotates_and_lists(tmp_path: Path) -> None:
    runner = CliRunner()
    directory = tmp_path / "keys"
    env = {"SURVEYAPP_OFFLINE_KEY_DIR": str(directory)}
    made = runner.invoke(main, ["offline-keys", "generate", "--if-missing"], env=env)
    assert made.exit_code == 0, made.output
    first = offline_keys.load(directory).current_kid
    assert f"offline key {first} generated" in made.output and str(directory) in made.output
    again = runner.invoke(main, ["offline-keys", "generate", "--if-missing"], env=env)
    assert again.exit_code == 0 and "already current" in again.output
    assert offline_keys.load(directory).kids == (first,)
    rotated = runner.invoke(main, ["offline-keys", "rotate", "--dir", str(directory)])
    assert rotated.exit_code == 0, rotated.output
    second = offline_keys.load(directory).current_kid
    assert second != first and set(offline_keys.load(directory).kids) == {first, second}
    listed = runner.invoke(main, ["offline-keys", "list"], env=env)
    lines = listed.output.splitlines()
    assert listed.exit_code == 0 and len(lines) == 2
    assert {line.split()[0]: line.split()[1] for line in lines} == {first: "old", second: "current"}


def test_the_cli_says_what_is_wrong(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["offline-keys", "list", "--dir", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    nowhere = runner.invoke(main, ["offline-keys", "rotate"], env={"SURVEYAPP_OFFLINE_KEY_DIR": ""})
    assert nowhere.exit_code == 2 and "--dir or set SURVEYAPP_OFFLINE_KEY_DIR" in nowhere.output
