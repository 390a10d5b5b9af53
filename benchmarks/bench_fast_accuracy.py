"""Accuracy of the fast / portable inference paths against the exact path (issue 7).

For each image set, every variant's scores are compared with the exact torch path's on the same images:
max |delta score| and SRCC between the two paths (modeling_liqe.metrics.srcc), with the exact scores' spread
(their standard deviation) for scale: with RANDOM weights all scores sit within a few hundredths of each other,
so a rounding error of 1e-3 already reorders neighbours and the SRCC says little until a trained checkpoint
(the demo checkpoint) is measured; max |delta| is meaningful either way.

    python benchmarks/bench_fast_accuracy.py --geometry vit-b-32 [--synthetic SYNTH_DIR] [--limit 100]
    python benchmarks/bench_fast_accuracy.py --geometry tiny --synthetic SYNTH_DIR
    python benchmarks/bench_fast_accuracy.py --model MODEL_DIR --synthetic SYNTH_DIR

SYNTH_DIR is the output of `python -m datasets_scripts.synthetic --out SYNTH_DIR` (875 images).
Variants: fast (`liqe score --fast`: int8 for the layers its calibration finds harmless), int8-all (every
linear layer of the vision tower int8: the earlier `--fast`), onnx-fp32 and onnx-int8 (`liqe export onnx` +
`--backend onnx`), and windows-K (the exact float model on K of the evenly spaced windows instead of 15: the
logits are averaged over windows before the softmax, so fewer windows is an approximation; `--windows 8,11`), and
fp64 (the exact path in float64: how far float32 itself is from exact arithmetic; the demo checkpoint's hand-built
front, with a constant channel of ~300 beside responses of 1e-4, is ill-conditioned, so any two float32
implementations differ there by ~1e-4: torch and ONNX Runtime fp32 both lie 5e-4 .. 9e-4 from float64 on it).
Targets: fast max |delta| <= 0.02 and SRCC >= 0.999; onnx-fp32 max |delta| <= 1e-4.
"""

import argparse
import glob
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from modeling_liqe.metrics import srcc  # noqa: E402

VARIANTS = ("fast", "int8-all", "onnx-fp32", "onnx-int8", "fp64")
TARGETS = {"fast": (0.02, 0.999), "onnx-fp32": (1e-4, None)}


def synthetic_images(folder, limit=None):
    """(names, PIL images) of a synthetic corpus folder, sorted by image_id; `limit` evenly spaced ones."""
    import pyarrow.parquet as pq

    rows = []
    for path in sorted(glob.glob(str(Path(folder) / "data" / "*.parquet"))):
        table = pq.read_table(path, columns=["image", "image_id"]).to_pylist()
        rows.extend((row["image_id"], row["image"]["bytes"]) for row in table)
    rows.sort()
    if not rows:
        raise SystemExit(f"no images under {folder}/data/*.parquet (make them with python -m datasets_scripts.synthetic)")
    if limit and limit < len(rows):
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, limit).round().astype(int)]
    return [name for name, _ in rows], [Image.open(io.BytesIO(data)) for _, data in rows]


def folder_images(folder):
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    return [p.name for p in paths], [Image.open(p) for p in paths]


