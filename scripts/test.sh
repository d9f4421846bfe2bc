#!/usr/bin/env bash
# The test suite: static checks (ruff, mypy), then the tests. Tests that need ../shared
# (reference data) skip with a reason without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/lint.sh
exec python -m pytest -q "$@"
