"""The `surveyapp` command: batch scoring, import, database, demo data and the dev server."""

from __future__ import annotations

import os
import sys

import click


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
    """Bring the configured database up to the newest schema."""
    from surveyapp.config import Settings
    from surveyapp.db import upgrade

    upgrade(Settings.from_env().database_url)
    click.echo("database is up to date")


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


@main.command("demo-links")
@click.option("--base-url", default=lambda: f"http://127.0.0.1:{os.environ.get('PORT', '5000')}")
def demo_links_command(base_url: str) -> None:
    """Print fresh links to unanswered demo questionnaires (valid 14 days)."""
    from surveyapp.config import Settings
    from surveyapp.db import make_engine, make_session_factory
    from surveyapp.demo import make_demo_links

    settings = Settings.from_env()
    factory = make_session_factory(make_engine(settings.database_url))
    links = make_demo_links(factory, settings)
    if not links:
        click.echo("no unanswered demo questionnaires (delete instance/ to start again)")
    click.echo("Demo links (open on a phone- or tablet-sized browser):")
    for instrument_id, respondent, token in links:
        click.echo(f"  {instrument_id:15} {respondent:9} {base_url}/svar/{token}")


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

    app = create_app()
    click.echo(f"surveyapp on http://{host}:{port}/")
    run_simple(host, port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
