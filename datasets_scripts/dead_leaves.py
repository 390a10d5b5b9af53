"""Procedural reference images: the *dead leaves* model, for training a quality model on more than a few photos.

Issue 11: a readout trained on level ladders of ten bundled photos overfits them (research/LOG.md). The dead leaves
model (Matheron 1968; Lee, Mumford & Huang, "Occlusion models for natural images", IJCV 2001) reproduces the
statistics that quality features measure in natural photos -- a scale-invariant (1/f^2) power spectrum, sharp
occluding edges, flat and smoothly shaded regions -- and it is the standard target for texture-loss measurement
in camera testing (Cao, Guichard & Hornung, "Dead leaves model for measuring texture quality on a digital
camera", 2010). Each image is a seeded stack of occluding discs whose radii follow the scale-invariant law
p(r) ~ r^-3 between `min_radius` and `max_radius`; each disc has a colour drawn from a palette of natural colours
and a gentle linear shading, so regions are not perfectly flat. Edges are anti-aliased by rendering at
`supersample` times the size and reducing with a box filter: a pristine reference must hold no aliasing, blur or
noise of its own.

The images are made here from a seed (no download, no licence beyond this repository's own): a training run that
uses them records the seeds, and `dead_leaves_photos(count, seed)` rebuilds them exactly.

    python -m datasets_scripts.dead_leaves --out DIR --count 8 --seed 0     # PNGs, to look at them
"""

import argparse
import sys
from pathlib import Path

import numpy as np

# Natural colours (linear mixes of these sRGB anchors): foliage, sky, earth, skin, stone, water, shadow, light.
PALETTE = np.array(
    [
        [70, 100, 45], [120, 150, 70], [110, 150, 205], [185, 205, 225], [120, 90, 60], [180, 150, 110],
        [205, 160, 130], [150, 110, 90], [130, 130, 125], [200, 195, 185], [50, 80, 100], [30, 30, 35],
        [235, 230, 215], [170, 60, 45], [210, 180, 60], [90, 60, 110],
    ],
    dtype=np.float64,
)


def texture_fields(big, count, rng):
    """`count` (big, big) zero-mean, unit-std random fields with a 1/f amplitude spectrum (natural fine texture:
    foliage, stone, fabric), from white noise shaped in the Fourier domain."""
    fy = np.fft.fftfreq(big)[:, None]
    fx = np.fft.rfftfreq(big)[None, :]
    radius = np.sqrt(fy * fy + fx * fx)
    radius[0, 0] = 1.0
    shaping = (1.0 / radius).astype(np.float32)
    shaping[0, 0] = 0.0
    fields = []
    for _ in range(count):
        spectrum = np.fft.rfft2(rng.standard_normal((big, big)).astype(np.float32)) * shaping
        field = np.fft.irfft2(spectrum, s=(big, big)).astype(np.float32)
        fields.append((field - field.mean()) / (field.std() + 1e-12))
    return fields


# A bright hazy or overcast sky (sRGB), top and horizon: the background of `sky=True` images.
SKY_TOP = np.array([[200, 215, 235], [225, 230, 240], [235, 238, 242]], dtype=np.float64)
SKY_HORIZON = np.array([[240, 243, 248], [250, 250, 250], [245, 242, 235]], dtype=np.float64)


