"""deploy/upgrade.sh, for real: a clone of this repository as the app's checkout, releases
committed on top of it (one whose migration fails, one whose migration works), PostgreSQL,
and gunicorn serving from the clone. Only systemd is replaced: SYSTEMCTL is a script that
records what it was asked and sends the HUP that `systemctl reload surveyapp` sends
(ExecReload of deploy/systemd/surveyapp.service)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from surveyapp.db import current_revision, head_revision, make_engine
from tests.support.serving import ROOT, Client, Gunicorn

pytestmark = pytest.mark.postgres

MIGRATION = '''"""{title}"""

from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE {table} (id integer)")
    {then}


def downgrade() -> None:
    op.execute("DROP TABLE {table}")
'''


def _git(directory: Path, *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        ["git", "-C", str(directory), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _release(
    origin: Path, tag: str, revision: str, down: str, table: str, then: str, *replaces: str
) -> None:
    """A release on top of the clone: one new migration (instead of the `replaces` ones)."""
    for old in replaces:
        _git(origin, "rm", "-q", f"migrations/versions/{old}")
    path = origin / "migrations" / "versions" / f"{revision}_{tag}.py"
    path.write_text(
        MIGRATION.format(title=tag, revision=revision, down=down, table=table, then=then),
        encoding="utf-8",
    )
    _git(origin, "add", str(path))
    _git(origin, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", tag)
    _git(origin, "tag", tag)


def test_upgrade_rolls_back_a_failed_migration_and_reloads_after_a_good_one(
    postgres_databases, offline_key_dir: Path, tmp_path: Path
) -> None:
    url = postgres_databases.new()
    head = head_revision()
    role = f"upgrade_app_{uuid.uuid4().hex[:8]}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role}"))

    origin, app = tmp_path / "origin", tmp_path / "app"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(origin)], check=True)  # noqa: S603,S607
    subprocess.run(["git", "clone", "-q", str(origin), str(app)], check=True)  # noqa: S603,S607
    _release(origin, "v-broken", "9901", head, "upgrade_probe", 'op.execute("SELECT 1/0")')
    _release(origin, "v-good", "9902", head, "upgrade_good", "", "9901_v-broken.py")
    (app / ".venv").symlink_to(Path(sys.executable).parent.parent)
    before = _git(app, "rev-parse", "HEAD")

    settings = {
        "SURVEYAPP_ENV": "production",
        "SURVEYAPP_DATABASE_URL": url,
        "SURVEYAPP_SECRET_KEY": "upgrade-secret-key-" + "s" * 40,
        "SURVEYAPP_CPR_HMAC_KEY": "upgrade-cpr-hmac-key-" + "c" * 40,
        "SURVEYAPP_PUBLIC_URL": "https://surveyapp.example.dk",
        "SURVEYAPP_OFFLINE_KEY_DIR": str(offline_key_dir),
        "WEB_CONCURRENCY": "2",
    }
    env_file, migrate_env = tmp_path / "surveyapp.env", tmp_path / "migrate.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
    migrate_env.write_text(f"SURVEYAPP_DATABASE_URL={url}\n", encoding="utf-8")

    # gunicorn serving the clone's code (its own checkout, as in production).
    server = Gunicorn({**settings, "PYTHONPATH": str(app)}, tmp_path / "gunicorn.log")
    asked = tmp_path / "systemctl.log"
    systemctl = tmp_path / "systemctl"
    assert server.process is None
    try:
        server.start()
        systemctl.write_text(
            "#!/bin/sh\n"
            f'echo "$@" >> {asked}\n'
            f'[ "$1" = reload ] && kill -s HUP {server.process.pid}\n'  # type: ignore[union-attr]
            "exit 0\n",
            encoding="utf-8",
        )
        systemctl.chmod(0o755)
        script_env = {
            **os.environ,
            "APP_DIR": str(app),
            "ENV_FILE": str(env_file),
            "MIGRATE_ENV": str(migrate_env),
            "APP_ROLE": role,
            "SYSTEMCTL": str(systemctl),
            "HEALTH_URL": f"http://127.0.0.1:{server.port}/healthz",
        }
        upgrade = [str(ROOT / "deploy" / "upgrade.sh")]  # this checkout's script

        failed = subprocess.run(  # noqa: S603
            [*upgrade, "v-broken"], env=script_env, capture_output=True, text=True, check=False
        )
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "the migration failed: the database is unchanged" in failed.stdout
        assert _git(app, "rev-parse", "HEAD") == before  # the previous release is back
        assert not (app / "migrations" / "versions" / "9901_v-broken.py").exists()
        assert current_revision(url) == head
        assert "upgrade_probe" not in inspect(engine).get_table_names()
        assert not asked.exists()  # nothing was reloaded or restarted
        assert Client(server.port).get("/healthz").status == 200

        workers = set(server.worker_pids())
        done = subprocess.run(  # noqa: S603
            [*upgrade, "v-good"], env=script_env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"GRANTs of {role} renewed" in done.stdout
        assert "answers 200" in done.stdout
        assert _git(app, "rev-parse", "HEAD") == _git(origin, "rev-parse", "v-good^{commit}")
        assert current_revision(url) == "9902"
        assert "upgrade_good" in inspect(engine).get_table_names()
        assert asked.read_text(encoding="utf-8") == "reload surveyapp\n"
        deadline = time.monotonic() + 30
        while set(server.worker_pids()) & workers and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not set(server.worker_pids()) & workers  # every worker replaced (HUP)
        assert Client(server.port).get("/healthz").status == 200
    finally:
        server.stop()
        engine.dispose()
        postgres_databases.drop(url)
        with postgres_databases.admin.connect() as connection:
            connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
