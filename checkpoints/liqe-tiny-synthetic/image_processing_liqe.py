# coding=utf-8
# Copyright 2026 The liqe authors.
"""Image processor for LIQE: RGB conversion, the 768-px resize rule and the 224-px window selection."""

import os
import threading

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
# Modes whose samples are wider than 8 bits: Pillow's convert("RGB") clips them (a 16-bit PNG turns white).
_WIDE_INTEGER_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
# The image files the package reads (`liqe score` folders, the corpus builders): one list for all.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
# An upscaled image (short side under patch_size) with more pixels than this is never built: its windows are
# resampled straight from the original (`resampled_window`, bit-identical to Pillow's full resize), so a
# 3x5000 sliver costs kilobytes instead of the 250 MB of its 224x373333 upscale.
MATERIALISED_UPSCALE_MAX_PIXELS = 1 << 22
# Pillow's fixed-point precision for 8-bit resampling (libImaging/Resample.c).
_PRECISION_BITS = 32 - 8 - 2


class LIQEImageError(ValueError):
    """An image that cannot be scored; the message names the file and the problem.

    `pixel_limit` is set (to the limit) when the image was refused for its number of pixels, so that callers
    can say how to raise the limit in their own terms (`--max-image-pixels`, `max_image_pixels=`).
    """

    def __init__(self, message, pixel_limit=None):
        super().__init__(message)
        self.pixel_limit = pixel_limit


def pixel_limit(max_image_pixels=None):
    """The limit that applies: `max_image_pixels`, else Pillow's `Image.MAX_IMAGE_PIXELS`; None = no limit."""
    limit = Image.MAX_IMAGE_PIXELS if max_image_pixels is None else max_image_pixels
    return limit if limit and limit > 0 else None


# Image.open consults Pillow's global pixel limit; it is lifted only while a header is read, under a lock,
# because the limit that applies is our own (checked before any pixel is decoded).
_PIL_LIMIT_LOCK = threading.Lock()


def load_image(path, max_image_pixels=None):
    """Open `path` with Pillow, refusing undecodable files and decompression bombs with a clear error.

    `max_image_pixels` (default: Pillow's `Image.MAX_IMAGE_PIXELS`, ~89 M) is checked on the header, before
    decoding; 0 or a negative value disables the check. The pixels are decoded here (not lazily) so that a
    truncated file fails now, with its name. Thread-safe.
    """
    name = os.fspath(path)
    limit = pixel_limit(max_image_pixels)
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
        if limit is not None and width * height > limit:
            raise LIQEImageError(
                f"{name}: {width}x{height} = {width * height} pixels exceeds the pixel limit of {limit} "
                "(possible decompression bomb)",
                pixel_limit=limit,
            )
        image.seek(0)  # animated images: the first frame
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


