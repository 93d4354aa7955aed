"""Settings from the environment; production refuses demo secrets."""

from __future__ import annotations

import pytest

from surveyapp.config import DEMO_CPR_HMAC_KEY, DEMO_SECRET_KEY, ConfigError, Settings

STRONG_A = "a" * 40
STRONG_B = "b" * 40


def test_development_defaults_work_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings.env == "development"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.default_locale == "da"


def test_variables_are_read() -> None:
    settings = Settings.from_env(
        {
            "SURVEYAPP_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "SURVEYAPP_DEFAULT_LOCALE": "en",
            "SURVEYAPP_INSTRUMENTS_DIRS": "/etc/surveyapp/instruments",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.default_locale == "en"
    assert [str(p) for p in settings.instruments_dirs] == ["/etc/surveyapp/instruments"]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "SURVEYAPP_SECRET_KEY is the demo value"),
        ({"SURVEYAPP_SECRET_KEY": STRONG_A}, "SURVEYAPP_CPR_HMAC_KEY is the demo value"),
        ({"SURVEYAPP_SECRET_KEY": "short", "SURVEYAPP_CPR_HMAC_KEY": STRONG_B}, "at least 32"),
        ({"SURVEYAPP_SECRET_KEY": STRONG_A, "SURVEYAPP_CPR_HMAC_KEY": STRONG_A}, "must differ"),
        (
            {"SURVEYAPP_SECRET_KEY": DEMO_SECRET_KEY, "SURVEYAPP_CPR_HMAC_KEY": DEMO_CPR_HMAC_KEY},
            "demo value",
        ),
    ],
)
def test_production_refuses_demo_or_weak_secrets(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"SURVEYAPP_ENV": "production", **environ})


def test_production_starts_with_real_secrets() -> None:
    settings = Settings.from_env(
        {
            "SURVEYAPP_ENV": "production",
            "SURVEYAPP_SECRET_KEY": STRONG_A,
            "SURVEYAPP_CPR_HMAC_KEY": STRONG_B,
        }
    )
    assert settings.is_production


@pytest.mark.parametrize(
    ("name", "value"), [("SURVEYAPP_ENV", "staging"), ("SURVEYAPP_DEFAULT_LOCALE", "de")]
)
def test_unknown_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
