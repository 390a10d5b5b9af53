# coding=utf-8
# Copyright 2026 The liqe authors.
"""Score images with an exported LIQE ONNX folder, using onnxruntime, numpy and Pillow ONLY (no torch).

This file is standalone on purpose: `liqe export onnx` copies it into the exported folder as
`liqe_onnx_scorer.py`, where it runs without the liqe package, torch or transformers:

    python liqe_onnx_scorer.py EXPORTED_DIR PATH... [--format json|jsonl] [--batch-size N]

```python
from liqe_onnx_scorer import ONNXScorer

for row in ONNXScorer("EXPORTED_DIR").score_paths(["a.jpg", "b.png"]):
    print(row["path"], row["score"], row["scene"], row["distortion"], row["error"])
```

The pre-processing is `LIQEImageProcessor`'s at test time, re-written with numpy and Pillow (the package's
tests check that the windows are identical): RGB conversion (16-bit samples scaled to 8 bits, EXIF orientation
applied), the bilinear resize rules, the window grid and the evenly spaced window choice. The rows have the keys
and meaning of `liqe score`'s. Inside the package, `liqe score --backend onnx` uses this class.
"""

import argparse
import json
import math
import os
import sys
import threading

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

METADATA_FILE = "liqe_onnx.json"
MODEL_FILE = "model.onnx"
SCORER_FORMAT_VERSION = 1
RESULT_KEYS = ("path", "score", "scene", "distortion", "quality_probs", "scene_probs", "distortion_probs", "error")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_WIDE_INTEGER_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
_PIL_LIMIT_LOCK = threading.Lock()


class LIQEImageError(ValueError):
    """An image that cannot be scored; the message names the file and the problem."""


