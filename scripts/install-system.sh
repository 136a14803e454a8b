#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages wangge needs; idempotent and quick when all are present.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-system: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi

pg_major="${WANGGE_PG_MAJOR:-}"
if [ -z "$pg_major" ]; then
  for v in 15 16 17 14 13; do
    if dpkg -s "postgresql-$v-postgis-3" >/dev/null 2>&1; then pg_major=$v; break; fi
  done
fi

want() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  printf '%s\n' "${missing[@]}"
}

base=(python3 python3-venv python3-dev make ca-certificates)
missing=$(want "${base[@]}" ${pg_major:+postgresql-$pg_major postgresql-$pg_major-postgis-3})
if [ -z "$pg_major" ] || [ -n "$missing" ]; then
  echo "install-system: installing ${missing:-PostgreSQL + PostGIS} ..." >&2
  $SUDO apt-get update -q
  if [ -z "$pg_major" ]; then
    # Prefer PostgreSQL 15 (Debian 12); otherwise the newest PostGIS the distribution ships.
    for v in 15 17 16 14 13; do
      if apt-cache show "postgresql-$v-postgis-3" >/dev/null 2>&1; then pg_major=$v; break; fi
    done
    [ -n "$pg_major" ] || { echo "install-system: no postgresql-N-postgis-3 package found" >&2; exit 1; }
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    "${base[@]}" "postgresql-$pg_major" "postgresql-$pg_major-postgis-3" >&2
fi
# npm fetches the front-end assets (package-lock.json). Only when there is none: a Node.js from
# elsewhere (NodeSource) brings its own npm and conflicts with Debian's package.
if ! command -v npm >/dev/null; then
  echo "install-system: installing npm ..." >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm >&2
fi
# The page tests drive a real headless Chromium with the distribution's driver (a browser a tool
# downloads at run time does not work offline), and Chinese text needs a CJK font.
browser=(chromium chromium-driver fonts-noto-cjk)
if ! dpkg -s chromium >/dev/null 2>&1 && ! apt-cache show chromium >/dev/null 2>&1; then
  browser=(chromium-browser chromium-chromedriver fonts-noto-cjk)  # Ubuntu's names
fi
missing=$(want "${browser[@]}")
if [ -n "$missing" ]; then
  echo "install-system: installing" $missing "..." >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >&2
fi
# GDAL's command-line tools: the OGC API tests read wangge with the distribution's ogrinfo, as a
# GIS desk would (pyogrio's own GDAL serves the Python side).
# And QGIS itself, headless (python3-qgis with its OAPIF provider), loading a collection.
missing=$(want gdal-bin python3-qgis)
if [ -n "$missing" ]; then
  echo "install-system: installing" $missing "..." >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >&2
fi
# Debian starts a system-wide cluster on 5432; wangge runs its own, so that one is left as it is.
exit 0
