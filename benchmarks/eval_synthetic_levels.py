#!/usr/bin/env python
"""Does a trained model rank the synthetic corpus's distortion levels better than the same model untrained?

    python benchmarks/eval_synthetic_levels.py --model outputs/liqe-synthetic-demo/best_model \
        [--config configs/synthetic_demo.yaml] [--corpus data/synthetic] [--split test]

Scores the held-out references of the synthetic corpus (a split of the seeded split by reference photo) with the
trained model, with the run's own starting point (the config's model built at its seed, before any step) and, when
that start is not CLIP's random initialisation (the NSS start), with the random initialisation too,
through `modeling_liqe.evaluation` (the processor's 15 test windows), and prints per distortion class: SRCC over
the class's images, and the mean SRCC within each (reference, distortion type) ladder of levels.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modeling_liqe import DISTORTION_CLASSES, LIQEModel  # noqa: E402
from modeling_liqe.evaluation import predict_split  # noqa: E402
from modeling_liqe.image_processing_liqe import LIQEImageProcessor  # noqa: E402
from modeling_liqe.metrics import srcc  # noqa: E402
from modeling_liqe.train_data import eval_dataloader, load_corpora  # noqa: E402


def per_class(scores, split):
    rows = split.select_columns(["mos", "distortion", "distortion_fine", "reference_id"]).to_dict()
    mos, classes = np.asarray(rows["mos"]), np.asarray(rows["distortion"])
    result = {}
    for class_id in sorted(set(classes.tolist())):
        chosen = classes == class_id
        ladders = {}
        for index in np.flatnonzero(chosen):
            ladders.setdefault((rows["reference_id"][index], rows["distortion_fine"][index]), []).append(index)
        within = [srcc(scores[idx], mos[idx]) for idx in ladders.values() if len(idx) > 1]
        result[DISTORTION_CLASSES[class_id]] = {
            "images": int(chosen.sum()), "srcc": srcc(scores[chosen], mos[chosen]),
            "ladder_srcc": float(np.mean(within)) if within else float("nan"),
        }
    everything = [srcc(scores[idx], mos[idx]) for idx in _all_ladders(rows).values() if len(idx) > 1]
    result["ALL"] = {"images": len(mos), "srcc": srcc(scores, mos), "ladder_srcc": float(np.mean(everything))}
    return result


def _all_ladders(rows):
    ladders = {}
    for index, key in enumerate(zip(rows["reference_id"], rows["distortion_fine"])):
        ladders.setdefault(key, []).append(index)
    return ladders


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="trained LIQE folder (best_model/ of a run)")
    parser.add_argument("--config", default="configs/synthetic_demo.yaml", help="the run's config (for the untrained start)")
    parser.add_argument("--corpus", default="data/synthetic")
    parser.add_argument("--session", default="seeded")
    parser.add_argument("--split", default="test")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    from train_accelerate import build_model, parse_arguments

    import dataclasses

    model_args, _, training_args = parse_arguments(["--config", args.config])
    untrained = build_model(model_args, training_args.seed)[0].eval()
    models = [("untrained", untrained)]
    if model_args.vision_init != "random":
        # The run's start is not random (e.g. the hand-built NSS front): also show CLIP's random initialisation.
        plain = dataclasses.replace(model_args, vision_init="random", freeze=[])
        models.append(("random", build_model(plain, training_args.seed)[0].eval()))
    trained = LIQEModel.from_pretrained(args.model).eval()
    models.append(("trained", trained))
    corpus = load_corpora([args.corpus], [args.session], [1])[0]
    figures = {}
    for name, model in models:
        loader = eval_dataloader(corpus, 0, args.split, LIQEImageProcessor.from_liqe_config(model.config), batch_size=16)
        with torch.no_grad():
            scores = predict_split(model, loader)["score"]
        figures[name] = per_class(scores, corpus.splits[args.split])
    print(f"{args.corpus} {args.split} split ({len(corpus.splits[args.split])} images): SRCC per distortion class, "
          "over the class / mean within each (reference, type) ladder of levels")
    names = [name for name, _ in models]
    print("| class | images | " + " | ".join(f"{n} SRCC" for n in names) + " | " + " | ".join(f"{n} ladder SRCC" for n in names) + " |")
    print("|---|---|" + "---|" * (2 * len(names)))
    for key in figures["trained"]:
        row = [figures[n][key] for n in names]
        print(f"| {key} | {row[-1]['images']} | " + " | ".join(f"{r['srcc']:.3f}" for r in row) + " | "
              + " | ".join(f"{r['ladder_srcc']:.3f}" for r in row) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
