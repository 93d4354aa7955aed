"""Commands for the audit trail and the GDPR duties (added to `surveyapp` in surveyapp.cli).

They run as the installation (actor "system", tied to the municipality named), and each
GDPR command is audited. A CPR number is never an argument (it would land in the shell's
history): the commands ask for it, without echo, or read it from standard input.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from surveyapp.enums import ActorType


@contextmanager
def database() -> Iterator[tuple[Any, Any]]:
    """The settings and a session factory of the configured database (its engine disposed)."""
    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        yield settings, make_session_factory(engine)
    finally:
        engine.dispose()


def _municipality(session: Any, text: str) -> Any:
    from sqlalchemy import or_, select

    from surveyapp.models import Municipality

    found = session.scalars(
        select(Municipality).where(or_(Municipality.code == text, Municipality.name == text))
    ).first()
    if found is None:
        raise click.ClickException(f"no municipality named or numbered {text!r}")
    return found


def _system_actor(municipality_id: int | None) -> Any:
    from surveyapp.services.audit import Actor

    return Actor(ActorType.SYSTEM, municipality_id=municipality_id)


def _read_cpr() -> str:
    if sys.stdin.isatty():
        return str(click.prompt("CPR number", hide_input=True))
    return sys.stdin.readline().strip()


@click.command("audit-verify")
@click.option(
    "--expect",
    default=None,
    metavar="SEQ:HASH",
    help="A chain head recorded earlier (printed by this command): it must still be there.",
)
def audit_verify_command(expect: str | None) -> None:
    """Check the audit trail's hash chain; exit 1 and name the first broken link."""
    from datetime import timedelta

    from surveyapp import auditchain
    from surveyapp.models import utcnow
    from surveyapp.services.audit import verify_chain

    checkpoint = None
    if expect:
        seq, _, digest = expect.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise click.BadParameter(
                "give SEQ:HASH as printed by audit-verify", param_hint="--expect"
            )
        checkpoint = auditchain.Head(int(seq), digest)
    with database() as (settings, factory), factory() as session:
        kept_since = utcnow() - timedelta(days=settings.audit_ip_retention_days)
        report = verify_chain(session, expect=checkpoint, ips_kept_since=kept_since)
    if report.problem is not None:
        click.echo(
            f"audit trail BROKEN at event {report.problem.seq} ({report.problem.kind}): "
            f"{report.problem.message}; {report.checked} events before it are intact",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"audit trail intact: {report.checked} events, head {report.last_seq}:{report.last_hash}"
        f" ({report.ips_forgotten} IP addresses removed after their retention period)"
    )


@click.command("db-grants")
@click.argument("role")
def db_grants_command(role: str) -> None:
    """Print the PostgreSQL GRANTs for the app's own role (run them as the schema owner)."""
    from surveyapp.dbroles import app_role_grants

    try:
        for statement in app_role_grants(role):
            click.echo(statement + ";")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ROLE") from exc


@click.command("retention")
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
def retention_command(dry_run: bool) -> None:
    """Nightly: anonymise citizens past SURVEYAPP_RETENTION_MONTHS, drop old audit IPs."""
    from surveyapp.models import utcnow
    from surveyapp.scheduling import today_in_denmark
    from surveyapp.services import privacy

    with database() as (settings, factory):
        session = factory()
        try:
            summary = privacy.apply_retention(
                session,
                _system_actor(None),
                today=today_in_denmark(),
                months=settings.retention_months,
            )
            ips = privacy.forget_old_ip_addresses(
                session,
                _system_actor(None),
                now=utcnow(),
                days=settings.audit_ip_retention_days,
            )
            if dry_run:
                session.rollback()
            else:
                session.commit()
        finally:
            session.close()
    verb = "would be" if dry_run else "were"
    click.echo(
        f"courses that ended before {summary.cutoff.isoformat()}: {summary.citizens_anonymised} "
        f"citizens ({summary.courses} courses) {verb} anonymised, {summary.links_deleted} links "
        f"and {summary.kiosk_visits_deleted} kiosk visits deleted, {summary.citizens_deleted} "
        f"citizens without a course deleted; {ips} audit IP addresses older than "
        f"{settings.audit_ip_retention_days} days {verb} removed"
    )


def _with_citizen(
    municipality: str, action: Callable[[Any, Any, Any, Any], None], purpose: str
) -> None:
    from surveyapp.pseudonym import InvalidCPR
    from surveyapp.scheduling import today_in_denmark
    from surveyapp.services import privacy
    from surveyapp.services.scope import OutOfScope

    cpr = _read_cpr()
    with database() as (settings, factory):
        with factory() as session:
            place = _municipality(session, municipality)
        actor = _system_actor(place.id)
        citizen_id = None
        try:
            # A failed look-up is audited and committed: OutOfScope is caught inside.
            with factory.begin() as session, contextlib.suppress(OutOfScope):
                citizen_id = privacy.find_citizen(
                    session,
                    actor,
                    place.id,
                    cpr,
                    hmac_key=settings.cpr_hmac_key,
                    today=today_in_denmark(),
                    purpose=purpose,
                ).id
        except InvalidCPR as exc:
            raise click.ClickException("that is not a CPR number") from exc
        if citizen_id is None:
            raise click.ClickException(f"no citizen with that CPR number in {place.name}")
        del cpr
        action(factory, actor, place, citizen_id)


@click.command("access-request")
@click.option("--municipality", required=True, help="Name or code of the municipality.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The zip to write.")
def access_request_command(municipality: str, out: str) -> None:
    """Write everything held about one citizen (asked for by CPR) as a zip of CSV files."""
    from surveyapp.services import privacy

    def run(factory: Any, actor: Any, place: Any, citizen_id: int) -> None:
        with factory.begin() as session:
            archive = privacy.access_request(session, actor, place.id, citizen_id)
        Path(out).write_bytes(archive)
        click.echo(f"access request for citizen {citizen_id} of {place.name} written to {out}")

    _with_citizen(municipality, run, "access_request")


@click.command("erase-citizen")
@click.option("--municipality", required=True, help="Name or code of the municipality.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_citizen_command(municipality: str, yes: bool) -> None:
    """Erase one citizen (asked for by CPR) and everything about them, after confirmation."""
    from surveyapp.services import privacy

    def run(factory: Any, actor: Any, place: Any, citizen_id: int) -> None:
        with factory() as session:
            counts = privacy.erasure_preview(session, place.id, citizen_id)
        listed = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
        click.echo(f"citizen {citizen_id} of {place.name}: {listed}")
        if not yes and not click.confirm("Erase the citizen and all of this for good?"):
            raise click.ClickException("nothing erased")
        with factory.begin() as session:
            privacy.erase_citizen(session, actor, place.id, citizen_id)
        click.echo(f"citizen {citizen_id} erased; the audit trail keeps its events")

    _with_citizen(municipality, run, "erasure")


COMMANDS = (
    audit_verify_command,
    db_grants_command,
    retention_command,
    access_request_command,
    erase_citizen_command,
)
