#!/usr/bin/env bash
# The test suite. Tests that need ../shared (reference data) skip with a reason without it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m pytest -q "$@"
