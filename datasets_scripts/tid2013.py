"""TID2013 (Tampere Image Database 2013, Ponomarenko et al.) -> dataset folder.

Release layout (the unpacked ``tid2013.rar``)::

    reference_images/I01.BMP ... I24.BMP, i25.bmp   25 pristine images (not rows)
    distorted_images/iXX_YY_Z.bmp                    3,000 = 25 references x 24 types x 5 levels
    mos_with_names.txt                               "<MOS> <name>" per line, e.g. "5.51429 i01_01_1.bmp"
    mos_std.txt                                      one value per line, same order
    mos.txt                                          the MOS alone (not read)

Names are ``iXX_YY_Z.bmp``: reference XX, distortion type YY (01..24), level Z (1..5, 1 = mildest).
MOS is on 0-9, higher is better: ``mos`` = ``mos_raw`` = the txt MOS; ``mos_std`` = ``mos_std.txt``.

Case quirks: the txt writes every name in lower case, but on disk the level-1 files of type 01
are ``IXX_01_1.bmp``, those of types 11 and 13 ``IXX_11_1.BMP`` / ``IXX_13_1.BMP``, and the references
``I01.BMP`` .. ``I24.BMP`` but ``i25.bmp``. Files are looked up ignoring case; ``image_id`` keeps the
txt's spelling (``distorted_images/i01_01_1.bmp``) and ``reference_id`` is written the same way
(``reference_images/i01.bmp``) whatever the case on disk.

TID2013 type -> LIQE fine label (-> LIQE class); "~" marks an approximate choice:

    ==  ======================================  ==========================  ======================
    01  Additive Gaussian noise                 white noise                 noise
    02  Additive noise in color components      white with color            noise
    03  Spatially correlated noise              fnoise             ~        noise
    04  Masked noise                            white noise        ~        noise
    05  High frequency noise                    white noise        ~        noise
    06  Impulse noise                           impulse                     noise
    07  Quantization noise                      quantization                quantization
    08  Gaussian blur                           gaussian blur               blur
    09  Image denoising                         white noise with denoise    noise
    10  JPEG compression                        jpeg compression            jpeg compression
    11  JPEG2000 compression                    jpeg2000 compression        jpeg2000 compression
    12  JPEG transmission errors                jpeg compression   ~        jpeg compression
    13  JPEG2000 transmission errors            fastfading                  jpeg2000 compression
    14  Non eccentricity pattern noise          noneccentricity patch       spatial
    15  Local block-wise distortions            color blocking              spatial
    16  Mean shift (intensity shift)            shifting the mean           other
    17  Contrast change                         contrast                    contrast
    18  Change of color saturation              desaturation       ~        color
    19  Multiplicative Gaussian noise           multiplicative              noise
    20  Comfort noise                           white noise        ~        noise
    21  Lossy compression of noisy images       white noise with denoise ~  noise
    22  Image color quantization with dither    color quantization          quantization
    23  Chromatic aberrations                   shifting                    blur
    24  Sparse sampling and reconstruction      jpeg2000 compression ~      jpeg2000 compression
    ==  ======================================  ==========================  ======================

Why the approximate ones: 03 spatially correlated noise is low-pass (pink) noise, which is CSIQ's
``fnoise``; 04, 05 and 20 are additive noises whose only LIQE label is ``white noise``; 12 is the
JPEG counterpart of 13, and LIVE's JPEG2000 transmission errors (``fastfading``) sit in the
jpeg2000 class, so JPEG's go to the jpeg class; 21 adds noise and lets a lossy coder partly filter
it, which is what ``white noise with denoise`` describes (the readme's "Noise" subset holds 21);
24 reconstructs the image from a few transform coefficients, giving the blur and ringing of
JPEG2000 at low rates. 18 changes the colour saturation; the sources we hold do not say in which
direction each level goes, and LIQE has one label per direction: both fold onto the class ``color``,
so the 11-class ``distortion`` is right either way, and ``desaturation`` is the fine label kept
(the more common way saturation is lost in processing). Types 01, 02, 06-11, 14-17, 19, 22 and 23
have a KADID-10k type of the same name or effect and take its LIQE label.

    python -m datasets_scripts.tid2013 --root DOWNLOAD_DIR --out OUT_DIR [--seed N]
"""

