"""The kiosk's offline queue: where a tablet sends what it answered without network.

Two JSON endpoints, posted by the kiosk's own pages (the runner page and its service worker):
`POST /kiosk/sync` takes one sealed item (surveyapp.offline_keys envelope) and
`POST /kiosk/sync/status` what the tablet says it made and still holds for a visit. Neither
carries a CSRF token (the replay may run long after the page that had one is gone); both
demand the browser's positive word that the request comes from our own origin instead, and
the content is bound to its visit by the signed credential inside the sealed plaintext.

Replies (JSON, never cached): 200 stored or duplicate; 409 conflict; 422 refused for good (the
tablet drops the item); 503 without offline keys; any other failure is a plain 5xx, which the
tablet retries with backoff.

Both are public, so what a stranger can make them do is limited: refused, malformed and
conflicting requests are counted per client address (surveyapp.services.throttle, "offline_
refused": by default 200 per 15 minutes, `OFFLINE_REFUSALS_PER_WINDOW`), and past that the
address gets 429 before anything is decrypted or written to the audit trail. A tablet's own
items are refused rarely (a questionnaire sent on paper meanwhile), and 429 is retried later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from surveyapp.offline_keys import KeyRing
from surveyapp.services import offline as offline_service
from surveyapp.services import throttle
from surveyapp.web import db_session, origin, registry, respond, run_in_transaction
from surveyapp.web.access import public

bp = Blueprint("offline", __name__, url_prefix="/kiosk/sync")
bp.after_request(respond.never_cache)
MAX_BODY = 64 * 1024
T = TypeVar("T")
NOT_PARSED = object()


def keyring() -> KeyRing | None:
    """The current app's offline keys (None: the kiosk works online only)."""
    found: KeyRing | None = current_app.extensions.get("surveyapp.offline_keys")
    return found


def _reply(body: dict[str, Any], status: int) -> WerkzeugResponse:
    response = jsonify(body)
    response.status_code = status
    return response


def _body() -> Any:
    """The request's JSON (NOT_PARSED for anything else or anything over 64 KiB)."""
    if request.mimetype != "application/json":
        return NOT_PARSED
    length = request.content_length
    if length is None or length > MAX_BODY:
        return NOT_PARSED
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        return NOT_PARSED
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NOT_PARSED


def _from_our_pages() -> None:
    if not origin.same_origin():
        abort(400)


TOO_MANY = object()


def _limited(work: Callable[[Session], tuple[T, bool]]) -> T | object:
    """Run `work(session)` in a transaction unless this client was refused too often lately
    (TOO_MANY, before anything is decrypted or audited); `work` says whether it refused."""
    limit = throttle.Limit(
        "offline_refused",
        int(current_app.config.get("OFFLINE_REFUSALS_PER_WINDOW", 200)),
        timedelta(minutes=15),
    )
    secret = current_app.extensions["surveyapp.settings"].secret_key
    client = throttle.key_of(secret, limit.kind, request.remote_addr)

    def action() -> T | object:
        db = db_session()
        if throttle.exceeded(db, limit, client):
            return TOO_MANY
        result, refused = work(db)
        if refused:
            throttle.hit(db, limit, client)
        return result

    return run_in_transaction(action)


@bp.post("")
@public
def sync() -> WerkzeugResponse:
    """One sealed item from the tablet's queue, stored once."""
    _from_our_pages()
    keys = keyring()
    if keys is None:
        return _reply({"status": "unavailable"}, 503)
    envelope = _body()
    settings = current_app.extensions["surveyapp.settings"]

    def work(db: Session) -> tuple[offline_service.Receipt, bool]:
        receipt = offline_service.receive(
            db,
            keys,
            settings.secret_key,
            None if envelope is NOT_PARSED else envelope,
            registry=registry(),
            max_days=settings.offline_max_days,
            ip_address=request.remote_addr,
        )
        return receipt, receipt.status == "conflict" or receipt.refusal is not None

    receipt = _limited(work)
    if receipt is TOO_MANY:
        return _reply({"status": "too_many"}, 429)
    assert isinstance(receipt, offline_service.Receipt)
    if receipt.status == "conflict":
        return _reply({"status": "conflict"}, 409)
    refusal = receipt.refusal
    if refusal is not None:
        return _reply({"status": "refused", "reason": refusal}, 422)
    return _reply({"status": receipt.status, "outcome": receipt.outcome}, 200)


@bp.post("/status")
@public
def status() -> WerkzeugResponse:
    """What the tablet says it made and holds for a visit; what never arrived."""
    _from_our_pages()
    body = _body()
    settings = current_app.extensions["surveyapp.settings"]

    def work(db: Session) -> tuple[offline_service.Tally | offline_service.BadReport, bool]:
        try:
            if body is NOT_PARSED:
                raise offline_service.BadReport("malformed")
            tally = offline_service.report_status(
                db, settings.secret_key, body, ip_address=request.remote_addr
            )
        except offline_service.BadReport as bad:
            return bad, True
        return tally, False

    found = _limited(work)
    if found is TOO_MANY:
        return _reply({"status": "too_many"}, 429)
    if isinstance(found, offline_service.BadReport):
        if found.code == "bad_credential":
            return _reply({"status": "refused", "reason": found.code}, 422)
        return _reply({"status": "malformed"}, 400)
    assert isinstance(found, offline_service.Tally)
    return _reply({"received": found.received, "lost": found.lost}, 200)
