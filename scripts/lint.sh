#!/usr/bin/env bash
# Static checks: ruff on the whole tree, mypy on the package.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check videostyle tests scripts
mypy videostyle
