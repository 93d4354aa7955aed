"""What a newcomer meets first: `surveyapp migrate` says what it did, the Makefile serves on the
local network only when asked, the package declares its data files, the README links stay
inside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from click.testing import CliRunner

from surveyapp.cli import main
from surveyapp.db import head_revision, upgrade

ROOT = Path(__file__).resolve().parents[2]


def _migrate(url: str) -> str:
    result = CliRunner().invoke(main, ["migrate"], env={"SURVEYAPP_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result.output


def test_migrate_says_what_it_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.sqlite3"
    head = head_revision()
    assert f"created the database schema (revision {head})" in _migrate(url)
    assert f"the database is already at the newest schema (revision {head})" in _migrate(url)
    older = f"sqlite:///{tmp_path}/older.sqlite3"
    upgrade(older, "0007")
    assert f"migrated the database from revision 0007 to {head}" in _migrate(older)
    assert "up to date" not in _migrate(older)


def _make(*args: str) -> str:
    run = subprocess.run(  # noqa: S603
        ["make", "-n", *args],  # noqa: S607 - print the commands, run nothing
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout


def test_make_run_listens_on_this_machine_only() -> None:
    serve = [line for line in _make("run").splitlines() if "surveyapp serve" in line]
    assert serve and all("--host 127.0.0.1" in line for line in serve), serve


def test_make_run_lan_serves_on_the_local_network_with_a_warning() -> None:
    commands = _make("run-lan")
    serve = [line for line in commands.splitlines() if "surveyapp serve" in line]
    assert serve and all("--host 0.0.0.0" in line for line in serve), serve
    assert "WARNING" in commands
    assert "SURVEYAPP_PUBLIC_URL" in commands  # letters and QR codes name the LAN address


def test_package_data_is_declared_and_built_without_warnings(tmp_path: Path) -> None:
    """Templates, static files, data files and definitions are in the build; no warning."""
    run = subprocess.run(  # noqa: S603
        [
            str(ROOT / ".venv/bin/python"),
            "-c",
            "import setuptools, sys; sys.argv = ['setup.py', 'build', '--build-base', "
            "sys.argv[1]]; setuptools.setup()",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    output = run.stdout + run.stderr
    assert "would be ignored" not in output and "is not a package" not in output, output
    lib = tmp_path / "lib" / "surveyapp"
    for path in (
        "templates/base.html",
        "templates/staff/due_list.html",
        "static/app.css",
        "data/common-passwords.txt",
        "instruments/definitions/who5.v1.toml",
    ):
        assert (lib / path).is_file(), path


def test_readme_links_stay_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)", readme)
    links += re.findall(r"`((?:\.\./|docs/)[^`\s]+)`", readme)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert not [link for link in local if link.startswith("../")], local
    missing = [link for link in local if not (ROOT / link.split("#")[0]).exists()]
    assert missing == []
    assert "docs/instruments/" in readme
