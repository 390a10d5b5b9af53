"""Scores of each unseen photo, pristine then levels 1-5 of linear-light under-exposure, the corpus's gamma Darken and
noise, with the predicted distortion class (research/LOG.md, session 18).

    python research/probes/darkening_scores.py MODEL_DIR
"""
import sys

from probe_model import load_model
from eval_demo import score_images
from train_demo import unseen_distort
from datasets_scripts.ladders import UNSEEN_PHOTOS, load_photos
from datasets_scripts.synthetic import DISTORTIONS_BY_ID, distort
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES
d = sys.argv[1]
model, proc = load_model(d)
for photo in load_photos(UNSEEN_PHOTOS):
    im = photo["image"]
    for kind, make in [("linear", lambda l: unseen_distort(im, "underexposure", l)), ("gamma", lambda l: distort(im, DISTORTIONS_BY_ID[17], l, seed=0, reference_name="x")), ("noise", lambda l: unseen_distort(im, "noise", l))]:
        imgs = [im] + [make(l) for l in range(1, 6)]
        s, p = score_images(model, proc, imgs)
        top = [DISTORTION_CLASSES[i][:8] for i in p.argmax(1)]
        print(photo["name"], kind, " ".join(f"{x:.2f}" for x in s), top)
