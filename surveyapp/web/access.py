"""Every view declares who may reach it; the app refuses to start if a view does not.

Rules:
- `public`: anyone (front page, health check, static files).
- `respondent`: a citizen or relative holding a link token or a kiosk grant; the view itself
  resolves the token or grant and never reveals anything else.
- `staff`: a logged-in staff user, optionally limited to some roles; what the user may see
  inside the view is further scoped by organisation in the services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask

from surveyapp.enums import Role

F = TypeVar("F", bound=Callable[..., Any])
RULE_ATTRIBUTE = "_surveyapp_access"


@dataclass(frozen=True)
class AccessRule:
    kind: str  # public, respondent, staff
    roles: frozenset[Role] = frozenset()


def _mark(rule: AccessRule) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        setattr(view, RULE_ATTRIBUTE, rule)
        return view

    return decorate


def public(view: F) -> F:
    """Anyone may reach this view."""
    return _mark(AccessRule("public"))(view)


def respondent(view: F) -> F:
    """Reached with a link token or kiosk grant, which the view checks itself."""
    return _mark(AccessRule("respondent"))(view)


def staff_rule(roles: Iterable[Role] = ()) -> AccessRule:
    return AccessRule("staff", frozenset(roles))


def mark_staff(roles: Iterable[Role] = ()) -> Callable[[F], F]:
    """Declare a staff view (login enforcement is added by the staff blueprints)."""
    return _mark(staff_rule(roles))


def rule_of(view: Callable[..., Any]) -> AccessRule | None:
    return getattr(view, RULE_ATTRIBUTE, None)


def check_every_view_has_a_rule(app: Flask) -> None:
    """Raise RuntimeError naming each endpoint that declares no access rule."""
    missing = sorted(
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static" and rule_of(view) is None
    )
    if missing:
        raise RuntimeError(f"views without an access rule: {', '.join(missing)}")
