"""`surveyapp check`, `surveyapp backup` and `surveyapp restore` (added in surveyapp.cli).

`check` reads the database in a transaction the database holds read-only and rolls back.
`backup` and `restore` are commands rather than a shell script: they read the same
`SURVEYAPP_DATABASE_URL` as the app, work the same on SQLite and PostgreSQL, keep the
password out of the process list, and verify a restore with the same checksums and checks
the tests use (`surveyapp.services.backup`).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from surveyapp.config import Settings

DATABASE_URL_HELP = "The database to use [SURVEYAPP_DATABASE_URL]."


def _settings_and_url(database_url: str | None) -> tuple[Settings, str]:
    from surveyapp.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return settings, database_url or settings.database_url


def _url_only(database_url: str | None) -> str:
    """The database alone: a backup job needs no secrets (and is not refused without them)."""
    from surveyapp.config import Settings

    return database_url or os.environ.get("SURVEYAPP_DATABASE_URL") or Settings.database_url


def run_check(settings: Settings, url: str) -> bool:
    """Print one line per invariant (and the first problems); True when all hold."""
    from surveyapp.db import make_engine
    from surveyapp.instruments import load_registry
    from surveyapp.integrity import summary
    from surveyapp.models import utcnow
    from surveyapp.services import integrity

    _must_exist(url)
    registry = load_registry(settings.instruments_dirs)
    kept_since = utcnow() - timedelta(days=settings.audit_ip_retention_days)
    engine = make_engine(url)
    try:
        with integrity.read_only(engine) as session:
            results = integrity.run_checks(session, registry, ips_kept_since=kept_since)
    finally:
        engine.dispose()
    for result in results:
        for line in result.lines():
            click.echo(line)
    click.echo(summary(results))
    return all(result.ok for result in results)


def _must_exist(url: str) -> None:
    """Refuse a SQLite file that is not there (opening it would make an empty one)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise click.ClickException(f"no SQLite database at {parsed.database}")


@click.command("check")
@click.option("--database-url", default=None, help=DATABASE_URL_HELP)
def check_command(database_url: str | None) -> None:
    """Check the integrity invariants (read-only); exit 1 when one does not hold."""
    settings, url = _settings_and_url(database_url)
    if not run_check(settings, url):
        sys.exit(1)


@click.command("backup")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--database-url", default=None, help=DATABASE_URL_HELP)
def backup_command(out: Path, database_url: str | None) -> None:
    """Back up the database to OUT, with OUT.checksums.json (safe while the app runs).

    PostgreSQL: pg_dump --format=custom, the checksums taken in the dump's own snapshot.
    SQLite: the online backup API, the checksums taken from the copy.
    """
    from surveyapp.services import backup

    url = _url_only(database_url)
    try:
        manifest = backup.backup(url, out)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    rows = sum(table.rows for table in manifest.tables.values())
    click.echo(
        f"backed up {len(manifest.tables)} tables ({rows} rows, revision {manifest.revision}) "
        f"to {out}; checksums in {backup.manifest_path(out)}"
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--into",
    "into",
    required=True,
    help="An EMPTY database to restore into (a new SQLite file, or a PostgreSQL database "
    "just made with createdb).",
)
def restore_command(file: Path, into: str) -> None:
    """Restore a backup into a fresh database, compare every table's checksum, then check it.

    Exit 1 when a table differs from the backup's checksums or an invariant does not hold.
    Restoring into a scratch database is how a backup is verified.
    """
    from surveyapp.services import backup

    settings, _url = _settings_and_url(None)
    try:
        differences = backup.restore(file, into)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if differences:
        for line in differences:
            click.echo(f"MISMATCH {line}", err=True)
        click.echo(f"restore of {file} does NOT match its checksums", err=True)
        sys.exit(1)
    click.echo(f"restored {file}: every table matches its checksums")
    if not run_check(settings, into):
        sys.exit(1)


COMMANDS = (check_command, backup_command, restore_command)
