"""KADID-10k (Konstanz Artificially Distorted Image quality Database) -> dataset folder.

Reads the release's ``dmos.csv`` (header ``dist_img,ref_img,dmos,var``; 10,125 rows). Images are
``images/Ixx_yy_zz.png`` (reference xx, distortion type yy, level zz); the 81 references
``images/Ixx.png`` share the folder and are not rows. Despite its name ``dmos`` is a MOS on 1-5,
higher is better, used as is; ``var`` is a variance: ``mos_std`` = sqrt(var).

    python -m datasets_scripts.kadid10k --root DOWNLOAD_DIR --out OUT_DIR [--liqe-labels IQA_Database]
"""

import csv
import math
import re
import sys

from .card import REDISTRIBUTION_UNKNOWN, CorpusCard
from .cli import run
from .common import ConversionError, CorpusSpec, OfficialRelease, convert_release, parse_number

ANNOTATION = "dmos.csv"
COLUMNS = ("dist_img", "ref_img", "dmos", "var")
DISTORTED_NAME = re.compile(r"^I(\d{2})_(\d{2})_(\d{2})\.png$", re.IGNORECASE)
REFERENCE_NAME = re.compile(r"^I\d{2}\.png$", re.IGNORECASE)
# Official type id -> LIQE fine label (official names in the comments).
DISTORTION_TYPES = {
    1: "gaussian blur",  # Gaussian blur
    2: "lens",  # Lens blur
    3: "motion",  # Motion blur
    4: "diffusion",  # Color diffusion
    5: "shifting",  # Color shift
    6: "color quantization",  # Color quantization
    7: "oversaturation",  # Color saturation 1
    8: "desaturation",  # Color saturation 2
    9: "jpeg2000 compression",  # JPEG2000
    10: "jpeg compression",  # JPEG
    11: "white noise",  # White noise
    12: "white with color",  # White noise in color component
    13: "impulse",  # Impulse noise
    14: "multiplicative",  # Multiplicative noise
    15: "white noise with denoise",  # Denoise
    16: "brighten",  # Brighten
    17: "darken",  # Darken
    18: "shifting the mean",  # Mean shift
    19: "jitter",  # Jitter
    20: "noneccentricity patch",  # Non-eccentricity patch
    21: "pixelate",  # Pixelate
    22: "quantization",  # Quantization
    23: "color blocking",  # Color block
    24: "sharpness",  # High sharpen
    25: "contrast",  # Contrast change
}

CARD = CorpusCard(
    corpus="kadid10k",
    pretty_name="KADID-10k",
    homepage="https://database.mmsp-kn.de/kadid-10k-database.html",
    description=(
        "10,125 images distorted from 81 reference images with 25 distortion types at 5 levels, rated by "
        "crowdsourcing (Lin, Hosu & Saupe). The 81 references are not rows."
    ),
    score_description=(
        "`mos_raw` is the `dmos` column of `dmos.csv`, which despite its name is a MOS on 1-5, higher is better; "
        "`mos` equals it. `mos_std` = sqrt(`var`) (the column is a variance)."
    ),
    citation="""@inproceedings{lin2019kadid,
  title     = {{KADID-10k}: A Large-scale Artificially Distorted {IQA} Database},
  author    = {Lin, Hanhe and Hosu, Vlad and Saupe, Dietmar},
  booktitle = {International Conference on Quality of Multimedia Experience (QoMEX)},
  pages     = {1--3},
  year      = {2019}
}""",
    terms=(
        "No licence for the distorted images and ratings was found. A third-party readme states that the 81 "
        "pristine images are under the Pixabay License. Check the official page before publishing."
    ),
    redistribution=REDISTRIBUTION_UNKNOWN,
    notes=[
        "`distortion_fine` follows the type id of the file name (one LIQE label per type, e.g. 02 Lens blur -> "
        "`lens`, 24 High sharpen -> `sharpness`); `distortion_level` is the name's level (1..5).",
    ],
)

SPEC = CorpusSpec(
    name="kadid10k",
    card=CARD,
    marker=ANNOTATION,
    root_names=("kadid10k", "KADID-10k", "kadid-10k"),
    image_dirs=("images",),
    synthetic=True,
    liqe_folder="kadid10k",
    liqe_prefix="kadid10k",
    mos_tolerance=1e-5,
)


def read_release(root):
    """Rows of the 10,125 distorted images from ``dmos.csv``."""
    path = root / ANNOTATION
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if header[: len(COLUMNS)] != list(COLUMNS):
            raise ConversionError(f"{path}: header is {header}, expected {list(COLUMNS)}")
        rows, seen = [], set()
        for line, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            where = f"{path}:{line}"
            if len(cells) < len(COLUMNS):
                raise ConversionError(f"{where}: expected {len(COLUMNS)} columns, got {len(cells)}")
            dist_img, ref_img = cells[0].strip(), cells[1].strip()
            match = DISTORTED_NAME.match(dist_img)
            if not match:
                raise ConversionError(f"{where}: dist_img {dist_img!r} is not named Ixx_yy_zz.png")
            reference, kind, level = (int(group) for group in match.groups())
            if kind not in DISTORTION_TYPES or not 1 <= level <= 5:
                raise ConversionError(f"{where}: {dist_img} has distortion type {kind} / level {level} out of range")
            if ref_img.lower() != f"i{reference:02d}.png":
                raise ConversionError(f"{where}: ref_img {ref_img!r} does not match {dist_img}")
            if dist_img in seen:
                raise ConversionError(f"{where}: {dist_img} is listed twice")
            seen.add(dist_img)
            mos = parse_number(cells[2], f"{where}, dmos")
            variance = parse_number(cells[3], f"{where}, var")
            if variance < 0:
                raise ConversionError(f"{where}: var {variance} is negative")
            rows.append(
                {
                    "image": str(root / "images" / dist_img),
                    "image_id": f"images/{dist_img}",
                    "mos": mos,
                    "mos_std": math.sqrt(variance),
                    "mos_raw": mos,
                    "reference_id": f"images/{ref_img}",
                    "distortion_fine": DISTORTION_TYPES[kind],
                    "distortion_level": level,
                }
            )
    if not rows:
        raise ConversionError(f"{path}: no data rows")
    excluded = {}
    images = root / "images"
    if images.is_dir():
        excluded = {f"images/{p.name}": "reference image" for p in images.iterdir() if REFERENCE_NAME.match(p.name)}
    return OfficialRelease(root=root, rows=rows, excluded=excluded)


def convert(root, out_dir, **options):
    """Convert the release under ``root``; ``options`` are those of ``common.convert_corpus``."""
    return convert_release(SPEC, read_release, root, out_dir, **options)


def main(argv=None):
    return run(SPEC, read_release, argv)


if __name__ == "__main__":
    sys.exit(main())