def _wide_samples_to_uint8(samples, divide_by_257):
    """uint8 `clip(rint(samples [/ 257]), 0, 255)` of a 2-D array, in bands of ~1 M samples: a 89 M-pixel 16-bit
    file never gets a whole float64 copy (700 MB). Integers divide exactly: (x + 128) // 257 == rint(x / 257),
    since an integer over 257 (odd) is never half-way between two integers."""
    converted = np.empty(samples.shape, dtype=np.uint8)
    rows = max(1, (1 << 20) // max(1, samples.shape[1]))
    for start in range(0, samples.shape[0], rows):
        band = samples[start : start + rows]
        if band.dtype.kind == "f":
            band = np.rint(band)
        else:
            band = band.astype(np.int64)
            if divide_by_257:
                band = (band + 128) // 257
        converted[start : start + rows] = np.clip(band, 0, 255)
    return converted


def to_rgb(image, apply_exif_orientation=True):
    """Convert any Pillow image to 8-bit RGB the way the reference does, plus wide-integer support.

    - grayscale / palette / CMYK / YCbCr: Pillow's own conversion (as the reference);
    - an alpha channel is dropped without compositing (as the reference: the colours stored under
      transparent pixels are used as they are);
    - 16-bit (and 32-bit integer) samples are scaled to 8 bits (value / 257, rounded) instead of being
      clipped at 255 as a plain Pillow conversion does;
    - EXIF orientation: applied when `apply_exif_orientation` (the product default: the picture is scored
      upright, as a viewer shows it); the reference ignores it (pass False to reproduce it bit for bit).
    """
    if apply_exif_orientation:
        image = ImageOps.exif_transpose(image)
    if image.mode in _WIDE_INTEGER_MODES:
        samples = np.asarray(image)
        # "I" holds 16-bit PNG data on some Pillow versions; only rescale when values exceed 8 bits.
        rescale = image.mode != "I" or samples.max(initial=0) > 255
        image = Image.fromarray(_wide_samples_to_uint8(samples, rescale), mode="L")
    elif image.mode == "F":
        image = Image.fromarray(_wide_samples_to_uint8(np.asarray(image), False), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        # Same colours as a direct P -> RGB conversion, without Pillow's warning about palette transparency.
        image = image.convert("RGBA")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def window_grid(height, width, patch_size=224, stride=32, large_stride=48, large_image_side=1024):
    """(stride, rows, cols) of the regular grid of full windows; the stride is chosen after the resize."""
    grid_stride = large_stride if (height >= large_image_side or width >= large_image_side) else stride
    rows = (height - patch_size) // grid_stride + 1
    cols = (width - patch_size) // grid_stride + 1
    return grid_stride, rows, cols


def select_test_windows(num_windows, num_patches=15):
    """Flat indices k * floor(N / num_patches), k < num_patches; every window when N < num_patches.

    (The reference repeats window 0 when N < 15; using each available window once is the product's choice.)
    """
    if num_windows < num_patches:
        return list(range(num_windows))
    step = num_windows // num_patches
    return [k * step for k in range(num_patches)]


def pad_windows(windows):
    """Stack per-image windows (P_i, 3, S, S) into (batch, max P_i, 3, S, S) with zero padding, and the
    (batch, max P_i) mask that marks real windows 1 and padding 0."""
    num_patches = max(w.shape[0] for w in windows)
    pixel_values = windows[0].new_zeros((len(windows), num_patches, *windows[0].shape[1:]))
    patch_mask = torch.zeros(len(windows), num_patches, dtype=torch.long)
    for row, w in enumerate(windows):
        pixel_values[row, : w.shape[0]] = w
        patch_mask[row, : w.shape[0]] = 1
    return pixel_values, patch_mask


def _bilinear_coefficients(in_size, out_size, first, count):
    """Pillow's bilinear taps for output pixels first .. first+count-1 of an in_size -> out_size resize:
    (source indices (count, taps), fixed-point weights (count, taps)), computed as libImaging's
    `precompute_coeffs` + `normalize_coeffs_8bpc` do, in the same float64 order."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = filterscale  # the bilinear filter's support is 1
    taps = np.arange(int(np.ceil(support)) * 2 + 1)
    center = (np.arange(first, first + count, dtype=np.float64) + 0.5) * scale
    low = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C's (int) cast; positive values
    used = np.minimum((center + support + 0.5).astype(np.int64), in_size) - low
    weights = np.maximum(1.0 - np.abs((low[:, None] + taps - center[:, None] + 0.5) / filterscale), 0.0)
    weights = np.where(taps < used[:, None], weights, 0.0)
    total = weights.sum(axis=1, keepdims=True)
    weights = weights / np.where(total != 0.0, total, 1.0)
    fixed = (0.5 + weights * (1 << _PRECISION_BITS)).astype(np.int64)  # bilinear weights are never negative
    return np.minimum(low[:, None] + taps, in_size - 1), fixed


def _round_to_uint8(accumulated):
    return np.clip(accumulated >> _PRECISION_BITS, 0, 255).astype(np.uint8)


def resampled_window(pixels, size, top, left, patch_size):
    """The (patch_size, patch_size, 3) window at (top, left) of `pixels` (H, W, 3 uint8) bilinearly resized to
    `size` (width, height), without building the resized image: bit-identical to
    `np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR))[top:top+S, left:left+S]` (Pillow's
    two passes, horizontal then vertical, in its fixed-point arithmetic; tests check it shape by shape).
    Only the source rows the window needs are read."""
    height, width = pixels.shape[:2]
    columns, column_weights = _bilinear_coefficients(width, size[0], left, patch_size)
    rows, row_weights = _bilinear_coefficients(height, size[1], top, patch_size)
    first, last = int(rows.min()), int(rows.max()) + 1
    band = pixels[first:last].astype(np.int64)  # (source rows, width, 3)
    half = 1 << (_PRECISION_BITS - 1)
    horizontal = _round_to_uint8((band[:, columns] * column_weights[None, :, :, None]).sum(axis=2) + half)
    vertical = (horizontal[rows - first].astype(np.int64) * row_weights[:, :, None, None]).sum(axis=1) + half
    return _round_to_uint8(vertical)


class LIQEImageProcessor(BaseImageProcessor):
    r"""
    Turns images into the 224x224 windows LIQE scores.

    Per image: RGB conversion ([`to_rgb`]); when the short side is under `patch_size`, a bilinear upscale so
    that it equals `patch_size` (the reference fails on such images); when BOTH sides are at least
    `resize_short_side`, Pillow's bilinear resize so that the short side equals it and the long side is
    `int(resize_short_side * long / short)` (truncated; untouched when the size does not change); then the
    grid of full windows with stride `stride` (or `large_stride` when a side is >= `large_image_side`),
    row-major. Test time takes `num_test_patches` evenly spaced windows (all of them when there are fewer);
    training time flips horizontally with probability 1/2 and draws `num_train_patches` windows uniformly with
    replacement. Only the chosen windows are ever cut out (the grid is never built in memory), and an upscaled
    extreme-aspect image is never built either: its windows are resampled from the original, bit for bit as
    the full resize would give them. `max_image_pixels` (default: Pillow's limit, ~89 M; 0 = none) bounds the
    size of a decoded file and the size after the resize; a larger image raises [`LIQEImageError`] naming it.

    Returns a [`BatchFeature`] with `pixel_values` (batch, patches, 3, patch_size, patch_size), `patch_mask`
    (batch, patches; 0 marks padding when images have different window counts) and, on request,
    `window_boxes` (batch, patches, 4) as (left, top, right, bottom) in the resized image, with
    `processed_sizes` and `original_sizes` (batch, 2) as (height, width).
    """

    model_input_names = ["pixel_values", "patch_mask"]

    def __init__(
        self,
        patch_size=224,
        num_test_patches=15,
        num_train_patches=3,
        stride=32,
        large_stride=48,
        large_image_side=1024,
        resize_short_side=768,
        image_mean=None,
        image_std=None,
        apply_exif_orientation=True,
        max_image_pixels=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.num_test_patches = num_test_patches
        self.num_train_patches = num_train_patches
        self.stride = stride
        self.large_stride = large_stride
        self.large_image_side = large_image_side
        self.resize_short_side = resize_short_side
        self.image_mean = list(image_mean) if image_mean is not None else list(OPENAI_CLIP_MEAN)
        self.image_std = list(image_std) if image_std is not None else list(OPENAI_CLIP_STD)
        self.apply_exif_orientation = apply_exif_orientation
        self.max_image_pixels = max_image_pixels

    @classmethod
    def from_liqe_config(cls, config, **kwargs):
        """The image processor for a [`LIQEConfig`]: the window geometry is the processor's own (not in the config)."""
        return cls(**kwargs)

    # -- single-image steps -------------------------------------------------------------------------------
    def prepare_image(self, image):
        """Any accepted input (path, PIL image, HxWx3 / HxW uint8 array) → 8-bit RGB PIL image (not resized)."""
        if isinstance(image, (str, os.PathLike)):
            image = load_image(image, self.max_image_pixels)
        elif isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        elif isinstance(image, torch.Tensor):
            raise TypeError("pass images as file paths, PIL images or uint8 numpy arrays, not tensors")
        elif not isinstance(image, Image.Image):
            raise TypeError(f"unsupported image type {type(image).__name__}")
        return to_rgb(image, self.apply_exif_orientation)

    def resized_size(self, width, height):
        """(width, height) after the resize rule (the same size when the image is left as it is)."""
        short, long = min(width, height), max(width, height)
        if short < self.patch_size:
            target_short = self.patch_size
        elif short >= self.resize_short_side:
            target_short = self.resize_short_side
        else:
            return width, height
        # torchvision's Resize(int): the long side is truncated, not rounded (1000x872 -> 880x768).
        target_long = int(target_short * long / short)
        return (target_short, target_long) if width <= height else (target_long, target_short)

    def resize(self, image):
        size = self.resized_size(*image.size)
        if size == image.size:
            return image
        return image.resize(size, Image.BILINEAR)

    def check_resized_pixels(self, original_size, resized_size, name=None):
        """Refuse an image whose RESIZED size exceeds the pixel limit (`max_image_pixels`, default Pillow's):
        a 40000x2 sliver would become 4480000x224, a gigapixel, to reach the window size."""
        limit = pixel_limit(self.max_image_pixels)
        pixels = resized_size[0] * resized_size[1]
        if limit is None or pixels <= limit:
            return
        what = f"{name}: " if name is not None else ""
        raise LIQEImageError(
            f"{what}{original_size[0]}x{original_size[1]} would be resized to {resized_size[0]}x{resized_size[1]} "
            f"= {pixels} pixels (short side {min(resized_size)}), over the pixel limit of {limit}",
            pixel_limit=limit,
        )

    def window_positions(self, height, width, training=False, generator=None):
        """Top-left corners (top, left) of the windows to cut from a (resized) image of this size."""
        stride, rows, cols = window_grid(
            height, width, self.patch_size, self.stride, self.large_stride, self.large_image_side
        )
        if training:
            indices = generator.integers(0, rows * cols, size=self.num_train_patches).tolist()
        else:
            indices = select_test_windows(rows * cols, self.num_test_patches)
        return [((index // cols) * stride, (index % cols) * stride) for index in indices]

    def cut_windows(self, image, positions):
        """The windows at `positions`, normalised: float32 (patches, 3, patch_size, patch_size)."""
        size = self.patch_size
        # Crop window by window: a long image (700x20000 escapes the resize) is never copied whole.
        crops = np.stack([np.asarray(image.crop((left, top, left + size, top + size))) for top, left in positions])
        return self.normalize_windows(crops)

    def resampled_windows(self, image, size, positions, flip=False):
        """`cut_windows(image.resize(size, BILINEAR) [flipped left-right], positions)`, bit for bit, without
        building the resized image (see `resampled_window`); for upscaled extreme-aspect images."""
        pixels = np.asarray(image)
        patch = self.patch_size
        crops = []
        for top, left in positions:
            if flip:  # the window of the flipped image is the mirrored window, flipped
                crops.append(resampled_window(pixels, size, top, size[0] - patch - left, patch)[:, ::-1])
            else:
                crops.append(resampled_window(pixels, size, top, left, patch))
        return self.normalize_windows(np.stack(crops))

    def normalize_windows(self, crops):
        """(patches, S, S, 3) uint8 → float32 (patches, 3, S, S), normalised with the CLIP mean and std."""
        # Same arithmetic and order as torchvision's ToTensor + Normalize (float32 x / 255, then (x - m) / s).
        windows = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).to(torch.float32).div(255)
        mean = torch.tensor(self.image_mean, dtype=torch.float32)[:, None, None]
        std = torch.tensor(self.image_std, dtype=torch.float32)[:, None, None]
        return windows.sub_(mean).div_(std)

    # -- batch -----------------------------------------------------------------------------------------------
    def __call__(self, images, **kwargs):
        return self.preprocess(images, **kwargs)

    def preprocess(self, images, training=False, seed=None, generator=None, return_window_boxes=False, return_tensors="pt"):
        """Process one image or a list of images.

        Args:
            images: file paths, PIL images or uint8 arrays (one or a list).
            training: random flip and `num_train_patches` random windows instead of the fixed test windows.
            seed / generator: seeds the training-time randomness (`numpy.random.Generator`); unseeded otherwise.
            return_window_boxes: also return `window_boxes`, `processed_sizes`, `original_sizes`.
        """
        if return_tensors not in (None, "pt"):
            raise ValueError("LIQEImageProcessor returns PyTorch tensors only (return_tensors='pt')")
        if not isinstance(images, (list, tuple)):
            images = [images]
        if training and generator is None:
            generator = np.random.default_rng(seed)
        all_windows, boxes, processed_sizes, original_sizes = [], [], [], []
        for image in images:
            name = os.fspath(image) if isinstance(image, (str, os.PathLike)) else None
            image = self.prepare_image(image)
            original_sizes.append([image.size[1], image.size[0]])
            width, height = size = self.resized_size(*image.size)
            self.check_resized_pixels(image.size, size, name)
            flip = training and generator.random() < 0.5
            positions = self.window_positions(height, width, training, generator)
            if min(image.size) < self.patch_size and width * height > MATERIALISED_UPSCALE_MAX_PIXELS:
                all_windows.append(self.resampled_windows(image, size, positions, flip))
            else:
                image = self.resize(image)
                if flip:
                    image = image.transpose(Image.FLIP_LEFT_RIGHT)
                all_windows.append(self.cut_windows(image, positions))
            boxes.append([[left, top, left + self.patch_size, top + self.patch_size] for top, left in positions])
            processed_sizes.append([height, width])
        pixel_values, patch_mask = pad_windows(all_windows)
        num_patches = pixel_values.shape[1]
        data = {"pixel_values": pixel_values, "patch_mask": patch_mask}
        if return_window_boxes:
            padded = [b + [[0, 0, 0, 0]] * (num_patches - len(b)) for b in boxes]
            data["window_boxes"] = torch.tensor(padded, dtype=torch.long)
            data["processed_sizes"] = torch.tensor(processed_sizes, dtype=torch.long)
            data["original_sizes"] = torch.tensor(original_sizes, dtype=torch.long)
        return BatchFeature(data=data)


__all__ = [
    "IMAGE_EXTENSIONS",
    "LIQEImageError",
    "LIQEImageProcessor",
    "load_image",
    "pad_windows",
    "pixel_limit",
    "resampled_window",
    "select_test_windows",
    "to_rgb",
    "window_grid",
]