import re
import sys

from .card import REDISTRIBUTION_FORBIDDEN, CorpusCard
from .cli import run
from .common import CaseInsensitiveFiles, ConversionError, CorpusSpec, OfficialRelease, convert_release, parse_number

MOS_FILE = "mos_with_names.txt"
STD_FILE = "mos_std.txt"
DISTORTED_DIR = "distorted_images"
REFERENCE_DIR = "reference_images"
NAME = re.compile(r"^i(\d{2})_(\d{2})_(\d)\.bmp$", re.IGNORECASE)
MOS_RANGE = (0.0, 9.0)
LEVELS = range(1, 6)
# TID2013 type id -> LIQE fine label (table and reasons in the module docstring).
DISTORTION_TYPES = {
    1: "white noise",  # Additive Gaussian noise
    2: "white with color",  # Additive noise in color components
    3: "fnoise",  # Spatially correlated noise
    4: "white noise",  # Masked noise
    5: "white noise",  # High frequency noise
    6: "impulse",  # Impulse noise
    7: "quantization",  # Quantization noise
    8: "gaussian blur",  # Gaussian blur
    9: "white noise with denoise",  # Image denoising
    10: "jpeg compression",  # JPEG compression
    11: "jpeg2000 compression",  # JPEG2000 compression
    12: "jpeg compression",  # JPEG transmission errors
    13: "fastfading",  # JPEG2000 transmission errors
    14: "noneccentricity patch",  # Non eccentricity pattern noise
    15: "color blocking",  # Local block-wise distortions of different intensity
    16: "shifting the mean",  # Mean shift (intensity shift)
    17: "contrast",  # Contrast change
    18: "desaturation",  # Change of color saturation
    19: "multiplicative",  # Multiplicative Gaussian noise
    20: "white noise",  # Comfort noise
    21: "white noise with denoise",  # Lossy compression of noisy images
    22: "color quantization",  # Image color quantization with dither
    23: "shifting",  # Chromatic aberrations
    24: "jpeg2000 compression",  # Sparse sampling and reconstruction
}

CARD = CorpusCard(
    corpus="tid2013",
    pretty_name="TID2013 (Tampere Image Database 2013)",
    homepage="https://www.ponomarenko.info/tid2013.htm",
    description=(
        "3,000 images distorted from 25 reference images with 24 distortion types at 5 levels, rated in five "
        "countries by pairwise comparisons (Ponomarenko et al.). The 25 references are not rows."
    ),
    score_description=(
        "`mos_raw` and `mos` are the MOS of `mos_with_names.txt` (0-9, higher is better), used as is. `mos_std` is "
        "the matching line of `mos_std.txt` as published; its values (typically around 0.15, a third party reports) are far smaller than a spread of "
        "individual scores on 0-9 would be (the same reading of the TID2013 paper calls it the RMS error of the MOS), "
        "so do not compare it with other corpora's `mos_std`."
    ),
    citation="""@article{ponomarenko2015image,
  title   = {Image Database {TID2013}: Peculiarities, Results and Perspectives},
  author  = {Ponomarenko, Nikolay and Jin, Lina and Ieremeiev, Oleg and Lukin, Vladimir and Egiazarian, Karen and
             Astola, Jaakko and Vozel, Benoit and Chehdi, Kacem and Carli, Marco and Battisti, Federica and
             Kuo, C.-C. Jay},
  journal = {Signal Processing: Image Communication},
  volume  = {30}, pages = {57--77}, year = {2015}
}""",
    terms=(
        "Research use only. The TID2013 readme's terms were not at hand for this conversion; the readme of its "
        "predecessor TID2008 (same authors) allows use, copying and modification for educational and research "
        "purposes only, without fee and with the copyright notice, and says the database shall not be modified "
        "without the authors' permission. Read the readme shipped in `tid2013.rar`, and do not publish a copy without the "
        "authors' permission."
    ),
    redistribution=REDISTRIBUTION_FORBIDDEN,
    notes=[
        "`distortion_fine` maps each of the 24 TID2013 types to the closest of LIQE's 33 fine labels (table in "
        "`datasets_scripts/tid2013.py`); several types share a label (01, 04, 05 and 20 -> `white noise`; 09 and "
        "21 -> `white noise with denoise`; 10 and 12 -> `jpeg compression`; 11 and 24 -> `jpeg2000 compression`), "
        "and 18 (change of colour saturation, either direction) -> `desaturation` (class `color`).",
        "`distortion_level` is the level Z of the name `iXX_YY_Z.bmp` (1..5). For mean shift (16), contrast change "
        "(17) and saturation change (18) the level does not say in which direction the change goes.",
        "`image_id` keeps the lower-case spelling of `mos_with_names.txt`; on disk 75 level-1 files start with `I` "
        "(50 of them end in `.BMP`) and the references are `I01.BMP`..`I24.BMP` but `i25.bmp`. `reference_id` is "
        "written `reference_images/iXX.bmp`.",
    ],
)

