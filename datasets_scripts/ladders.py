"""Level ladders generated on the fly: one random crop of a reference photo, one distortion, all its levels.

A *ladder* is the pristine crop followed by the same crop distorted at levels 1..5 with one freshly seeded
distortion (new noise field, angle, patches every time): within a ladder the quality order is exact, so ranking
pairs are taken only inside a ladder. Every sample draws a new reference, crop position, crop scale (crop side
between `crop_size` and the photo's short side, shrunk to `crop_size`: never upsampled, which would blur),
flip, 90-degree rotation and colour-channel order, so a handful of photos gives a stream that never repeats.

The photos come from wheels installed here (no download): ``TRAINING_PHOTOS`` lists each with its source
and licence (``EXTRA_TRAINING_PHOTOS`` and ``MORE_COLOUR_PHOTOS``: the optional sets of `--ladder_photos`). Photo
sources kept out of training (the unseen-photo test) are in ``UNSEEN_PHOTOS``.

    sampler = LadderSampler(load_photos(TRAINING_PHOTOS), crop_size=224, seed=0)
    ladder = sampler.sample()   # Ladder(images (6, 224, 224, 3) uint8, mos (6,), distortion_class (6,), ...)
"""

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from datasets_scripts.synthetic import DISTORTIONS, DISTORTIONS_BY_ID, distort, quality_target
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES

# Quality target of a pristine crop (above level 1's 4.9 - offset).
PRISTINE_MOS = 5.0
# Distortions that do nothing to a grey picture (they only move chroma).
COLOUR_ONLY_TYPE_IDS = (4, 5, 7, 8, 12)


def _skimage(name):
    def load():
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _pywt(name):
    def load():
        import pywt.data

        return getattr(pywt.data, name)()

    return load


def _sklearn(filename):
    def load():
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


def _matplotlib(filename):
    def load():
        from matplotlib import cbook

        with cbook.get_sample_data(filename) as handle:
            return np.asarray(Image.open(handle).convert("RGB"))

    return load


def _sporco(filename):
    """A photo of the SPORCO wheel's test images (sporco/data; its README.rst states their sources and licences), read
    from the installed package's folder without importing it (its import pulls in plotting and FFT modules)."""

    def load():
        import importlib.util

        spec = importlib.util.find_spec("sporco")
        if spec is None:
            raise ImportError(f"photo {filename!r} comes from the sporco wheel: pip install sporco (the train extra)")
        return np.asarray(Image.open(Path(spec.origin).parent / "data" / filename).convert("RGB"))

    return load


# Photos used for training. The first four are the synthetic corpus's seed-0 training split (its validation
# photo 'immunohistochemistry' and test photos 'chelsea', 'retina' are never used here).
TRAINING_PHOTOS = {
    "astronaut": (_skimage("astronaut"), "scikit-image (skimage.data.astronaut)", "public domain (NASA)"),
    "coffee": (_skimage("coffee"), "scikit-image (skimage.data.coffee)", "CC0 (Rachel Michetti)"),
    "hubble_deep_field": (_skimage("hubble_deep_field"), "scikit-image (skimage.data.hubble_deep_field)", "public domain (NASA)"),
    "rocket": (_skimage("rocket"), "scikit-image (skimage.data.rocket)", "public domain (SpaceX)"),
    "camera": (_skimage("camera"), "scikit-image (skimage.data.camera), grey", "CC0 (Lav Varshney)"),
    "coins": (_skimage("coins"), "scikit-image (skimage.data.coins), grey", "no known copyright restrictions (Brooklyn Museum)"),
    "brick": (_skimage("brick"), "scikit-image (skimage.data.brick), grey", "CC0 (CC0Textures)"),
    "grass": (_skimage("grass"), "scikit-image (skimage.data.grass), grey", "CC0 (linolafett, DeviantArt)"),
    "gravel": (_skimage("gravel"), "scikit-image (skimage.data.gravel), grey", "CC0 (CC0Textures)"),
    "ascent": (_pywt("ascent"), "PyWavelets (pywt.data.ascent), grey", "public domain (public-domain-image.com)"),
}

# More photos from the same wheels, for the "bundled+" set (train_accelerate.py --ladder_photos): a colour street
# scene and two grey ones. Not in the synthetic corpus, not in the unseen-photo test. (skimage's clock is left out:
# it is motion-blurred, so it cannot stand for a pristine reference.)
EXTRA_TRAINING_PHOTOS = {
    "motorcycle": (lambda: _skimage("stereo_motorcycle")()[0],
                   "scikit-image (skimage.data.stereo_motorcycle, left view; Middlebury 2014 stereo datasets, "
                   "Scharstein et al., GCPR 2014)", "not stated by scikit-image (shipped under its BSD-3-Clause files entry)"),
    "moon": (_skimage("moon"), "scikit-image (skimage.data.moon), grey", "not stated by scikit-image (shipped under its BSD-3-Clause files entry)"),
    "cell": (_skimage("cell"), "scikit-image (skimage.data.cell), grey", "CC0 (stated in skimage.data.cell)"),
}

