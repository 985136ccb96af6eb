#!/usr/bin/env bash
# Installs what the test suite needs from Debian when it is missing (Chromium for the browser
# tests, the psql client, PostgreSQL 15 with pgaudit for the statement-audit tests), or fails
# loudly. Nothing is skipped silently.
set -euo pipefail
installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'; }
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/psql ] || missing+=(postgresql-client)
# The pgaudit path runs against Debian's own PostgreSQL 15 (embedded-postgres ships no pgaudit).
installed postgresql-15 || missing+=(postgresql-15)
installed postgresql-15-pgaudit || missing+=(postgresql-15-pgaudit)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "test setup: installing ${missing[*]} from Debian..."
if [ "$(id -u)" -ne 0 ]; then
  echo "test setup: need root to install ${missing[*]} (or install them yourself: apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test setup: installed ${missing[*]}"
