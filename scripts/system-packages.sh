#!/usr/bin/env bash
# Install the Debian packages the project needs, if they are missing. Safe to run repeatedly.
#
#   bash scripts/system-packages.sh        everything `make test` needs
#   bash scripts/system-packages.sh run    only what `make run` needs (PDF letters)
#
# PDF letters (WeasyPrint): Pango, HarfBuzz, fontconfig and the DejaVu fonts.
# Tests also: the PostgreSQL server (database tests run against a real PostgreSQL), Chromium
# (browser tests drive Debian's chromium through Playwright), Node.js/npm (axe-core for the
# accessibility checks), poppler-utils (pdftoppm/pdfinfo turn letter PDFs into page images),
# cairo (cairosvg renders the QR code's SVG for decoding), and nginx and systemd-analyze
# (the deploy/ files are checked by the real programs).
set -euo pipefail

mode="${1:-test}"
need=()
has_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }

has_lib 'libpango-1.0.so.0' || need+=(libpango-1.0-0)
has_lib 'libpangoft2-1.0.so.0' || need+=(libpangoft2-1.0-0)
has_lib 'libharfbuzz.so.0' || need+=(libharfbuzz0b)
has_lib 'libharfbuzz-subset.so.0' || need+=(libharfbuzz-subset0)
command -v fc-list >/dev/null 2>&1 || need+=(fontconfig)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)

if [ "$mode" != "run" ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
  command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
  has_lib 'libcairo.so.2' || need+=(libcairo2)
  # nginx and systemd-analyze check deploy/ (tests/web/test_production_serving.py).
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
fi

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