# Four more colour photos with fine natural colour texture (petals, foliage, sails, feathers), the kind that the
# accuracy-side models read as a distortion (research/LOG.md, session 19), for the "bundled+colour" set. From the
# SPORCO wheel (pip install sporco; BSD-3-Clause code), whose README.rst gives each image's source and licence.
MORE_COLOUR_PHOTOS = {
    "sail": (_sporco("sail.png"), "SPORCO (sporco/data/sail.png; Waterloo BragZone test image)",
             "free of copyright restrictions (Waterloo BragZone readme)"),
    "tulips": (_sporco("tulips.png"), "SPORCO (sporco/data/tulips.png; Waterloo BragZone test image)",
               "free of copyright restrictions (Waterloo BragZone readme)"),
    "monarch": (_sporco("monarch.png"), "SPORCO (sporco/data/monarch.png; Waterloo BragZone test image)",
                "free of copyright restrictions (Waterloo BragZone readme)"),
    "kodim23": (_sporco("kodim23.png"), "SPORCO (sporco/data/kodim23.png; Kodak PhotoCD test image 23)",
                "released by Kodak for unrestricted use (r0k.us/graphics/kodak)"),
}

# Whole photo sources never trained on: the unseen-photo test.
UNSEEN_PHOTOS = {
    "china": (_sklearn("china.jpg"), "scikit-learn (sklearn.datasets.load_sample_image('china.jpg'))", "CC BY 2.0 (danielbuechele, Flickr)"),
    "flower": (_sklearn("flower.jpg"), "scikit-learn (sklearn.datasets.load_sample_image('flower.jpg'))", "CC BY 2.0 (vultilion, Flickr)"),
    "grace_hopper": (_matplotlib("grace_hopper.jpg"), "matplotlib sample data (grace_hopper.jpg)", "public domain (U.S. Navy)"),
}


def load_photos(registry):
    """[{name, image (H, W, 3) uint8, grey, source, licence}] for a registry like `TRAINING_PHOTOS`."""
    photos = []
    for name, (load, source, licence) in registry.items():
        image = np.asarray(load())
        if image.dtype != np.uint8:
            raise ValueError(f"photo {name!r} from {source}: expected uint8 pixels, got {image.dtype}")
        grey = image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)
        if grey:
            image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
        photos.append({"name": name, "image": np.ascontiguousarray(image[..., :3]), "grey": grey, "source": source, "licence": licence})
    return photos


@dataclass
class Ladder:
    """One ladder: images[0] is the pristine crop, images[k] the crop at level k."""

    images: np.ndarray  # (1 + levels, S, S, 3) uint8
    mos: np.ndarray  # (1 + levels,) float32, higher is better
    distortion_class: np.ndarray  # (1 + levels,) int64 index into DISTORTION_CLASSES; -1 for the pristine crop
    type_id: int
    reference: str


def checked_exposure_jitter(value):
    """`value` as a float when it is a valid `exposure_jitter` (a log-gain range in [0, 2]), else ValueError."""
    if not 0.0 <= float(value) <= 2.0:
        raise ValueError(f"exposure_jitter must be in [0, 2] (a log gain), got {value!r}")
    return float(value)


def scale_exposure(image, gain):
    """uint8 sRGB `image` with its linear light times `gain` (sRGB transfer curve; clipped at white)."""
    x = np.asarray(image, dtype=np.float32) / 255.0
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4) * gain
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


DARKEN_TYPE_ID = 17
# Linear-light gains of a camera's under-exposure, matched level for level to the corpus's "Darken" (x ** gamma,
# gamma 1.2 .. 3.0) at mid-grey: 0.5 ** (gamma - 1) in sRGB value, that to the power 2.2 in linear light.
LINEAR_DARKEN_GAINS = tuple(round((0.5 ** (g - 1.0)) ** 2.2, 3) for g in (1.2, 1.45, 1.8, 2.3, 3.0))


