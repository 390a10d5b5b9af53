"""Embedded synthetic IQA corpus: KADID-10k-style distortions of CC0 / public-domain photos.

The default data for training, tests and the demo on a machine with no downloads.

* Reference photos: the colour photographs that ship inside the scikit-image wheel
  (``skimage.data``; CC0 or public domain per their docstrings, see ``REFERENCE_PHOTOS``), or every
  image file of a folder the user passes (``--references DIR``). Each is centre-cropped to a square
  and resized to ``image_size`` (default 384 px; the model cuts 224 px windows, so stay >= 224).
* Distortions: the 25 KADID-10k distortion types (same ids and LIQE fine labels as KADID-10k, see
  ``CORPORA.md`` section 4), each at 5 levels, covering all 11 LIQE distortion classes. The
  implementations are our own approximations "in the style of" KADID-10k; the parameters are those of
  ``DISTORTIONS`` (run ``python -m datasets_scripts.synthetic --table``). Every random quantity is
  drawn from a generator seeded by (seed, reference name, distortion id) *before* the level's
  parameter is applied, so the 5 levels of one distortion share their noise / patch positions and the
  error against the reference grows with the level (PSNR falls strictly; the tests check it).
* Quality target (1-5, higher is better): ``mos = 4.9 - 0.9 * (level - 1) - offset`` where ``offset``
  (0 to 0.3) is a fixed per-distortion constant (how visible the type already is at level 1);
  ``mos_raw = mos``, ``mos_std = None``. So the target only encodes the level, never the photo.
* Splits: by reference photo (no photo in two splits), from a seeded permutation.
* Deterministic for a seed: building twice gives identical PNG and parquet bytes; another seed changes
  the random distortions (noise, impulse positions, motion angle, patches, ...) and the split.

Writing (``out_dir``): through the shared exporter ``export.write_corpus``, like every real corpus:
``OUT/README.md`` (card with the photo licences), ``OUT/data/<split>-*.parquet`` (PNG bytes embedded,
stored once) and ``OUT/splits/seeded.parquet`` (the split by reference photo). ``splits.load_session(OUT)``
and ``datasets.load_dataset(OUT)`` read it. The pristine photos are not stored: ``load_reference_photos``
rebuilds them exactly (for full-reference measures).

    python -m datasets_scripts.synthetic --out OUT [--references DIR] [--seed 0] [--split-seed SEED] [--size 384] [--levels 5]
        [--overwrite] [--push-to-hub ORG/NAME [--public] [--token T]]     (or: python -m datasets_scripts synthetic ...)
    python -m datasets_scripts.synthetic --table      # the markdown table of photos, types and levels
"""

import argparse
import hashlib
import io
import json
import logging
import re
import sys
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from datasets_scripts.schema import FEATURES, distortion_class_id
from datasets_scripts.splits import SPLITS
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES, FINE_DISTORTION_TO_CLASS, SCENES
from modeling_liqe.image_processing_liqe import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)

CORPUS_NAME = "synthetic"
DEFAULT_IMAGE_SIZE = 384
NUM_LEVELS = 5
DEFAULT_SPLIT_FRACTIONS = (0.6, 0.15, 0.25)  # train / validation / test, in reference photos
PNG_COMPRESS_LEVEL = 1  # 4x faster than Pillow's default 6 for ~10 % larger files

# The colour photos that ship inside the scikit-image wheel (no pooch download needed), with the
# licence their docstrings state and a fixed hand-made LIQE scene label.
REFERENCE_PHOTOS = {
    "astronaut": {
        "scenes": ["human"],
        "licence": "public domain (NASA; 'No known copyright restrictions, released into the public domain')",
        "source": "https://flic.kr/p/r9qvLn",
    },
    "coffee": {
        "scenes": ["still_life"],
        "licence": "CC0 (photographer Rachel Michetti, courtesy of Pikolo Espresso Bar)",
        "source": "scikit-image data",
    },
    "chelsea": {
        "scenes": ["animal"],
        "licence": "CC0 (photographer Stefan van der Walt)",
        "source": "scikit-image data",
    },
    "rocket": {
        "scenes": ["night"],
        "licence": "public domain (SpaceX, released into the public domain)",
        "source": "https://www.flickr.com/photos/spacexphotos/16511594820/",
    },
    "hubble_deep_field": {
        "scenes": ["others"],
        "licence": "public domain (NASA Hubble eXtreme Deep Field)",
        "source": "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/",
    },
    "immunohistochemistry": {
        "scenes": ["others"],
        "licence": "no known copyright restrictions (Center for Microscopy And Molecular Imaging)",
        "source": "scikit-image data",
    },
    "retina": {
        "scenes": ["others"],
        "licence": "CC0 1.0 (Mikael Haggstrom, Wikimedia Commons)",
        "source": "https://commons.wikimedia.org/wiki/File:Fundus_photograph_of_normal_left_eye.jpg",
    },
}


# --------------------------------------------------------------------------------------------------
# Distortions. Every function takes a float32 RGB image in [0, 1], the level's parameter and a
# generator freshly seeded per (seed, reference, distortion), and returns an image (float in [0, 1] or
# uint8). A function draws all its random numbers before it looks at the parameter, so that the levels
# are nested (same noise field, same patch list) and the error grows with the level.
# --------------------------------------------------------------------------------------------------


