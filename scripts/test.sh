#!/usr/bin/env bash
# Runs every check Shipyard has: lint, types, unit and integration tests (real HAProxy and
# real processes). The README's test command and CI both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench scripts examples
.venv/bin/ruff format --check src tests bench scripts examples
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
