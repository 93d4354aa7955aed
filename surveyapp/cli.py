"""The `surveyapp` command: batch scoring, import, database, demo data and the dev server."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from surveyapp.cli_integrity import COMMANDS as INTEGRITY_COMMANDS
from surveyapp.cli_offline import offline_keys_group
from surveyapp.cli_privacy import COMMANDS as PRIVACY_COMMANDS
from surveyapp.cli_setup import SETUP_COMMANDS
from surveyapp.report_tables import REPORT_NAMES


@click.group()
def main() -> None:
    """Outcome questionnaires for Danish municipal rehabilitation."""


@main.command("score")
@click.argument("instrument")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def score_command(instrument: str, file: click.utils.LazyFile) -> None:
    """Score a CSV of responses (one row each, item ids as columns) to stdout."""
    from surveyapp.instruments.batch import BatchError, score_csv

    try:
        score_csv(instrument, file, sys.stdout)
    except BatchError as exc:
        click.echo(f"surveyapp score: {exc}", err=True)
        sys.exit(2)


@main.command("import-responses")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--dry-run", is_flag=True, help="Check the file against the database; keep nothing.")
def import_responses_command(file: str, dry_run: bool) -> None:
    """Import paper or legacy responses from a CSV or .xlsx file, all or nothing."""
    from pathlib import Path

    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory
    from surveyapp.importing import MAX_BYTES, ImportRejected, parse, problem
    from surveyapp.instruments import load_registry
    from surveyapp.scheduling import today_in_denmark
    from surveyapp.services import imports

    settings = Settings.from_env()
    registry = load_registry(settings.instruments_dirs)
    today = today_in_denmark()
    path = Path(file)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ImportRejected([problem("file_too_large", limit=MAX_BYTES // (1024 * 1024))])
        rows = parse(
            path.read_bytes(), registry=registry, hmac_key=settings.cpr_hmac_key, today=today
        )
        engine = make_engine(settings.database_url)
        try:
            with make_session_factory(engine).begin() as session:
                run = imports.preview_import if dry_run else imports.import_responses
                summary = run(session, rows, registry=registry, today=today)
        finally:
            engine.dispose()
    except ImportRejected as exc:
        click.echo(
            f"surveyapp import-responses: {path.name}: nothing imported, "
            f"{len(exc.problems)} problem(s):",
            err=True,
        )
        for found in exc.problems:
            click.echo(f"  {found}", err=True)
        sys.exit(2)
    verb = "would import" if dry_run else "imported"
    click.echo(f"{path.name}: {verb} {summary.response_count} responses from {summary.rows} rows")
    click.echo(
        f"  citizens: {summary.citizens_created} new, {summary.citizens_found} found; "
        f"courses: {summary.courses_created} new, {summary.courses_found} found "
        f"({summary.courses_updated} given a team or end date)"
    )
    for instrument_id, respondent, count in summary.response_rows():
        click.echo(f"  {instrument_id:15} {respondent.value:9} {count}")


@main.command("migrate")
def migrate_command() -> None:
    """Bring the configured database up to the newest schema, and its derived tables in line.

    Says what it did: created the schema, migrated from one revision to the newest, or found
    the database already there. After the migrations, the measurement table the reports read
    is filled or rebuilt for every instrument whose reported scores changed or whose rows are
    missing.
    """
    from surveyapp.config import Settings
    from surveyapp.db import (
        current_revision,
        head_revision,
        make_engine,
        make_session_factory,
        upgrade,
    )
    from surveyapp.instruments import load_registry
    from surveyapp.services import measurements

    settings = Settings.from_env()
    before = current_revision(settings.database_url)
    upgrade(settings.database_url)
    after = current_revision(settings.database_url) or head_revision()
    if before is None:
        click.echo(f"created the database schema (revision {after})")
    elif before != after:
        click.echo(f"migrated the database from revision {before} to {after}")
    else:
        click.echo(f"the database is already at the newest schema (revision {after})")
    factory = make_session_factory(make_engine(settings.database_url))
    with factory.begin() as session:
        for result in measurements.sync(session, load_registry(settings.instruments_dirs)):
            if result.rebuilt:
                click.echo(f"measurements of {result.instrument_id} rebuilt: {result.rows} rows")


@main.command("demo")
@click.option("--seed", default=2026, show_default=True, help="Random seed of the demo data.")
@click.option("--citizens", default=300, show_default=True, help="How many demo citizens.")
def demo_command(seed: int, citizens: int) -> None:
    """Load demo data if the database holds no municipality yet."""
    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory
    from surveyapp.demo import load_demo_data

    settings = Settings.from_env()
    if settings.is_production:
        raise click.ClickException("demo data is never loaded in production")
    factory = make_session_factory(make_engine(settings.database_url))
    summary = load_demo_data(factory, settings, seed=seed, citizens=citizens)
    click.echo(summary)


@main.command("sweep")
def sweep_command() -> None:
    """Bring every measurement's and course's stored status up to today (a nightly job).

    Also deletes CPR look-ups kept for registering that have expired.
    """
    from sqlalchemy import select

    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory
    from surveyapp.models import Municipality
    from surveyapp.scheduling import today_in_denmark
    from surveyapp.services.assignments import refresh_statuses
    from surveyapp.services.citizens import sweep_handoffs

    settings = Settings.from_env()
    factory = make_session_factory(make_engine(settings.database_url))
    today = today_in_denmark()
    with factory.begin() as session:
        for municipality in session.scalars(select(Municipality).order_by(Municipality.id)):
            changed = refresh_statuses(session, municipality.id, today=today)
            click.echo(f"{municipality.name}: {changed} statuses brought up to {today}")
        click.echo(f"Expired CPR look-ups deleted: {sweep_handoffs(session)}")


@main.command("set-password")
@click.argument("username")
@click.password_option("--password", prompt="New password", help="Asked for when not given.")
def set_password_command(username: str, password: str) -> None:
    """Set a staff user's password (its rules apply); their sessions end, 2FA stays."""
    from sqlalchemy import func, select

    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory
    from surveyapp.models import StaffUser
    from surveyapp.services.auth import UserError, set_password_by_operator

    settings = Settings.from_env()
    factory = make_session_factory(make_engine(settings.database_url))
    with factory.begin() as session:
        user = session.scalars(
            select(StaffUser).where(func.lower(StaffUser.username) == username.strip().lower())
        ).first()
        if user is None:
            raise click.ClickException(f"no staff user {username!r}")
        try:
            set_password_by_operator(session, user, password)
        except UserError as exc:
            raise click.ClickException(PASSWORD_MESSAGES.get(str(exc), str(exc))) from None
    click.echo(f"new password set for {user.username}; their sessions have ended")


