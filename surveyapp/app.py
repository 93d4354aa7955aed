"""The Flask application factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel, get_locale
from flask_wtf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from surveyapp import faults
from surveyapp.config import ConfigError, Settings
from surveyapp.db import make_engine, make_session_factory
from surveyapp.instruments import load_registry
from surveyapp.logs import install as keep_tokens_out_of_logs
from surveyapp.web import errors, guard_writes, origin
from surveyapp.web.access import check_every_view_has_a_rule

SUPPORTED_LOCALES = ("da", "en")
#: Browser features no page uses are denied to every page and frame; the kiosk keeps the
#: screen on (Screen Wake Lock) and may go full screen, on our own origin only.
PERMISSIONS_POLICY = ", ".join(
    [
        f"{feature}=()"
        for feature in (
            "accelerometer",
            "ambient-light-sensor",
            "autoplay",
            "battery",
            "bluetooth",
            "camera",
            "display-capture",
            "encrypted-media",
            "geolocation",
            "gyroscope",
            "hid",
            "idle-detection",
            "magnetometer",
            "microphone",
            "midi",
            "payment",
            "picture-in-picture",
            "publickey-credentials-get",
            "serial",
            "usb",
            "xr-spatial-tracking",
        )
    ]
    + ["fullscreen=(self)", "screen-wake-lock=(self)"]
)


def select_locale() -> str:
    """Explicit choice (stored in the session), then the browser's languages, then the default."""
    chosen = session.get("locale")
    if chosen in SUPPORTED_LOCALES:
        return str(chosen)
    best = request.accept_languages.best_match(SUPPORTED_LOCALES)
    return best or current_settings().default_locale


def current_settings() -> Settings:
    """The settings of the app handling the current request."""
    from flask import current_app

    settings: Settings = current_app.extensions["surveyapp.settings"]
    return settings


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Create the app; settings default to the environment (see surveyapp.config)."""
    settings = settings or Settings.from_env()
    settings.check()  # production refuses demo secrets, however the settings were made
    # Tests only (tests/web/test_faults.py), read once here; refused in production.
    fault_point = faults.configured(os.environ, production=settings.is_production)
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # In production the cookie is "__Host-session": the browser then only keeps it when it
        # is Secure, for Path=/ and without a Domain, so no sibling host can plant or read it.
        # Local development on http://127.0.0.1 keeps the plain name (browsers refuse a
        # __Host- cookie that is not Secure).
        SESSION_COOKIE_NAME="__Host-session" if settings.is_production else "session",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        # Flask-Login's remember-me cookie is never set (staff log in each time); if it were,
        # it would be as strict as the session cookie.
        REMEMBER_COOKIE_SECURE=settings.is_production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(_translations_dir()),
        MAX_CONTENT_LENGTH=1024 * 1024,
        # A tablet may lie on the table for hours; CSRF tokens last as long as a staff
        # session may (12 h). Respondent pages re-show an expired form with the answer kept.
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        KIOSK_IDLE_SECONDS=settings.kiosk_idle_seconds,
        TESTING=settings.env == "test",
    )
    app.config.update(overrides)
    errors.install_converters(app)
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    keep_tokens_out_of_logs([app.logger])
    engine = make_engine(
        settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    app.extensions["surveyapp.settings"] = settings
    app.extensions["surveyapp.engine"] = engine
    app.extensions["surveyapp.sessions"] = make_session_factory(engine)
    # A request's session writes only inside surveyapp.web.unit_of_work, which alone commits.
    guard_writes(app.extensions["surveyapp.sessions"])
    # Loaded once at start: a malformed definition file stops the app with a clear message.
    app.extensions["surveyapp.registry"] = load_registry(settings.instruments_dirs)
    app.extensions["surveyapp.offline_keys"] = _offline_keys(settings)
    app.extensions["surveyapp.fault_point"] = fault_point

    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    csrf = CSRFProtect(app)

    from surveyapp.web import public, respond

    app.register_blueprint(public.bp)

    from surveyapp.web import (
        admin,
        auth,
        coordinator,
        exports,
        grants,
        imports,
        kiosk,
        letters,
        offline,
        privacy,
        reports,
    )

    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(coordinator.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(kiosk.bp)
    app.register_blueprint(letters.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(grants.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(offline.bp)
    # Every POST of every blueprint needs a valid CSRF token. The two answer views check it
    # themselves (surveyapp.web.respond.take_answer), so that a token that expired while the
    # tablet lay on the table re-shows the question with the answer kept (status 400).
    # The code form (/k) does the same with the code kept. The text-size switch carries no
    # token (the refusal page must stay the same byte for byte) and checks the browser's
    # Sec-Fetch-Site/Origin header instead (surveyapp.web.origin.same_origin).
    csrf.exempt("surveyapp.web.respond.answer")
    csrf.exempt("surveyapp.web.kiosk.answer")
    csrf.exempt("surveyapp.web.respond.enter_code")
    csrf.exempt("surveyapp.web.respond.text_size")
    # The kiosk's offline queue posts sealed JSON from the service worker's replay, possibly
    # long after the page that had the token is gone: no token, but the browser must say the
    # request comes from our own page (surveyapp.web.offline checks origin.same_origin).
    csrf.exempt("surveyapp.web.offline.sync")
    csrf.exempt("surveyapp.web.offline.status")
    app.register_blueprint(respond.bp)
    app.register_blueprint(respond.display)
    check_every_view_has_a_rule(app)
    errors.init_app(app)
    origin.init_app(app)

    @app.teardown_appcontext
    def _close_db_session(_exc: BaseException | None) -> None:
        db_session = g.pop("db_session", None)
        if db_session is not None:
            db_session.close()

    @app.after_request
    def _security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin: no address ever leaves for another site (respondent and kiosk pages send
        # none at all: no-referrer; surveyapp.web.origin checks where a POST comes from).
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if settings.is_production or request.is_secure:
            # Production is served over HTTPS only (behind the proxy): browsers must never try
            # plain http again for a year, on this host and below it.
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    return app


def _offline_keys(settings: Settings) -> Any:
    """The kiosk's offline KeyRing (None without a directory: the kiosk is online only).

    A configured directory that cannot be used stops the app in every mode; production
    refuses to start without one (Settings.check)."""
    from surveyapp import offline_keys

    if not settings.offline_key_dir:
        if settings.is_production:
            raise ConfigError(
                "refusing to start in production: SURVEYAPP_OFFLINE_KEY_DIR is not set (the "
                "kiosk's offline keys: create them with `surveyapp offline-keys generate "
                "--dir <directory>` and set the variable to that directory)"
            )
        return None
    try:
        return offline_keys.load(Path(settings.offline_key_dir))
    except offline_keys.OfflineKeyError as error:
        raise ConfigError(
            f"SURVEYAPP_OFFLINE_KEY_DIR: {error}; refusing to start "
            "(create keys with `surveyapp offline-keys generate`)"
        ) from None


def _translations_dir() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "translations"
