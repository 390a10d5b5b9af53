#!/usr/bin/env bash
# Build the venv that runs space/ on its own (tests/space/test_standalone.py; .ci/run calls this first):
# the CPU torch, then space/requirements.txt ALONE - nothing of this repository is installed.
#   bash scripts/setup_space_venv.sh [VENV_DIR]      (default .venv-space; PYTHON picks the interpreter)
# Rebuilt only when space/requirements.txt changes, so a second run costs a second.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
VENV=${1:-.venv-space}
TORCH=torch==2.13.0
stamp=$({ echo "$TORCH"; cat space/requirements.txt; } | sha256sum | cut -c1-64)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.liqe-space-setup" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "=== scripts/setup_space_venv.sh: installing $VENV from space/requirements.txt"
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
rm -f "$VENV/.liqe-space-setup"
# torch FIRST: resolved from requirements.txt it would be the multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q "$TORCH"
"$VENV/bin/python" -m pip install -q -r space/requirements.txt
echo "$stamp" > "$VENV/.liqe-space-setup"
