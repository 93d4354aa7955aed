#!/usr/bin/env bash
# Upgrade surveyapp in place to a release (a git tag or commit), without stopping it:
#
#   sudo /opt/surveyapp/app/deploy/upgrade.sh v1.4.0          # as root, on the app server
#   sudo /opt/surveyapp/app/deploy/upgrade.sh --stop v1.4.0   # when the release notes say the
#                                                             # migration needs the app stopped
#
# 1. check out the release in the app's checkout and install it into its virtualenv
#    (running workers keep the code they have loaded);
# 2. `surveyapp migrate` as the schema owner (/etc/surveyapp/migrate.env), then the app
#    role's GRANTs again (`surveyapp db-grants`);
# 3. `systemctl reload surveyapp`: gunicorn starts new workers on the new code and lets the old
#    ones finish the requests they are serving (HUP; no request is dropped);
# 4. the health check must answer 200 within 30 s.
#
# A failed migration changes nothing in the database: all of one run's migrations are one
# PostgreSQL transaction, rolled back whole. The script then puts the previous release back
# into the checkout and its virtualenv and stops with exit status 1; the running workers never
# saw the new code, and workers started later load the old code again. Nothing is reloaded.
set -euo pipefail

APP_DIR="${APP_DIR:-/opt/surveyapp/app}"
ENV_FILE="${ENV_FILE:-/etc/surveyapp/surveyapp.env}"
MIGRATE_ENV="${MIGRATE_ENV:-/etc/surveyapp/migrate.env}"
APP_ROLE="${APP_ROLE:-surveyapp_app}"
SERVICE="${SERVICE:-surveyapp}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
HEALTH_URL="${HEALTH_URL:-http://127.0.0.1:8000/healthz}"
VENV="$APP_DIR/.venv"

stop=0
if [ "${1:-}" = "--stop" ]; then stop=1; shift; fi
ref="${1:?usage: upgrade.sh [--stop] <release tag or commit>}"

say() { printf 'upgrade: %s\n' "$*"; }

install_checkout() {  # $1 -> $2: the checkout at commit $2, its virtualenv and catalogues
    git -C "$APP_DIR" checkout --quiet --detach "$2"
    # The app is installed editable: new code needs no reinstall, new dependencies do.
    if ! git -C "$APP_DIR" diff --quiet "$1" "$2" -- setup.cfg pyproject.toml; then
        "$VENV/bin/pip" install --quiet -e "$APP_DIR"
    fi
    "$VENV/bin/pybabel" -q compile -d "$APP_DIR/translations"
}

load_env() {  # NAME=value lines, as systemd's EnvironmentFile= reads them (not as shell)
    local line key value
    while IFS= read -r line; do
        key="${line%%=*}"
        value="${line#*=}"
        case "$value" in
            \"*\") value="${value:1:${#value}-2}" ;;
            \'*\') value="${value:1:${#value}-2}" ;;
        esac
        export "$key=$value"
    done < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$1")
}

run_with_owner() {  # the app's settings, with the schema owner's database address
    (
        load_env "$ENV_FILE"
        load_env "$MIGRATE_ENV"
        cd "$APP_DIR"
        PYTHONPATH="$APP_DIR" "$@"
    )
}

previous="$(git -C "$APP_DIR" rev-parse HEAD)"
git -C "$APP_DIR" fetch --quiet --tags origin
target="$(git -C "$APP_DIR" rev-parse --verify "$ref^{commit}")"
say "from $(git -C "$APP_DIR" describe --always --tags "$previous") to $(git -C "$APP_DIR" describe --always --tags "$target")"

if [ "$stop" = 1 ]; then
    say "stopping $SERVICE (kiosks keep answers offline meanwhile)"
    "$SYSTEMCTL" stop "$SERVICE"
fi

install_checkout "$previous" "$target"

if ! run_with_owner "$VENV/bin/surveyapp" migrate; then
    say "the migration failed: the database is unchanged; putting $previous back"
    install_checkout "$target" "$previous"
    if [ "$stop" = 1 ]; then "$SYSTEMCTL" start "$SERVICE"; fi
    exit 1
fi
run_with_owner "$VENV/bin/python" - "$APP_ROLE" <<'PY'
import os
import sys

from sqlalchemy import text

from surveyapp.db import make_engine
from surveyapp.dbroles import app_role_grants

engine = make_engine(os.environ["SURVEYAPP_DATABASE_URL"])
with engine.begin() as connection:
    for statement in app_role_grants(sys.argv[1]):
        connection.execute(text(statement))
engine.dispose()
print(f"upgrade: GRANTs of {sys.argv[1]} renewed")
PY

if [ "$stop" = 1 ]; then
    "$SYSTEMCTL" start "$SERVICE"
else
    say "reloading $SERVICE (new workers on the new code; requests under way finish)"
    "$SYSTEMCTL" reload "$SERVICE"
fi

for _ in $(seq 30); do
    if curl --silent --fail --max-time 2 "$HEALTH_URL" >/dev/null; then
        say "done: $HEALTH_URL answers 200"
        exit 0
    fi
    sleep 1
done
say "the app does not answer $HEALTH_URL: see journalctl -u $SERVICE"
exit 1
