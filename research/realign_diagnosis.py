"""Why a `liqe realign` on synthetic corpora comes out as it does: where each split's photos sit on the model's scale.

Reads the `realigned_mos.csv` of one or more `liqe realign` runs (scores are taken from whichever run scored the
row) and the corpus folders, and prints

1. per corpus and split: the reference photos, which of them the demo checkpoint was trained on
   (`datasets_scripts.ladders.TRAINING_PHOTOS`), and their mean score per level;
2. on the judged split, the pooled SRCC of raw MOS, of the `liqe realign` realigned MOS, and of the **common
   scale** every synthetic corpus derives from (the 1-5 rule `synthetic.quality_target(type, level)`, known here
   because the corpora are synthetic): any realignment that maps equal quality in two corpora to one value has
   exactly that pooled SRCC: what a perfect realignment reaches on that split. It is not a bound on a realignment
   fitted to the model, which may follow where the model puts each corpus rather than where quality is equal
   (the README's SYN + SYN_MILD example passes it by 0.004).

    PYTHONPATH=. python research/realign_diagnosis.py --corpus SYN --corpus SYN_MILD \\
        --csv OUT/realigned_mos.csv [--csv OUT_VALIDATION/realigned_mos.csv] [--split test]

`research/realign_example.sh OUT_DIR [MODEL]` builds the README's corpora and runs `liqe realign` and this script.
"""

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets_scripts.ladders import TRAINING_PHOTOS  # noqa: E402
from datasets_scripts.synthetic import DISTORTIONS, quality_target  # noqa: E402
from modeling_liqe.analysis_data import load_converted  # noqa: E402
from modeling_liqe.metrics import srcc  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", required=True, help="synthetic corpus folder (repeat)")
    parser.add_argument("--csv", action="append", required=True,
                        help="realigned_mos.csv of a liqe realign run (repeat; the realigned MOS is the first's, "
                             "scores come from any)")
    parser.add_argument("--split", default="test", help="the judged split (default: test)")
    args = parser.parse_args(argv)

    scores, realigned = {}, {}
    for index, path in enumerate(args.csv):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                key = (row["corpus"], row["image_id"])
                if row["score"]:
                    scores.setdefault(key, float(row["score"]))
                if index == 0:  # the realignment judged is the first run's
                    realigned[key] = float(row["mos_realigned"])
    by_fine = {d.fine: d for d in DISTORTIONS}  # the 25 types have distinct fine labels
    pooled = defaultdict(list)
    for folder in args.corpus:
        table = load_converted(folder)
        per = defaultdict(lambda: defaultdict(list))
        for row in range(len(table)):
            key = (table.name, table.image_ids[row])
            if key not in scores:
                continue
            split, reference = table.partition[row], table.reference_id[row]
            level = int(table.distortion_level[row])
            per[(split, reference)][level].append(scores[key])
            if split == args.split:
                common = quality_target(by_fine[table.extra["distortion_fine"][row]], level)
                for name, value in (("raw MOS", table.mos[row]), ("realigned MOS", realigned[key]),
                                    ("common scale (perfect realignment)", common), ("score", scores[key])):
                    pooled[name].append(value)
        print(f"\n{table.name} ({folder}): mean score per level 1..5, by split and reference photo")
        for (split, reference), levels in sorted(per.items()):
            trained = "TRAINED ON" if reference in TRAINING_PHOTOS else "held out"
            means = " ".join(f"{np.mean(levels[k]):.2f}" for k in sorted(levels))
            everything = np.mean([v for values in levels.values() for v in values])
            print(f"  {split:10s} {reference:22s} {trained:10s} mean {everything:.2f}  per level {means}")
    print(f"\npooled SRCC against the scores on the {args.split} split ({len(pooled['score'])} images):")
    for name in ("raw MOS", "realigned MOS", "common scale (perfect realignment)"):
        print(f"  {name:36s} {srcc(pooled['score'], pooled[name]):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
