"""A gunicorn logger that never writes a link token (production access logs).

Use it with `gunicorn --logger-class surveyapp.logs.gunicorn.RedactingGunicornLogger
--access-logfile - surveyapp.wsgi:app`. Every atom of the access log format (request line,
path, query, referrer, headers) is redacted, and the error log gets the same filter. Loading
the class also makes gunicorn's `Server` header say "surveyapp" instead of "gunicorn".
"""

from __future__ import annotations

from typing import Any

import gunicorn.http.wsgi
from gunicorn.glogging import Logger

from surveyapp.logs import RedactingFilter, redact

# gunicorn writes "Server: gunicorn" into every response from this module constant (read for
# each response); the logger class is loaded before the workers start, so they all say only
# "surveyapp", like the development server (surveyapp.devserver).
gunicorn.http.wsgi.SERVER = "surveyapp"  # type: ignore[attr-defined]


class RedactingGunicornLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with /svar/<token> written as /svar/[redacted]."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in logger.filters):
                logger.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
