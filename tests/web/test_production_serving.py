"""Production serving, for real: gunicorn with gunicorn.conf.py (2 workers) on PostgreSQL with
the production settings, behind nginx with deploy/nginx/surveyapp.conf over TLS; the
systemd units checked by systemd-analyze; the environment file against the settings."""

from __future__ import annotations

import ipaddress
import os
import re
import runpy
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from surveyapp.db import make_engine, make_session_factory
from surveyapp.models import AuditEvent
from surveyapp.security import hash_secret
from tests.support import factories
from tests.support.serving import ROOT, Client, Gunicorn, free_port

DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "surveyapp.conf"
PRODUCTION_SECRET = "production-secret-key-" + "s" * 40  # noqa: S105
PRODUCTION_CPR_KEY = "production-cpr-hmac-key-" + "c" * 40
PASSWORD = "a long and honest test password"  # noqa: S105
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


# --- gunicorn.conf.py ------------------------------------------------------------------------


def _config(monkeypatch: pytest.MonkeyPatch, **environ: str) -> dict[str, object]:
    for name in (
        "WEB_CONCURRENCY",
        "BIND",
        "PORT",
        "SURVEYAPP_TRUSTED_PROXIES",
        "FORWARDED_ALLOW_IPS",
        "GUNICORN_WORKER_CLASS",
        "GUNICORN_THREADS",
        "GUNICORN_TIMEOUT",
        "GUNICORN_LOGLEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    values = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    # gunicorn's own validators accept every value (a wrong type or name would raise here).
    from gunicorn.config import Config

    config = Config()
    for name, value in values.items():
        if name in config.settings:
            config.set(name, value)
    return {name: config.settings[name].get() for name in config.settings}


def test_gunicorn_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(monkeypatch)
    assert config["workers"] == max(2, 2 * len(os.sched_getaffinity(0)))
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["forwarded_allow_ips"] == []  # no proxy: no forwarded header believed
    assert config["preload_app"] is False
    assert config["max_requests"] == 20000 and config["max_requests_jitter"] == 2000
    assert config["timeout"] == 60 and config["graceful_timeout"] == 30
    assert config["logger_class"] == "surveyapp.logs.gunicorn.RedactingGunicornLogger"
    assert config["secure_scheme_headers"] == {"X-FORWARDED-PROTO": "https"}


def test_gunicorn_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(monkeypatch, WEB_CONCURRENCY="3", PORT="9001", SURVEYAPP_TRUSTED_PROXIES="1")
    assert config["workers"] == 3
    assert config["bind"] == ["127.0.0.1:9001"]
    assert config["forwarded_allow_ips"] == ["127.0.0.1", "::1"]
    config = _config(
        monkeypatch,
        BIND="127.0.0.1:7000",
        PORT="9001",
        SURVEYAPP_TRUSTED_PROXIES="2",
        FORWARDED_ALLOW_IPS="10.0.0.0/24",
    )
    assert config["bind"] == ["127.0.0.1:7000"]
    assert config["forwarded_allow_ips"] == ["10.0.0.0/24"]
    assert config["worker_class"] == "sync" and config["threads"] == 1
    config = _config(monkeypatch, GUNICORN_WORKER_CLASS="gthread", GUNICORN_TIMEOUT="90")
    assert config["worker_class"] == "gthread" and config["threads"] == 4
    assert config["timeout"] == 90


# --- nginx -----------------------------------------------------------------------------------


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"the site file no longer has {old!r}"
    return text.replace(old, new)


def nginx_config(directory: Path, app_port: int) -> tuple[Path, int, int]:
    """The shipped site file with only the addresses and paths of this machine put in, inside
    a main configuration of its own (temporary paths, foreground); its (path, http, https)."""
    http_port, https_port = free_port(), free_port()
    cert, key = _certificate(directory)
    site = SITE.read_text(encoding="utf-8")
    site = _replace(site, "    listen [::]:80;\n", "")
    site = _replace(site, "    listen [::]:443 ssl http2;\n", "")
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = _replace(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = _replace(site, "/etc/ssl/surveyapp/fullchain.pem", str(cert))
    site = _replace(site, "/etc/ssl/surveyapp/privkey.pem", str(key))
    site = _replace(site, "/opt/surveyapp/app/surveyapp/static/", f"{ROOT}/surveyapp/static/")
    site = _replace(site, "server 127.0.0.1:8000", f"server 127.0.0.1:{app_port}")
    site = _replace(
        site,
        "/etc/nginx/snippets/surveyapp-proxy.conf",
        str(DEPLOY / "nginx" / "surveyapp-proxy.conf"),
    )
    site = _replace(site, "/var/log/nginx/surveyapp-error.log", str(directory / "site-error.log"))
    (directory / "site.conf").write_text(site, encoding="utf-8")
    temp = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = directory / "nginx.conf"
    main.write_text(
        f"""daemon off;
user root;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    # What the site would log if it did not turn its access log off (checked for tokens).
    access_log {directory / "access.log"};
{temp}    include {directory / "site.conf"};
}}
""",
        encoding="utf-8",
    )
    return main, http_port, https_port


def test_the_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    main, _, _ = nginx_config(tmp_path, free_port())
    result = subprocess.run(  # noqa: S603
        [NGINX, "-t", "-q", "-c", str(main), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # -q prints only problems: not even a warning (e.g. a duplicate or deprecated directive).
    assert result.stderr == "", result.stderr


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield tmp_path, started
    for process in started:
        process.terminate()
        process.wait(timeout=20)


def _wait_for(client: Client, path: str, tries: int = 100) -> None:
    import time

    for _ in range(tries):
        try:
            client.get(path)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answers {path} on {client.port}")


@pytest.mark.postgres
def test_production_gunicorn_behind_nginx(
    postgres_databases, offline_key_dir: Path, tmp_path: Path, nginx
) -> None:
    """healthz, static files, the service worker, a login and a link, all over TLS through
    the shipped nginx site to gunicorn's 2 workers on PostgreSQL; no token in any log."""
    url = postgres_databases.new()
    engine = make_engine(url)
    factory = make_session_factory(engine)
    token, _ = factories.link(factory, "who5")
    with factory.begin() as session:
        _citizen, provider, _team = factories.organisation(session)
        factories.coordinator(session, provider.municipality_id, hash_secret(PASSWORD))
    log = tmp_path / "gunicorn.log"
    server = Gunicorn(
        {
            "SURVEYAPP_ENV": "production",
            "SURVEYAPP_DATABASE_URL": url,
            "SURVEYAPP_SECRET_KEY": PRODUCTION_SECRET,
            "SURVEYAPP_CPR_HMAC_KEY": PRODUCTION_CPR_KEY,
            "SURVEYAPP_PUBLIC_URL": "https://surveyapp.example.dk",
            "SURVEYAPP_OFFLINE_KEY_DIR": str(offline_key_dir),
            "SURVEYAPP_TRUSTED_PROXIES": "1",
            "WEB_CONCURRENCY": "2",
        },
        log,
    )
    try:
        server.start()
        assert len(server.worker_pids()) == 2
        directory, started = nginx
        main, http_port, https_port = nginx_config(directory, server.port)
        started.append(
            subprocess.Popen(  # noqa: S603
                [NGINX, "-c", str(main), "-e", str(directory / "error.log")]
            )
        )
        tls = ssl.create_default_context(cafile=str(directory / "fullchain.pem"))
        browser = Client(https_port, tls=tls)
        _wait_for(browser, "/healthz")

        # Plain HTTP only says where HTTPS is.
        plain = Client(http_port).get("/login?x=1")
        assert plain.status == 301
        assert plain.header("Location") == "https://127.0.0.1/login?x=1"

        health = browser.get("/healthz")
        assert health.status == 200 and '"database":"ok"' in health.body
        assert health.header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"

        # Static files come from nginx, cached, with the file's exact bytes; the app never sees
        # them. The service worker is the app's (its own header, no caching).
        css = browser.get("/static/staff.css")
        assert css.status == 200
        assert css.body == (ROOT / "surveyapp" / "static" / "staff.css").read_text("utf-8")
        assert css.all("Cache-Control") == ["public, max-age=3600"]
        assert css.header("X-Content-Type-Options") == "nosniff"
        worker = browser.get("/kiosk/sw.js")
        assert worker.status == 200 and worker.header("Service-Worker-Allowed") == "/"
        assert "no-store" in (worker.header("Cache-Control") or "")

        # A staff login through the proxy: the session cookie is __Host-, Secure.
        page = browser.get("/login")
        assert page.status == 200
        done = browser.post(
            "/login",
            {"username": "koordinator", "password": PASSWORD, "csrf_token": page.csrf()},
        )
        assert done.status == 302, done.body[:500]
        session_cookies = [c for c in browser.set_cookies if c.startswith("__Host-session=")]
        assert session_cookies and all("Secure" in c for c in session_cookies)
        home = browser.get(done.header("Location") or "")
        if home.status == 302:  # the start page sends a coordinator on to the due list
            home = browser.get(home.header("Location") or "")
        assert home.status == 200 and "Karen Koordinator" in home.body

        # A client's own X-Forwarded-For is replaced by nginx with its real address.
        spoofer = Client(https_port, tls=tls, headers={"X-Forwarded-For": "198.51.100.9"})
        form = spoofer.get("/login").csrf()
        spoofer.post("/login", {"username": "koordinator", "password": "wrong", "csrf_token": form})
        # gunicorn trusts the one proxy's X-Forwarded-For (SURVEYAPP_TRUSTED_PROXIES=1).
        proxied = Client(server.port, headers={"X-Forwarded-For": "203.0.113.7"})
        form = proxied.get("/login").csrf()
        proxied.post("/login", {"username": "koordinator", "password": "wrong", "csrf_token": form})

        # The body limit is nginx's as much as the app's: 1 MiB.
        too_big = browser.post("/login", {"username": "x" * (1024 * 1024 + 10)})
        assert too_big.status == 413

        # A flood of login POSTs from one address: past nginx's burst it answers 429 itself,
        # while the login page and everything else still answer.
        flood = Client(https_port, tls=tls)
        form = flood.get("/login").csrf()
        statuses = [
            flood.post(
                "/login", {"username": f"x{n}", "password": "wrong", "csrf_token": form}
            ).status
            for n in range(40)
        ]
        assert 429 not in statuses[:5] and statuses.count(429) >= 5, statuses
        assert flood.get("/login").status == 200 and flood.get("/healthz").status == 200

        # A relative's link, through the proxy.
        relative = Client(https_port, tls=tls)
        assert relative.get(f"/svar/{token}").status == 303
        assert relative.get("/svar/").status == 200
    finally:
        server.stop()
    with factory.begin() as session:
        failed = session.scalars(
            select(AuditEvent.ip_address).where(AuditEvent.action == "login.failed")
        ).all()
        logins = session.scalars(
            select(AuditEvent.ip_address).where(AuditEvent.action == "login")
        ).all()
    engine.dispose()
    # The spoofed address is never believed (the flood's attempts are nginx's 127.0.0.1 too).
    assert set(failed) == {"127.0.0.1", "203.0.113.7"} and failed.count("203.0.113.7") == 1
    assert logins == ["127.0.0.1"]
    written = log.read_text(encoding="utf-8")
    assert "Booting worker" in written
    assert '"GET /svar/[redacted] HTTP/1.1" 303' in written, written
    assert "/static/staff.css" not in written  # served by nginx alone
    assert '"GET /kiosk/sw.js HTTP/1.1" 200' in written
    secrets = [token, PASSWORD, *browser.cookies.values(), *relative.cookies.values()]
    for secret in secrets:
        assert secret not in written
    for nginx_log in directory.glob("*.log"):
        text = nginx_log.read_text(encoding="utf-8")
        assert token not in text, nginx_log


# --- systemd and the environment file --------------------------------------------------------

UNITS = sorted((DEPLOY / "systemd").iterdir())


def test_systemd_units_verify(tmp_path: Path) -> None:
    """systemd-analyze verify finds nothing to say (not even an unknown key), with the paths
    of the checkout this test runs in."""
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "gunicorn").exists() and (venv_bin / "surveyapp").exists()
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8")
        text = text.replace("/opt/surveyapp/app/.venv/bin", str(venv_bin))
        text = text.replace("/opt/surveyapp/app", str(ROOT))
        text = text.replace("/etc/surveyapp/surveyapp.env", str(DEPLOY / "surveyapp.env"))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    result = subprocess.run(  # noqa: S603
        ["systemd-analyze", "verify", *(str(tmp_path / unit.name) for unit in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == "", result.stdout + result.stderr


def _directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_units_are_hardened_and_timed() -> None:
    names = {unit.name for unit in UNITS}
    assert names == {
        "surveyapp.service",
        "surveyapp-sweep.service",
        "surveyapp-sweep.timer",
        "surveyapp-retention.service",
        "surveyapp-retention.timer",
    }
    for unit in UNITS:
        found = _directives(unit)
        if unit.suffix == ".timer":
            assert found["Persistent"] == ["true"] and found["OnCalendar"], unit.name
            continue
        assert found["User"] == ["surveyapp"] and found["Group"] == ["surveyapp"], unit.name
        assert found["EnvironmentFile"] == ["/etc/surveyapp/surveyapp.env"], unit.name
        for key, value in (
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
            ("ProtectHome", "yes"),
            ("ReadWritePaths", "/var/cache/surveyapp"),
        ):
            assert found[key] == [value], (unit.name, key)
    assert _directives(DEPLOY / "systemd" / "surveyapp-sweep.service")["ExecStart"] == [
        "/opt/surveyapp/app/.venv/bin/surveyapp sweep"
    ]
    assert _directives(DEPLOY / "systemd" / "surveyapp-retention.service")["ExecStart"] == [
        "/opt/surveyapp/app/.venv/bin/surveyapp retention"
    ]
    app = _directives(DEPLOY / "systemd" / "surveyapp.service")
    assert app["ExecReload"] == ["/bin/kill -s HUP $MAINPID"]


def test_the_environment_file_sets_every_production_variable() -> None:
    """Every SURVEYAPP_ variable of the README's Configuration table and of the settings."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(SURVEYAPP_[A-Z_]+)`", table, re.M))
    read = set(
        re.findall(r'"(SURVEYAPP_[A-Z_]+)"', (ROOT / "surveyapp" / "config.py").read_text("utf-8"))
    )
    assert "SURVEYAPP_OFFLINE_KEY_DIR" in documented & read
    env = (DEPLOY / "surveyapp.env").read_text(encoding="utf-8")
    assigned = dict(re.findall(r"^([A-Z_]+)=(.*)$", env, re.M))
    assert (documented | read) - set(assigned) == set()
    assert assigned["SURVEYAPP_ENV"] == "production"
    assert assigned["SURVEYAPP_TRUSTED_PROXIES"] == "1"
    assert assigned["SURVEYAPP_PUBLIC_URL"].startswith("https://")
