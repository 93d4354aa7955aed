"""The `surveyapp` command: batch scoring, database, demo data and the development server."""

from __future__ import annotations

import os
import sys
from typing import Any

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

    app = create_app()
    click.echo(f"surveyapp on http://{host}:{port}/")
    run_simple(host, port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
