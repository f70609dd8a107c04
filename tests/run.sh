#!/usr/bin/env bash
# Runs the test suite with the real services it needs: a PostgreSQL server for the shared-store
# tests. Installs the server with apt-get when missing (CI machines start empty).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing PostgreSQL for the store tests..." >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || { echo "PostgreSQL could not be installed" >&2; return 1; }
    else
      echo "PostgreSQL is not installed and cannot be installed here" >&2; return 1
    fi
  fi
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
