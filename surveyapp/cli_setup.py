"""The operator's set-up of a new municipality: its organisation and its first admin.

    surveyapp organisation organisation.toml     # the municipality, providers and teams
    surveyapp create-admin USERNAME --municipality 751 --name "Full Name"

After that the admin logs in (enrolling the second factor admins must have), creates the
other users on the Users page, and the coordinators register courses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from surveyapp.cli_privacy import database


@contextmanager
def _transaction() -> Iterator[Session]:
    """One transaction on the configured database (committed unless an error escapes)."""
    with database() as (_settings, factory), factory.begin() as session:
        yield session


@click.command("organisation")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def organisation_command(path: Path) -> None:
    """Set up or extend a municipality's organisation from a TOML file (never deletes)."""
    from surveyapp.services.organisation import OrganisationError, apply, parse

    try:
        spec = parse(path.read_text(encoding="utf-8"))
    except (OrganisationError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{path}: {error}") from None
    with _transaction() as session:
        changes = apply(session, spec)
    for change in changes:
        click.echo(change)
    click.echo(f"{spec.name}: {len(changes)} change(s)" if changes else f"{spec.name}: up to date")


@click.command("create-admin")
@click.argument("username")
@click.option("--municipality", "code", required=True, help="The kommunekode, e.g. 751.")
@click.option("--name", "full_name", required=True, help="The admin's full name.")
@click.password_option("--password", prompt="Password", help="Asked for when not given.")
def create_admin_command(username: str, code: str, full_name: str, password: str) -> None:
    """Create an admin of a municipality (the first one, typically); the password rules apply."""
    from sqlalchemy import select

    from surveyapp.cli import PASSWORD_MESSAGES
    from surveyapp.enums import ActorType, Role
    from surveyapp.models import Municipality
    from surveyapp.services import audit
    from surveyapp.services.auth import NewUser, UserError, create_user
    from surveyapp.services.scope import Scope

    with _transaction() as session:
        municipality = session.scalars(
            select(Municipality).where(Municipality.code == code.strip())
        ).one_or_none()
        if municipality is None:
            raise click.ClickException(
                f"no municipality {code!r}: set it up first with `surveyapp organisation`"
            )
        operator = Scope(user_id=0, role=Role.ADMIN, municipality_id=municipality.id)
        try:
            user = create_user(
                session,
                operator,
                NewUser(username=username, full_name=full_name, role=Role.ADMIN, password=password),
                actor=audit.Actor(ActorType.SYSTEM, municipality_id=municipality.id),
            )
        except UserError as error:
            message = str(error)
            raise click.ClickException(
                PASSWORD_MESSAGES.get(message)
                or {
                    "invalid_username": "a username is 2 to 80 small letters, digits, . _ or -",
                    "username_taken": f"the username {username!r} is taken",
                }.get(message, message)
            ) from None
    click.echo(
        f"admin {user.username} created in {municipality.name}; "
        "they enrol their second factor at the first login"
    )


SETUP_COMMANDS = (organisation_command, create_admin_command)