PASSWORD_MESSAGES = {
    "password_too_short": "the password must have at least 12 characters",
    "password_too_long": "the password may have at most 256 characters",
    "password_common": "this password is too common (on the list attackers try first)",
    "password_monotonous": "the password needs more different characters",
    "password_contains_username": "the password may not contain the username",
}


@main.command("demo-code")
def demo_code_command() -> None:
    """DEMO ONLY: the current authenticator code of the demo admin and analyst."""
    import pyotp

    from surveyapp.config import Settings
    from surveyapp.demo import DEMO_TOTP_SECRET, DEMO_TOTP_USERS

    if Settings.from_env().is_production:
        raise click.ClickException("there are no demo users in production")
    code = pyotp.TOTP(DEMO_TOTP_SECRET).now()
    click.echo(
        f"DEMO ONLY: {' and '.join(DEMO_TOTP_USERS)} log in with a second factor. Add the key "
        f"{DEMO_TOTP_SECRET} to an authenticator app, or run `surveyapp demo-code` for the "
        f"current code (each works once, for about 30 seconds): now {code}"
    )


@main.command("demo-links")
@click.option("--base-url", default=None, help="Address in the links [SURVEYAPP_PUBLIC_URL].")
def demo_links_command(base_url: str | None) -> None:
    """Print fresh links to unanswered demo questionnaires (the earlier ones stop working)."""
    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory
    from surveyapp.demo import make_demo_links
    from surveyapp.letters import link_url, short_url

    settings = Settings.from_env()
    base = (base_url or settings.public_url).rstrip("/")
    factory = make_session_factory(make_engine(settings.database_url))
    links = make_demo_links(factory, settings)
    if not links:
        click.echo("no unanswered demo questionnaires (delete instance/ to start again)")
        return
    click.echo("Demo links, valid 14 days (open on a phone- or tablet-sized browser);")
    click.echo(f"or type the code at {short_url(base)}. Earlier demo links are revoked.")
    for link in links:
        click.echo(
            f"  {link.instrument_id:15} {link.respondent:9} {link_url(base, link.token)}"
            f"  code {link.code}"
        )


