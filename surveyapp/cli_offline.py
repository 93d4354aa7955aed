"""`surveyapp offline-keys`: the kiosk's offline keys (surveyapp.offline_keys).

The directory is `--dir` or SURVEYAPP_OFFLINE_KEY_DIR. Only the server reads the private keys:
keep the directory on the server (mode 0700, files 0600), in its backup, and nowhere else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from surveyapp import offline_keys

DIR_OPTION = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The key directory [SURVEYAPP_OFFLINE_KEY_DIR].",
)


def _directory(directory: Path | None) -> Path:
    if directory is not None:
        return directory
    configured = os.environ.get("SURVEYAPP_OFFLINE_KEY_DIR")
    if not configured:
        click.echo("surveyapp offline-keys: give --dir or set SURVEYAPP_OFFLINE_KEY_DIR", err=True)
        sys.exit(2)
    return Path(configured)


def _fail(error: offline_keys.OfflineKeyError) -> None:
    click.echo(f"surveyapp offline-keys: {error}", err=True)
    sys.exit(2)


@click.group("offline-keys")
def offline_keys_group() -> None:
    """The kiosk's offline keys: answers waiting on a tablet are sealed for the server only."""


@offline_keys_group.command("generate")
@DIR_OPTION
@click.option("--if-missing", is_flag=True, help="Do nothing if the directory has a current key.")
def generate_command(directory: Path | None, if_missing: bool) -> None:
    """Write a new key (RSA 3072) and make it the current one."""
    directory = _directory(directory)
    if if_missing and offline_keys.has_current(directory):
        try:
            ring = offline_keys.load(directory)
        except offline_keys.OfflineKeyError as error:
            _fail(error)
        click.echo(f"offline key {ring.current_kid} already current in {directory}")
        return
    kid = offline_keys.generate(directory)
    click.echo(f"offline key {kid} generated and current in {directory}")


@offline_keys_group.command("rotate")
@DIR_OPTION
def rotate_command(directory: Path | None) -> None:
    """Make a new current key; the old ones stay, so items sealed with them still open."""
    directory = _directory(directory)
    try:
        kid = offline_keys.rotate(directory)
    except offline_keys.OfflineKeyError as error:
        _fail(error)
    click.echo(f"offline key {kid} generated and current in {directory}; restart the app")


@offline_keys_group.command("list")
@DIR_OPTION
def list_command(directory: Path | None) -> None:
    """The directory's keys, oldest first, and which one is current."""
    directory = _directory(directory)
    try:
        infos = offline_keys.describe(directory)
    except offline_keys.OfflineKeyError as error:
        _fail(error)
    for info in infos:
        mark = "current" if info.current else "old"
        click.echo(f"{info.kid}  {mark:7}  created {info.created:%Y-%m-%d %H:%M:%S} UTC")
