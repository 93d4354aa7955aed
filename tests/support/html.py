"""Small helpers for reading pages in test-client tests."""

from __future__ import annotations

import re

from flask.testing import FlaskClient


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the first form on the page at `path`, as a browser would send it."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)
