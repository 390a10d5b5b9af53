"""The unseen-photo test (research/eval_demo.py's four ordinary distortions, pristine + 5 levels, 15 windows) on more
photos that a model did not train on, as a second opinion beside the three photos of the issue's target:
- gradio: two photos read from the installed gradio wheel (not copied into the repo, never trained on: their licence
  is not stated): gradio/media_assets/images/tower.jpg (377 x 600, a tower against a blue sky, upscaled 2x, Lanczos,
  so that a 224-px window sees the scale of the other unseen photos) and gradio/test_data/cheetah2.jpg (762 x 787, a
  cheetah cub on white).
- sporco: the four licensed colour photos of `--ladder_photos bundled+colour` (sail, tulips, monarch, kodim23); unseen
  only for models that did not train on that set.

    python research/probes/more_unseen_photos.py [--set gradio|sporco] MODEL_DIR [MODEL_DIR ...]
"""
import sys
from pathlib import Path

import gradio
import numpy as np
from PIL import Image

from probe_model import load_model
from eval_demo import _srcc, score_images  # noqa: E402
from train_demo import UNSEEN_KINDS, unseen_distort  # noqa: E402

GRADIO = Path(gradio.__file__).parent
PHOTOS = {"tower": GRADIO / "media_assets/images/tower.jpg", "cheetah2": GRADIO / "test_data/cheetah2.jpg"}


def photos(photo_set="gradio"):
    if photo_set == "sporco":
        from datasets_scripts.ladders import MORE_COLOUR_PHOTOS, load_photos

        for photo in load_photos(MORE_COLOUR_PHOTOS):
            yield photo["name"], photo["image"]
        return
    for name, path in PHOTOS.items():
        image = Image.open(path).convert("RGB")
        if min(image.size) < 500:
            image = image.resize((image.width * 2, image.height * 2), Image.LANCZOS)
        yield name, np.asarray(image)


args = sys.argv[1:]
photo_set = "gradio"
if args[:1] == ["--set"]:
    photo_set, args = args[1], args[2:]
for model_dir in args:
    model, processor = load_model(model_dir)
    groups = {}
    for name, image in photos(photo_set):
        for kind in UNSEEN_KINDS:
            versions = [image] + [unseen_distort(image, kind, level) for level in range(1, 6)]
            score, _ = score_images(model, processor, versions)
            groups[f"{name}/{kind}"] = (round(_srcc(score, -np.arange(6)), 3), np.round(score, 2).tolist())
    mean = np.mean([v[0] for v in groups.values()])
    print(model_dir, f"mean {mean:.3f}", {k: v[0] for k, v in groups.items()})
    for k, v in groups.items():
        if v[0] < 0.8:
            print("   ", k, v[1])
