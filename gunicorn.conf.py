"""gunicorn settings for surveyapp: `gunicorn -c gunicorn.conf.py surveyapp.wsgi:app`.

It lives at the top of the checkout because the app runs from its checkout (migrations/ and
translations/ sit beside the package, not inside it), and gunicorn reads ./gunicorn.conf.py of
its working directory by itself: `make serve` and the systemd unit (deploy/surveyapp.service,
WorkingDirectory= the checkout) both use this one file. Every value can be set from the
environment (names below); gunicorn's own command-line options override it.

- WEB_CONCURRENCY: worker processes (default 2 per CPU core, at least 2).
- GUNICORN_WORKER_CLASS / GUNICORN_THREADS: `sync` by default; `gthread` with
  GUNICORN_THREADS threads per worker (default 4). Measured on this 2-core machine with
  PostgreSQL on the same host (bench/login_bench.py --attackers 0 --answerers 16, two
  alternating rounds): both served about 9 complete WHO-5 questionnaires a second, sync at
  100-120 ms of CPU per questionnaire, gthread at 115 ms; sync is the simpler model, and
  nginx's buffering keeps slow clients from holding a worker. gthread kept answering better
  during a flat-out login burst (0.44x against 0.32x of the rate without it) and suits a
  database on another host (threads overlap the waits): set GUNICORN_WORKER_CLASS=gthread.
- BIND, else PORT: the address (default 127.0.0.1:8000, only the local proxy reaches it).
- SURVEYAPP_TRUSTED_PROXIES > 0: gunicorn believes X-Forwarded-Proto (https) only from the
  addresses in FORWARDED_ALLOW_IPS (default the loopback addresses, where nginx connects from);
  with 0 it believes no forwarded header from anyone. The app itself takes the client's address
  from X-Forwarded-For through that many proxies (werkzeug's ProxyFix, surveyapp.app).
- GUNICORN_TIMEOUT (60 s): a request still running then has its worker killed and replaced.

preload_app is off, on purpose. Each worker imports and builds the app itself (instrument
registry, offline RSA keys, the database engine and its connection pool): no pool and no
connection is ever shared across a fork, and `kill -HUP` / `systemctl reload` starts new
workers on the new code after an upgrade (a preloaded app would keep the old code until a full
restart). What it costs: every worker builds the app once at boot (well under a second) and
keeps its own copy in memory. The master loads only gunicorn and the logger class
(surveyapp/logs/; this file it reads again on every reload): a change to those needs a
restart. If preload is turned on anyway (`--preload`), `post_fork` below throws away the
pool inherited from the master, so no worker uses the master's connections.
"""

from __future__ import annotations

import os
import sys


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _bind() -> str:
    if os.environ.get("BIND"):
        return os.environ["BIND"]
    return f"127.0.0.1:{os.environ.get('PORT') or '8000'}"


def _forwarded_allow_ips() -> str:
    if int(os.environ.get("SURVEYAPP_TRUSTED_PROXIES") or "0") <= 0:
        return ""  # no proxy in front: trust no X-Forwarded-* header from anyone
    return os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


bind = _bind()
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, 2 * _cores()))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS") or (4 if worker_class == "gthread" else 1))
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or "60")
graceful_timeout = 30  # on stop or reload, requests under way get this long to finish
keepalive = 5
# A worker is replaced after about twenty thousand requests (jitter: not all at once), so a
# slow leak in a library can never grow for long. Not after a thousand: a new worker imports
# and builds the app again (about 1.4 s of CPU), which at 1,000 requests added some 1.4 ms to
# every request and, under load, a p99 of seconds while a worker booted (bench/load_bench.py
# counts the replacements).
max_requests = 20000
max_requests_jitter = 2000
preload_app = False
forwarded_allow_ips = _forwarded_allow_ips()
# Only the proxy's X-Forwarded-Proto says https (nginx sets nothing else; two scheme headers
# that disagree would be refused).
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# Logs go to standard output/error (the journal under systemd), through the logger that writes
# no link token (surveyapp/logs/gunicorn.py). The access line names the client as the proxy
# saw it (X-Forwarded-For) besides the proxy's own address.
logger_class = "surveyapp.logs.gunicorn.RedactingGunicornLogger"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
access_log_format = '%(h)s (%({x-forwarded-for}i)s) "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
proc_name = "surveyapp"
# gunicorn 25.1+ opens a control socket in $HOME or $XDG_RUNTIME_DIR by default; the service
# user has no writable home (ProtectSystem=strict), and workers are managed with signals
# (systemctl reload = HUP), so there is none. Older gunicorns ignore the name.
control_socket_disable = True


def post_fork(server: object, worker: object) -> None:
    """Only with --preload: drop the connection pool the worker inherited from the master."""
    wsgi = sys.modules.get("surveyapp.wsgi")
    if wsgi is not None:
        wsgi.app.extensions["surveyapp.engine"].dispose(close=False)
