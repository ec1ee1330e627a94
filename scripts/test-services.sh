#!/usr/bin/env bash
# Installs (when missing) the system packages the test suite drives for real:
# redis-server, PostgreSQL and Chromium. The tests themselves start and stop the servers
# on loopback in temporary directories.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test services: missing ${need[*]} and not root; the tests that need them will skip" >&2
    exit 0
  fi
  echo "test services: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
