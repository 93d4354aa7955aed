"""Who may see what: a staff user's organisational scope, applied to every query.

Rules (enforced here, in the services, not by hiding links):

- Everyone sees only their own municipality. An id of another municipality's record is
  reported as "not found" (`OutOfScope`, a 404 in the web layer), never as "forbidden", so
  that nobody learns it exists.
- A user tied to a provider (a leverandør, municipal or private) sees only that provider's
  courses, their assignments and responses, and the citizens who have a course there (or
  whom the user registered and has not yet given a course). A team does not narrow access:
  colleagues of one provider cover for each other; the team is the default filter of the
  due list.
- Coordinators and admins see individual citizens; analysts do not (they get aggregate
  reports, issue 7), so `require_individual_access` refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from surveyapp.enums import ActorType, Role
from surveyapp.models import (
    AnalystGrant,
    Assignment,
    Citizen,
    CitizenClaim,
    Course,
    MeasurementPlan,
    PlanTimepoint,
    Provider,
    StaffUser,
    Team,
)
from surveyapp.services.audit import Actor


class OutOfScope(LookupError):
    """The record does not exist or lies outside the user's scope (shown as 404)."""


class NotPermitted(PermissionError):
    """The user's role may not do this at all, whatever the record (shown as 403)."""


INDIVIDUAL_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR})
REPORT_ROLES = frozenset({Role.ADMIN, Role.ANALYST})


@dataclass(frozen=True)
class Scope:
    """The organisational reach of one staff user in one request."""

    user_id: int
    role: Role
    municipality_id: int
    provider_id: int | None = None
    team_id: int | None = None
    ip_address: str | None = None

    @classmethod
    def of(cls, user: StaffUser, ip_address: str | None = None) -> Scope:
        return cls(
            user_id=user.id,
            role=user.role,
            municipality_id=user.municipality_id,
            provider_id=user.provider_id,
            team_id=user.team_id,
            ip_address=ip_address,
        )

    @property
    def actor(self) -> Actor:
        return Actor(ActorType.STAFF, self.user_id, self.municipality_id, self.ip_address)

    @property
    def sees_individuals(self) -> bool:
        return self.role in INDIVIDUAL_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    # --- filters -------------------------------------------------------------------------

    def course_filter(self) -> ColumnElement[bool]:
        """Courses this user may see."""
        clause = Course.municipality_id == self.municipality_id
        if self.provider_id is not None:
            clause = and_(clause, Course.provider_id == self.provider_id)
        return clause

    def citizen_filter(self) -> ColumnElement[bool]:
        """Citizens this user may see."""
        clause = Citizen.municipality_id == self.municipality_id
        if self.provider_id is not None:
            has_course_here = exists().where(
                Course.citizen_id == Citizen.id, Course.provider_id == self.provider_id
            )
            claimed = exists().where(
                CitizenClaim.citizen_id == Citizen.id, CitizenClaim.user_id == self.user_id
            )
            clause = and_(
                clause, or_(has_course_here, Citizen.created_by_id == self.user_id, claimed)
            )
        return clause

    def provider_filter(self) -> ColumnElement[bool]:
        """Providers this user may register courses with."""
        clause = Provider.municipality_id == self.municipality_id
        if self.provider_id is not None:
            clause = and_(clause, Provider.id == self.provider_id)
        return clause


@dataclass(frozen=True)
class ReportScope:
    """What a user's aggregate reports and exports may cover: never an individual citizen.

    Admins and analysts see their own municipality; an analyst also sees every municipality
    whose admin granted it (AnalystGrant), side by side. A user tied to a provider sees only
    that provider's courses.
    """

    actor_scope: Scope
    municipality_ids: frozenset[int]
    provider_id: int | None = None

    @property
    def actor(self) -> Actor:
        return self.actor_scope.actor

    def course_filter(self) -> ColumnElement[bool]:
        """Courses whose answers these reports may aggregate."""
        clause = Course.municipality_id.in_(sorted(self.municipality_ids))
        if self.provider_id is not None:
            clause = and_(clause, Course.provider_id == self.provider_id)
        return clause


def report_scope(session: Session, scope: Scope) -> ReportScope:
    """The reach of a user's reports and exports; NotPermitted for coordinators."""
    if scope.role not in REPORT_ROLES:
        raise NotPermitted("reports are for analysts and administrators")
    ids = {scope.municipality_id}
    if scope.role is Role.ANALYST:
        ids.update(
            session.scalars(
                select(AnalystGrant.municipality_id).where(AnalystGrant.user_id == scope.user_id)
            )
        )
    return ReportScope(scope, frozenset(ids), scope.provider_id)


