"""Issue 7's speed target, engine by engine: every `--fast` candidate side by side in one run (CPU).

On the random ViT-B/32 geometry, the same stream of 1080x800 JPEG photos (15 windows each) through:
- exact:               `liqe score` (LIQEScorer, float32, batches of 4);
- fast:                `liqe score --fast` (torch int8 dynamic where calibration finds it harmless + the last encoder
                       layer for the class token only, `ClassTokenLastLayer`: exact arithmetic, less work);
- fast, full last:     the same without the class-token-only last layer (the --fast of before);
- fp32 cls-last:       the exact float model with the class-token-only last layer (what that alone saves);
- onnx fp32 / int8:    `liqe export onnx [--quantize int8]` + `--backend onnx` (ORT dynamic int8, per-tensor);
- onnx int8 cls+patch: ONNX Runtime dynamic int8 of a graph with the class-token-only last layer and the patch
                       embedding as a matrix product (so it is quantised too): the fastest measured scheme;
- onnx static qdq:     (--static) ORT static int8, QDQ, per-channel weights, reduce_range (u8s8 on AVX2),
                       calibrated on 12 deterministic windows (fast_inference.calibration_windows).
Per image: wall time and process CPU time (user + system of this process; with --threads 1 it is the work done,
robust to other processes on the machine, which only stretch the wall time). Ratios to exact, same run, repeats
interleaved. Also the accuracy (max |delta score| vs exact on the golden images + the photos) and, with --demo,
exact vs --fast on the demo checkpoint (checkpoints/liqe-tiny-synthetic).

    python benchmarks/bench_fast_engines.py [--threads 1] [--repeats 3] [--static] [--demo]

Target (issue 7): fast <= 0.40x the exact path with max |delta score| <= 0.02.
"""

import argparse
import copy
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_inference import make_photos  # noqa: E402
from modeling_liqe.fast_inference import calibration_windows, class_token_last_layer  # noqa: E402
from modeling_liqe.geometries import init_random_model  # noqa: E402
from modeling_liqe.scoring import LIQEScorer  # noqa: E402


class PatchEmbeddingAsLinear(torch.nn.Module):
    """A non-overlapping patch-embedding convolution (stride = kernel, no padding) as an `nn.Linear` on the
    flattened patches: the same arithmetic, but a matrix product that int8 quantisation takes."""

    def __init__(self, conv):
        super().__init__()
        kernel, stride = tuple(conv.kernel_size), tuple(conv.stride)
        if kernel != stride or any(conv.padding) or conv.groups != 1:
            raise ValueError(f"needs stride == kernel and no padding, got {conv}")
        self.kernel, self.out_channels = kernel, conv.out_channels
        self.linear = torch.nn.Linear(conv.in_channels * kernel[0] * kernel[1], conv.out_channels,
                                      bias=conv.bias is not None)
        with torch.no_grad():
            self.linear.weight.copy_(conv.weight.reshape(conv.out_channels, -1))
            if conv.bias is not None:
                self.linear.bias.copy_(conv.bias)
        # CLIPVisionEmbeddings reads patch_embedding.weight.dtype to cast its input.
        self.register_buffer("weight", torch.empty(0, dtype=conv.weight.dtype), persistent=False)

    def forward(self, pixel_values):
        batch, channels, height, width = pixel_values.shape
        (kh, kw), rows, cols = self.kernel, height // self.kernel[0], width // self.kernel[1]
        patches = pixel_values[:, :, : rows * kh, : cols * kw].reshape(batch, channels, rows, kh, cols, kw)
        patches = patches.permute(0, 2, 4, 1, 3, 5).reshape(batch, rows * cols, channels * kh * kw)
        return self.linear(patches).transpose(1, 2).reshape(batch, self.out_channels, rows, cols)


