#!/usr/bin/env bash
# Build the venvs the tests need, where missing or out of date (scripts/test.sh and .ci/run call this):
#   .venv        torch CPU, then this package with its dev extra (transformers 5)
#   .venv-tf4    torch CPU + the newest transformers 4.x   } the Hub remote-code round trip
#   .venv-tf450  torch CPU + transformers 4.50 (the floor)  } (tests/modeling_liqe/test_remote_code.py)
# A venv is (re)installed only when its requirements (or setup.cfg / pyproject.toml for .venv) changed since
# its last successful install, so a second run costs a second.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

TORCH=torch==2.13.0

make_venv() {  # make_venv DIR PIP-REQUIREMENT...
  local dir=$1; shift
  local stamp
  stamp=$({ echo "$TORCH $*"; if [ "$dir" = .venv ]; then cat setup.cfg pyproject.toml; fi; } | sha256sum | cut -c1-64)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.liqe-setup" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  echo "=== scripts/setup.sh: installing $dir ($*)"
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  rm -f "$dir/.liqe-setup"
  # torch FIRST: any later requirement on torch would otherwise pull the multi-GB CUDA build.
  "$dir/bin/pip" install -q "$TORCH"
  "$dir/bin/pip" install -q "$@"
  echo "$stamp" > "$dir/.liqe-setup"
}

make_venv .venv -e '.[dev]'
make_venv .venv-tf4 'transformers>=4.50,<5' safetensors pillow numpy
make_venv .venv-tf450 'transformers==4.50.*' safetensors pillow numpy

# ---- CLIP BPE SOURCE WHEEL (tests/modeling_liqe/test_clip_bpe.py::test_build_script_is_reproducible) ----
# The bundled tokenizer files (modeling_liqe/assets/clip_bpe/) were built from this exact wheel; the test
# rebuilds them from it and compares bytes. Only the wheel is downloaded (never installed). A failed download
# does not fail the set-up: the test then skips, saying why.
OPEN_CLIP_WHEEL=open_clip_torch==3.3.0
WHEEL_DIR=${LIQE_WHEEL_DIR:-.cache/wheels}
if ! ls "$WHEEL_DIR"/open_clip_torch-3.3.0-*.whl >/dev/null 2>&1; then
  echo "=== scripts/setup.sh: pip download --no-deps $OPEN_CLIP_WHEEL -d $WHEEL_DIR"
  .venv/bin/pip download -q --no-deps "$OPEN_CLIP_WHEEL" -d "$WHEEL_DIR" \
    || echo "=== scripts/setup.sh: WARNING: could not download $OPEN_CLIP_WHEEL; the BPE build test will skip" >&2
fi
# --- issue 7 (fast / portable inference): a venv WITHOUT torch or transformers, for the torch-free ONNX scorer
# (tests/modeling_liqe/test_onnx_export.py::test_scores_in_a_venv_without_torch). onnxruntime, numpy, Pillow only.
ONNX_REQUIREMENTS="onnxruntime numpy pillow"
onnx_stamp=$(echo "$ONNX_REQUIREMENTS" | sha256sum | cut -c1-64)
if ! { [ -x .venv-onnx/bin/python ] && [ "$(cat .venv-onnx/.liqe-setup 2>/dev/null)" = "$onnx_stamp" ]; }; then
  echo "=== scripts/setup.sh: installing .venv-onnx ($ONNX_REQUIREMENTS; no torch)"
  [ -x .venv-onnx/bin/python ] || python3 -m venv .venv-onnx
  rm -f .venv-onnx/.liqe-setup
  # shellcheck disable=SC2086
  .venv-onnx/bin/pip install -q $ONNX_REQUIREMENTS
  echo "$onnx_stamp" > .venv-onnx/.liqe-setup
fi
# --- end issue 7
