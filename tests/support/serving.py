"""Real gunicorn (with the project's gunicorn.conf.py) and a small HTTP client with cookies.

Used by the production-serving tests (tests/web/test_production_serving.py) and the login
benchmark (bench/login_bench.py): the app runs as it does in production, in its own processes,
and is spoken to over a socket only.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request_parts(
    fixed: Mapping[str, str], cookies: Mapping[str, str], form: Mapping[str, str] | None
) -> tuple[dict[str, str], str | None]:
    """The headers (fixed ones, the cookies, the form's type) and body of a request."""
    headers = dict(fixed)
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return headers, body


def remember_cookies(jar: dict[str, str], set_cookies: Iterable[str]) -> None:
    """Keep every cookie a reply set (Secure or not), drop the ones it expired."""
    for cookie in set_cookies:
        name, _, rest = cookie.partition("=")
        value = rest.split(";", 1)[0]
        if value and "Max-Age=0" not in cookie and "expires=Thu, 01 Jan 1970" not in cookie:
            jar[name.strip()] = value
        else:
            jar.pop(name.strip(), None)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def csrf(self) -> str:
        match = CSRF.search(self.body)
        assert match, f"no CSRF token in the page (status {self.status})"
        return match.group(1)


@dataclass
class Client:
    """One browser: a cookie jar (every cookie sent back, Secure or not) and fixed headers."""

    port: int
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)  # every Set-Cookie seen, verbatim
    timeout: float = 20

    def request(self, method: str, path: str, form: Mapping[str, str] | None = None) -> Reply:
        if self.tls is not None:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.tls
            )
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers, body = request_parts(self.headers, self.cookies, form)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            reply = Reply(response.status, response.getheaders(), text)
        finally:
            connection.close()
        self.set_cookies.extend(reply.all("Set-Cookie"))
        remember_cookies(self.cookies, reply.all("Set-Cookie"))
        return reply

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, form: Mapping[str, str]) -> Reply:
        return self.request("POST", path, form)


class Gunicorn:
    """gunicorn -c gunicorn.conf.py APP (surveyapp.wsgi:app), its output in `log`."""

    def __init__(
        self, environ: Mapping[str, str], log: Path, *extra: str, app: str = "surveyapp.wsgi:app"
    ) -> None:
        self.app = app
        self.port = free_port()
        self.log = log
        self.environ = {
            **os.environ,
            **environ,
            "BIND": f"127.0.0.1:{self.port}",
            "PYTHONUNBUFFERED": "1",
        }
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Gunicorn:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            *self.extra,
            self.app,
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter running gunicorn
                command, cwd=ROOT, env=self.environ, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn stopped: {self.log.read_text()[-3000:]}")
            try:
                if Client(self.port, timeout=2).get("/healthz").status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer: {self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
