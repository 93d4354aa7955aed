"""Front page, language choice and the health check."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from surveyapp.app import create_app
from surveyapp.config import Settings
from tests.support.html import csrf_token


def test_front_page_is_danish_by_default(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="da">' in page.text
    assert "Effektmåling af hverdagsrehabilitering" in page.text
    assert 'href="/login"' in page.text


def test_browser_language_then_explicit_choice(client: FlaskClient) -> None:
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Measuring the effect of everyday rehabilitation" in english.text
    token = csrf_token(client, "/")
    client.post(
        "/language", data={"locale": "da", "csrf_token": token}, headers={"Accept-Language": "en"}
    )
    chosen = client.get("/", headers={"Accept-Language": "en"})
    assert "Effektmåling af hverdagsrehabilitering" in chosen.text


def test_unknown_language_is_ignored(client: FlaskClient) -> None:
    client.post("/language", data={"locale": "xx", "csrf_token": csrf_token(client, "/")})
    assert '<html lang="da">' in client.get("/").text


def test_language_choice_without_csrf_token_is_refused(client: FlaskClient) -> None:
    response = client.post("/language", data={"locale": "en"})
    assert response.status_code == 400
    assert '<html lang="da">' in client.get("/").text


def test_security_headers(client: FlaskClient) -> None:
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_healthz_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_503_when_the_database_is_gone(app: Flask, settings: Settings) -> None:
    app.extensions["surveyapp.engine"] = create_engine(
        "postgresql+psycopg://nobody@/none?host=/nonexistent-socket-dir"
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "down"}


def test_login_link_target_exists(client: FlaskClient) -> None:
    assert client.get("/login").status_code == 200


def test_app_starts_from_settings(settings: Settings) -> None:
    assert create_app(settings).config["SECRET_KEY"] == settings.secret_key


def test_the_app_refuses_to_start_in_production_with_demo_secrets(settings: Settings) -> None:
    import pytest

    from surveyapp.config import DEMO_SECRET_KEY, ConfigError

    demo = Settings(
        env="production",
        database_url=settings.database_url,
        secret_key=DEMO_SECRET_KEY,
        cpr_hmac_key="k" * 40,
    )
    with pytest.raises(ConfigError, match="SURVEYAPP_SECRET_KEY is the demo value"):
        create_app(demo)


def _switch(client: FlaskClient, page: str, **extra: str) -> str:
    """Press the language button on `page`: the form as the page renders it."""
    import re

    html = client.get(page).text
    form = re.search(r'<form class="lang"[^>]*>(.*?)</form>', html, re.S)
    assert form, f"no language switch on {page}"
    data = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1)))
    data.update(extra)
    response = client.post("/language", data=data)
    assert response.status_code == 303
    return response.headers["Location"]


def test_switching_language_stays_on_the_same_page(client: FlaskClient) -> None:
    assert _switch(client, "/login") == "/login"
    assert '<html lang="en">' in client.get("/login").text
    assert _switch(client, "/login?next=/staff/due") == "/login?next=/staff/due"
    assert '<html lang="da">' in client.get("/login").text


def test_switching_language_never_leaves_the_site(client: FlaskClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/%2F/evil"):
        assert _switch(client, "/login", next=target) == "/"


def test_switching_language_without_a_target_goes_back_by_the_referrer(
    client: FlaskClient,
) -> None:
    token = csrf_token(client, "/login")
    back = client.post(
        "/language",
        data={"locale": "en", "csrf_token": token},
        headers={"Referer": "http://localhost/login?next=/staff/"},
    )
    assert back.headers["Location"] == "/login?next=/staff/"
    away = client.post(
        "/language",
        data={"locale": "da", "csrf_token": token},
        headers={"Referer": "http://evil.example/login"},
    )
    assert away.headers["Location"] == "/"
