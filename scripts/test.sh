#!/usr/bin/env bash
# The test command: unit tests plus every registered notebook at the smoke profile.
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -m "not notebooks"   # skip notebook execution
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

export OMP_WAIT_POLICY=PASSIVE
python -m pytest -q tests "$@"
