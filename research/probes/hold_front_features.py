"""Hold groups of the front's CLS features of each unseen photo's darker versions at the pristine's values (window by
window, a forward hook on block 3) and print the scores (research/LOG.md, session 18; demo-spread models).

    python research/probes/hold_front_features.py MODEL_DIR
"""
import sys, torch

from probe_model import load_model, spread_front_features
from train_demo import unseen_distort
from datasets_scripts.ladders import UNSEEN_PHOTOS, load_photos
d = sys.argv[1]
model, proc = load_model(d)
names, chans = spread_front_features(model)
groups = {
    "exposure (shadow/light shares, luminance mean and extremes)": [c for n, c in zip(names, chans) if n.startswith(("shadow", "light")) or n in ("luminance", "max_luminance", "min_luminance")],
    "bright shares only": [c for n, c in zip(names, chans) if n.startswith("light")],
    "energies (every log energy, pooled and spread)": [c for n, c in zip(names, chans) if not (n.startswith(("shadow", "light")) or n in ("luminance", "max_luminance", "min_luminance", "rg", "yb"))],
}
state = {"mode": None, "saved": None, "chans": None}
def hook(module, inputs, output):
    h = output[0] if isinstance(output, tuple) else output
    if state["mode"] == "save":
        state["saved"] = h[:, 0].clone()
    elif state["mode"] == "hold":
        h[:, 0, state["chans"]] = state["saved"][:, state["chans"]]
    return output
model.clip.vision_model.encoder.layers[2].register_forward_hook(hook)
@torch.no_grad()
def score(image):
    x = proc(images=[image], return_tensors="pt")
    return float(model(pixel_values=x["pixel_values"], patch_mask=x["patch_mask"]).score[0])
for photo in load_photos(UNSEEN_PHOTOS):
    im = photo["image"]
    levels = [unseen_distort(im, "underexposure", l) for l in range(1, 6)]
    state["mode"] = "save"; base = score(im)
    state["mode"] = None
    print(photo["name"], "as is        ", f"{base:.2f}", " ".join(f"{score(x):.2f}" for x in levels))
    for g, ch in groups.items():
        state["mode"] = "save"; score(im); state["mode"] = "hold"; state["chans"] = ch
        print(photo["name"], f"hold {g[:40]:40s}", f"{base:.2f}", " ".join(f"{score(x):.2f}" for x in levels))
        state["mode"] = None
