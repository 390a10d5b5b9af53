"""Held-out evaluation of a LIQE model folder, as a user scores (processor: 15 test windows per image).

1. The synthetic corpus's held-out test photos (seed-0 split: chelsea, retina; never trained on): every
   distortion type at its 5 levels, exactly the corpus's images (`distort(384-px reference, seed=0)`).
   Mean within-(reference, distortion) SRCC between score and level, per distortion class, and the
   distortion-class accuracy (argmax of the distortion marginal), per class.
2. Unseen photo sources (scikit-learn's china / flower, matplotlib's grace_hopper; none trained on) with
   ordinary distortions implemented independently of the training code (PIL Gaussian blur, PIL JPEG,
   Gaussian noise, linear-light under-exposure), pristine + 5 levels: within-(photo, distortion) SRCC.

    PYTHONPATH=. python research/eval_demo.py MODEL_DIR [--json OUT.json]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_demo import SYNTHETIC_TEST_REFS, UNSEEN_KINDS, unseen_distort  # noqa: E402

from datasets_scripts.ladders import UNSEEN_PHOTOS, load_photos  # noqa: E402
from datasets_scripts.synthetic import DISTORTIONS, distort, load_reference_photos, quality_target  # noqa: E402
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES  # noqa: E402
from modeling_liqe.metrics import srcc  # noqa: E402


def _srcc(a, b):
    value = srcc(a, b)
    return 0.0 if value is None or not np.isfinite(value) else float(value)


@torch.no_grad()
def score_images(model, processor, images, batch=8):
    scores, dists = [], []
    for start in range(0, len(images), batch):
        inputs = processor(images=list(images[start : start + batch]), return_tensors="pt")
        out = model(pixel_values=inputs["pixel_values"], patch_mask=inputs["patch_mask"])
        scores.append(out.score)
        dists.append(out.distortion_probs)
    return torch.cat(scores).numpy(), torch.cat(dists).numpy()


def synthetic_heldout_images(cache="/tmp/liqe_demo_eval/heldout_384.pkl"):
    """The corpus's held-out images (cached: generating them takes minutes on a loaded machine)."""
    import pickle

    cache = Path(cache)
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    images, refs, types, mos, classes = [], [], [], [], []
    for photo in load_reference_photos():
        if photo["name"] not in SYNTHETIC_TEST_REFS:
            continue
        for d in DISTORTIONS:
            for level in range(1, 6):
                images.append(distort(photo["image"], d, level, seed=0, reference_name=photo["name"]))
                refs.append(photo["name"])
                types.append(d.type_id)
                mos.append(quality_target(d, level))
                classes.append(DISTORTION_CLASSES.index(d.distortion_class))
    result = (images, refs, types, mos, classes)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.with_suffix(".tmp"), "wb") as f:
        pickle.dump(result, f)
    cache.with_suffix(".tmp").rename(cache)
    return result


def evaluate_folder(model_dir, quick=False):
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)
    images, refs, types, mos, classes = synthetic_heldout_images()
    if quick:  # smoke test of this script: 2 distortion types
        keep = [i for i, t in enumerate(types) if t in (1, 11)]
        images, refs, types, mos, classes = ([x[i] for i in keep] for x in (images, refs, types, mos, classes))
    score, dist = score_images(model, processor, images)
    refs, types, mos, classes = map(np.asarray, (refs, types, mos, classes))
    group_srcc = {}
    for r in SYNTHETIC_TEST_REFS:
        for d in DISTORTIONS:
            m = (refs == r) & (types == d.type_id)
            if not m.any():
                continue
            group_srcc[(r, d.type_id)] = _srcc(score[m], mos[m])
    predicted = dist.argmax(axis=1)
    per_class = {}
    for c, name in enumerate(DISTORTION_CLASSES):
        groups = [v for (r, t), v in group_srcc.items() if DISTORTIONS[t - 1].distortion_class == name]
        if groups:
            per_class[name] = {"srcc": round(float(np.mean(groups)), 3), "accuracy": round(float((predicted[classes == c] == c).mean()), 3),
                               "groups": len(groups)}
    per_type = {f"{d.type_id:02d} {d.name}": round(float(np.mean([group_srcc[(r, d.type_id)] for r in SYNTHETIC_TEST_REFS])), 3)
                for d in DISTORTIONS if (SYNTHETIC_TEST_REFS[0], d.type_id) in group_srcc}

    u_images, u_groups, u_levels = [], [], []
    for photo in load_photos(UNSEEN_PHOTOS)[: 1 if quick else None]:
        for kind in UNSEEN_KINDS:
            for level in range(6):
                u_images.append(photo["image"] if level == 0 else unseen_distort(photo["image"], kind, level))
                u_groups.append(f"{photo['name']}/{kind}")
                u_levels.append(level)
    u_score, _ = score_images(model, processor, u_images)
    u_groups, u_levels = np.asarray(u_groups), np.asarray(u_levels)
    unseen_groups = {g: round(_srcc(u_score[u_groups == g], -u_levels[u_groups == g]), 3) for g in sorted(set(u_groups.tolist()))}
    unseen_kind = {k: round(float(np.mean([v for g, v in unseen_groups.items() if g.endswith("/" + k)])), 3) for k in UNSEEN_KINDS}
    print(f"scored {len(images)} synthetic and {len(u_images)} unseen images", file=sys.stderr)
    return {
        "model": str(model_dir),
        "synthetic_heldout": {
            "references": list(SYNTHETIC_TEST_REFS),
            "mean_srcc": round(float(np.mean(list(group_srcc.values()))), 4),
            "accuracy": round(float((predicted == classes).mean()), 4),
            "per_class": per_class,
            "per_type_srcc": per_type,
        },
        "unseen_photos": {
            "photos": list(UNSEEN_PHOTOS),
            "mean_srcc": round(float(np.mean(list(unseen_groups.values()))), 4),
            "per_distortion": unseen_kind,
            "per_group": unseen_groups,
        },
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("--json", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 distortion types, 1 unseen photo")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = evaluate_folder(args.model_dir, quick=args.quick)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