SPEC = CorpusSpec(
    name="tid2013",
    card=CARD,
    marker=MOS_FILE,
    root_names=("tid2013", "TID2013"),
    image_dirs=(DISTORTED_DIR,),
    synthetic=True,
)


def read_lines(path):
    """[(line number, text)] of the non-blank lines of a text file."""
    if not path.is_file():
        raise ConversionError(f"{path}: annotation file is missing")
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_release(root):
    """Rows of the 3,000 distorted images from ``mos_with_names.txt`` and ``mos_std.txt``."""
    mos_path, std_path = root / MOS_FILE, root / STD_FILE
    mos_lines, std_lines = read_lines(mos_path), read_lines(std_path)
    if not mos_lines:
        raise ConversionError(f"{mos_path}: no data lines")
    if len(std_lines) != len(mos_lines):
        raise ConversionError(
            f"{std_path} has {len(std_lines)} values but {mos_path.name} has {len(mos_lines)} lines; they must match line by line"
        )
    rows, seen = [], {}
    for (line, text), (std_line, std_text) in zip(mos_lines, std_lines):
        where = f"{mos_path}:{line}"
        fields = text.split()
        if len(fields) != 2:
            raise ConversionError(f"{where}: expected '<MOS> <name>', got {text!r}")
        mos = parse_number(fields[0], f"{where}, MOS")
        name = fields[1]
        match = NAME.match(name)
        if not match:
            raise ConversionError(f"{where}: {name!r} is not named iXX_YY_Z.bmp")
        reference, kind, level = (int(group) for group in match.groups())
        if kind not in DISTORTION_TYPES or level not in LEVELS or reference < 1:
            raise ConversionError(f"{where}: {name} has reference {reference} / type {kind} / level {level} out of range")
        if name.lower() in seen:
            raise ConversionError(f"{where}: {name} is listed twice (first on line {seen[name.lower()]})")
        seen[name.lower()] = line
        if not MOS_RANGE[0] <= mos <= MOS_RANGE[1]:
            raise ConversionError(f"{where}: MOS {mos} is outside {MOS_RANGE[0]:g}-{MOS_RANGE[1]:g}")
        std_where = f"{std_path}:{std_line}"
        if len(std_text.split()) != 1:
            raise ConversionError(f"{std_where}: expected one number, got {std_text!r}")
        std = parse_number(std_text, std_where)
        if std < 0:
            raise ConversionError(f"{std_where}: std {std} is negative")
        rows.append(
            {
                "image": str(root / DISTORTED_DIR / name),
                "image_id": f"{DISTORTED_DIR}/{name}",
                "mos": mos,
                "mos_std": std,
                "mos_raw": mos,
                "reference_id": f"{REFERENCE_DIR}/i{reference:02d}.bmp",
                "distortion_fine": DISTORTION_TYPES[kind],
                "distortion_level": level,
            }
        )
    files = CaseInsensitiveFiles(root)
    missing = sorted({row["reference_id"] for row in rows if files.find(row["reference_id"]) is None})
    if missing:
        raise ConversionError(f"{root / REFERENCE_DIR}: {len(missing)} reference images are missing: {', '.join(missing)}")
    return OfficialRelease(root=root, rows=rows)


def convert(root, out_dir, **options):
    """Convert the release under ``root``; ``options`` are those of ``common.convert_corpus``."""
    return convert_release(SPEC, read_release, root, out_dir, **options)


def main(argv=None):
    return run(SPEC, read_release, argv)


if __name__ == "__main__":
    sys.exit(main())