def checked_probability(name, value):
    """`value` as a float when it is a probability in [0, 1], else ValueError naming `name`."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def duotone(image, rng):
    """A grey uint8 `image` (H, W, 3) mapped through a random two-colour ramp: a dark colour for black, a light,
    paler one of a nearby hue for white. Its chroma then varies with its luminance, as in foliage, earth or
    stone, so that a grey texture photo stands for a colour one whose fine colour texture is not a distortion."""
    import colorsys

    hue, saturation = rng.uniform(0.0, 1.0), rng.uniform(0.2, 0.7)
    dark = np.array(colorsys.hsv_to_rgb(hue, saturation, rng.uniform(0.0, 0.2)))
    light = np.array(colorsys.hsv_to_rgb((hue + rng.uniform(-0.08, 0.08)) % 1.0, saturation * rng.uniform(0.3, 0.8), 1.0))
    y = np.asarray(image, dtype=np.float32)[..., :1] / 255.0
    return np.clip(np.rint(((1.0 - y) * dark + y * light) * 255.0), 0, 255).astype(np.uint8)


def composite_sky(image, rng):
    """`image` (S, S, 3) uint8 with a bright hazy sky over its upper part, as in a landscape photo: a pale, nearly
    grey-blue vertical gradient (sRGB luminance ~0.78-0.97, brightest at the horizon), faint low-frequency cloud
    and a little grain, above an irregular horizon (smooth undulation plus a rough, tree-line-like edge) around
    30-65 % of the height (12-85 % at its extremes), feathered over ~1 px. The image below the horizon is unchanged. A pristine reference
    then holds a large bright region without being over-exposed (research/LOG.md, session 19)."""
    from scipy.ndimage import gaussian_filter, gaussian_filter1d

    side = image.shape[0]
    x = np.arange(image.shape[1]) / image.shape[1]
    horizon = rng.uniform(0.30, 0.65) * side
    for frequency in (1, 2, 4):
        horizon += rng.uniform(0.0, 0.06 * side / np.sqrt(frequency)) * np.sin(2 * np.pi * (frequency * x + rng.uniform()))
    horizon += gaussian_filter1d(rng.normal(0.0, 1.0, x.size), 1.5) * rng.uniform(0.0, 0.04 * side)
    rows = np.arange(side)[:, None] + 0.5
    alpha = np.clip(horizon[None, :] - rows + 0.5, 0.0, 1.0)  # 1 above the horizon, linear over 1 px
    alpha = gaussian_filter(alpha, 0.6)[..., None]
    top = rng.uniform(0.78, 0.92)
    bright = min(top + rng.uniform(0.02, 0.08), 0.97)
    depth = np.clip(rows / np.maximum(horizon[None, :], 1.0), 0.0, 1.0)[..., None]  # 0 at the top, 1 at the horizon
    luminance = top + (bright - top) * depth
    blue = np.array([-1.0, -0.2, 1.0]) * rng.uniform(0.0, 0.06)  # a pale blue cast, or none
    sky = luminance * (1.0 + blue * (1.0 - depth))
    sky = sky + gaussian_filter(rng.normal(0.0, 1.0, (side, image.shape[1])), side / 8.0)[..., None] * rng.uniform(0.0, 0.2)
    sky = sky + rng.normal(0.0, rng.uniform(0.001, 0.004), sky.shape)
    mixed = alpha * np.clip(sky, 0.0, 1.0) + (1.0 - alpha) * (np.asarray(image, dtype=np.float32) / 255.0)
    return np.clip(np.rint(mixed * 255.0), 0, 255).astype(np.uint8)


class LadderSampler:
    """Draws ladders forever from `photos` (see module docstring).

    Args:
        photos: from `load_photos`.
        crop_size: side of the square crops (the model's window).
        type_ids: KADID-style distortion ids to draw from (default: all 25); colour-only ones are skipped for
            grey photos.
        levels: which levels each ladder holds (default 1..5).
        seed: seeds the whole stream (and each ladder's distortion seed).
        permute_channels: shuffle the RGB channels of colour crops (more colour variety from few photos).
        exposure_jitter: a > 0 scales the crop's linear light by exp(U(-a, a)) before the ladder is made (its
            "pristine" image included): the references then span a range of exposures, so that a model cannot
            rank quality by mean brightness alone (one bright unseen photo read every darkening as better).
        tint_grey: the probability that a grey photo's crop is coloured by a random `duotone` (it then counts as
            a colour photo: colour-only distortions may be drawn for it); 0: grey photos stay grey.
        linear_darken: the probability that a "Darken" ladder (type 17) is made as a camera under-exposes, its
            linear light times `LINEAR_DARKEN_GAINS` (highlights darken too), instead of the corpus's gamma curve
            (which keeps white white); the levels' quality targets are the same. 0: always the gamma curve.
        sky_composite: the probability that a crop gets a bright hazy sky over its upper part (`composite_sky`)
            before its ladder is made (the pristine image included). 0: never.
    """

    def __init__(self, photos, crop_size=224, type_ids=None, levels=(1, 2, 3, 4, 5), seed=0, permute_channels=True,
                 exposure_jitter=0.0, tint_grey=0.0, linear_darken=0.0, sky_composite=0.0):
        if not photos:
            raise ValueError("LadderSampler needs at least one photo")
        self.photos = [p for p in photos if min(p["image"].shape[:2]) >= crop_size]
        if not self.photos:
            raise ValueError(f"no photo has a short side >= crop_size {crop_size}")
        self.crop_size = int(crop_size)
        self.type_ids = list(type_ids) if type_ids is not None else [d.type_id for d in DISTORTIONS]
        unknown = [t for t in self.type_ids if t not in DISTORTIONS_BY_ID]
        if unknown:
            raise ValueError(f"unknown distortion type ids {unknown}")
        self.levels = [int(level) for level in levels]
        self.permute_channels = permute_channels
        self.exposure_jitter = checked_exposure_jitter(exposure_jitter)
        self.tint_grey = checked_probability("tint_grey", tint_grey)
        self.linear_darken = checked_probability("linear_darken", linear_darken)
        self.sky_composite = checked_probability("sky_composite", sky_composite)
        self.rng = np.random.default_rng(seed)

    def random_crop(self, photo, tint=False):
        image = photo["image"]
        h, w = image.shape[:2]
        side = int(self.rng.integers(self.crop_size, min(h, w) + 1))
        top = int(self.rng.integers(0, h - side + 1))
        left = int(self.rng.integers(0, w - side + 1))
        crop = image[top : top + side, left : left + side]
        if side != self.crop_size:
            crop = np.asarray(Image.fromarray(crop).resize((self.crop_size, self.crop_size), Image.Resampling.LANCZOS))
        crop = np.rot90(crop, int(self.rng.integers(4)))
        if self.rng.random() < 0.5:
            crop = crop[:, ::-1]
        if self.permute_channels and not photo["grey"]:
            crop = crop[..., self.rng.permutation(3)]
        if tint:
            crop = duotone(crop, self.rng)
        if self.exposure_jitter:  # drawn only when asked: the stream without it is unchanged
            crop = scale_exposure(crop, float(np.exp(self.rng.uniform(-self.exposure_jitter, self.exposure_jitter))))
        if self.sky_composite and self.rng.random() < self.sky_composite:  # after the channel shuffle: the sky stays pale blue
            crop = composite_sky(np.ascontiguousarray(crop), self.rng)
        return np.ascontiguousarray(crop)

    def sample(self, type_id=None):
        photo = self.photos[int(self.rng.integers(len(self.photos)))]
        # Drawn only when asked: the stream without tinting is unchanged.
        tint = bool(photo["grey"] and self.tint_grey and self.rng.random() < self.tint_grey)
        grey = photo["grey"] and not tint
        choices = [t for t in self.type_ids if not (grey and t in COLOUR_ONLY_TYPE_IDS)] or self.type_ids
        type_id = int(type_id if type_id is not None else choices[int(self.rng.integers(len(choices)))])
        distortion = DISTORTIONS_BY_ID[type_id]
        crop = self.random_crop(photo, tint=tint)
        seed = int(self.rng.integers(2**31))
        # Drawn only when asked and only for Darken ladders: every other ladder is unchanged.
        if type_id == DARKEN_TYPE_ID and self.linear_darken and self.rng.random() < self.linear_darken:
            images = [crop] + [scale_exposure(crop, LINEAR_DARKEN_GAINS[level - 1]) for level in self.levels]
        else:
            images = [crop] + [distort(crop, distortion, level, seed=seed, reference_name=photo["name"]) for level in self.levels]
        mos = [PRISTINE_MOS] + [quality_target(distortion, level) for level in self.levels]
        class_id = DISTORTION_CLASSES.index(distortion.distortion_class)
        return Ladder(
            images=np.stack(images),
            mos=np.asarray(mos, dtype=np.float32),
            distortion_class=np.asarray([-1] + [class_id] * len(self.levels), dtype=np.int64),
            type_id=type_id,
            reference=photo["name"],
        )


def photo_fingerprint(photos):
    """CRC32 of the photos' pixels (to record exactly what a run trained on)."""
    crc = 0
    for photo in photos:
        crc = zlib.crc32(photo["name"].encode(), crc)
        crc = zlib.crc32(photo["image"].tobytes(), crc)
    return f"{crc:08x}"


__all__ = ["Ladder", "LadderSampler", "duotone", "LINEAR_DARKEN_GAINS", "TRAINING_PHOTOS", "EXTRA_TRAINING_PHOTOS", "UNSEEN_PHOTOS", "load_photos", "photo_fingerprint", "PRISTINE_MOS"]
