"""How far the NSS front's energy features move when a crop of china is scaled to 0.7 / 0.5 / 0.3 of its sRGB values,
with absolute and with luminance-normalised energies (untrained demo-spread start; research/LOG.md, session 18).

    python research/probes/normalised_front_invariance.py
"""
import sys, numpy as np, torch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "research")]
from modeling_liqe.nss_init import nss_init_, nss_features
from modeling_liqe.geometries import clip_config_for_geometry
from modeling_liqe.configuration_liqe import LIQEConfig
from modeling_liqe.modeling_liqe import LIQEModel
from modeling_liqe.ladder_data import calibration_windows, normalise
from modeling_liqe.image_processing_liqe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from datasets_scripts.ladders import UNSEEN_PHOTOS, load_photos
cfg = LIQEConfig(clip_config=clip_config_for_geometry("demo-spread"), variant="quality_distortion")
cal = calibration_windows(4, 224, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, seed=1)
photo = load_photos(UNSEEN_PHOTOS)[0]["image"][100:324, 200:424]
imgs = np.stack([photo] + [np.clip(np.rint(photo.astype(np.float32) * k), 0, 255).astype(np.uint8) for k in (0.7, 0.5, 0.3)])
x = normalise(imgs, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
for norm in (False, True):
    torch.manual_seed(0); m = LIQEModel(cfg).eval()
    layout = nss_init_(m, seed=0, calibration_images=cal, spread=True, luminance_normalised=norm)
    f = nss_features(m, x, layout).numpy()
    names = layout.feature_names()
    energy = [i for i, n in enumerate(names) if not (n.startswith(("shadow", "light")) or n in ("luminance", "rg", "yb", "max_luminance", "min_luminance"))]
    d = np.abs(f[1:, energy] - f[0, energy])
    print("normalised" if norm else "absolute  ", "mean |change| of energy features at x0.7/0.5/0.3:", d.mean(1).round(3), " luminance feature:", f[:, names.index("luminance")].round(2))
    print("   ", {names[i]: round(float(f[3, i] - f[0, i]), 2) for i in energy[:6]})
