"""Plot held-out SRCC against training minutes for several runs: research/curves.png (+ a markdown table).

    python research/plot_curves.py OUT.png RUN_DIR[=LABEL] ...

RUN_DIR is a research-driver run (curve.jsonl: 1 centre window per synthetic image, training minutes) or a
`train_accelerate.py` output folder (eval_results.jsonl: the processor's 15 windows, test split's level_rank_srcc
and distortion accuracy, wall minutes including its evaluations; no unseen-photo figure).
"""

import json
import sys
from pathlib import Path


def load(run_dir):
    curve = Path(run_dir) / "curve.jsonl"
    if curve.is_file():
        return [json.loads(line) for line in curve.read_text().splitlines() if line.strip()]
    points = []
    for line in (Path(run_dir) / "eval_results.jsonl").read_text().splitlines():
        if line.strip():
            e = json.loads(line)
            test = e["results"]["synthetic"]["test"]
            points.append({"minutes": round(e["elapsed_s"] / 60, 1), "step": e["step"],
                           "synth_srcc": round(test["level_rank_srcc"], 3),
                           "synth_acc": round(test["distortion_accuracy"], 3), "unseen_srcc": None})
    return points


def main(argv):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, runs = argv[0], argv[1:]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    table = ["| run | minutes | steps | synthetic held-out SRCC | class accuracy | unseen-photo SRCC |", "|---|---|---|---|---|---|"]
    for number, spec in enumerate(runs):
        colour = f"C{number}"  # one colour per run in every panel (a panel may skip a run)
        run_dir, _, label = spec.partition("=")
        label = label or Path(run_dir).name
        curve = load(run_dir)
        minutes = [r["minutes"] for r in curve]
        for axis, key in zip(axes, ("synth_srcc", "synth_acc", "unseen_srcc")):
            if all(r[key] is not None for r in curve):
                axis.plot(minutes, [r[key] for r in curve], marker="o", label=label, color=colour)
        for r in curve:
            table.append(f"| {label} | {r['minutes']} | {r['step']} | {r['synth_srcc']} | {r['synth_acc']} | {r['unseen_srcc']} |")
    titles = ("synthetic held-out photos: mean SRCC\n(score vs level, per reference x distortion)",
              "synthetic held-out photos:\ndistortion-class accuracy", "unseen photo sources: mean SRCC\n(blur, JPEG, noise, under-exposure)")
    for axis, title in zip(axes, titles):
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("training minutes (2 shared CPU cores)")
        axis.grid(alpha=0.3)
        axis.axhline(0, color="grey", lw=0.8)
    axes[0].axhline(0.9, color="red", ls="--", lw=0.8)
    axes[1].axhline(0.6, color="red", ls="--", lw=0.8)
    axes[2].axhline(0.85, color="red", ls="--", lw=0.8)
    axes[0].legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    Path(out).with_suffix(".md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
