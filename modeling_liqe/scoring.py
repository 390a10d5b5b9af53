# coding=utf-8
# Copyright 2026 The liqe authors.
"""Batch scoring engine shared by the `liqe` CLI, the Gradio Space and the benchmarks.

```python
from modeling_liqe.scoring import LIQEScorer

scorer = LIQEScorer("path/to/model_or_hub_id", batch_size=8)  # device="auto": cuda, else mps, else cpu
for row in scorer.score_paths(["a.jpg", "b.png"]):
    print(row["path"], row["score"], row["scene"], row["distortion"], row["error"])
```

Images are loaded and cut into windows on the CPU, by `num_workers` threads ahead of the model (Pillow and
numpy release the GIL, so decoding overlaps with an accelerator's work); the windows of up to `batch_size`
images go through the model together. A file that cannot be scored gives a row whose `error` names the file and the
problem, and the others go on. Rows come out in input order. Not part of the Hub remote code.
"""

import contextlib
import copy
import math
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch

from .image_processing_liqe import pad_windows

RESULT_KEYS = ("path", "score", "scene", "distortion", "quality_probs", "scene_probs", "distortion_probs", "error")


def resolve_device(device="auto"):
    """`"auto"` → cuda, else mps, else cpu; any other value is checked for availability and returned."""
    device = "auto" if device is None else str(device)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    kind = device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this torch build sees no CUDA device")
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {device!r} asked for, but MPS is not available here")
    torch.device(device)  # raises on malformed names
    return device


def _error_message(name, error, pixel_limit_option="max_image_pixels"):
    """The message of a per-file failure; always names the file (first)."""
    text = str(error)
    # LIQEImageError messages name the file when it was given as a path (the class may come from the Hub module
    # cache, so it is recognised by name rather than by isinstance).
    if type(error).__name__ != "LIQEImageError":
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    elif getattr(error, "pixel_limit", None) is not None:
        text = f"{text}; raise {pixel_limit_option} to accept it"
    return text if text.startswith(f"{name}: ") else f"{name}: {text}"