def _to_uint8(x):
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def _luma(x):
    return (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., None]


def _filter_channels(x, kernel):
    from scipy import ndimage

    return np.stack([ndimage.correlate(x[..., c], kernel, mode="reflect") for c in range(x.shape[-1])], axis=-1)


def _gaussian_blur(x, sigma, rng):
    from scipy import ndimage

    return ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="reflect", truncate=4.0)


def _disk_kernel(radius, supersample=8):
    r = int(np.ceil(radius))
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    grid = np.arange(-r, r + 1)
    ys = (grid[:, None] + offsets[None, :]).reshape(-1)
    inside = (ys[:, None] ** 2 + ys[None, :] ** 2) <= radius**2
    kernel = inside.reshape(2 * r + 1, supersample, 2 * r + 1, supersample).mean(axis=(1, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def _lens_blur(x, radius, rng):
    return _filter_channels(x, _disk_kernel(radius))


def _motion_kernel(length, angle_deg):
    half = length / 2.0
    r = int(np.ceil(half)) + 1
    kernel = np.zeros((2 * r + 1, 2 * r + 1), dtype=np.float64)
    t = np.linspace(-half, half, 8 * int(np.ceil(length)) + 1)
    xs = r + t * np.cos(np.deg2rad(angle_deg))
    ys = r - t * np.sin(np.deg2rad(angle_deg))
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        np.add.at(kernel, (y0 + dy, x0 + dx), w)
    return (kernel / kernel.sum()).astype(np.float32)


def _motion_blur(x, length, rng):
    angle = rng.uniform(0.0, 180.0)
    return _filter_channels(x, _motion_kernel(length, angle))


def _color_diffusion(x, sigma, rng):
    from scipy import ndimage
    from skimage.color import lab2rgb, rgb2lab

    lab = rgb2lab(x)
    for c in (1, 2):
        lab[..., c] = ndimage.gaussian_filter(lab[..., c], sigma=sigma, mode="reflect", truncate=4.0)
    with warnings.catch_warnings():  # "negative Z values clipped": out-of-gamut colours, clipped anyway
        warnings.simplefilter("ignore", UserWarning)
        return lab2rgb(lab)


def _color_shift(x, pixels, rng):
    # One colour channel magnified or shrunk about the centre (lateral chromatic aberration): colour
    # fringes `pixels` wide at the corners, growing from the centre. A plain translation would stop
    # adding error on sparse pictures (stars) once it exceeds the size of the objects.
    from scipy import ndimage

    channel = int(rng.integers(3))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    h, w = x.shape[:2]
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    k = sign * float(pixels) / float(np.hypot(*centre))
    out = x.copy()
    out[..., channel] = ndimage.affine_transform(
        x[..., channel], np.full(2, 1.0 + k), offset=-k * centre, order=1, mode="nearest"
    )
    return out


def _color_quantization(x, colors, rng, iterations=3, stride=4):
    # Median-cut palette (Pillow) refined by a few k-means (Lloyd) passes on every `stride`-th pixel,
    # then every pixel takes its nearest palette colour (Pillow, no dithering). Plain median cut gives
    # equal errors for 48 and 32 colours on some photos, and Pillow's own k-means is ~100x slower.
    # The refinement works in exact integers, so it gives the same palette on every platform.
    image = Image.fromarray(_to_uint8(x))
    median_cut = image.quantize(colors=int(colors), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    used = sorted(index for _, index in median_cut.getcolors(256))
    palette = np.asarray(median_cut.getpalette()[: 3 * 256], dtype=np.int32).reshape(-1, 3)[used]
    pixels = np.asarray(image, dtype=np.int32)[::stride, ::stride].reshape(-1, 3)
    for _ in range(iterations):
        labels = ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        counts = np.bincount(labels, minlength=len(palette))
        for c in range(3):
            sums = np.bincount(labels, weights=pixels[:, c], minlength=len(palette))
            palette[:, c] = np.where(counts > 0, np.floor(sums / np.maximum(counts, 1) + 0.5), palette[:, c])
    palette_image = Image.new("P", (1, 1))
    flat = palette.astype(np.uint8).reshape(-1).tolist()
    palette_image.putpalette(flat + flat[:3] * (256 - len(palette)))
    return np.asarray(image.quantize(palette=palette_image, dither=Image.Dither.NONE).convert("RGB"))


def _oversaturation(x, factor, rng):
    y = _luma(x)
    return y + factor * (x - y)


def _desaturation(x, factor, rng):
    y = _luma(x)
    return y + factor * (x - y)


def _encode_decode(x, fmt, **params):
    buffer = io.BytesIO()
    Image.fromarray(_to_uint8(x)).save(buffer, fmt, **params)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def _jpeg2000(x, ratio, rng):
    # Pillow's OpenJPEG encoder, 9/7 irreversible wavelet, one quality layer at the given compression
    # ratio (uncompressed size / compressed size). Below 384 px the ratio shrinks with the side: a
    # smaller picture holds more detail per pixel, and OpenJPEG's ~270-byte floor would otherwise
    # make the top levels of a tiny image identical.
    ratio = float(ratio) * min(1.0, min(x.shape[:2]) / DEFAULT_IMAGE_SIZE)
    return _encode_decode(x, "JPEG2000", quality_mode="rates", quality_layers=[max(ratio, 1.0)], irreversible=True)


def _jpeg(x, quality, rng):
    return _encode_decode(x, "JPEG", quality=int(quality))


def _white_noise(x, variance, rng):
    noise = rng.standard_normal(x.shape, dtype=np.float32)
    return x + np.sqrt(variance) * noise


_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)


def _white_noise_color(x, variance, rng):
    noise = rng.standard_normal(x.shape[:2] + (2,), dtype=np.float32)
    ycc = x @ _RGB_TO_YCBCR.T
    ycc[..., 1:] += np.sqrt(variance) * noise
    return ycc @ np.linalg.inv(_RGB_TO_YCBCR).T


def _impulse_noise(x, density, rng):
    u = rng.random(x.shape, dtype=np.float32)
    salt = rng.random(x.shape, dtype=np.float32) < 0.5
    out = x.copy()
    hit = u < density
    out[hit] = salt[hit].astype(np.float32)
    return out


def _multiplicative_noise(x, variance, rng):
    noise = rng.standard_normal(x.shape, dtype=np.float32)
    return x + x * np.sqrt(variance) * noise


def _denoise(x, variance, rng):
    from skimage.restoration import denoise_tv_chambolle

    noise = rng.standard_normal(x.shape, dtype=np.float32)
    noisy = x + np.sqrt(variance) * noise
    # Total-variation denoising leaves the flat, painted look of a denoiser applied to white noise.
    return denoise_tv_chambolle(noisy, weight=0.8 * float(np.sqrt(variance)), channel_axis=-1, max_num_iter=20)


def _brighten(x, gamma, rng):
    return np.power(np.clip(x, 0, 1), 1.0 / gamma)


def _darken(x, gamma, rng):
    return np.power(np.clip(x, 0, 1), gamma)


def _mean_shift(x, shift, rng):
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return x + sign * shift


def _jitter(x, amplitude, rng):
    h, w = x.shape[:2]
    u = rng.uniform(-1.0, 1.0, size=(2, h, w))
    dy = np.rint(u[0] * amplitude).astype(int)
    dx = np.rint(u[1] * amplitude).astype(int)
    rows = np.clip(np.arange(h)[:, None] + dy, 0, h - 1)
    cols = np.clip(np.arange(w)[None, :] + dx, 0, w - 1)
    return x[rows, cols]


def _grid_cells(shape, cells_per_side):
    """Non-overlapping square cells (top, left, size) tiling the image in a cells_per_side grid."""
    h, w = shape[:2]
    size = max(2, min(h, w) // cells_per_side)
    return size, [(r * size, c * size) for r in range(h // size) for c in range(w // size)]


def _noneccentricity_patch(x, count, rng, cells_per_side=24, max_count=90):
    # Square patches (1/24 of the side) replaced by a patch taken 1-2 patch sizes away. Destinations
    # are distinct grid cells, visited in a seeded order; a cell whose copy would not visibly change
    # it (flat sky, black space) is skipped, so every added patch adds error.
    h, w = x.shape[:2]
    size, cells = _grid_cells(x.shape, cells_per_side)
    order = rng.permutation(len(cells))
    angles = rng.uniform(0.0, 2 * np.pi, size=len(cells))
    distances = rng.uniform(1.0, 2.0, size=len(cells)) * size
    out = x.copy()
    placed = 0
    for k in order:
        if placed >= min(int(count), max_count):
            break
        top, left = cells[k]
        src_top = int(np.clip(np.rint(top + distances[k] * np.sin(angles[k])), 0, h - size))
        src_left = int(np.clip(np.rint(left + distances[k] * np.cos(angles[k])), 0, w - size))
        source = x[src_top : src_top + size, src_left : src_left + size]
        if np.abs(source - x[top : top + size, left : left + size]).mean() < 0.02:
            continue
        out[top : top + size, left : left + size] = source
        placed += 1
    return out


def _pixelate(x, block, rng):
    h, w = x.shape[:2]
    image = Image.fromarray(_to_uint8(x))
    small = image.resize((max(1, round(w / block)), max(1, round(h / block))), Image.Resampling.BOX)
    return np.asarray(small.resize((w, h), Image.Resampling.NEAREST))


def _quantization(x, levels, rng):
    steps = float(levels) - 1.0
    return np.rint(x * steps) / steps


def _color_blocking(x, count, rng, cells_per_side=12, max_count=10):
    size, cells = _grid_cells(x.shape, cells_per_side)
    order = rng.permutation(len(cells))[:max_count]
    colors = rng.random((max_count, 3), dtype=np.float32)
    out = x.copy()
    for k, color in zip(order[: int(count)], colors):
        top, left = cells[k]
        out[top : top + size, left : left + size] = color
    return out


def _high_sharpen(x, amount, rng):
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(x, sigma=(1.5, 1.5, 0), mode="reflect", truncate=4.0)
    return x + amount * (x - blurred)


def _contrast_change(x, factor, rng):
    mean = float(_luma(x).mean())
    return mean + factor * (x - mean)


@dataclass(frozen=True)
class Distortion:
    type_id: int  # the KADID-10k type id (01..25), also in the file names
    name: str  # KADID-10k's name of the type
    fine: str  # LIQE fine label (one of the 33)
    parameter: str  # what the numbers mean
    levels: tuple  # the parameter at levels 1..5 (mildest first)
    mos_offset: float  # subtracted from the level's quality target
    function: object

    @property
    def distortion_class(self):
        return FINE_DISTORTION_TO_CLASS[self.fine]


DISTORTIONS = [
    Distortion(1, "Gaussian blur", "gaussian blur", "sigma (px)", (0.5, 1, 2, 3, 5), 0.0, _gaussian_blur),
    Distortion(2, "Lens blur", "lens", "disk radius (px)", (1, 2, 3, 5, 8), 0.1, _lens_blur),
    Distortion(3, "Motion blur", "motion", "length (px), random angle", (3, 5, 9, 13, 21), 0.1, _motion_blur),
    Distortion(4, "Color diffusion", "diffusion", "sigma of a*/b* blur (px)", (1, 3, 6, 8, 12), 0.0, _color_diffusion),
    Distortion(5, "Color shift", "shifting", "one channel rescaled: offset at corners (px)", (2, 4, 6, 9, 13), 0.1, _color_shift),
    Distortion(6, "Color quantization", "color quantization", "palette colours", (64, 32, 16, 8, 4), 0.1, _color_quantization),
    Distortion(7, "Color saturation 1", "oversaturation", "chroma gain", (1.4, 1.8, 2.3, 3.0, 4.0), 0.0, _oversaturation),
    Distortion(8, "Color saturation 2", "desaturation", "chroma gain", (0.7, 0.5, 0.3, 0.15, 0.0), 0.0, _desaturation),
    Distortion(9, "JPEG2000", "jpeg2000 compression", "compression ratio (x side/384 if smaller)", (16, 32, 64, 128, 256), 0.1, _jpeg2000),
    Distortion(10, "JPEG", "jpeg compression", "JPEG quality", (43, 36, 24, 7, 4), 0.1, _jpeg),
    Distortion(11, "White noise", "white noise", "variance (0-1 scale)", (0.001, 0.002, 0.004, 0.008, 0.016), 0.2, _white_noise),
    Distortion(12, "White noise in color component", "white with color", "CbCr variance", (0.001, 0.002, 0.004, 0.008, 0.016), 0.1, _white_noise_color),
    Distortion(13, "Impulse noise", "impulse", "density", (0.002, 0.005, 0.01, 0.02, 0.04), 0.2, _impulse_noise),
    Distortion(14, "Multiplicative noise", "multiplicative", "variance", (0.002, 0.005, 0.01, 0.02, 0.05), 0.1, _multiplicative_noise),
    Distortion(15, "Denoise", "white noise with denoise", "noise variance, then TV denoise", (0.001, 0.002, 0.004, 0.008, 0.016), 0.1, _denoise),
    Distortion(16, "Brighten", "brighten", "gamma (x^(1/g))", (1.2, 1.45, 1.8, 2.3, 3.0), 0.0, _brighten),
    Distortion(17, "Darken", "darken", "gamma (x^g)", (1.2, 1.45, 1.8, 2.3, 3.0), 0.0, _darken),
    Distortion(18, "Mean shift", "shifting the mean", "shift on 0-1, random sign", (0.03, 0.06, 0.1, 0.15, 0.22), 0.0, _mean_shift),
    Distortion(19, "Jitter", "jitter", "max displacement (px)", (1, 2, 3, 4, 6), 0.2, _jitter),
    Distortion(20, "Non-eccentricity patch", "noneccentricity patch", "moved patches (side/24)", (10, 20, 40, 60, 90), 0.1, _noneccentricity_patch),
    Distortion(21, "Pixelate", "pixelate", "block (px)", (2, 3, 4, 6, 8), 0.1, _pixelate),
    Distortion(22, "Quantization", "quantization", "levels per channel", (24, 16, 10, 6, 4), 0.1, _quantization),
    Distortion(23, "Color block", "color blocking", "random colour blocks (side/12)", (2, 4, 6, 8, 10), 0.3, _color_blocking),
    Distortion(24, "High sharpen", "sharpness", "unsharp amount (sigma 1.5)", (1, 2, 3, 6, 12), 0.0, _high_sharpen),
    Distortion(25, "Contrast change", "contrast", "contrast gain around the mean", (0.75, 0.6, 0.45, 0.3, 0.15), 0.0, _contrast_change),
]
DISTORTIONS_BY_ID = {d.type_id: d for d in DISTORTIONS}


def quality_target(distortion, level):
    """The 1-5 quality target of a distortion at a level (1 = mildest): falls by 0.9 per level."""
    return round(4.9 - 0.9 * (level - 1) - distortion.mos_offset, 4)


def _selected_levels(levels):
    """Which of the 5 level columns a corpus with `levels` levels uses: evenly spaced, 1 and 5 kept."""
    if not 1 <= int(levels) <= NUM_LEVELS:
        raise ValueError(f"levels must be between 1 and {NUM_LEVELS}, got {levels}")
    if int(levels) == 1:
        return [1]
    return sorted({int(round(v)) for v in np.linspace(1, NUM_LEVELS, int(levels))})


def _rng(seed, reference_name, type_id):
    return np.random.default_rng([int(seed), zlib.crc32(reference_name.encode("utf-8")), int(type_id)])


def distort(reference, distortion, level, seed=0, reference_name=""):
    """Apply one distortion at one level (1..5) to a uint8 RGB reference; returns uint8 RGB."""
    if isinstance(distortion, int):
        distortion = DISTORTIONS_BY_ID[distortion]
    x = np.asarray(reference, dtype=np.float32) / 255.0
    parameter = distortion.levels[int(level) - 1]
    out = distortion.function(x, parameter, _rng(seed, reference_name, distortion.type_id))
    if np.asarray(out).dtype == np.uint8:
        return np.asarray(out)
    return _to_uint8(out)


# --------------------------------------------------------------------------------------------------
# Reference photos
# --------------------------------------------------------------------------------------------------


def _square(image, size):
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return image


def _to_rgb(image):
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _safe_name(stem):
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "image"


def load_reference_photos(references=None, image_size=DEFAULT_IMAGE_SIZE):
    """The reference photos as a list of dicts {name, image (uint8 HxWx3), scenes, licence, source}.

    `references`: None for the scikit-image photos, a folder of image files, or a list of image paths.
    """
    photos = []
    if references is None:
        import skimage.data

        for name, meta in REFERENCE_PHOTOS.items():
            image = _square(_to_rgb(Image.fromarray(getattr(skimage.data, name)())), image_size)
            photos.append({"name": name, "image": np.asarray(image), **meta})
        return photos
    if isinstance(references, (str, Path)):
        folder = Path(references)
        if not folder.is_dir():
            raise FileNotFoundError(f"--references {folder}: not a folder")
        paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    else:
        paths = [Path(p) for p in references]
    if not paths:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {references}")
    seen = set()
    for path in paths:
        name = _safe_name(path.stem)
        if name in seen:
            raise ValueError(f"two reference files map to the same name {name!r} (e.g. {path}); rename one")
        seen.add(name)
        with Image.open(path) as raw:
            gray = raw.mode in ("1", "L", "LA", "I", "I;16", "F")
            image = _square(_to_rgb(raw), image_size)
        if gray:
            logger.warning("%s is grayscale: the colour distortions (04, 05, 07, 08, 12) will not change it", path)
        photos.append({"name": name, "image": np.asarray(image), "scenes": [], "licence": "unknown (user-supplied)", "source": path.name})
    return photos


def split_references(names, seed=0, fractions=DEFAULT_SPLIT_FRACTIONS):
    """Seeded split of the reference names into {"train": [...], "validation": [...], "test": [...]}."""
    names = sorted(names)
    n = len(names)
    if n < 3:
        raise ValueError(f"need at least 3 reference photos to split by reference, got {n}")
    train_f, val_f, test_f = (float(f) for f in fractions)
    total = train_f + val_f + test_f
    n_test = max(1, int(round(n * test_f / total)))
    n_val = max(1, int(round(n * val_f / total)))
    if n - n_test - n_val < 1:
        n_test, n_val = max(1, n_test - 1), 1
    order = np.random.default_rng([int(seed), 0x5EED]).permutation(n)
    shuffled = [names[i] for i in order]
    return {
        "train": sorted(shuffled[n_test + n_val :]),
        "validation": sorted(shuffled[n_test : n_test + n_val]),
        "test": sorted(shuffled[:n_test]),
    }


# --------------------------------------------------------------------------------------------------
# Building and writing
# --------------------------------------------------------------------------------------------------


def _png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def image_id(reference_name, type_id, level):
    return f"images/{reference_name}_{type_id:02d}_{level:02d}.png"


def _rows_for_reference(photo, distortions, levels, seed):
    scene_ids = [SCENES.index(s) for s in photo["scenes"]]
    rows = []
    for distortion in distortions:
        for level in levels:
            distorted = distort(photo["image"], distortion, level, seed=seed, reference_name=photo["name"])
            target = quality_target(distortion, level)
            rows.append(
                {
                    "image": {"bytes": _png_bytes(distorted), "path": image_id(photo["name"], distortion.type_id, level)},
                    "mos": target,
                    "mos_std": None,
                    "mos_raw": target,
                    "corpus": CORPUS_NAME,
                    "image_id": image_id(photo["name"], distortion.type_id, level),
                    "reference_id": photo["name"],
                    "distortion_fine": distortion.fine,
                    "distortion": distortion_class_id(distortion.fine),
                    "distortion_level": level,
                    "scenes": scene_ids,
                }
            )
    return rows


def _make_dataset(rows, split, fingerprint_seed):
    import datasets

    columns = {name: [row[name] for row in rows] for name in FEATURES}
    table = datasets.Dataset.from_dict(columns, features=FEATURES, split=split)
    # from_dict draws a random fingerprint; a content-derived one keeps save_to_disk byte-identical.
    fingerprint = hashlib.sha256(f"{fingerprint_seed}/{split}".encode()).hexdigest()[:16]
    return datasets.Dataset(table.data, info=table.info, split=table.split, fingerprint=fingerprint)


def synthetic_split_from_photos(photos, split="validation", seed=0, image_size=DEFAULT_IMAGE_SIZE, distortions=None):
    """One split of synthetic-corpus rows (every distortion type at levels 1..5, seeded as the corpus is) made from
    other photos: `photos` as `datasets_scripts.ladders.load_photos` gives them ({name, image (H, W, 3) uint8}).

    The training script evaluates such a split beside the corpus's own (`--validation_photos`): a validation
    set of several photos, where the corpus's seed-0 split holds one.
    """
    _check_jpeg2000()
    chosen = DISTORTIONS if distortions is None else [DISTORTIONS_BY_ID[int(t)] for t in distortions]
    squared = [{**photo, "image": np.asarray(_square(Image.fromarray(np.asarray(photo["image"])), image_size)),
                "scenes": list(photo.get("scenes", []))} for photo in photos]
    rows = [row for photo in squared for row in _rows_for_reference(photo, chosen, _selected_levels(5), seed)]
    fingerprint_seed = json.dumps([CORPUS_NAME, "photos", seed, image_size, [d.type_id for d in chosen],
                                   [hashlib.sha256(p["image"].tobytes()).hexdigest() for p in squared]])
    return _make_dataset(rows, split, fingerprint_seed)


def _check_jpeg2000():
    from PIL import features

    if not features.check("jpg_2000"):
        raise RuntimeError("this Pillow has no OpenJPEG (JPEG2000) codec: install a Pillow wheel from PyPI")


def build_synthetic_corpus(
    out_dir=None,
    references=None,
    seed=0,
    image_size=DEFAULT_IMAGE_SIZE,
    levels=NUM_LEVELS,
    distortions=None,
    split_fractions=DEFAULT_SPLIT_FRACTIONS,
    scenes=None,
    num_workers=1,
    overwrite=False,
    split_seed=None,
):
    """Build the synthetic corpus as a `DatasetDict` (train / validation / test, split by reference).

    out_dir: if given, also write it there as a standard corpus folder (see `write_corpus`; a non-empty
    folder needs overwrite=True), read back by `splits.load_session(out_dir)`. references: None (scikit-image
    photos), a folder or a list of image paths. levels: how many of the 5 level columns (evenly
    spaced, so 3 keeps levels 1, 3, 5; `distortion_level` always names the column). distortions:
    None for all 25 types, or an iterable of KADID type ids. scenes: optional {reference name: [scene,
    ...]} overriding the built-in labels (user folders get [] otherwise). num_workers > 1 builds the
    references in parallel processes (same bytes). split_seed: the seed of the split by reference photo (default:
    `seed`); giving another corpus's split seed keeps its photos in the same splits (e.g. a second corpus, with
    other distortion draws, whose test photos are the ones a model trained on the first corpus never saw).
    """
    import datasets

    _check_jpeg2000()
    if image_size < 224:
        logger.warning("image_size %d < 224: the LIQE model cuts 224 px windows from every image", image_size)
    photos = load_reference_photos(references, image_size)
    for photo in photos:
        if scenes and photo["name"] in scenes:
            photo["scenes"] = list(scenes[photo["name"]])
        unknown = [s for s in photo["scenes"] if s not in SCENES]
        if unknown:
            raise ValueError(f"unknown scene labels {unknown} for {photo['name']}; expected some of {SCENES}")
    chosen = DISTORTIONS if distortions is None else [DISTORTIONS_BY_ID[int(t)] for t in distortions]
    level_list = _selected_levels(levels)
    split_seed = seed if split_seed is None else int(split_seed)
    split_names = split_references([p["name"] for p in photos], seed=split_seed, fractions=split_fractions)

    if num_workers and num_workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: a caller (the training script) may already hold torch's threads.
        with ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_rows_for_reference, p, chosen, level_list, seed) for p in photos]
            per_reference = {p["name"]: f.result() for p, f in zip(photos, futures)}
    else:
        per_reference = {p["name"]: _rows_for_reference(p, chosen, level_list, seed) for p in photos}

    fingerprint_seed = json.dumps(
        [CORPUS_NAME, seed, image_size, level_list, *([] if split_seed == seed else [split_seed]), [d.type_id for d in chosen], [p["name"] for p in photos],
         [hashlib.sha256(p["image"].tobytes()).hexdigest() for p in photos]]
    )
    corpus = datasets.DatasetDict(
        {
            split: _make_dataset([row for name in names for row in per_reference[name]], split, fingerprint_seed)
            for split, names in split_names.items()
        }
    )
    if out_dir is not None:
        card = corpus_card(photos, seed=seed, image_size=image_size, level_list=level_list, distortions=chosen, splits=split_names)
        notes = _build_notes(photos, split_names, split_seed, image_size)
        if split_seed != seed:
            notes.insert(0, f"Distortions drawn with seed {seed}; photos split with seed {split_seed} (`--split-seed`).")
        write_corpus(corpus, out_dir, card, notes=notes, overwrite=overwrite)
    return corpus


def write_corpus(corpus, out_dir, card, notes=(), overwrite=False):
    """Write the built `corpus` as the standard corpus folder through `export.write_corpus`.

    The exporter reads images from files: the PNG bytes go to a temporary folder laid out like a
    release (`images/<name>.png` = `image_id`) and are embedded once more, unchanged, in the parquet
    files. The `seeded` split scheme is the corpus's split by reference photo; it partitions the data
    files. Returns {scheme: {split: rows}}.
    """
    import tempfile

    import datasets

    from datasets_scripts import export

    with tempfile.TemporaryDirectory(prefix="liqe-synthetic-") as staging:
        rows, seeded = [], {}
        for split in SPLITS:
            for row in corpus[split].cast_column("image", datasets.Image(decode=False)):
                path = Path(staging) / row["image_id"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(row["image"]["bytes"])
                # The exporter takes scene names and derives `distortion` from `distortion_fine`.
                rows.append(dict(row, image=str(path), scenes=[SCENES[i] for i in row["scenes"]]))
                seeded[row["image_id"]] = split
        return export.write_corpus(
            out_dir, rows, {"seeded": seeded}, card, default_split="seeded", notes=notes, overwrite=overwrite
        )


def _is_default_references(photos):
    return all(REFERENCE_PHOTOS.get(p["name"], {}).get("licence") == p["licence"] for p in photos)


def markdown_table(photos=None, image_size=DEFAULT_IMAGE_SIZE, level_list=None, distortions=None, seed=0, splits=None):
    """Markdown: the reference photos, size, counts and splits, then every distortion's levels."""
    level_list = level_list or list(range(1, NUM_LEVELS + 1))
    distortions = distortions or DISTORTIONS
    if photos is None:
        photos = [{"name": n, **m} for n, m in REFERENCE_PHOTOS.items()]
    if splits is None:
        splits = split_references([p["name"] for p in photos], seed=seed)
    n_classes = len({d.distortion_class for d in distortions})
    per_ref = len(distortions) * len(level_list)
    lines = [
        f"**Synthetic corpus** (`datasets_scripts/synthetic.py`, seed {seed}): {len(photos)} reference photos x "
        f"{len(distortions)} distortion types x {len(level_list)} levels = **{len(photos) * per_ref} images** of "
        f"{image_size}x{image_size} px (PNG), covering {n_classes} of the {len(DISTORTION_CLASSES)} LIQE distortion classes. "
        f"Split by reference photo: "
        + ", ".join(f"{s} {len(n)} photo{'s' * (len(n) != 1)} / {len(n) * per_ref} images" for s, n in splits.items())
        + ". Quality target: `mos = 4.9 - 0.9 * (level - 1) - offset` (1-5, higher is better).",
        "",
        "| reference photo | scenes | split (seed %d) | licence |" % seed,
        "|---|---|---|---|",
    ]
    split_of = {n: s for s, names in splits.items() for n in names}
    for p in photos:
        lines.append(f"| {p['name']} | {', '.join(p['scenes']) or '-'} | {split_of[p['name']]} | {p['licence']} |")
    lines += [
        "",
        "| id | distortion (KADID-10k) | LIQE fine label | LIQE class | parameter | "
        + " | ".join(f"L{lvl}" for lvl in level_list)
        + " | mos offset |",
        "|---|---|---|---|---|" + "---|" * len(level_list) + "---|",
    ]
    for d in distortions:
        values = " | ".join(f"{d.levels[lvl - 1]:g}" for lvl in level_list)
        lines.append(f"| {d.type_id:02d} | {d.name} | {d.fine} | {d.distortion_class} | {d.parameter} | {values} | {d.mos_offset:g} |")
    return "\n".join(lines) + "\n"


def corpus_card(photos, seed, image_size, level_list, distortions, splits):
    """The ``card.CorpusCard`` of a build: the photo licence table in the terms, the contents table in the description."""
    from datasets_scripts.card import REDISTRIBUTION_ALLOWED, REDISTRIBUTION_UNKNOWN, CorpusCard
    from datasets_scripts.kadid10k import CARD as KADID10K_CARD

    default = _is_default_references(photos)
    classes_present = sorted({d.distortion_class for d in distortions}, key=DISTORTION_CLASSES.index)
    description = "\n".join(
        [
            "Reference photos with KADID-10k-style synthetic distortions, built offline (nothing downloaded) by "
            f"`python -m datasets_scripts.synthetic` of the liqe project (seed {seed}, {image_size} px, levels "
            f"{level_list}). Distortion classes present: {', '.join(classes_present)}.",
            "",
            "The distortions are approximations written for this project in the style of KADID-10k (Lin, Hosu, "
            "Saupe, QoMEX 2019), not its code, and the quality target is a rule on the level, not a subjective "
            "score. Use it to exercise training and evaluation code, not to report image-quality results.",
            "",
            markdown_table(photos, image_size=image_size, level_list=level_list, distortions=distortions, seed=seed, splits=splits),
        ]
    )
    if default:
        intro = (
            "All reference photos ship inside the scikit-image package (`skimage.data`); their licences as stated "
            "in the scikit-image docstrings:"
        )
    else:
        intro = "User-supplied reference photos: their licence is whatever their owner grants (fill it in)."
    terms = "\n".join(
        [intro, "", "| photo | licence | source |", "|---|---|---|"]
        + [f"| {p['name']} | {p['licence']} | {p['source']} |" for p in photos]
        + ["", "The distorted images are dedicated to the public domain (CC0 1.0) as far as the photos allow."]
    )
    return CorpusCard(
        corpus=CORPUS_NAME,
        pretty_name="LIQE synthetic IQA corpus (KADID-10k-style distortions)",
        homepage="none, generated offline by `datasets_scripts/synthetic.py` of the liqe project",
        description=description,
        score_description=(
            "`mos = 4.9 - 0.9 * (level - 1) - offset` on 1-5, higher is better, where `offset` (0 to 0.3) is a fixed "
            "constant of the distortion type (its column in the table above); `mos_raw` equals `mos` and `mos_std` "
            "is empty. The target encodes the level only, never the photo."
        ),
        citation=KADID10K_CARD.citation,
        terms=terms,
        redistribution=REDISTRIBUTION_ALLOWED if default else REDISTRIBUTION_UNKNOWN,
        license="other" if default else "unknown",
        license_name="public-domain-and-cc0" if default else None,
        notes=[
            "`image_id` is `images/<photo>_<type id>_<level>.png`; `reference_id` is the photo's name; "
            "`distortion_fine` is the KADID-10k type's LIQE label, `distortion_level` the level column (1..5).",
        ],
    )


def _build_notes(photos, splits, seed, image_size):
    reference_code = "load_reference_photos(None, %d)" % image_size if _is_default_references(photos) else (
        "load_reference_photos(FOLDER, %d)" % image_size
    )
    return [
        f"`seeded`: split by reference photo (no photo in two splits), seed {seed}, "
        f"{'/'.join(str(round(100 * f)) for f in DEFAULT_SPLIT_FRACTIONS)} of the photos rather than the 70/10/20 "
        "of the images used for real corpora: "
        + "; ".join(f"{split} {', '.join(names)}" for split, names in splits.items())
        + ".",
        "The pristine (cropped, resized) reference photos are not stored: "
        f"`datasets_scripts.synthetic.{reference_code}` rebuilds them exactly, for full-reference measures.",
    ]


def main(argv=None):
    from datasets_scripts.export import ExportError, push_to_hub

    parser = argparse.ArgumentParser(
        prog="python -m datasets_scripts.synthetic",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", help="output folder (README.md, data/, splits/), read by splits.load_session")
    parser.add_argument("--references", help="folder of reference photos (default: the scikit-image photos)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-seed", type=int, default=None,
                        help="seed of the split by reference photo (default: --seed)")
    parser.add_argument("--size", type=int, default=DEFAULT_IMAGE_SIZE, help="square side in px (>= 224 for the model)")
    parser.add_argument("--levels", type=int, default=NUM_LEVELS, help="levels per distortion, 1-5 (evenly spaced)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (same output)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier build in --out")
    parser.add_argument("--push-to-hub", metavar="ORG/NAME", help="upload the output folder as this Hub dataset repo")
    parser.add_argument("--public", action="store_true", help="create the Hub repo public even for user-supplied photos")
    parser.add_argument("--token", help="Hub token (default: the logged-in one)")
    parser.add_argument("--table", action="store_true", help="print the markdown table of the corpus and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.table:
        photos = None
        if args.references:
            photos = load_reference_photos(args.references, 32)
        sys.stdout.write(markdown_table(photos, image_size=args.size, level_list=_selected_levels(args.levels), seed=args.seed))
        return 0
    if not args.out:
        parser.error("--out is required (or --table)")
    # Distorting the photos takes most of the time and shows no progress bar: say what is happening first.
    print(f"{CORPUS_NAME}: distorting the reference photos ({len(DISTORTIONS)} distortions x "
          f"{len(_selected_levels(args.levels))} levels each, {args.size}x{args.size} px), then writing {args.out} "
          "(about 30 s on 2 cores; the progress bars are the writing)", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        corpus = build_synthetic_corpus(
            out_dir=args.out, references=args.references, seed=args.seed, image_size=args.size, levels=args.levels,
            num_workers=args.workers, overwrite=args.overwrite, split_seed=args.split_seed,
        )
    except ExportError as error:
        print(f"python -m datasets_scripts.synthetic: error: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    sizes = ", ".join(f"{split} {len(ds)}" for split, ds in corpus.items())
    print(f"{CORPUS_NAME}: {sum(len(ds) for ds in corpus.values())} rows written to {args.out} "
          f"(data files split by seeded: {sizes}) in {elapsed:.1f} s")
    if args.push_to_hub:
        # The built-in photos are CC0 / public domain; user-supplied ones have unknown terms: private.
        private = bool(args.references) and not args.public
        if private:
            logger.warning("user-supplied reference photos: creating %s as a private repo (--public to override)", args.push_to_hub)
        push_to_hub(args.out, args.push_to_hub, private=private, token=args.token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
