"""The `surveyapp` command: batch scoring, database, demo data and the development server."""

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
