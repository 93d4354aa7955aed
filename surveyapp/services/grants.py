"""Analyst grants: a municipality's admin lets an analyst of another municipality see its reports.

An analyst always sees their own municipality's aggregates; a grant adds another
municipality, for an evaluation across municipalities (`surveyapp.services.scope.report_scope`
reads the grants). Only the granting municipality's admins may list, give or take back its
grants: another municipality's grant is "not found". Aggregates only: a grant never lets
anyone see a citizen. Every grant and revocation is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from surveyapp.enums import Role
from surveyapp.models import AnalystGrant, Municipality, StaffUser
from surveyapp.services import audit
from surveyapp.services.scope import OutOfScope, Scope, require_admin


class GrantError(ValueError):
    """A grant that cannot be given; the message is a code (see the admin view)."""

    # no_such_analyst: no active analyst has this username
    # own_municipality: the analyst belongs to this municipality and sees it already
    # already_granted: the analyst has access already


@dataclass(frozen=True)
class GrantRow:
    id: int
    username: str
    full_name: str
    municipality_name: str  # the analyst's own municipality
    granted_at: datetime
    granted_by: str  # username of the admin who granted it


def list_grants(session: Session, scope: Scope) -> list[GrantRow]:
    """The grants of the admin's municipality, newest first."""
    require_admin(scope)
    analyst, admin = aliased(StaffUser), aliased(StaffUser)
    rows = session.execute(
        select(
            AnalystGrant.id,
            analyst.username,
            analyst.full_name,
            Municipality.name,
            AnalystGrant.granted_at,
            admin.username,
        )
        .join(analyst, AnalystGrant.user_id == analyst.id)
        .join(Municipality, analyst.municipality_id == Municipality.id)
        .join(admin, AnalystGrant.granted_by_id == admin.id)
        .where(AnalystGrant.municipality_id == scope.municipality_id)
        .order_by(AnalystGrant.granted_at.desc(), AnalystGrant.id.desc())
    ).all()
    return [GrantRow(*row) for row in rows]


def grant(session: Session, scope: Scope, username: str) -> AnalystGrant:
    """Let the analyst with this username see the admin's municipality's reports."""
    require_admin(scope)
    wanted = username.strip().lower()
    analyst = session.scalars(
        select(StaffUser).where(
            func.lower(StaffUser.username) == wanted,
            StaffUser.role == Role.ANALYST,
            StaffUser.active,
        )
    ).first()
    if analyst is None:
        raise GrantError("no_such_analyst")
    if analyst.municipality_id == scope.municipality_id:
        raise GrantError("own_municipality")
    existing = session.scalars(
        select(AnalystGrant).where(
            AnalystGrant.user_id == analyst.id,
            AnalystGrant.municipality_id == scope.municipality_id,
        )
    ).first()
    if existing is not None:
        raise GrantError("already_granted")
    found = AnalystGrant(
        user_id=analyst.id, municipality_id=scope.municipality_id, granted_by_id=scope.user_id
    )
    session.add(found)
    session.flush()
    audit.record(
        session,
        scope.actor,
        "analyst_grant.create",
        object_type="analyst_grant",
        object_id=found.id,
        details={"analyst_user_id": analyst.id, "analyst_municipality_id": analyst.municipality_id},
    )
    return found


def revoke(session: Session, scope: Scope, grant_id: int) -> str:
    """Take a grant of the admin's own municipality back; return the analyst's username."""
    require_admin(scope)
    found = session.scalars(
        select(AnalystGrant).where(
            AnalystGrant.id == grant_id, AnalystGrant.municipality_id == scope.municipality_id
        )
    ).first()
    if found is None:
        raise OutOfScope("not found")
    username = found.user.username
    audit.record(
        session,
        scope.actor,
        "analyst_grant.revoke",
        object_type="analyst_grant",
        object_id=found.id,
        details={"analyst_user_id": found.user_id},
    )
    session.delete(found)
    session.flush()
    return username
