#!/usr/bin/env bash
# The project's test command: README.md documents it and .ci/run calls this file, so both run the same line.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/modeling_liqe -x`).
set -eo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate && HF_HUB_OFFLINE=1 python -m pytest -q "$@"
