#!/usr/bin/env bash
# Install the Debian packages the tests need, if they are missing: the PostgreSQL server
# (database tests run against a real PostgreSQL), Chromium (browser tests drive Debian's
# chromium through Playwright) and Node.js/npm (axe-core for the accessibility checks).
# Safe to run repeatedly.
set -euo pipefail

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)

if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo -n"
else
  echo "missing ${need[*]}: install them as root (apt-get install ${need[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
