"""Every view declares an access rule; a view without one stops the app from starting."""

from __future__ import annotations

import pytest
from flask import Flask

from surveyapp.web.access import check_every_view_has_a_rule, public, rule_of


def test_the_real_app_declares_a_rule_for_every_view(app: Flask) -> None:
    for endpoint, view in app.view_functions.items():
        assert endpoint == "static" or rule_of(view) is not None, endpoint


def test_a_view_without_a_rule_is_refused() -> None:
    app = Flask(__name__)

    @app.get("/open")
    @public
    def fine() -> str:
        return "ok"

    @app.get("/forgotten")
    def forgotten() -> str:
        return "oops"

    with pytest.raises(RuntimeError, match="forgotten"):
        check_every_view_has_a_rule(app)
