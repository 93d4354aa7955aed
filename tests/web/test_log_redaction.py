"""No link token in the access logs: werkzeug's server (`surveyapp serve`) and gunicorn, run for
real, with their log output captured."""

from __future__ import annotations

import http.client
import io
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask
from werkzeug.serving import make_server

from surveyapp.db import make_engine, make_session_factory, upgrade
from surveyapp.logs import REDACTED
from tests.conftest import TEST_CPR_KEY, TEST_SECRET_KEY
from tests.support import factories

ROOT = Path(__file__).resolve().parents[2]


def _get(port: int, path: str, method: str = "GET", body: str | None = None) -> int:
    return _fetch(port, path, method, body).status


def _fetch(
    port: int, path: str, method: str = "GET", body: str | None = None
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


#: Every kind of address that carries a token: the QR link, a token inside another address's
#: query (percent-encoded or not), and an admin's pending import file.
IMPORT_TOKEN = "Imp0rt-token_0123456789abcdefghijklmnop"
TOKEN_PATHS = (
    "/svar/{token}",
    "/svar/{token}/3",
    "/?next=/svar/{token}",
    "/?next=%2Fsvar%2F{token}",
    f"/staff/admin/import/{IMPORT_TOKEN}",
    f"/staff/admin/import/{IMPORT_TOKEN}/cancel",
)


@pytest.fixture
def werkzeug_log() -> Iterator[io.StringIO]:
    logger = logging.getLogger("werkzeug")
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield output
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_the_development_server_writes_no_token(app: Flask, werkzeug_log: io.StringIO) -> None:
    factory = app.extensions["surveyapp.sessions"]
    token, _ = factories.link(factory, "who5")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert _get(server.server_port, f"/svar/{token}") == 303
        assert _get(server.server_port, f"/svar/{token}/3") == 404  # an old-style address
        assert _get(server.server_port, f"/?next=/svar/{token}") == 200
        code = "ABCD-EFGH-JKMN-PQRS-TUVW"
        assert _get(server.server_port, "/k", "POST", f"code={code}") == 400  # no CSRF token
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    log = werkzeug_log.getvalue()
    assert log.count(f"/svar/{REDACTED}") == 3, log
    assert token not in log and "ABCD" not in log
    assert re.search(r'POST /k HTTP/1.1\S*" 400', log), log


def test_surveyapp_serves_request_lines_with_no_token_of_any_kind(
    app: Flask, werkzeug_log: io.StringIO
) -> None:
    """The very handler `surveyapp serve` uses, on real sockets, for every token-bearing path."""
    from surveyapp.devserver import RequestHandler

    token, _ = factories.link(app.extensions["surveyapp.sessions"], "who5")
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in TOKEN_PATHS:
            response = _fetch(server.server_port, path.format(token=token))
            assert response.status < 500, path
            assert response.getheader("Server") == "surveyapp"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    log = werkzeug_log.getvalue()
    assert log.count(REDACTED) == len(TOKEN_PATHS), log
    assert token not in log and IMPORT_TOKEN not in log, log


def test_the_gunicorn_logger_class_redacts_every_atom(tmp_path: Path) -> None:
    from gunicorn.config import Config

    from surveyapp.logs.gunicorn import RedactingGunicornLogger

    path = tmp_path / "access.log"
    config = Config()
    config.set("accesslog", str(path))
    config.set("access_log_format", '%(h)s "%(r)s" %(s)s "%(f)s" %(U)s %({referer}i)s')
    logger = RedactingGunicornLogger(config)
    token = "Tok3n-with_urlsafe-chars-0123456789abcdefghijk"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/svar/{token}",
        "PATH_INFO": f"/svar/{token}",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_REFERER": f"https://example.org/svar/{token}",
    }
    request = SimpleNamespace(headers=[("REFERER", f"https://example.org/svar/{token}")])
    response = SimpleNamespace(status="303 SEE OTHER", sent=0, headers=[])
    logger.access(response, request, environ, timedelta(milliseconds=3))
    logger.error("Error handling request /svar/%s", token)
    for handler in logging.getLogger("gunicorn.access").handlers:
        handler.flush()
    written = path.read_text(encoding="utf-8")
    assert token not in written
    assert written.count(f"/svar/{REDACTED}") == 4, written
    assert '"GET /svar/[redacted] HTTP/1.1" 303' in written


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("logger_class", [True, False], ids=["logger-class", "app-filter-only"])
def test_gunicorn_for_real_writes_no_token(tmp_path: Path, logger_class: bool) -> None:
    """gunicorn serving surveyapp.wsgi:app, with and without --logger-class."""
    database = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    upgrade(database)
    engine = make_engine(database)
    token, _ = factories.link(make_session_factory(engine), "who5")
    engine.dispose()
    port, log = _free_port(), tmp_path / "access.log"
    # An empty configuration: gunicorn would otherwise read the checkout's gunicorn.conf.py
    # (which names the logger class; tests/web/test_production_serving.py runs with it).
    (tmp_path / "empty.conf.py").write_text("", encoding="utf-8")
    command = [
        *(sys.executable, "-m", "gunicorn", "--config", str(tmp_path / "empty.conf.py")),
        *("--workers", "1", "--bind", f"127.0.0.1:{port}"),
        *("--access-logfile", str(log), "--error-logfile", str(tmp_path / "error.log")),
    ]
    if logger_class:
        command += ["--logger-class", "surveyapp.logs.gunicorn.RedactingGunicornLogger"]
    environ = {
        **os.environ,
        "SURVEYAPP_ENV": "test",
        "SURVEYAPP_DATABASE_URL": database,
        "SURVEYAPP_SECRET_KEY": TEST_SECRET_KEY,
        "SURVEYAPP_CPR_HMAC_KEY": TEST_CPR_KEY,
    }
    server = subprocess.Popen(  # noqa: S603 - our interpreter running gunicorn
        [*command, "surveyapp.wsgi:app"], cwd=ROOT, env=environ
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert _get(port, f"/svar/{token}") == 303
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert _get(port, "/healthz") == 200
        for path in TOKEN_PATHS:
            response = _fetch(port, path.format(token=token))
            assert response.status < 500, path
            # The logger class also stops gunicorn from naming itself in the Server header.
            assert response.getheader("Server") == ("surveyapp" if logger_class else "gunicorn")
    finally:
        server.terminate()
        server.wait(timeout=20)
    written = log.read_text(encoding="utf-8")
    assert token not in written and IMPORT_TOKEN not in written, written
    assert written.count(REDACTED) == 1 + len(TOKEN_PATHS), written
    assert re.search(r'"GET /svar/\[redacted\] HTTP/1.1" 303', written), written
    assert "GET /healthz" in written