def require_individual_access(scope: Scope) -> None:
    """Refuse roles that may not see individual citizens (analysts)."""
    if not scope.sees_individuals:
        raise NotPermitted("this role does not see individual citizens")


def require_admin(scope: Scope) -> None:
    if not scope.is_admin:
        raise NotPermitted("administrators only")


def _one(session: Session, stmt: Any) -> Any:
    found = session.scalars(stmt).first()
    if found is None:
        raise OutOfScope("not found")
    return found


def get_citizen(session: Session, scope: Scope, citizen_id: int) -> Citizen:
    """The citizen with this id, if the user may see them; else OutOfScope."""
    require_individual_access(scope)
    return _one(session, select(Citizen).where(Citizen.id == citizen_id, scope.citizen_filter()))


def get_course(session: Session, scope: Scope, course_id: int, *options: Any) -> Course:
    """The course with this id, if the user may see it; else OutOfScope.

    `options` are loader options for the same statement (e.g. what a view reads with it)."""
    require_individual_access(scope)
    return _one(
        session,
        select(Course).where(Course.id == course_id, scope.course_filter()).options(*options),
    )


def get_assignment(session: Session, scope: Scope, assignment_id: int) -> Assignment:
    """The assignment with this id, if its course is in scope; else OutOfScope."""
    require_individual_access(scope)
    return _one(
        session,
        select(Assignment)
        .join(Course, Assignment.course_id == Course.id)
        .where(Assignment.id == assignment_id, scope.course_filter()),
    )


def providers(session: Session, scope: Scope) -> list[Provider]:
    """Active providers the user may register courses with."""
    return list(
        session.scalars(
            select(Provider).where(scope.provider_filter(), Provider.active).order_by(Provider.name)
        )
    )


def teams(session: Session, scope: Scope) -> list[Team]:
    """Active teams of the providers the user may see."""
    return list(
        session.scalars(
            select(Team)
            .join(Provider, Team.provider_id == Provider.id)
            .where(scope.provider_filter(), Team.active)
            .order_by(Provider.name, Team.name)
        )
    )


def get_provider(session: Session, scope: Scope, provider_id: int) -> Provider:
    return _one(
        session, select(Provider).where(Provider.id == provider_id, scope.provider_filter())
    )


def get_team(session: Session, scope: Scope, team_id: int) -> Team:
    return _one(
        session,
        select(Team)
        .join(Provider, Team.provider_id == Provider.id)
        .where(Team.id == team_id, scope.provider_filter()),
    )


def plans(session: Session, scope: Scope, *, active_only: bool = True) -> list[MeasurementPlan]:
    """Plans offered to the user's municipality: the shared ones and its own."""
    stmt = select(MeasurementPlan).where(
        or_(
            MeasurementPlan.municipality_id.is_(None),
            MeasurementPlan.municipality_id == scope.municipality_id,
        )
    )
    if active_only:
        stmt = stmt.where(MeasurementPlan.active)
    return list(
        session.scalars(stmt.order_by(MeasurementPlan.is_default.desc(), MeasurementPlan.name))
    )


def get_plan(session: Session, scope: Scope, plan_id: int) -> MeasurementPlan:
    """A plan offered to the user's municipality (shared or its own)."""
    return _one(
        session,
        select(MeasurementPlan).where(
            MeasurementPlan.id == plan_id,
            or_(
                MeasurementPlan.municipality_id.is_(None),
                MeasurementPlan.municipality_id == scope.municipality_id,
            ),
        ),
    )


def get_own_plan(session: Session, scope: Scope, plan_id: int) -> MeasurementPlan:
    """A plan that belongs to the user's municipality (the only kind its admins may edit)."""
    return _one(
        session,
        select(MeasurementPlan).where(
            MeasurementPlan.id == plan_id,
            MeasurementPlan.municipality_id == scope.municipality_id,
        ),
    )


def get_own_timepoint(
    session: Session, scope: Scope, plan_id: int, timepoint_id: int
) -> PlanTimepoint:
    plan = get_own_plan(session, scope, plan_id)
    for timepoint in plan.timepoints:
        if timepoint.id == timepoint_id:
            return timepoint
    raise OutOfScope("not found")


def get_user(session: Session, scope: Scope, user_id: int) -> StaffUser:
    """A staff user of the admin's own municipality."""
    require_admin(scope)
    return _one(
        session,
        select(StaffUser).where(
            StaffUser.id == user_id, StaffUser.municipality_id == scope.municipality_id
        ),
    )
