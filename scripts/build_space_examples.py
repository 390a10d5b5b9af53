"""Write the Space's example images: downsized copies of the shipped CC0 photos and distorted versions of them.

    python scripts/build_space_examples.py [--out space/examples]

The photos are scikit-image's (CC0 / public domain), as shipped in tests/fixtures/images. Each is downsized so
that its long side is 512 px and saved as a JPEG of quality 92; three of them also get distorted copies
(Gaussian blur, heavy JPEG compression, white noise), named after the distortion. Deterministic (seeded noise).
"""

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
SOURCES = {  # example name -> fixture file
    "astronaut": "astronaut.png",
    "coffee": "coffee_1100x1600.png",
    "chelsea": "chelsea_rgba.png",
    "rocket": "rocket_left_900x600.png",
}
DISTORTED = ("astronaut", "coffee", "chelsea")
LONG_SIDE = 512


def downsized(image):
    image = image.convert("RGB")
    scale = LONG_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    return image


def distortions(image, seed):
    rng = np.random.default_rng(seed)
    noisy = np.asarray(image, dtype=np.float64) + rng.normal(0, 25, (image.height, image.width, 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=8)
    return {
        "blur": image.filter(ImageFilter.GaussianBlur(4)),
        "jpeg": Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"),
        "noise": Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "space" / "examples"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, fixture) in enumerate(SOURCES.items()):
        image = downsized(Image.open(REPO / "tests" / "fixtures" / "images" / fixture))
        image.save(out / f"{name}.jpg", quality=92)
        if name in DISTORTED:
            for kind, distorted in distortions(image, seed).items():
                distorted.save(out / f"{name}_{kind}.jpg", quality=92)
    print(f"wrote {len(list(out.glob('*.jpg')))} images to {out}")


if __name__ == "__main__":
    main()
