#!/usr/bin/env bash
# The README's MOS-realignment example (issue 10), rebuilt and re-measured in one command:
#
#     research/realign_example.sh OUT_DIR [MODEL]        (MODEL: default checkpoints/liqe-tiny-synthetic)
#
# Corpora (built once under OUT_DIR, reused when present; building both takes ~2-4 min on 2 cores):
#   SYN       python -m datasets_scripts.synthetic --seed 0: all 5 levels, MOS on the 1-5 scale
#   SYN1      --seed 1 --split-seed 0: other distortion draws, the same photo split (its test photos are not
#             photos the demo checkpoint was trained on)
#   SYN_MILD  SYN1's levels 1-2 only, rated over its own whole 0-100 scale (rescale_mos --max-level 2 --own-range):
#             a corpus of mildly distorted images whose worst image still sits at the bottom of its scale
#   SYN_LIVE_SCALE  all of SYN1 on 0-100 (100*((mos-1)/4)^1.5): the same quality range as SYN (the negative example)
# Then `liqe realign` (fit on train, judged on test) and research/realign_diagnosis.py (the ceiling: the common 1-5
# quality rule every synthetic corpus derives from) for SYN + SYN_MILD, and for SYN + SYN_LIVE_SCALE.
# Scores are cached in OUT_DIR/cache.sqlite per model fingerprint: a retrained checkpoint is scored afresh.
# Environment: PYTHON (default: python). Writes OUT_DIR/{mild,same_range}/ (reports, PNGs) and OUT_DIR/summary.txt.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT_DIR [MODEL]" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
MODEL=${2:-$ROOT/checkpoints/liqe-tiny-synthetic}
PY=${PYTHON:-python}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
[ -d "$MODEL" ] || { echo "$0: $MODEL: no such model folder" >&2; exit 2; }

build() {  # build OUT/NAME with the given synthetic options unless it is already there
    local name=$1; shift
    if [ ! -f "$OUT/$name/README.md" ]; then
        "$PY" -m datasets_scripts.synthetic --out "$OUT/$name" --overwrite "$@" > "$OUT/build_$name.log" 2>&1 \
            || { cat "$OUT/build_$name.log" >&2; exit 1; }
    fi
}
build SYN --seed 0
build SYN1 --seed 1 --split-seed 0
"$PY" -m datasets_scripts.rescale_mos "$OUT/SYN1" "$OUT/SYN_MILD" --name synthetic_mild --max-level 2 --own-range \
    --overwrite
"$PY" -m datasets_scripts.rescale_mos "$OUT/SYN1" "$OUT/SYN_LIVE_SCALE" --name synthetic_live_scale --overwrite

{
    echo "model: $MODEL"
    if git -C "$ROOT" rev-parse --git-dir > /dev/null 2>&1; then
        echo "checkpoint commit: $(git -C "$ROOT" log -1 --format='%h %s' -- "$MODEL" 2>/dev/null || echo '?')" \
             "$(git -C "$ROOT" status --porcelain -- "$MODEL" 2>/dev/null | grep -q . && echo '(MODIFIED since)' || true)"
    fi
    for example in mild same_range; do
        second=$([ $example = mild ] && echo SYN_MILD || echo SYN_LIVE_SCALE)
        echo; echo "## SYN + $second (fit on train, judged on test)"
        "$PY" -m modeling_liqe.cli realign --model "$MODEL" --dataset "$OUT/SYN" --dataset "$OUT/$second" \
            --output-dir "$OUT/$example" --cache "$OUT/cache.sqlite"
        "$PY" "$ROOT/research/realign_diagnosis.py" --corpus "$OUT/SYN" --corpus "$OUT/$second" \
            --csv "$OUT/$example/realigned_mos.csv" | sed -n '/^pooled SRCC/,$p'
    done
} 2>&1 | tee "$OUT/summary.txt"
