#!/usr/bin/env bash
# Runs every check Shipyard has: lint, types, unit and integration tests (real HAProxy and
# real processes). The README's test command and CI both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench scripts examples
.venv/bin/ruff format --check src tests bench scripts examples
.venv/bin/mypy
# The suite mostly waits on real processes (deploys, health checks, backups), so it runs on
# several workers (pytest-xdist); every test has its own home, app folder and ports.
# SHIPYARD_TEST_WORKERS=0 runs it in one process.
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${SHIPYARD_TEST_WORKERS:-4}" --dist worksteal "$@"