@main.command("letters")
@click.option("--municipality", default=None, help="Name or code of one municipality [all].")
@click.option(
    "--due-within",
    type=click.IntRange(0, 365),
    default=14,
    show_default=True,
    help="Questionnaires open now or opening within this many days.",
)
@click.option(
    "--reissue",
    is_flag=True,
    help="Also those with a live link: new letters, and the old links stop working.",
)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The PDF to write.")
def letters_command(municipality: str | None, due_within: int, reissue: bool, out: str) -> None:
    """Write a PDF with a letter for every relative's questionnaire due soon without a link."""
    from surveyapp.app import create_app
    from surveyapp.config import Settings
    from surveyapp.pdf import PdfUnavailable
    from surveyapp.services.letters import LetterRefused
    from surveyapp.web.letters import batch_letters_pdf

    settings = Settings.from_env()
    app = create_app(settings)
    try:
        count, document = batch_letters_pdf(
            app, municipality=municipality, within_days=due_within, reissue=reissue
        )
    except LookupError as exc:
        raise click.ClickException(str(exc.args[0])) from exc
    except PdfUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    except LetterRefused as exc:
        raise click.ClickException(
            "set SURVEYAPP_PUBLIC_URL to the service's public https address"
        ) from exc
    finally:
        app.extensions["surveyapp.engine"].dispose()
    if document is None:
        click.echo("0 letters: no relative's questionnaire needs one (no file written)")
        return
    with open(out, "wb") as f:
        f.write(document)
    click.echo(f"{count} letters written to {out} (links at {settings.public_url})")


@main.command("report")
@click.argument("name", type=click.Choice(REPORT_NAMES))
@click.option(
    "--municipality",
    "municipalities",
    multiple=True,
    help="A municipality's name or code; repeat for several. Default: every municipality.",
)
@click.option("--provider", help="A provider's name (or id) in those municipalities.")
@click.option("--provider-kind", type=click.Choice(["municipal", "private"]))
@click.option(
    "--from",
    "start_from",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Course start on or after (YYYY-MM-DD).",
)
@click.option(
    "--to",
    "start_to",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Course start on or before (YYYY-MM-DD).",
)
@click.option("--legal-basis", type=click.Choice(["83a", "83", "86", "140"]))
@click.option("--respondent", type=click.Choice(["citizen", "relative", "staff"]))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "xlsx", "json"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--threshold",
    type=int,
    help="Hide cells on fewer citizens than this (at least 3; "
    "default SURVEYAPP_SUPPRESSION_THRESHOLD).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="Write to this file, not stdout."
)
def report_command(
    name: str,
    municipalities: tuple[str, ...],
    provider: str | None,
    provider_kind: str | None,
    start_from: object,
    start_to: object,
    legal_basis: str | None,
    respondent: str | None,
    output_format: str,
    threshold: int | None,
    out: str | None,
) -> None:
    """Print an evaluation report (aggregates, suppressed like the report pages).

    One row per table cell: the report, the table, what the row and column are
    (municipality code, provider, instrument, respondent, timepoint, ...), the measure
    (count, share, mean, change), its value as the page shows it (a share in whole percent),
    n, a share's count, a change's confidence interval, and whether it is suppressed (then
    value, n and count are empty). Runs as the installation: every municipality named, or all.
    """
    from datetime import datetime

    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory
    from surveyapp.enums import LegalBasis, ProviderKind, Respondent
    from surveyapp.instruments import load_registry
    from surveyapp.report_tables import to_json, write_csv, write_xlsx
    from surveyapp.services import audit
    from surveyapp.services import reports as report_service
    from surveyapp.suppression import DEFAULT_THRESHOLD

    settings = Settings.from_env()
    threshold = settings.suppression_threshold if threshold is None else threshold
    if threshold < DEFAULT_THRESHOLD:
        raise click.BadParameter(f"at least {DEFAULT_THRESHOLD}", param_hint="--threshold")
    if output_format == "xlsx" and out is None and sys.stdout.isatty():
        raise click.UsageError("an Excel file is binary: give --out FILE (or redirect stdout)")
    registry = load_registry(settings.instruments_dirs)
    factory = make_session_factory(make_engine(settings.database_url))
    with factory.begin() as session:
        try:
            rscope = report_service.installation_scope(session, municipalities)
            filters = report_service.ReportFilters(
                provider_id=report_service.provider_named(session, rscope, provider)
                if provider
                else None,
                provider_kind=ProviderKind(provider_kind) if provider_kind else None,
                start_from=start_from.date() if isinstance(start_from, datetime) else None,
                start_to=start_to.date() if isinstance(start_to, datetime) else None,
                legal_basis=LegalBasis(legal_basis) if legal_basis else None,
                respondent=Respondent(respondent) if respondent else None,
            )
            result = report_service.run_report(
                session,
                rscope,
                registry,
                name,
                filters,
                threshold,
                actor=audit.SYSTEM,
                channel="cli",
            )
        except report_service.UnknownName as exc:
            raise click.UsageError(str(exc)) from None
        except report_service.FilterError as exc:
            raise click.UsageError(f"--{exc.field.replace('_', '-')}: {exc.code}") from None
        about = {
            "municipalities": list(result.municipalities),
            "filters": filters.audit_details(),
        }
    if output_format == "xlsx":
        if out is None:
            write_xlsx(result, click.get_binary_stream("stdout"), about)
        else:
            with open(out, "wb") as stream:
                write_xlsx(result, stream, about)
        return
    with click.open_file(out or "-", "w", encoding="utf-8", lazy=False) as stream:
        if output_format == "json":
            stream.write(to_json(result, about) + "\n")
        else:
            write_csv(result, stream)