def dead_leaves_image(size=512, seed=0, min_radius=6.0, max_radius=None, supersample=2, coverage=3.0, texture=0.0,
                      sky=False):
    """One (size, size, 3) uint8 dead-leaves image, a pure function of its arguments.

    Args:
        size: output side in pixels.
        seed: the image's seed (an int or a sequence of ints, as `numpy.random.default_rng` takes).
        min_radius, max_radius: disc radii in output pixels (default max: size / 4).
        supersample: render at this factor and box-reduce (anti-aliased edges).
        coverage: discs drawn until their total area is `coverage` times the image's (later discs occlude
            earlier ones; 3 leaves almost no background uncovered).
        texture: 0 draws flat, shaded discs (the classic model); t > 0 gives each disc one of four 1/f texture
            fields at a contrast drawn from U(0, t) (relative std): pristine references with fine natural texture,
            so that texture is not read as noise (an unseen photo of foliage was). Drawn after the discs: the
            discs of a seed are the same with or without texture.
        sky: a bright hazy sky (a vertical gradient to near white, luminance ~0.85-0.98) behind fewer discs whose
            centres lie in the lower two thirds, so that a large bright, nearly flat region is part of a pristine
            scene (an unseen photo of a pagoda against a white sky read as over-exposed). Its own stream: the
            images of a seed differ from the plain ones.
    """
    if size < 8 or supersample < 1 or not 0 < min_radius:
        raise ValueError(f"need size >= 8, supersample >= 1 and min_radius > 0 (got {size}, {supersample}, {min_radius})")
    max_radius = float(max_radius if max_radius is not None else size / 4)
    if max_radius <= min_radius:
        raise ValueError(f"max_radius ({max_radius}) must exceed min_radius ({min_radius})")
    if not 0.0 <= texture <= 1.0:
        raise ValueError(f"texture must be in [0, 1] (a relative contrast), got {texture}")
    rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), 104729] if sky else seed)
    big = size * supersample
    # Each image draws its colours from a few palette anchors (a coherent scene, not confetti).
    anchors = PALETTE[rng.choice(len(PALETTE), size=int(rng.integers(3, 6)), replace=False)]
    canvas = np.empty((big, big, 3), dtype=np.float32)
    canvas[:] = anchors[0]
    # A per-image colour cast and contrast, so the set spans dim, bright, warm and cold scenes.
    cast = rng.uniform(0.8, 1.2, size=3)
    gain = rng.uniform(0.6, 1.15)
    top_of_discs = None
    if sky:  # a bright sky stays bright: a gentle cast and gain only, fewer discs, none centred in the top third
        cast, gain = rng.uniform(0.97, 1.03, size=3), rng.uniform(0.95, 1.05)
        k = int(rng.integers(len(SKY_TOP)))
        t = np.linspace(0.0, 1.0, big, dtype=np.float32)[:, None, None] ** rng.uniform(0.5, 2.0)
        canvas[:] = (1.0 - t) * SKY_TOP[k] + t * SKY_HORIZON[k]
        coverage = min(coverage, float(rng.uniform(0.4, 1.0)))
        top_of_discs = big / 3.0
    r_min, r_max = min_radius * supersample, max_radius * supersample
    area = 0.0
    discs = []  # (y0, y1, x0, x1, inside) of each drawn disc, for the texture pass
    yy_cache = np.arange(big, dtype=np.float32)
    while area < coverage * big * big:
        # Inverse-CDF draw from p(r) ~ r^-3 on [r_min, r_max].
        u = rng.random()
        r = 1.0 / np.sqrt(1.0 / r_min**2 - u * (1.0 / r_min**2 - 1.0 / r_max**2))
        cy, cx = rng.uniform(top_of_discs if sky else -r, big + r), rng.uniform(-r, big + r)
        y0, y1 = max(0, int(cy - r)), min(big, int(cy + r) + 1)
        x0, x1 = max(0, int(cx - r)), min(big, int(cx + r) + 1)
        area += np.pi * r * r
        if y0 >= y1 or x0 >= x1:
            continue
        ys, xs = yy_cache[y0:y1, None] - cy, yy_cache[None, x0:x1] - cx
        inside = ys * ys + xs * xs <= r * r
        a, b = rng.choice(len(anchors), size=2)
        mix = rng.random()
        colour = (mix * anchors[a] + (1 - mix) * anchors[b]) * rng.uniform(0.55, 1.25)
        # Gentle linear shading across the disc (up to +-12% of its colour).
        direction = rng.normal(size=2)
        direction /= np.linalg.norm(direction) + 1e-12
        shade = 1.0 + rng.uniform(0.0, 0.12) * (ys * direction[0] + xs * direction[1]) / r
        region = canvas[y0:y1, x0:x1]
        region[inside] = (colour[None, None, :] * shade[..., None])[inside]
        if texture:
            discs.append((y0, y1, x0, x1, inside))
    if texture:
        # A separate stream: the discs above are the untextured image's, whatever `texture` is.
        texture_rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), 7919])
        fields = texture_fields(big, 4, texture_rng)
        # Later discs occlude earlier ones: paint the texture in drawing order, so each pixel ends with its
        # top disc's texture.
        factor = np.ones((big, big), dtype=np.float32)
        for y0, y1, x0, x1, inside in discs:
            field = fields[int(texture_rng.integers(len(fields)))]
            contrast = texture_rng.uniform(0.0, texture)
            patch = factor[y0:y1, x0:x1]
            patch[inside] = (1.0 + contrast * field[y0:y1, x0:x1])[inside]
        canvas *= np.clip(factor, 0.0, None)[..., None]
    canvas = (canvas * (cast * gain)[None, None, :].astype(np.float32))
    if supersample > 1:
        canvas = canvas.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def dead_leaves_photos(count, seed=0, size=512, texture=0.0, sky=False):
    """`count` dead-leaves images as `datasets_scripts.ladders.load_photos` entries (name, image, grey, ...);
    `sky=True`: the bright-sky kind (`dead_leaves_image`), named dead_leaves_sky_SEED_INDEX."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    kind = "dead_leaves_sky" if sky else "dead_leaves"
    return [
        {
            "name": f"{kind}_{seed}_{index}",
            "image": dead_leaves_image(size=size, seed=[int(seed), index], texture=texture, sky=sky),
            "grey": False,
            "source": f"datasets_scripts/dead_leaves.py (seed {seed}, image {index}, texture {texture}{', sky' if sky else ''})",
            "licence": "generated (this repository's licence)",
        }
        for index in range(int(count))
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the PNGs")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--texture", type=float, default=0.0, help="per-disc 1/f texture contrast, up to (0: flat discs)")
    args = parser.parse_args(argv)
    from PIL import Image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for photo in dead_leaves_photos(args.count, seed=args.seed, size=args.size, texture=args.texture):
        Image.fromarray(photo["image"]).save(out / f"{photo['name']}.png")
    print(f"wrote {args.count} images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
