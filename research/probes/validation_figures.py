"""The training run's validation figures for any model folder, at the processor's 15 windows: mean within-(photo,
distortion) level SRCC and distortion accuracy on the synthetic corpus's validation photo (immunohistochemistry,
seed-0 split) and the `--validation_photos extra` photos (motorcycle, moon, cell), none trained on by the shipped
recipe. For choosing between models (e.g. an interpolation weight) without looking at the test or unseen photos.

    python research/probes/validation_figures.py MODEL_DIR [--json OUT.json]
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch

from probe_model import load_model  # noqa: E402  (puts the repository and research/ on the path)
from eval_demo import _srcc, score_images  # noqa: E402

from datasets_scripts.ladders import EXTRA_TRAINING_PHOTOS, load_photos  # noqa: E402
from datasets_scripts.synthetic import DISTORTIONS, _square, distort, load_reference_photos, quality_target  # noqa: E402
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES  # noqa: E402
from PIL import Image  # noqa: E402

VALIDATION_REFS = ("immunohistochemistry",)  # the corpus's seed-0 validation split


def validation_images():
    photos = [p for p in load_reference_photos() if p["name"] in VALIDATION_REFS]
    photos += [{"name": p["name"], "image": np.asarray(_square(Image.fromarray(np.asarray(p["image"])), 384))}
               for p in load_photos(EXTRA_TRAINING_PHOTOS)]
    rows = []
    for photo in photos:
        image = np.asarray(photo["image"])
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        for d in DISTORTIONS:
            for level in range(1, 6):
                rows.append((distort(image, d, level, seed=0, reference_name=photo["name"]), photo["name"], d.type_id,
                             quality_target(d, level), DISTORTION_CLASSES.index(d.distortion_class)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model, processor = load_model(args.model_dir)
    images, names, types, mos, classes = zip(*validation_images())
    score, dist = score_images(model, processor, images)
    names, types, mos, classes = map(np.asarray, (names, types, mos, classes))
    result = {"model": args.model_dir}
    for name in dict.fromkeys(names.tolist()):
        m = names == name
        groups = [_srcc(score[m & (types == t)], mos[m & (types == t)]) for t in sorted(set(types[m].tolist()))]
        result[name] = {"level_srcc": round(float(np.mean(groups)), 4),
                        "accuracy": round(float((dist[m].argmax(1) == classes[m]).mean()), 4)}
    result["mean"] = {k: round(float(np.mean([v[k] for n, v in result.items() if n != "model"])), 4)
                      for k in ("level_srcc", "accuracy")}
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
