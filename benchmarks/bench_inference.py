"""Inference cost of `liqe score`, measured side by side with two baselines in one run.

On the ViT-B/32 geometry (random weights: the cost does not depend on the values):
- liqe:  what `liqe score` does per image (LIQEScorer: decode, resize, cut 15 windows, vision tower,
         logits against the cached prompt features, softmax, marginals);
- (a)    the bare CLIP vision tower (+ projection) on the same 15 windows, already cut: the floor;
- (b)    a naive pipeline that does the same but encodes the 495 prompts again for every image.
Then the peak resident memory of a whole `liqe score` process on a 6000x4000 photo.
Side by side in the same run (issue 7), the same stream through the other inference paths, as ratios to liqe:
- fast:       `liqe score --fast` (int8 dynamic quantisation of the vision tower's linear layers that its
              calibration finds harmless: all of them on the random ViT-B/32, and the last encoder layer for the
              class token only; CPU only);
- onnx fp32:  `liqe export onnx` + `liqe score --backend onnx` (onnxruntime, same pre-processing);
- onnx int8:  the same with `liqe export onnx --quantize int8`;
- windows-K:  (with --windows K,...) the exact float model on K evenly spaced windows instead of 15 (an
              approximation, see bench_fast_accuracy.py: not accurate enough on the demo checkpoint).

    python benchmarks/bench_inference.py [--device cpu|cuda] [--images 4] [--repeats 3] [--skip-onnx] [--windows 6,8]
                                         [--threads N]

The issue-7 block also prints each path's process CPU time per image and its ratio: with --threads 1 that is
the work done, which other processes on a shared machine do not stretch (they stretch the wall time).
`benchmarks/bench_fast_engines.py` times every --fast candidate engine measured for issue 7 the same way.

Targets (issue 2): liqe / (a) <= 1.10, liqe / (b) <= 0.2, peak memory <= 1.5 GB; (issue 7) fast <= 0.40x liqe.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from modeling_liqe.geometries import init_random_model  # noqa: E402
from modeling_liqe.scoring import LIQEScorer  # noqa: E402
from tests.peak_rss import run_with_peak_rss  # noqa: E402


def make_photos(folder, count, size=(1080, 800)):
    """Natural photos (scikit-image's) upscaled to `size`, saved as JPEG like a user's files."""
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field()]
    paths = []
    for index in range(count):
        image = Image.fromarray(sources[index % len(sources)]).convert("RGB").resize(size, Image.BICUBIC)
        path = folder / f"photo_{index}.jpg"
        image.save(path, quality=92)
        paths.append(path)
    return paths


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(function, device):
    synchronize(device)
    start = time.perf_counter()
    function()
    synchronize(device)
    return time.perf_counter() - start


def measure_peak_memory(model_dir, folder):
    """Peak RSS (bytes) of one `liqe score` process on a 6000x4000 JPEG."""
    big = folder / "photo_6000x4000.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)).resize((6000, 4000), Image.BICUBIC).save(
        big, quality=90
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "modeling_liqe.cli", "score", "--model", str(model_dir), "--format", "json", str(big)]
    # not RUSAGE_CHILDREN: a child started from this process inherits its high-water mark (tests/peak_rss.py)
    status, _, stderr, peak = run_with_peak_rss(command, env=env, cwd=folder, timeout=600)
    if status != 0:
        raise SystemExit(f"liqe score failed on the 6000x4000 photo:\n{stderr}")
    return peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=4, help="photos in the stream timed for liqe and (a)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--naive-images", type=int, default=2, help="photos timed for (b), which is slow")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-onnx", action="store_true", help="do not export and time the ONNX backend")
    parser.add_argument("--windows", default="", help="also time the exact model on these window counts, e.g. 6,8")
    parser.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="liqe-bench-") as tmp:
        folder = Path(tmp)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
        start = time.perf_counter()
        init_random_model("vit-b-32", output_dir=folder / "model")
        print(f"built a random ViT-B/32 LIQE folder in {time.perf_counter() - start:.1f} s")

        peak = None if args.skip_memory else measure_peak_memory(folder / "model", folder)

        scorer = LIQEScorer(folder / "model", device=args.device, batch_size=args.batch_size)
        model, image_processor = scorer.model, scorer.image_processor
        photos = make_photos(folder, max(args.images, args.naive_images))[: max(args.images, args.naive_images)]
        stream = photos[: args.images]

        def bare_tower(pixel_values):
            with torch.inference_mode():
                pooled = model.clip.vision_model(pixel_values=pixel_values).pooler_output
                return model.clip.visual_projection(pooled)

        def bare_stream():
            # The same windows, already cut and on the device, in the same batches as the scorer's.
            for start in range(0, len(stream), args.batch_size):
                bare_tower(torch.cat([windows[p] for p in stream[start : start + args.batch_size]]))

        def naive(path):
            with torch.inference_mode():
                inputs = image_processor(str(path))
                text = model._encode_prompts()  # what a pipeline without a cache pays for every image
                images = model.image_features(inputs["pixel_values"].to(device))
                logits = (model.clip.logit_scale.exp() * images @ text.t()).mean(dim=1)
                return logits.softmax(dim=-1).cpu()

        variants = {}  # issue 7: the other inference paths, timed on the same stream in the same loop
        if device.type == "cpu":
            start = time.perf_counter()
            fast = LIQEScorer(folder / "model", device="cpu", batch_size=args.batch_size, fast=True)
            print(f"--fast: {len(fast.model.fast_int8_layers)} linear layers int8, {len(fast.model.fast_float_layers)} "
                  f"float32; load + calibration {time.perf_counter() - start:.1f} s")
            variants["fast (int8 torch)"] = fast
        for count in [int(k) for k in args.windows.split(",") if k]:
            variants[f"windows-{count} (fp32)"] = LIQEScorer(folder / "model", device=args.device,
                                                              batch_size=args.batch_size)
            variants[f"windows-{count} (fp32)"].image_processor.num_test_patches = count
        if not args.skip_onnx:
            from modeling_liqe.onnx_export import export_onnx
            from modeling_liqe.onnx_scorer import ONNXScorer

            for name, quantize in (("onnx fp32", "none"), ("onnx int8", "int8")):
                start = time.perf_counter()
                export_onnx(folder / "model", folder / name.replace(" ", "-"), quantize=quantize)
                print(f"exported {name} in {time.perf_counter() - start:.0f} s")
                providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else None
                variants[name] = ONNXScorer(folder / name.replace(" ", "-"), batch_size=args.batch_size,
                                            providers=providers, num_threads=args.threads)

        # Warm-up (first call allocations, lazy inits, the prompt-feature cache).
        list(scorer.score_paths(stream))
        for variant in variants.values():
            list(variant.score_paths(stream))
        windows = {p: image_processor(str(p))["pixel_values"][0].to(device) for p in photos}
        bare_stream()
        naive(photos[0])

        # Per image = time for the whole stream / its length; runs interleaved so drift hits all alike.
        liqe_times, bare_times, naive_times = [], [], []
        variant_times = {name: [] for name in variants}
        cpu_times = {name: [] for name in ["exact", *variants]}
        for _ in range(args.repeats):
            cpu = time.process_time()
            liqe_times.append(timed(lambda: list(scorer.score_paths(stream)), device) / len(stream))
            cpu_times["exact"].append((time.process_time() - cpu) / len(stream))
            bare_times.append(timed(bare_stream, device) / len(stream))
            for name, variant in variants.items():
                cpu = time.process_time()
                variant_times[name].append(timed(lambda: list(variant.score_paths(stream)), device) / len(stream))
                cpu_times[name].append((time.process_time() - cpu) / len(stream))
        for path in photos[: args.naive_images]:
            naive_times.append(timed(lambda: naive(path), device))

        liqe = statistics.median(liqe_times)
        bare = statistics.median(bare_times)
        naive_time = statistics.median(naive_times)
        print(f"\nper image (median), 1080x800 JPEG photos, 15 windows, batches of {args.batch_size}, "
              f"{scorer.num_workers} preparing threads:")
        print(f"  liqe score internals      {liqe * 1000:10.1f} ms  ({len(liqe_times)} runs)")
        print(f"  (a) bare vision tower     {bare * 1000:10.1f} ms  ({len(bare_times)} runs)")
        print(f"  (b) naive, 495 prompts    {naive_time * 1000:10.1f} ms  ({len(naive_times)} runs)")
        ratio_a, ratio_b = liqe / bare, liqe / naive_time
        print(f"\nratio liqe / (a) = {ratio_a:.3f}   target <= 1.10  {'ok' if ratio_a <= 1.10 else 'MISSED'}")
        print(f"ratio liqe / (b) = {ratio_b:.4f}  target <= 0.2   {'ok' if ratio_b <= 0.2 else 'MISSED'}")
        if variants:
            print(f"\nissue 7, the same stream side by side (per image, median of {args.repeats}; ratio to liqe; "
                  f"wall, then process CPU time; load: {os.getloadavg()[0]:.1f}):")
            cpu_exact = statistics.median(cpu_times["exact"])
            print(f"  {'exact (liqe score)':22s} {liqe * 1000:10.1f} ms  1.000x  cpu {cpu_exact * 1000:10.1f} ms  1.000x")
            for name, times in variant_times.items():
                value, cpu = statistics.median(times), statistics.median(cpu_times[name])
                target = "  target <= 0.40  " + ("ok" if value / liqe <= 0.40 else "MISSED") if name.startswith("fast") else ""
                print(f"  {name:22s} {value * 1000:10.1f} ms  {value / liqe:.3f}x  cpu {cpu * 1000:10.1f} ms  "
                      f"{cpu / cpu_exact:.3f}x{target}")
        if peak is not None:
            print(f"peak RSS of `liqe score` on a 6000x4000 JPEG = {peak / 2**30:.2f} GiB ({peak / 1e9:.2f} GB)"
                  f"  target <= 1.5 GB  {'ok' if peak <= 1.5e9 else 'MISSED'}")


if __name__ == "__main__":
    main()
