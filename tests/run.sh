#!/usr/bin/env bash
# Runs the test suite with the real services it needs: a PostgreSQL server for the shared-store
# tests, and the OCI registry server the image tests start themselves. Installs them with
# apt-get when missing (CI machines start empty).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# Debian packages the tests need: PostgreSQL (shared stores), an OCI registry server and
# htpasswd (image pulls, with and without authentication).
ensure_packages() {
  local missing=()
  command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} for the tests..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || { echo "${missing[*]} could not be installed" >&2; return 1; }
  else
    echo "${missing[*]} not installed and cannot be installed here" >&2; return 1
  fi
}

start_postgres() {
  local ver
  ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
  [ -n "$ver" ] || { echo "no PostgreSQL cluster found" >&2; return 1; }
  pg_ctlcluster "$ver" main start 2>/dev/null || true
  for _ in $(seq 1 30); do
    su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
    sleep 0.5
  done
  su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='nhiguard'\"" | grep -q 1 \
    || su postgres -c "psql -qc \"create role nhiguard login superuser password 'nhiguard'\""
  su postgres -c "psql -qAtc \"select 1 from pg_database where datname='nhiguard_test'\"" | grep -q 1 \
    || su postgres -c "createdb -O nhiguard nhiguard_test"
  local port
  port=$(su postgres -c "psql -qAtc 'show port'")
  export NHIGUARD_TEST_PG_URL="postgresql+psycopg://nhiguard:nhiguard@127.0.0.1:${port}/nhiguard_test"
}

ensure_packages || { echo "the test suite needs the packages above" >&2; exit 1; }
if [ -z "${NHIGUARD_TEST_PG_URL:-}" ]; then
  start_postgres || { echo "cannot start PostgreSQL: the PostgreSQL store tests need it" >&2; exit 1; }
fi
export NHIGUARD_SHARED="${NHIGUARD_SHARED:-$(cd .. && pwd)/shared}"
export NHIGUARD_TEST_PG_REQUIRED=1

$PY -m pytest -n 2 -q "$@"
rc=$?
[ -f build/accuracy.txt ] && { echo "--- accuracy on the rule-example corpus ---"; cat build/accuracy.txt; }
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
