"""The unseen-photo test (research/eval_demo.py's four ordinary distortions, pristine + 5 levels, 15 windows) on two
more photos never trained on, read from the installed gradio wheel (not copied into the repo: their licence is not
stated, so they serve as a second opinion only, never as training data): gradio/media_assets/images/tower.jpg
(377 x 600, a tower against a blue sky) and gradio/test_data/cheetah2.jpg (762 x 787, a cheetah cub on white).
The images are upscaled 2x (Lanczos) first so that a 224-px window sees the scale of the other unseen photos.

    python research/probes/more_unseen_photos.py MODEL_DIR [MODEL_DIR ...]
"""
import sys
from pathlib import Path

import gradio
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "research")]
from eval_demo import _srcc, score_images  # noqa: E402
from train_demo import UNSEEN_KINDS, unseen_distort  # noqa: E402
from transformers import AutoModel, AutoProcessor  # noqa: E402

GRADIO = Path(gradio.__file__).parent
PHOTOS = {"tower": GRADIO / "media_assets/images/tower.jpg", "cheetah2": GRADIO / "test_data/cheetah2.jpg"}


def photos():
    for name, path in PHOTOS.items():
        image = Image.open(path).convert("RGB")
        if min(image.size) < 500:
            image = image.resize((image.width * 2, image.height * 2), Image.LANCZOS)
        yield name, np.asarray(image)


for model_dir in sys.argv[1:]:
    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)
    groups = {}
    for name, image in photos():
        for kind in UNSEEN_KINDS:
            versions = [image] + [unseen_distort(image, kind, level) for level in range(1, 6)]
            score, _ = score_images(model, processor, versions)
            groups[f"{name}/{kind}"] = (round(_srcc(score, -np.arange(6)), 3), np.round(score, 2).tolist())
    mean = np.mean([v[0] for v in groups.values()])
    print(model_dir, f"mean {mean:.3f}", {k: v[0] for k, v in groups.items()})
    for k, v in groups.items():
        if v[0] < 0.8:
            print("   ", k, v[1])
