#!/usr/bin/env bash
# Installs what the test suite needs from Debian when it is missing (Chromium for the browser
# tests, the psql client), or fails loudly. Nothing is skipped silently.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/psql ] || missing+=(postgresql-client)
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
