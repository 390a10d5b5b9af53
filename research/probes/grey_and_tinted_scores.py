"""Scores and predicted class of the grey texture photos as they are and coloured by two fixed ramps, and of the unseen
and some training photos (research/LOG.md, session 18: the tinted-grey side effect).

    python research/probes/grey_and_tinted_scores.py MODEL_DIR
"""
import sys, colorsys, numpy as np

from probe_model import load_model
from eval_demo import score_images
from datasets_scripts.ladders import TRAINING_PHOTOS, UNSEEN_PHOTOS, load_photos
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES
d = sys.argv[1]
model, proc = load_model(d)
def duotone(grey, h, s, vd):
    y = grey[..., 0].astype(np.float32)[..., None] / 255
    dark = np.array(colorsys.hsv_to_rgb(h, s, vd)); light = np.array(colorsys.hsv_to_rgb((h + 0.05) % 1, s * 0.6, 1.0))
    return np.clip(np.rint(((1 - y) * dark + y * light) * 255), 0, 255).astype(np.uint8)
photos = {p["name"]: p for p in load_photos({**TRAINING_PHOTOS, **UNSEEN_PHOTOS})}
imgs, names = [], []
for n in ("grass", "gravel", "brick"):
    g = photos[n]["image"]
    imgs += [g, duotone(g, 0.25, 0.6, 0.1), duotone(g, 0.08, 0.5, 0.1)]; names += [n, n + "-green", n + "-brown"]
for n in ("china", "flower", "grace_hopper", "astronaut", "coffee"):
    imgs.append(photos[n]["image"]); names.append(n)
s, p = score_images(model, proc, imgs)
for n, x, q in zip(names, s, p):
    print(f"{n:14s} {x:.2f} {DISTORTION_CLASSES[q.argmax()]} {q.max():.2f}")
