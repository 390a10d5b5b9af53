#!/usr/bin/env bash
# The project's test command (README.md; CI runs it through .ci/run): builds the venvs where missing or out of
# date (scripts/setup.sh), then runs pytest offline. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh tests/modeling_liqe -x`).
set -eo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# -rs: every skipped test is listed with its reason at the end; --durations=25: the 25 slowest test phases, so
# that a CI log shows where the suite's time goes (the suite is to stay well under 15 minutes).
. .venv/bin/activate && HF_HUB_OFFLINE=1 python -m pytest -q -rs --durations=25 "$@"
