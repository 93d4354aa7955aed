"""Where a POST comes from, as the browser says it (Fetch metadata and Origin).

Every POST needs a valid CSRF token (Flask-WTF). Flask-WTF's own check on HTTPS also demands a
Referer from our host, which the respondent and kiosk pages never send (they set
`Referrer-Policy: no-referrer`), so the app turns that check off (WTF_CSRF_SSL_STRICT) and
uses the browser's newer signals instead, on every POST: a request the browser marks as coming
from another site (`Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` of another host)
is refused with 400 before any view runs. Cookie planting from another host, which the Referer
check guarded against, is ruled out by HSTS with includeSubDomains and the `__Host-` cookie.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.exceptions import BadRequest


def _origin_host() -> str | None:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":  # "null": a no-referrer page's own form, or opaque
        return None
    return urlsplit(origin).netloc


def same_origin() -> bool:
    """True only if the browser positively says the request comes from one of our pages.

    Only the host is compared: behind the TLS proxy the app itself may see http.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    return _origin_host() == request.host


def refuse_cross_site_posts() -> None:
    """Refuse a POST that the browser says comes from another site (before any view)."""
    if request.method != "POST":
        return
    site = request.headers.get("Sec-Fetch-Site")
    host = _origin_host()
    if site in ("cross-site", "same-site") or (host is not None and host != request.host):
        raise BadRequest()


def init_app(app: Flask) -> None:
    app.config["WTF_CSRF_SSL_STRICT"] = False
    app.before_request(refuse_cross_site_posts)
