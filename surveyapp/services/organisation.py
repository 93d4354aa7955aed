"""A municipality's organisation, set up by its operator: the municipality itself, its
providers (leverandører) and their teams, from a small TOML file (`surveyapp organisation`).

Applying a file is idempotent and never deletes: what is missing is added, the municipality's
contact details and a provider's kind and unit name are brought in line with the file, and
providers or teams left out of the file stay as they are (deactivate them in the database if
they stop). Every change is audited.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyapp.enums import ActorType, ProviderKind
from surveyapp.models import Municipality, Provider, Team
from surveyapp.services import audit

CONTACT_FIELDS = ("letter_sender", "contact_phone", "contact_email", "contact_hours")


class OrganisationError(ValueError):
    """A file that does not describe an organisation; the message says where."""


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    kind: ProviderKind
    unit_name: str
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrganisationSpec:
    code: str
    name: str
    contact: dict[str, str | None] = field(default_factory=dict)
    providers: tuple[ProviderSpec, ...] = ()


def _text(table: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise OrganisationError(f"{where}: `{key}` must be a text of 1 to 200 characters")
    return value.strip()


def parse(text: str) -> OrganisationSpec:
    """The organisation a TOML text describes (OrganisationError says what is wrong)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise OrganisationError(f"not a TOML file: {error}") from None
    unknown = set(data) - {"municipality", "provider"}
    if unknown:
        raise OrganisationError(f"unknown section(s): {', '.join(sorted(unknown))}")
    municipality = data.get("municipality")
    if not isinstance(municipality, dict):
        raise OrganisationError("a [municipality] section with `code` and `name` is needed")
    code = _text(municipality, "code", "[municipality]") or ""
    if not (len(code) == 3 and code.isascii() and code.isdigit()):
        raise OrganisationError("[municipality]: `code` is the three-digit kommunekode, e.g. 751")
    providers = []
    for n, entry in enumerate(data.get("provider", []), start=1):
        where = f"[[provider]] number {n}"
        if not isinstance(entry, dict):
            raise OrganisationError(f"{where}: not a table")
        try:
            kind = ProviderKind(entry.get("kind", ""))
        except ValueError:
            raise OrganisationError(f"{where}: `kind` is municipal or private") from None
        teams = entry.get("teams", [])
        if not isinstance(teams, list) or not all(isinstance(t, str) and t.strip() for t in teams):
            raise OrganisationError(f"{where}: `teams` is a list of names")
        providers.append(
            ProviderSpec(
                name=_text(entry, "name", where) or "",
                kind=kind,
                unit_name=_text(entry, "unit_name", where) or "",
                teams=tuple(t.strip() for t in teams),
            )
        )
    names = [p.name for p in providers]
    if len(names) != len(set(names)):
        raise OrganisationError("two providers have the same name")
    return OrganisationSpec(
        code=code,
        name=_text(municipality, "name", "[municipality]") or "",
        contact={
            key: _text(municipality, key, "[municipality]", required=False)
            for key in CONTACT_FIELDS
        },
        providers=tuple(providers),
    )


def apply(session: Session, spec: OrganisationSpec) -> list[str]:
    """Bring the database in line with `spec` (adding, never deleting); what was changed."""
    changes: list[str] = []
    municipality = session.scalars(
        select(Municipality).where(Municipality.code == spec.code)
    ).one_or_none()
    if municipality is None:
        municipality = Municipality(code=spec.code, name=spec.name)
        session.add(municipality)
        changes.append(f"municipality {spec.code} {spec.name} created")
    elif municipality.name != spec.name:
        municipality.name = spec.name
        changes.append(f"municipality {spec.code} renamed {spec.name}")
    for key, value in spec.contact.items():
        if getattr(municipality, key) != value:
            setattr(municipality, key, value)
            changes.append(f"{key} set")
    session.flush()
    for wanted in spec.providers:
        provider = session.scalars(
            select(Provider).where(
                Provider.municipality_id == municipality.id, Provider.name == wanted.name
            )
        ).one_or_none()
        if provider is None:
            provider = Provider(
                municipality=municipality,
                name=wanted.name,
                kind=wanted.kind,
                unit_name=wanted.unit_name,
            )
            session.add(provider)
            changes.append(f"provider {wanted.name} created")
        elif (provider.kind, provider.unit_name) != (wanted.kind, wanted.unit_name):
            provider.kind, provider.unit_name = wanted.kind, wanted.unit_name
            changes.append(f"provider {wanted.name} updated")
        session.flush()
        existing = {team.name for team in provider.teams}
        for team_name in wanted.teams:
            if team_name not in existing:
                session.add(Team(provider=provider, name=team_name))
                changes.append(f"team {team_name} ({wanted.name}) created")
    session.flush()
    if changes:
        audit.record(
            session,
            audit.Actor(ActorType.SYSTEM, municipality_id=municipality.id),
            "organisation.update",
            object_type="municipality",
            object_id=municipality.id,
            details={"changes": changes},
        )
    return changes