def scores_of(scorer, names, images):
    rows = scorer.score_images(images, names)
    failed = [row["error"] for row in rows if row["error"]]
    if failed:
        raise SystemExit(f"scoring failed: {failed[:3]}")
    return np.array([row["score"] for row in rows], dtype=np.float64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="a LIQE model folder (e.g. the demo checkpoint)")
    source.add_argument("--geometry", choices=("tiny", "vit-b-32"), default="vit-b-32",
                        help="random weights of this geometry (default: vit-b-32)")
    parser.add_argument("--images", default=str(REPO_ROOT / "tests" / "fixtures" / "images"),
                        help="a folder of images (default: the golden images)")
    parser.add_argument("--synthetic", help="a synthetic corpus folder (python -m datasets_scripts.synthetic)")
    parser.add_argument("--limit", type=int, default=None, help="use this many evenly spaced synthetic images")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {VARIANTS}")
    parser.add_argument("--windows", default="", help="also the float model on these window counts, e.g. 8,11")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch / onnxruntime threads")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    window_counts = [int(k) for k in args.windows.split(",") if k]
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")

    import torch

    from modeling_liqe.fast_inference import quantize_vision_tower
    from modeling_liqe.onnx_export import export_onnx
    from modeling_liqe.onnx_scorer import ONNXScorer
    from modeling_liqe.scoring import LIQEScorer

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="liqe-fast-accuracy-") as tmp:
        tmp = Path(tmp)
        if args.model:
            model_dir, label = args.model, args.model
        else:
            from modeling_liqe.geometries import init_random_model

            model_dir, label = tmp / "model", f"random {args.geometry} (seed 0)"
            init_random_model(args.geometry, output_dir=model_dir)
        sets = [("golden" if args.images.endswith("fixtures/images") else args.images, *folder_images(args.images))]
        if args.synthetic:
            sets.append((f"synthetic{'' if not args.limit else f' ({args.limit} evenly spaced)'}",
                         *synthetic_images(args.synthetic, args.limit)))

        scorers = {"exact": LIQEScorer(model_dir, batch_size=args.batch_size)}
        if "fast" in variants:
            scorers["fast"] = LIQEScorer(model_dir, batch_size=args.batch_size, fast=True)
            print(f"fast: {len(scorers['fast'].model.fast_int8_layers)} linear layers int8, "
                  f"{len(scorers['fast'].model.fast_float_layers)} float32")
        if "int8-all" in variants:
            scorers["int8-all"] = LIQEScorer(model_dir, batch_size=args.batch_size)
            scorers["int8-all"].model = quantize_vision_tower(scorers["int8-all"].model, calibrate=False)
            scorers["int8-all"].fast = True  # one image per call, like --fast
        if "fp64" in variants:
            scorers["fp64"] = LIQEScorer(model_dir, batch_size=args.batch_size)
            scorers["fp64"].model = scorers["fp64"].model.double()
        for count in window_counts:
            scorer = LIQEScorer(model_dir, batch_size=args.batch_size)
            scorer.image_processor.num_test_patches = count
            scorers[f"windows-{count}"] = scorer
            variants.append(f"windows-{count}")
        for variant, quantize in (("onnx-fp32", "none"), ("onnx-int8", "int8")):
            if variant in variants:
                export_onnx(model_dir, tmp / variant, quantize=quantize)
                scorers[variant] = ONNXScorer(tmp / variant, batch_size=args.batch_size, num_threads=args.threads)

        print(f"model: {label}; torch {torch.__version__}, {torch.get_num_threads()} threads")
        for set_name, names, images in sets:
            start = time.perf_counter()
            scores = {name: scores_of(scorer, names, images) for name, scorer in scorers.items()}
            exact = scores["exact"]
            print(f"\n{set_name}: {len(names)} images, exact scores {exact.min():.4f} .. {exact.max():.4f} "
                  f"(std {exact.std():.4f}); {time.perf_counter() - start:.0f} s")
            print(f"  {'variant':10s} {'max|dscore|':>12s} {'mean|dscore|':>13s} {'SRCC vs exact':>14s}   targets")
            for variant in variants:
                delta = np.abs(scores[variant] - exact)
                rho = srcc(scores[variant], exact) if len(exact) > 2 else float("nan")
                max_target, srcc_target = TARGETS.get(variant, (None, None))
                verdict = []
                if max_target is not None:
                    verdict.append(f"|d|<={max_target:g} {'ok' if delta.max() <= max_target else 'MISSED'}")
                if srcc_target is not None:
                    verdict.append(f"SRCC>={srcc_target} {'ok' if rho >= srcc_target else 'MISSED'}")
                print(f"  {variant:10s} {delta.max():12.2e} {delta.mean():13.2e} {rho:14.5f}   {', '.join(verdict)}")


if __name__ == "__main__":
    main()
