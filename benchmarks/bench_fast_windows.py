"""Fewer windows on a model, from per-window logits of every image (issue 7 research; README "Fast and portable inference").

    python benchmarks/bench_fast_windows.py MODEL_DIR SYNTH_DIR

For K = 3..14: max / mean / p99 |delta score| and SRCC against the exact 15 windows, for K windows evenly spaced over
the grid (the processor's num_test_patches = K) and for K of the 15 exact windows. Writes the logits to
/tmp/liqe_window_logits.pkl.
"""
import sys, io, glob, time, pickle
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from modeling_liqe.scoring import load_model_and_processor
from modeling_liqe.image_processing_liqe import window_grid, select_test_windows
from modeling_liqe.metrics import srcc
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fast_accuracy import synthetic_images, folder_images

model, processor = load_model_and_processor(sys.argv[1])
model.eval()
ip = processor.image_processor
text = model.prompt_features().float()
scale = model.clip.logit_scale.float().exp()
KS = list(range(3, 15))
def needed(N):
    idx = set(select_test_windows(N, 15))
    for k in KS:
        idx |= set(select_test_windows(N, k))
    return sorted(idx)

out = {}
for setname, (names, images) in [("golden", folder_images(str(Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "images"))),
                                  ("synthetic", synthetic_images(sys.argv[2]))]:
    recs = []
    t = time.time()
    for name, image in zip(names, images):
        img = ip.prepare_image(image)
        w, h = ip.resized_size(*img.size)
        img = ip.resize(img)
        stride, rows, cols = window_grid(h, w, ip.patch_size, ip.stride, ip.large_stride, ip.large_image_side)
        N = rows * cols
        idx = needed(N)
        pos = [((i // cols) * stride, (i % cols) * stride) for i in idx]
        win = ip.cut_windows(img, pos)
        with torch.inference_mode():
            f = model.image_features(win.unsqueeze(0))[0]
            logits = (scale * f.float() @ text.t()).numpy().astype(np.float64)
        recs.append(dict(name=name, N=N, logits=dict(zip(idx, logits))))
    out[setname] = recs
    print(setname, len(recs), f"{time.time()-t:.0f}s", flush=True)
pickle.dump(dict(out=out, weights=np.array(model.config.axis(model.config.quality_axis)["weights"]),
                 axis_sizes=list(model.config.axis_sizes), qindex=model.config.axis_names.index(model.config.quality_axis)),
            open("/tmp/liqe_window_logits.pkl", "wb"))


# -- analysis

d = pickle.load(open("/tmp/liqe_window_logits.pkl", "rb"))
W, sizes, qi = d["weights"], d["axis_sizes"], d["qindex"]
def score(logits):
    z = logits.mean(0); p = np.exp(z - z.max()); p /= p.sum()
    j = p.reshape(sizes); axes = tuple(i for i in range(len(sizes)) if i != qi)
    return j.sum(axis=axes) @ W
def subset15(N, k):
    full = select_test_windows(N, 15)
    if len(full) <= k: return full
    return [full[i] for i in np.round(np.linspace(0, len(full) - 1, k)).astype(int)]
strategies = {"grid(N,k)": lambda N, k: select_test_windows(N, k), "subset-of-15": subset15}
for setname, recs in d["out"].items():
    exact = np.array([score(np.stack([r["logits"][i] for i in select_test_windows(r["N"], 15)])) for r in recs])
    print(f"{setname}: {len(recs)} images, std {exact.std():.3f}")
    for sname, f in strategies.items():
        for k in range(3, 15):
            s = np.array([score(np.stack([r["logits"][i] for i in f(r["N"], k)])) for r in recs])
            dd = np.abs(s - exact)
            print(f"  {sname:13s} k={k:2d}  max|d|={dd.max():.4f} mean={dd.mean():.4f} p99={np.quantile(dd,.99):.4f} SRCC={srcc(s, exact):.5f}")
