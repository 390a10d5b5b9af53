"""Scores of six 224-px regions of china (sky, pagoda, trees, lake), pristine then linear-light under-exposure levels
1-5 (research/LOG.md, session 18).

    python research/probes/region_scores.py MODEL_DIR
"""
import sys

from probe_model import load_model
from eval_demo import score_images
from train_demo import unseen_distort
from sklearn.datasets import load_sample_image
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES
d = sys.argv[1]
model, proc = load_model(d)
im = load_sample_image("china.jpg")
crops = {"sky": im[0:224, 380:604], "pagoda-top": im[20:244, 60:284], "pagoda-mid": im[180:404, 60:284], "trees-right": im[203:427, 416:640], "trees-left": im[203:427, 0:224], "lake": im[180:404, 330:554]}
for name, c in crops.items():
    imgs = [c] + [unseen_distort(c, "underexposure", l) for l in range(1, 6)]
    s, p = score_images(model, proc, imgs)
    print(f"{name:12s}", " ".join(f"{x:.2f}" for x in s), [DISTORTION_CLASSES[i][:6] for i in p.argmax(1)])