def onnx_scorer(model, processor, folder, int8, threads, static_windows=None):
    """Export `model` (in memory) like `liqe export onnx` does, quantise, and open it with ONNXScorer."""
    from modeling_liqe.onnx_export import LIQEWindowsToScores, _export_graph, _vision_matmuls, quantize_int8
    from modeling_liqe.onnx_scorer import ONNXScorer

    ip = processor.image_processor
    folder.mkdir(parents=True)
    wrapper = LIQEWindowsToScores(model.float().eval(), "uint8", ip.image_mean, ip.image_std)
    fp32 = folder / "fp32.onnx"
    _export_graph(wrapper, fp32, ip.patch_size)
    config = model.config
    if static_windows is not None:
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)

        nodes, keep = _vision_matmuls(fp32, config.num_prompts, config.clip_config.projection_dim)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.batches = iter([{"pixel_values": static_windows[i: i + 6][None],
                                      "patch_mask": np.ones((1, 6), np.int64)} for i in range(0, len(static_windows), 6)])

            def get_next(self):
                return next(self.batches, None)

        quantize_static(str(fp32), str(folder / "model.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes,
                        nodes_to_exclude=keep, calibrate_method=CalibrationMethod.MinMax)
    elif int8:
        quantize_int8(fp32, folder / "model.onnx", config.num_prompts, config.clip_config.projection_dim)
    else:
        shutil.copy(fp32, folder / "model.onnx")
    fp32.unlink()
    metadata = {"format_version": 1, "input_format": "uint8", "label_axes": config.label_axes,
                "quality_axis": config.quality_axis,
                "output_names": ["score", "logits", "joint_probs"] + [f"{a}_probs" for a in config.axis_names],
                "patch_size": ip.patch_size, "num_test_patches": ip.num_test_patches, "stride": ip.stride,
                "large_stride": ip.large_stride, "large_image_side": ip.large_image_side,
                "resize_short_side": ip.resize_short_side, "image_mean": list(ip.image_mean),
                "image_std": list(ip.image_std), "apply_exif_orientation": bool(ip.apply_exif_orientation)}
    from modeling_liqe.onnx_scorer import SCORER_FORMAT_VERSION

    metadata["format_version"] = SCORER_FORMAT_VERSION
    (folder / "liqe_onnx.json").write_text(json.dumps(metadata))
    return ONNXScorer(folder, batch_size=4, num_threads=threads)


def scores(scorer, paths):
    rows = list(scorer.score_paths(paths))
    assert all(row["error"] is None for row in rows), rows
    return np.array([row["score"] for row in rows])


def time_side_by_side(scorers, stream, repeats):
    for scorer in scorers.values():  # warm-up
        list(scorer.score_paths(stream))
    wall, cpu = {k: [] for k in scorers}, {k: [] for k in scorers}
    for _ in range(repeats):
        for name, scorer in scorers.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            list(scorer.score_paths(stream))
            wall[name].append((time.perf_counter() - start) / len(stream))
            cpu[name].append((time.process_time() - start_cpu) / len(stream))
    return ({k: statistics.median(v) for k, v in wall.items()}, {k: statistics.median(v) for k, v in cpu.items()},
            wall)


def report(title, wall, cpu, deltas, runs):
    print(f"\n{title}  [{os.popen('uptime').read().strip()}]")
    print(f"  {'variant':24s} {'wall ms':>9s} {'ratio':>7s} {'cpu ms':>9s} {'ratio':>7s} {'max|dscore|':>12s}  wall runs")
    for name in wall:
        print(f"  {name:24s} {wall[name] * 1e3:9.1f} {wall[name] / wall['exact']:6.3f}x {cpu[name] * 1e3:9.1f} "
              f"{cpu[name] / cpu['exact']:6.3f}x {deltas.get(name, 0.0):12.2e}  {[round(t * 1e3) for t in runs[name]]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default 1)")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--static", action="store_true", help="also ORT static int8 (QDQ, per-channel)")
    parser.add_argument("--demo", action="store_true", help="also exact vs --fast on the demo checkpoint")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; start [{os.popen('uptime').read().strip()}]")
    golden = sorted((REPO_ROOT / "tests" / "fixtures" / "images").glob("*.png"))
    with tempfile.TemporaryDirectory(prefix="liqe-fast-engines-") as tmp:
        tmp = Path(tmp)
        init_random_model("vit-b-32", output_dir=tmp / "model")
        stream = make_photos(tmp, args.images)
        exact = LIQEScorer(tmp / "model", device="cpu", batch_size=4)
        processor = exact.processor
        scorers = {"exact": exact}
        start = time.perf_counter()
        scorers["fast"] = LIQEScorer(tmp / "model", device="cpu", batch_size=4, fast=True)
        print(f"--fast: {len(scorers['fast'].model.fast_int8_layers)} layers int8, calibration "
              f"{time.perf_counter() - start:.0f} s")
        full = LIQEScorer(tmp / "model", device="cpu", batch_size=4)
        from modeling_liqe.fast_inference import quantize_vision_tower

        full.model, full.fast = quantize_vision_tower(full.model, image_processor=exact.image_processor,
                                                      class_token_only=False), True
        scorers["fast, full last layer"] = full
        scorers["fp32 cls-last"] = LIQEScorer(class_token_last_layer(copy.deepcopy(exact.model)),
                                              processor=processor, device="cpu", batch_size=4)
        scorers["onnx fp32"] = onnx_scorer(copy.deepcopy(exact.model), processor, tmp / "onnx-fp32", False,
                                           args.threads)
        scorers["onnx int8"] = onnx_scorer(copy.deepcopy(exact.model), processor, tmp / "onnx-int8", True,
                                           args.threads)
        fused = class_token_last_layer(copy.deepcopy(exact.model))
        embeddings = fused.clip.vision_model.embeddings
        embeddings.patch_embedding = PatchEmbeddingAsLinear(embeddings.patch_embedding)
        scorers["onnx int8 cls+patch"] = onnx_scorer(fused, processor, tmp / "onnx-int8-cls-patch", True,
                                                     args.threads)
        if args.static:
            ip = exact.image_processor
            windows = calibration_windows(ip, count=12).numpy()
            mean = np.array(ip.image_mean, np.float32)[:, None, None]
            std = np.array(ip.image_std, np.float32)[:, None, None]
            uint8 = np.clip(np.round((windows * std + mean) * 255), 0, 255).astype(np.uint8)
            scorers["onnx static qdq"] = onnx_scorer(copy.deepcopy(exact.model), processor, tmp / "onnx-static",
                                                     True, args.threads, static_windows=uint8)
        reference = scores(exact, golden + stream)
        deltas = {name: float(np.abs(scores(s, golden + stream) - reference).max()) for name, s in scorers.items()}
        wall, cpu, runs = time_side_by_side(scorers, stream, args.repeats)
        report(f"random ViT-B/32, {len(stream)} photos x 15 windows, per image (median of {args.repeats}); "
               f"max|dscore| on {len(golden)} golden + {len(stream)} photos", wall, cpu, deltas, runs)
        best = min((n for n in wall if n != "exact"), key=lambda n: cpu[n])
        print(f"  fastest by cpu: {best} {cpu[best] / cpu['exact']:.3f}x  target <= 0.40  "
              f"{'ok' if cpu[best] / cpu['exact'] <= 0.40 else 'MISSED'}")
        if args.demo:
            demo = REPO_ROOT / "checkpoints" / "liqe-tiny-synthetic"
            pair = {"exact": LIQEScorer(demo, device="cpu", batch_size=4),
                    "fast": LIQEScorer(demo, device="cpu", batch_size=4, fast=True)}
            print(f"\ndemo --fast: {len(pair['fast'].model.fast_int8_layers)} layers int8, "
                  f"{len(pair['fast'].model.fast_float_layers)} float32")
            reference = scores(pair["exact"], golden + stream)
            deltas = {"fast": float(np.abs(scores(pair["fast"], golden + stream) - reference).max())}
            wall, cpu, runs = time_side_by_side(pair, stream, args.repeats)
            report("demo checkpoint, the same photos", wall, cpu, deltas, runs)


if __name__ == "__main__":
    main()
