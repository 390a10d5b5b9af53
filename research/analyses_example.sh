#!/usr/bin/env bash
# The README's eval and gMAD figures (issue 10), re-measured in one command (run research/realign_example.sh
# OUT_DIR first: it builds OUT_DIR/SYN; this script reuses it and OUT_DIR/cache.sqlite):
#
#     research/analyses_example.sh OUT_DIR [MODEL]        (MODEL: default checkpoints/liqe-tiny-synthetic)
#
# The weaker model is the same geometry untrained: `liqe init OUT_DIR/WEAK --geometry demo --variant
# quality_distortion --seed 0` (made here when absent). Writes OUT_DIR/{eval,gmad}/ and OUT_DIR/analyses.txt.
# Environment: PYTHON (default: python).
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT_DIR [MODEL]" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(cd "$1" && pwd)
MODEL=${2:-$ROOT/checkpoints/liqe-tiny-synthetic}
PY=${PYTHON:-python}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
[ -f "$OUT/SYN/README.md" ] || { echo "$0: $OUT/SYN missing: run research/realign_example.sh $1 first" >&2; exit 2; }
[ -d "$OUT/WEAK" ] || "$PY" -m modeling_liqe.cli init "$OUT/WEAK" --geometry demo --variant quality_distortion --seed 0
{
    echo "model: $MODEL; weaker model: $OUT/WEAK (untrained)"
    echo; echo "## liqe eval (test split, by distortion)"
    "$PY" -m modeling_liqe.cli eval --model "$MODEL" --model "$OUT/WEAK" --dataset "$OUT/SYN" --session seeded \
        --split test --by distortion --output-dir "$OUT/eval" --cache "$OUT/cache.sqlite"
    echo; echo "## liqe gmad (pool: test split; anchor: validation split; proxy judge: the known level)"
    "$PY" -m modeling_liqe.cli gmad --model "$MODEL" --model "$OUT/WEAK" --pool "$OUT/SYN" --pool-split test \
        --anchor "$OUT/SYN" --anchor-split validation --same-content --judge level --output-dir "$OUT/gmad" \
        --cache "$OUT/cache.sqlite"
} 2>&1 | tee "$OUT/analyses.txt"
