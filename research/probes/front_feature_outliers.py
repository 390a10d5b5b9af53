"""The fixed NSS front's CLS features of 9 crops of each unseen photo (and of china darkened), in standard deviations
of 300 pristine training crops; the 8 largest per photo; and the bright share of the sky dead leaves
(research/LOG.md, session 18). Needs a demo-spread model (the layout is rebuilt from its geometry).

    python research/probes/front_feature_outliers.py MODEL_DIR
"""
import sys, numpy as np, torch

from probe_model import load_model, spread_front_features
from datasets_scripts.ladders import TRAINING_PHOTOS, UNSEEN_PHOTOS, load_photos, LadderSampler
from datasets_scripts.dead_leaves import dead_leaves_photos
from modeling_liqe.ladder_data import normalise
d = sys.argv[1]
model, proc = load_model(d)
names, chans = spread_front_features(model)
@torch.no_grad()
def feats(crops):
    x = normalise(np.stack(crops), proc.image_processor.image_mean, proc.image_processor.image_std)
    h = model.clip.vision_model(pixel_values=x, output_hidden_states=True).hidden_states[3][:, 0]
    return h[:, chans].numpy()
train = load_photos(TRAINING_PHOTOS) + dead_leaves_photos(48, seed=0)
s = LadderSampler(train, crop_size=224, seed=0)
ref = feats([s.sample(type_id=1).images[0] for _ in range(300)])
mu, sd = ref.mean(0), ref.std(0) + 1e-6
unseen = {p["name"]: p["image"] for p in load_photos(UNSEEN_PHOTOS)}
from train_demo import unseen_distort
for name, im in unseen.items():
    h, w = im.shape[:2]
    crops = [im[y:y+224, x:x+224] for y in (0, (h-224)//2, h-224) for x in (0, (w-224)//2, w-224)]
    z = (feats(crops) - mu) / sd
    zm = z.mean(0)
    top = np.argsort(-np.abs(zm))[:8]
    print(name, " ".join(f"{names[i]}:{zm[i]:+.1f}" for i in top))
    if name == "china":
        for lvl in (1, 3, 5):
            zd = ((feats([unseen_distort(c, 'underexposure', lvl) for c in crops]) - mu) / sd).mean(0)
            print("  under", lvl, " ".join(f"{names[i]}:{zd[i]:+.1f}" for i in top))
sky = dead_leaves_photos(16, seed=0, sky=True)
s2 = LadderSampler(sky, crop_size=224, seed=1)
zs = (feats([s2.sample(type_id=1).images[0] for _ in range(100)]) - mu) / sd
i = names.index("light_0.92"); j = names.index("light_0.8")
print("sky crops light_0.92 z: mean %.1f p90 %.1f max %.1f; light_0.8 mean %.1f" % (zs[:, i].mean(), np.percentile(zs[:, i], 90), zs[:, i].max(), zs[:, j].mean()))
