#!/usr/bin/env bash
# Run the nhiguard benchmark against peer scanners; see bench/README.md.
# Arguments are passed to bench/run.py (e.g. --quick, --only dir,git, --runs 2).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
else
  PY=$(command -v python3)
fi
exec "$PY" bench/run.py "$@"
