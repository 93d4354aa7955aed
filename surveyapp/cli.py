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