@main.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "csv-excel", "xlsx", "sav", "dta", "codebook-csv", "codebook-json"]),
    default="csv",
    show_default=True,
)
@click.option("--long", "long_", is_flag=True, help="One row per answer instead of per response.")
@click.option("--instrument", help="Only this questionnaire (its items as columns).")
@click.option("--municipality", multiple=True, help="Municipality code (repeatable; default all).")
@click.option("--from", "start_from", type=click.DateTime(["%Y-%m-%d"]), help="Course start from.")
@click.option("--to", "start_to", type=click.DateTime(["%Y-%m-%d"]), help="Course start to.")
@click.option("--in-progress", is_flag=True, help="Also responses not yet submitted.")
@click.option("--language", type=click.Choice(["da", "en"]), default="da", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--codebook", type=click.Path(dir_okay=False), help="Also write the codebook here.")
def export_command(
    fmt: str,
    long_: bool,
    instrument: str | None,
    municipality: tuple[str, ...],
    start_from: object,
    start_to: object,
    in_progress: bool,
    language: str,
    out: str,
    codebook: str | None,
) -> None:
    """Export responses for SPSS, Stata, Excel or scripts (audited as the system)."""
    from datetime import datetime

    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory
    from surveyapp.instruments import load_registry
    from surveyapp.services import exports as export_service

    settings = Settings.from_env()
    registry = load_registry(settings.instruments_dirs)
    if instrument and instrument not in registry:
        raise click.BadParameter(f"unknown instrument {instrument!r}", param_hint="--instrument")
    query = export_service.ExportQuery(
        long=long_,
        instrument=instrument,
        start_from=start_from.date() if isinstance(start_from, datetime) else None,
        start_to=start_to.date() if isinstance(start_to, datetime) else None,
        include_in_progress=in_progress,
        language=language,
    )
    engine = make_engine(settings.database_url)
    try:
        key = export_service.export_key(settings.cpr_hmac_key)
        factory = make_session_factory(engine)
        _export(factory, registry, municipality, query, (fmt, out), codebook, key)
    finally:
        engine.dispose()


def _export(
    factory: Any,
    registry: Any,
    municipality: tuple[str, ...],
    query: Any,
    target: tuple[str, str],
    codebook: str | None,
    key: bytes,
) -> None:
    """Write the export (and its codebook), each audited as the system before it is written."""
    from surveyapp.services import audit
    from surveyapp.services import exports as export_service

    with factory() as session:
        try:
            with session.begin():
                reach = export_service.system_reach(session, municipality)
        except export_service.UnknownMunicipality as exc:
            raise click.BadParameter(str(exc), param_hint="--municipality") from None
        files = [target]
        if codebook:
            files.append(
                ("codebook-json" if codebook.endswith(".json") else "codebook-csv", codebook)
            )
        for kind, path in files:
            with session.begin():  # the audit event is committed before the file is written
                export_service.begin_export(session, audit.SYSTEM, reach, query, kind)
            rows = export_service.write_export(session, registry, reach, query, kind, path, key)
            session.rollback()  # end the read-only transaction of the rows
            click.echo(f"{path}: {rows} rows" if rows is not None else f"{path}: codebook")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=int,
    default=lambda: int(os.environ.get("PORT", "5000")),
    show_default="PORT or 5000",
)
def serve_command(host: str, port: int) -> None:
    """Serve the app with a threaded WSGI server (use a production server behind a proxy)."""
    from werkzeug.serving import run_simple

    from surveyapp.app import create_app
    from surveyapp.devserver import RequestHandler

    app = create_app()
    click.echo(f"surveyapp on http://{host}:{port}/")
    run_simple(host, port, app, threaded=True, use_reloader=False, request_handler=RequestHandler)


for _command in PRIVACY_COMMANDS:  # audit-verify, db-grants, retention, access-request, ...
    main.add_command(_command)
main.add_command(offline_keys_group)  # offline-keys generate, rotate, list
for _command in INTEGRITY_COMMANDS:  # check, backup, restore
    main.add_command(_command)
for _command in SETUP_COMMANDS:  # organisation, create-admin
    main.add_command(_command)


if __name__ == "__main__":
    main()
