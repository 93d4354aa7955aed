"""The development server's request handler (`surveyapp serve`, `make run`).

Werkzeug's handler names itself and the Python version in every response's `Server` header
("Werkzeug/3.1 Python/3.11"); this one says only "surveyapp". Request lines are written by
werkzeug's logger, which `surveyapp.logs` keeps free of link tokens.
"""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler

SERVER_NAME = "surveyapp"


class RequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler with a `Server` header that names no software version."""

    def version_string(self) -> str:
        return SERVER_NAME