@contextlib.contextmanager
def true_float32():
    """Float32 matrix products and convolutions in true float32 (no TF32) inside the block only; the caller's
    process-wide flags are restored after it."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def load_model_and_processor(source, processor=None, trust_remote_code=False, **from_pretrained_kwargs):
    """(model, processor) from a folder or Hub id: this package's `LIQEModel` / `LIQEProcessor`, or with
    `trust_remote_code=True` the Auto classes running the code the folder or repository ships."""
    if trust_remote_code:
        from transformers import AutoModel, AutoProcessor

        model = AutoModel.from_pretrained(source, trust_remote_code=True, **from_pretrained_kwargs)
        if processor is None:
            processor = AutoProcessor.from_pretrained(source, trust_remote_code=True, **from_pretrained_kwargs)
        return model, processor
    from .modeling_liqe import LIQEModel
    from .processing_liqe import LIQEProcessor

    # trust_remote_code=False: the sub-processors resolve to this package's registered classes; never a prompt.
    model = LIQEModel.from_pretrained(source, trust_remote_code=False, **from_pretrained_kwargs)
    if processor is None:
        processor = LIQEProcessor.from_pretrained(source, trust_remote_code=False, **from_pretrained_kwargs)
    return model, processor


class LIQEScorer:
    r"""
    Scores images with a LIQE model folder or Hub id (in eval mode).

    Args:
        model (`str` or `os.PathLike` or `LIQEModel`): a model folder or Hub id, or an already loaded model
            (then give `processor` too). A folder or Hub id is loaded with this package's own classes
            (`LIQEModel`, `LIQEProcessor`): no code from the folder or repository runs.
        device (`str`, *optional*, defaults to `"auto"`): `"cpu"`, `"cuda"`, `"cuda:1"`, `"mps"` or `"auto"` (cuda,
            else mps, else cpu).
        batch_size (`int`, *optional*, defaults to 8): images whose windows go through the model together.
        processor (`LIQEProcessor`, *optional*): the processor, when `model` is a loaded model.
        dtype (`torch.dtype`, *optional*): cast the model (e.g. `torch.float16` on a GPU); default: as saved.
        max_image_pixels (`int`, *optional*): refuse images with more pixels, as decoded or after the resize
            (default: the processor's setting, Pillow's limit ~89 M unless set). Applied to a copy of the
            processor: the caller's is never modified.
        num_workers (`int`, *optional*): threads that decode and cut images ahead of the model; default 0 (in
            the calling thread) on the CPU, where torch already uses every core, and up to 8 on accelerators.
        allow_tf32 (`bool`, *optional*, defaults to False): on CUDA, float32 convolutions and matrix products
            run in true float32 unless this is True. PyTorch lets cuDNN use TF32 by default, which moved the
            golden scores by 4e-3 on an H200 (the reference tolerance is 1e-4). Only the scorer's own forward
            passes are affected: the process-wide torch flags are set around them and restored after.
        trust_remote_code (`bool`, *optional*, defaults to False): load a folder or Hub id with the Auto classes
            and the Python code it ships (`auto_map`) instead of this package's classes; only for a model that
            needs its own code, from a source you trust.
        pixel_limit_option (`str`, *optional*): how error messages name the pixel limit (the CLI passes
            `"--max-image-pixels"`).
        fast (`bool`, *optional*, defaults to False): the `--fast` path, CPU only: int8 dynamic quantisation of
            the vision tower's linear layers that a calibration check finds harmless, float32 for the others
            (`modeling_liqe.fast_inference`); one image per call. The default path is untouched.
        uint8_windows (`bool`, *optional*): send uint8 windows and normalise them on the device
            (`modeling_liqe.input_pipeline`; pinned memory, non-blocking copies); default: on accelerators only.
        **from_pretrained_kwargs: passed to `from_pretrained` (e.g. `revision`, `cache_dir`).

    Each result is a dict with `path` (the name given), `score` (float in [1, 5] for the paper's weights),
    `scene` and `distortion` (argmax labels), `quality_probs`, `scene_probs`, `distortion_probs` (label →
    probability) and `error` (None when fine). A model variant without a scene or distortion axis gives None
    for those. On a failed image, every field but `path` and `error` is None.
    """

    def __init__(self, model, device="auto", batch_size=8, processor=None, dtype=None, max_image_pixels=None,
                 num_workers=None, allow_tf32=False, trust_remote_code=False, pixel_limit_option="max_image_pixels",
                 fast=False, uint8_windows=None, **from_pretrained_kwargs):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.device = torch.device(resolve_device(device))
        if num_workers is None:
            num_workers = 0 if self.device.type == "cpu" else min(8, os.cpu_count() or 1)
        self.num_workers = int(num_workers)
        self.allow_tf32 = bool(allow_tf32)
        self.pixel_limit_option = pixel_limit_option
        model_source = model
        if isinstance(model, (str, os.PathLike)):
            model, processor = load_model_and_processor(
                os.fspath(model), processor, trust_remote_code=trust_remote_code, **from_pretrained_kwargs
            )
        elif processor is None:
            raise ValueError("give the processor when passing a loaded model")
        if dtype is not None:
            model = model.to(dtype)
        self.model = model.to(self.device).eval()
        image_processor = getattr(processor, "image_processor", processor)
        if max_image_pixels is not None:  # on copies: the caller's processor keeps its own limit
            image_processor = copy.deepcopy(image_processor)
            image_processor.max_image_pixels = int(max_image_pixels)
            if processor is not image_processor and hasattr(processor, "image_processor"):
                processor = copy.copy(processor)
                processor.image_processor = image_processor
        self.processor = processor
        self.image_processor = image_processor
        self.fast = bool(fast)
        if self.fast:
            from .fast_inference import quantize_vision_tower

            # A model passed in by the caller is copied, never quantised under their feet.
            self.model = quantize_vision_tower(self.model, inplace=isinstance(model_source, (str, os.PathLike)),
                                               image_processor=self.image_processor)
        self.uint8_windows = self.device.type != "cpu" if uint8_windows is None else bool(uint8_windows)
        self._normalizer = None
        if self.uint8_windows:
            from .input_pipeline import DeviceNormalizer

            self._normalizer = DeviceNormalizer(self.image_processor, self.device)
        config = self.model.config
        self.axis_names = list(config.axis_names)
        self.axis_labels = {axis["name"]: list(axis["labels"]) for axis in config.label_axes}
        self.quality_axis = config.quality_axis

    # -- public API ------------------------------------------------------------------------------------------
    def score_paths(self, paths):
        """Score image files; yields one result dict per path, in order (lazily: a generator)."""
        return self._score((os.fspath(path), os.fspath(path)) for path in paths)

    def score_images(self, images, names=None):
        """Score PIL images (or uint8 arrays); returns the list of result dicts. `path` is `names[i]` or None."""
        images = list(images)
        names = [None] * len(images) if names is None else list(names)
        if len(names) != len(images):
            raise ValueError(f"{len(names)} names for {len(images)} images")
        return list(self._score(zip(names, images)))

    @property
    def result_keys(self):
        return RESULT_KEYS

    # -- engine ----------------------------------------------------------------------------------------------
    def _prepare(self, name, source, index):
        """(windows (P, 3, S, S), None) or (None, error message) for one image."""
        try:
            if self.uint8_windows:
                from .input_pipeline import uint8_windows

                return uint8_windows(self.image_processor, source), None
            features = self.image_processor(source)
            return features["pixel_values"][0], None
        except Exception as error:  # one bad image must not stop the batch; the message names it
            if name is None:
                name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"image {index}"
            return None, _error_message(name, error, self.pixel_limit_option)

    def _prepared(self, items):
        """(name, windows, error) per item, in order; with workers, up to 2 x batch_size images ahead."""
        if self.num_workers <= 0:
            for index, (name, source) in enumerate(items):
                yield (name, *self._prepare(name, source, index))
            return
        ahead = max(2 * self.batch_size, self.num_workers)
        with ThreadPoolExecutor(self.num_workers, thread_name_prefix="liqe-prepare") as pool:
            queue = deque()
            for index, (name, source) in enumerate(items):
                queue.append((name, pool.submit(self._prepare, name, source, index)))
                if len(queue) >= ahead:
                    name, future = queue.popleft()
                    yield (name, *future.result())
            while queue:
                name, future = queue.popleft()
                yield (name, *future.result())

    def _score(self, items):
        pending = []  # (name, windows or None, error or None), in input order
        ready = 0
        for name, windows, error in self._prepared(items):
            if windows is None and ready == 0:
                yield self._failed_row(name, error)  # nothing ahead of it: no need to wait for a batch
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
        windows = [item[1] for item in pending if item[1] is not None]
        pixel_values, patch_mask = pad_windows(windows)
        precision = contextlib.nullcontext() if self.allow_tf32 else true_float32()
        with torch.inference_mode(), precision:
            if self.fast:
                # Dynamic int8 scales activations per call: one image (its own windows, no padding) per call keeps
                # each score independent of the other images in its batch.
                outputs = [self.model(pixel_values=w.unsqueeze(0)) for w in windows]
                score = torch.cat([o.score for o in outputs])
                axis_probs = [torch.cat([o.axis_probs[i] for o in outputs]) for i in range(len(self.axis_names))]
            else:
                if self._normalizer is not None:
                    pixel_values = self._normalizer(pixel_values)
                output = self.model(pixel_values=pixel_values.to(self.device), patch_mask=patch_mask.to(self.device))
                score, axis_probs = output.score, output.axis_probs
        scores = score.float().cpu().tolist()
        marginals = {name: probs.float().cpu().tolist() for name, probs in zip(self.axis_names, axis_probs)}
        results = iter(range(len(windows)))
        for name, w, error in pending:
            if w is None:
                yield self._failed_row(name, error)
                continue
            row = next(results)
            yield self._row(name, scores[row], {axis: values[row] for axis, values in marginals.items()})

    def _probs(self, axis, marginals):
        if axis not in marginals:
            return None
        return dict(zip(self.axis_labels[axis], marginals[axis]))

    def _row(self, name, score, marginals):
        if not math.isfinite(score):  # e.g. an fp16 overflow: no NaN may reach JSON / CSV
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
        row["path"] = name
        row["error"] = error
        return row


__all__ = ["LIQEScorer", "RESULT_KEYS", "load_model_and_processor", "resolve_device", "true_float32"]