# -- pre-processing (LIQEImageProcessor's test-time path, without torch) ----------------------------------------
def load_image(path, max_image_pixels=None):
    """Open `path`, refusing undecodable files and decompression bombs (checked on the header) by name."""
    name = os.fspath(path)
    limit = Image.MAX_IMAGE_PIXELS if max_image_pixels is None else max_image_pixels
    try:
        if os.path.getsize(name) == 0:
            raise LIQEImageError(f"{name}: empty file (0 bytes)")
        with _PIL_LIMIT_LOCK:
            pillow_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                image = Image.open(name)
            finally:
                Image.MAX_IMAGE_PIXELS = pillow_limit
        width, height = image.size
        if limit and limit > 0 and width * height > limit:
            raise LIQEImageError(
                f"{name}: {width}x{height} = {width * height} pixels exceeds the limit of {limit} "
                "(possible decompression bomb; pass a larger max_image_pixels to accept it)"
            )
        image.seek(0)
        image.load()
    except LIQEImageError:
        raise
    except FileNotFoundError:
        raise LIQEImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise LIQEImageError(f"{name}: is a directory") from None
    except UnidentifiedImageError:
        raise LIQEImageError(f"{name}: not an image file Pillow can identify") from None
    except Image.DecompressionBombError as error:
        raise LIQEImageError(f"{name}: decompression bomb refused ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise LIQEImageError(f"{name}: cannot decode image ({error})") from None
    return image


def to_rgb(image, apply_exif_orientation=True):
    """8-bit RGB as the package converts it (see image_processing_liqe.to_rgb)."""
    if apply_exif_orientation:
        image = ImageOps.exif_transpose(image)
    if image.mode in _WIDE_INTEGER_MODES:
        samples = np.asarray(image).astype(np.float64)
        if image.mode != "I" or samples.max(initial=0) > 255:
            samples = samples / 257.0
        image = Image.fromarray(np.clip(np.rint(samples), 0, 255).astype(np.uint8), mode="L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def resize(image, patch_size=224, resize_short_side=768):
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if short < patch_size:
        target_short = patch_size
    elif short >= resize_short_side:
        target_short = resize_short_side
    else:
        return image
    target_long = int(target_short * long / short)
    size = (target_short, target_long) if width <= height else (target_long, target_short)
    if size == (width, height):
        return image
    return image.resize(size, Image.BILINEAR)


def window_grid(height, width, patch_size=224, stride=32, large_stride=48, large_image_side=1024):
    grid_stride = large_stride if (height >= large_image_side or width >= large_image_side) else stride
    return grid_stride, (height - patch_size) // grid_stride + 1, (width - patch_size) // grid_stride + 1


def select_test_windows(num_windows, num_patches=15):
    if num_windows < num_patches:
        return list(range(num_windows))
    step = num_windows // num_patches
    return [k * step for k in range(num_patches)]


class WindowCutter:
    """Image (path, PIL image or uint8 array) → its uint8 test windows (patches, 3, S, S)."""

    def __init__(self, patch_size=224, num_test_patches=15, stride=32, large_stride=48, large_image_side=1024,
                 resize_short_side=768, apply_exif_orientation=True, max_image_pixels=None, **_ignored):
        self.patch_size = patch_size
        self.num_test_patches = num_test_patches
        self.stride = stride
        self.large_stride = large_stride
        self.large_image_side = large_image_side
        self.resize_short_side = resize_short_side
        self.apply_exif_orientation = apply_exif_orientation
        self.max_image_pixels = max_image_pixels

    def prepare_image(self, image):
        if isinstance(image, (str, os.PathLike)):
            image = load_image(image, self.max_image_pixels)
        elif isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        elif not isinstance(image, Image.Image):
            raise TypeError(f"unsupported image type {type(image).__name__}")
        return to_rgb(image, self.apply_exif_orientation)

    def positions(self, height, width):
        stride, rows, cols = window_grid(height, width, self.patch_size, self.stride, self.large_stride,
                                         self.large_image_side)
        return [((i // cols) * stride, (i % cols) * stride)
                for i in select_test_windows(rows * cols, self.num_test_patches)]

    def __call__(self, image):
        image = resize(self.prepare_image(image), self.patch_size, self.resize_short_side)
        pixels = np.asarray(image)
        size = self.patch_size
        crops = np.stack([pixels[top:top + size, left:left + size] for top, left in self.positions(*pixels.shape[:2])])
        return np.ascontiguousarray(crops.transpose(0, 3, 1, 2))


def normalise(windows, mean, std):
    """uint8 windows → float32 with the processor's arithmetic (x / 255, then (x - mean) / std)."""
    mean = np.asarray(mean, dtype=np.float32)[:, None, None]
    std = np.asarray(std, dtype=np.float32)[:, None, None]
    return (windows.astype(np.float32) / np.float32(255) - mean) / std


def pad_windows(windows):
    """(batch, max patches, 3, S, S) zero-padded, and the int64 (batch, max patches) mask of real windows."""
    num_patches = max(w.shape[0] for w in windows)
    batch = np.zeros((len(windows), num_patches, *windows[0].shape[1:]), dtype=windows[0].dtype)
    mask = np.zeros((len(windows), num_patches), dtype=np.int64)
    for row, w in enumerate(windows):
        batch[row, : w.shape[0]] = w
        mask[row, : w.shape[0]] = 1
    return batch, mask


def _error_message(name, error):
    text = str(error)
    if type(error).__name__ == "LIQEImageError" and text:
        return text
    return f"{name}: {type(error).__name__}: {text}" if text else f"{name}: {type(error).__name__}"


# -- scorer -----------------------------------------------------------------------------------------------------
class ONNXScorer:
    """Scores images with an exported folder (`liqe export onnx`); the rows of `LIQEScorer`.

    Args:
        folder: the exported folder (model.onnx, liqe_onnx.json).
        batch_size: images whose windows go through the graph together.
        max_image_pixels: refuse larger images (default: Pillow's limit).
        providers: onnxruntime execution providers (default: CPU).
        num_threads: onnxruntime intra-op threads (default: onnxruntime's choice).
    """

    def __init__(self, folder, batch_size=8, max_image_pixels=None, providers=None, num_threads=None):
        import onnxruntime

        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        folder = os.fspath(folder)
        metadata_path = os.path.join(folder, METADATA_FILE)
        if not os.path.isfile(metadata_path):
            raise FileNotFoundError(f"{folder}: not an exported LIQE ONNX folder (no {METADATA_FILE}; "
                                    "make one with `liqe export onnx MODEL OUT_DIR`)")
        with open(metadata_path, encoding="utf-8") as f:
            self.metadata = json.load(f)
        if self.metadata.get("format_version") != SCORER_FORMAT_VERSION:
            raise ValueError(f"{metadata_path}: format_version {self.metadata.get('format_version')} is not "
                             f"{SCORER_FORMAT_VERSION}; export the folder again with this liqe")
        self.batch_size = int(batch_size)
        self.cutter = WindowCutter(**self.metadata, max_image_pixels=max_image_pixels)
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        self.session = onnxruntime.InferenceSession(
            os.path.join(folder, MODEL_FILE), options, providers=providers or ["CPUExecutionProvider"]
        )
        self.input_format = self.metadata["input_format"]
        self.axis_names = [axis["name"] for axis in self.metadata["label_axes"]]
        self.axis_labels = {axis["name"]: list(axis["labels"]) for axis in self.metadata["label_axes"]}
        self.quality_axis = self.metadata["quality_axis"]
        self.output_names = list(self.metadata["output_names"])
        self.num_workers = 0

    @property
    def result_keys(self):
        return RESULT_KEYS

    def score_paths(self, paths):
        """Yields one result dict per path, in order."""
        return self._score((os.fspath(path), os.fspath(path)) for path in paths)

    def score_images(self, images, names=None):
        images = list(images)
        names = [None] * len(images) if names is None else list(names)
        if len(names) != len(images):
            raise ValueError(f"{len(names)} names for {len(images)} images")
        return list(self._score(zip(names, images)))

    def windows(self, image):
        """The graph input for one image: uint8 windows, or normalised float32 for a float32 graph."""
        windows = self.cutter(image)
        if self.input_format == "float32":
            windows = normalise(windows, self.metadata["image_mean"], self.metadata["image_std"])
        return windows

    def _score(self, items):
        pending, ready = [], 0
        for index, (name, source) in enumerate(items):
            try:
                windows, error = self.windows(source), None
            except Exception as exc:  # one bad image must not stop the batch; the message names it
                windows, error = None, _error_message(name if name is not None else f"image {index}", exc)
            if windows is None and ready == 0:
                yield self._failed_row(name, error)
                continue
            pending.append((name, windows, error))
            if windows is not None:
                ready += 1
                if ready == self.batch_size:
                    yield from self._run(pending)
                    pending, ready = [], 0
        if pending:
            yield from self._run(pending)

    def _run(self, pending):
        pixel_values, patch_mask = pad_windows([w for _, w, _ in pending if w is not None])
        outputs = dict(zip(self.output_names, self.session.run(
            self.output_names, {"pixel_values": pixel_values, "patch_mask": patch_mask})))
        scores = outputs["score"].astype(np.float32).tolist()
        marginals = {axis: outputs[f"{axis}_probs"].astype(np.float32).tolist() for axis in self.axis_names}
        rows = iter(range(len(scores)))
        for name, windows, error in pending:
            if windows is None:
                yield self._failed_row(name, error)
                continue
            row = next(rows)
            yield self._row(name, scores[row], {axis: values[row] for axis, values in marginals.items()})

    def _probs(self, axis, marginals):
        return dict(zip(self.axis_labels[axis], marginals[axis])) if axis in marginals else None

    def _row(self, name, score, marginals):
        if not math.isfinite(score):
            return self._failed_row(name, f"{name}: the model gave a non-finite score ({score})")
        scene_probs = self._probs("scene", marginals)
        distortion_probs = self._probs("distortion", marginals)
        return {
            "path": name,
            "score": score,
            "scene": max(scene_probs, key=scene_probs.get) if scene_probs else None,
            "distortion": max(distortion_probs, key=distortion_probs.get) if distortion_probs else None,
            "quality_probs": self._probs(self.quality_axis, marginals),
            "scene_probs": scene_probs,
            "distortion_probs": distortion_probs,
            "error": None,
        }

    @staticmethod
    def _failed_row(name, error):
        row = dict.fromkeys(RESULT_KEYS)
        row["path"], row["error"] = name, error
        return row


# -- command line (standalone) ------------------------------------------------------------------------------------
def collect_paths(arguments):
    """Files as given; folders recursively (sorted) for image files, as `liqe score` does."""
    paths = []
    for argument in arguments:
        if os.path.isdir(argument):
            for root, dirs, files in os.walk(argument):
                dirs.sort()
                paths.extend(os.path.join(root, n) for n in sorted(files) if n.lower().endswith(IMAGE_EXTENSIONS))
        else:
            paths.append(argument)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description="Score images with an exported LIQE ONNX folder (no torch).")
    parser.add_argument("folder", help="the exported folder (this file's folder)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image file or folder (recursive)")
    parser.add_argument("--format", choices=("json", "jsonl"), default="json")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-image-pixels", type=int, default=None)
    args = parser.parse_args(argv)
    scorer = ONNXScorer(args.folder, batch_size=args.batch_size, max_image_pixels=args.max_image_pixels)
    rows, failed = [], 0
    for row in scorer.score_paths(collect_paths(args.paths)):
        failed += row["error"] is not None
        if args.format == "jsonl":
            print(json.dumps(row, ensure_ascii=False), flush=True)
        else:
            rows.append(row)
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
