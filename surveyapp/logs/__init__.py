"""Keep link tokens out of every log line (pure: the standard library only).

A relative's first request is `GET /svar/<token>`: the token is the key to their
questionnaire, and access logs keep the request line. `redact` replaces the path segment after
`/svar/` with `[redacted]`, unless it is one of the token-free pages (`/svar/3`, `/svar/tak`,
...), also where the path is percent-encoded inside a query string; likewise the token of an
uploaded import file after `/import/` (`/staff/admin/import/<token>`, an admin's page).
`RedactingFilter` applies it to every record of a logger; `install` puts it on the loggers
that write request lines: werkzeug's development server (`surveyapp serve`, `make run`), the
app's own logger, and gunicorn's (see `surveyapp.logs.gunicorn` for the `--logger-class`
that also cleans the access log's atoms). Typed codes never reach a URL: the code form posts
them in the body, and the kiosk's grant lives in the session cookie.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
_SEGMENT = re.compile(
    r"(?P<head>(?:/|%2F)(?P<where>svar|import)(?:/|%2F))(?P<segment>[^\s/?#&\"'<>]+)", re.I
)
# Token-free pages: under /svar/ a question number, start, language, thanks, about; under
# /staff/admin/import/ (whose other paths carry the token of an uploaded file) "done".
_KEPT = {
    "svar": re.compile(r"\d{1,3}|start|sprog|tak|om"),
    "import": re.compile(r"done"),
}
#: The loggers that write request lines in development and production.
REQUEST_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    """The text with every link token after /svar/ (and import token) replaced by [redacted]."""
    return _SEGMENT.sub(
        lambda m: (
            m["head"]
            + (m["segment"] if _KEPT[m["where"].lower()].fullmatch(m["segment"]) else REDACTED)
        ),
        text,
    )


class RedactingFilter(logging.Filter):
    """Rewrite a record's message so that no link token is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install(loggers: Iterable[logging.Logger] = ()) -> None:
    """Put the filter (once) on the request loggers and on the given ones."""
    targets = [logging.getLogger(name) for name in REQUEST_LOGGERS] + list(loggers)
    for logger in targets:
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
