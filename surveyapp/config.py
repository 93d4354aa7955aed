"""Configuration from environment variables.

Every setting has a SURVEYAPP_ prefixed variable. Development defaults are demo values that
make `make run` work out of the box; production mode (SURVEYAPP_ENV=production) refuses to
start while any secret is still a demo value or missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from surveyapp.suppression import DEFAULT_THRESHOLD

DEMO_SECRET_KEY = "demo-secret-key-not-for-production"  # noqa: S105 - a marker, refused in production
DEMO_CPR_HMAC_KEY = "demo-cpr-hmac-key-not-for-production"
DEFAULT_SQLITE_PATH = Path("instance") / "surveyapp.sqlite3"
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The configuration is unusable; the message says which variable and why."""


@dataclass(frozen=True)
class Settings:
    """The app's settings, read once from the environment."""

    env: str = "development"
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    secret_key: str = DEMO_SECRET_KEY
    cpr_hmac_key: str = DEMO_CPR_HMAC_KEY
    default_locale: str = "da"
    instruments_dirs: tuple[Path, ...] = field(default_factory=tuple)
    sqlite_busy_timeout_ms: int = 5000
    kiosk_idle_seconds: int = 300
    # Reverse proxies in front of the app whose X-Forwarded-For is trusted (0: none), so that
    # audit events and the link rate limit see the client's address, not the proxy's.
    trusted_proxies: int = 0
    # The address relatives reach the app at: printed in letters (short address, QR links).
    public_url: str = "http://127.0.0.1:5000"
    # Reports and aggregate exports hide every cell built on fewer citizens than this.
    suppression_threshold: int = DEFAULT_THRESHOLD
    # Citizens whose courses all ended more than this many months ago are anonymised
    # (`surveyapp retention`); audit events keep their IP address this many days.
    retention_months: int = 36
    audit_ip_retention_days: int = 90
    # The kiosk's offline keys (surveyapp.offline_keys): without them the kiosk works online
    # only; production refuses to start without them. Items answered offline are accepted
    # until this many days after the visit began.
    offline_key_dir: str | None = None
    offline_max_days: int = 14

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from the environment (or a given mapping) and check them."""
        env = os.environ if environ is None else environ
        dirs = tuple(
            Path(p) for p in env.get("SURVEYAPP_INSTRUMENTS_DIRS", "").split(os.pathsep) if p
        )
        settings = cls(
            env=env.get("SURVEYAPP_ENV", cls.env),
            database_url=env.get("SURVEYAPP_DATABASE_URL", cls.database_url),
            secret_key=env.get("SURVEYAPP_SECRET_KEY", cls.secret_key),
            cpr_hmac_key=env.get("SURVEYAPP_CPR_HMAC_KEY", cls.cpr_hmac_key),
            default_locale=env.get("SURVEYAPP_DEFAULT_LOCALE", cls.default_locale),
            instruments_dirs=dirs,
            sqlite_busy_timeout_ms=int(
                env.get("SURVEYAPP_SQLITE_BUSY_TIMEOUT_MS", cls.sqlite_busy_timeout_ms)
            ),
            kiosk_idle_seconds=int(env.get("SURVEYAPP_KIOSK_IDLE_SECONDS", cls.kiosk_idle_seconds)),
            trusted_proxies=int(env.get("SURVEYAPP_TRUSTED_PROXIES", cls.trusted_proxies)),
            public_url=(
                env.get("SURVEYAPP_PUBLIC_URL") or f"http://127.0.0.1:{env.get('PORT') or '5000'}"
            ).rstrip("/"),
            suppression_threshold=_whole_number(
                env, "SURVEYAPP_SUPPRESSION_THRESHOLD", cls.suppression_threshold
            ),
            retention_months=_whole_number(env, "SURVEYAPP_RETENTION_MONTHS", cls.retention_months),
            audit_ip_retention_days=_whole_number(
                env, "SURVEYAPP_AUDIT_IP_RETENTION_DAYS", cls.audit_ip_retention_days
            ),
            offline_key_dir=env.get("SURVEYAPP_OFFLINE_KEY_DIR") or None,
            offline_max_days=_whole_number(env, "SURVEYAPP_OFFLINE_MAX_DAYS", cls.offline_max_days),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ConfigError if the settings cannot be used in the chosen mode."""
        if self.env not in {"development", "test", "production"}:
            raise ConfigError(
                f"SURVEYAPP_ENV must be development, test or production, not {self.env!r}"
            )
        if self.default_locale not in {"da", "en"}:
            raise ConfigError(
                f"SURVEYAPP_DEFAULT_LOCALE must be da or en, not {self.default_locale!r}"
            )
        if not 0 <= self.trusted_proxies <= 5:
            raise ConfigError(
                f"SURVEYAPP_TRUSTED_PROXIES must be 0 to 5, not {self.trusted_proxies!r}"
            )
        if not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"SURVEYAPP_PUBLIC_URL must start with http:// or https://, not {self.public_url!r}"
            )
        if self.suppression_threshold < DEFAULT_THRESHOLD:
            raise ConfigError(
                f"SURVEYAPP_SUPPRESSION_THRESHOLD must be at least {DEFAULT_THRESHOLD} (no cell "
                f"may rest on fewer citizens), not {self.suppression_threshold}"
            )
        if self.retention_months < 1:
            raise ConfigError(
                f"SURVEYAPP_RETENTION_MONTHS must be at least 1, not {self.retention_months}"
            )
        if self.audit_ip_retention_days < 1:
            raise ConfigError(
                "SURVEYAPP_AUDIT_IP_RETENTION_DAYS must be at least 1, "
                f"not {self.audit_ip_retention_days}"
            )
        if self.offline_max_days < 1:
            raise ConfigError(
                f"SURVEYAPP_OFFLINE_MAX_DAYS must be at least 1, not {self.offline_max_days}"
            )
        if not self.is_production:
            return
        problems = []
        for name, value, demo in (
            ("SURVEYAPP_SECRET_KEY", self.secret_key, DEMO_SECRET_KEY),
            ("SURVEYAPP_CPR_HMAC_KEY", self.cpr_hmac_key, DEMO_CPR_HMAC_KEY),
        ):
            if value == demo:
                problems.append(f"{name} is the demo value")
            elif len(value) < MIN_SECRET_LENGTH:
                problems.append(f"{name} must be at least {MIN_SECRET_LENGTH} characters")
        if self.secret_key == self.cpr_hmac_key:
            problems.append("SURVEYAPP_SECRET_KEY and SURVEYAPP_CPR_HMAC_KEY must differ")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
