"""Security headers on every kind of page, the session cookie's name and flags, and a `Server`
header that names no framework or Python version (probe finding 7 of issue 10)."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.devserver import RequestHandler
from tests.support import factories
from tests.support.staff import login

PROD_SECRET = "production-secret-key-0123456789abcdefghij"  # noqa: S105
PROD_CPR = "production-cpr-hmac-key-0123456789abcdefgh"
DENIED = ("camera", "microphone", "geolocation", "payment", "usb", "serial", "bluetooth")


def _pages(app: Flask) -> Iterator[tuple[str, str, FlaskClient]]:
    """(kind, path, client) for every kind of page: public, staff, respondent, error, asset."""
    anonymous = app.test_client()
    yield "public", "/", anonymous
    yield "public", "/login", anonymous
    yield "public", "/healthz", anonymous
    yield "asset", "/static/app.css", anonymous
    yield "error", "/staff/citizens/99999999999", anonymous
    yield "error", "/?bad=%00", anonymous
    token, _ = factories.link(app.extensions["surveyapp.sessions"], "who5")
    relative = app.test_client()
    assert relative.get(f"/svar/{token}").status_code == 303
    yield "respondent", "/svar/", relative
    yield "respondent", "/svar/om", relative
    yield "respondent", "/k", anonymous


def _headers_hold(kind: str, headers: object, *, https: bool) -> None:
    h = headers  # werkzeug Headers
    assert h["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    assert h["X-Frame-Options"] == "DENY"  # type: ignore[index]
    csp = h["Content-Security-Policy"]  # type: ignore[index]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    policy = h["Permissions-Policy"]  # type: ignore[index]
    for feature in DENIED:
        assert f"{feature}=()" in policy, feature
    assert "screen-wake-lock=(self)" in policy  # the kiosk keeps the screen on
    referrer = h["Referrer-Policy"]  # type: ignore[index]
    assert referrer == ("no-referrer" if kind == "respondent" else "same-origin")
    if kind == "respondent":
        assert h["Cache-Control"] == "no-store"  # type: ignore[index]
    hsts = h.get("Strict-Transport-Security")  # type: ignore[attr-defined]
    if https:
        assert hsts == "max-age=31536000; includeSubDomains"
    else:
        assert hsts is None  # plain http in development: no HSTS that would pin localhost


def test_every_kind_of_page_has_the_security_headers(app: Flask) -> None:
    for kind, path, client in _pages(app):
        with client.get(path) as response:
            assert response.status_code < 500
            _headers_hold(kind, response.headers, https=False)


def test_staff_pages_have_them_and_are_not_stored(
    app: Flask, session_factory: object, settings: Settings
) -> None:
    from tests.support.staff import load_small_demo

    load_small_demo(session_factory, settings)  # type: ignore[arg-type]
    client = app.test_client()
    assert login(client, "koordinator").status_code == 302
    for path in ("/staff/due", "/staff/citizens", "/staff/citizens/find"):
        response = client.get(path)
        assert response.status_code == 200, path
        _headers_hold("staff", response.headers, https=False)
        assert response.headers["Cache-Control"] == "no-store"


def test_hsts_is_sent_over_https(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/login", "/k", "/nowhere"):
        response = client.get(path, base_url="https://localhost")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def _session_cookie(cookies: list[str]) -> str:
    found = [c for c in cookies if c.split("=")[0] in ("session", "__Host-session")]
    assert len(found) == 1, cookies
    return found[0]


@pytest.fixture
def production_app(settings: Settings) -> Iterator[Flask]:
    production = Settings(
        env="production",
        database_url=settings.database_url,
        secret_key=PROD_SECRET,
        cpr_hmac_key=PROD_CPR,
        public_url="https://survey.example",
        offline_key_dir=settings.offline_key_dir,
    )
    app = create_app(production)
    yield app
    app.extensions["surveyapp.engine"].dispose()


def test_production_sends_hsts_and_a_host_prefixed_secure_cookie(production_app: Flask) -> None:
    client = production_app.test_client()
    response = client.get("/k", base_url="https://survey.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    cookie = _session_cookie(response.headers.getlist("Set-Cookie"))
    assert cookie.startswith("__Host-session="), cookie
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" in flags and "httponly" in flags and "path=/" in flags
    assert not any(flag.startswith("domain=") for flag in flags)
    # Even a plain-http request (a proxy that forgot X-Forwarded-Proto) gets HSTS in production.
    assert "Strict-Transport-Security" in client.get("/").headers


def test_development_keeps_a_plain_cookie_that_works_over_http(client: FlaskClient) -> None:
    cookie = _session_cookie(client.get("/k").headers.getlist("Set-Cookie"))
    assert cookie.startswith("session=")
    assert "secure" not in [part.strip().lower() for part in cookie.split(";")]
    assert client.get("/k").status_code == 200  # the cookie came back over http


def test_the_development_server_names_no_framework_or_python(app: Flask) -> None:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        connection.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    assert response.status == 200
    assert response.getheader("Server") == "surveyapp"


def test_surveyapp_serve_uses_that_request_handler(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    import werkzeug.serving
    from click.testing import CliRunner

    from surveyapp import cli

    called: dict[str, object] = {}
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda *a, **kw: called.update(kw))
    monkeypatch.setenv("SURVEYAPP_ENV", "test")
    monkeypatch.setenv("SURVEYAPP_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(cli.main, ["serve", "--port", "5999"])
    assert result.exit_code == 0, result.output
    assert called["request_handler"] is RequestHandler


def test_production_posts_over_https_need_no_referer_but_refuse_other_sites(
    production_app: Flask,
) -> None:
    """Respondent and kiosk pages send no Referer (no-referrer): their POSTs must still work,
    while a POST the browser marks as coming from another site is refused."""
    import re

    token, _ = factories.link(production_app.extensions["surveyapp.sessions"], "who5")
    https = "https://survey.example"
    client = production_app.test_client()
    assert client.get(f"/svar/{token}", base_url=https).status_code == 303
    page = client.get("/svar/", base_url=https).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    data = {"csrf_token": csrf.group(1)}
    for theirs in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
    ):
        refused = client.post("/svar/start", data=data, base_url=https, headers=theirs)
        assert refused.status_code == 400, theirs
    assert client.get("/svar/1", base_url=https).location == "/svar/"  # nothing was begun
    # What browsers send from a no-referrer page of ours: no Referer, Origin "null" or ours.
    ours = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}
    begun = client.post("/svar/start", data=data, base_url=https, headers=ours)
    assert begun.status_code == 303 and begun.location == "/svar/1"
    plain = client.post("/svar/sprog", data={**data, "locale": "da"}, base_url=https)
    assert plain.status_code == 303  # an old browser that sends neither header: the token rules
