"""LIVE In the Wild Image Quality Challenge Database (CLIVE, ``ChallengeDB_release``) -> dataset folder.

Reads ``Data/AllImages_release.mat`` (``AllImages_release``, a cell of 1169 file names),
``Data/AllMOS_release.mat`` (``AllMOS_release``) and ``Data/AllStdDev_release.mat``
(``AllStdDev_release``), all in the same order. The first 7 entries are the training images and are
left out, as everyone does (1162 remain). Images are ``Images/<name>`` with the extension the .mat
gives (``.bmp`` and ``.JPG`` interleave). MOS on 0-100, higher is better, used as is.

    python -m datasets_scripts.clive --root DOWNLOAD_DIR --out OUT_DIR [--liqe-labels IQA_Database]
"""

import math
import sys

from .card import REDISTRIBUTION_WITH_NOTICE, CorpusCard
from .cli import run
from .common import ConversionError, CorpusSpec, OfficialRelease, convert_release, load_mat, mat_numbers, mat_strings

NUM_TRAINING = 7  # leading entries of the .mat files: the challenge's training images

CARD = CorpusCard(
    corpus="clive",
    pretty_name="LIVE In the Wild Image Quality Challenge Database",
    homepage="https://live.ece.utexas.edu/research/ChallengeDB/index.html",
    description=(
        "1162 photographs taken with mobile devices under authentic, mixed distortions, rated by over 8000 "
        "crowdsourced subjects (Ghadiyaram & Bovik). The 7 training images of the release are not rows."
    ),
    score_description=(
        "`mos_raw` and `mos` are `AllMOS_release` (0-100, higher is better); `mos_std` is `AllStdDev_release`, "
        "the standard deviation of the raw opinion scores."
    ),
    citation="""@article{ghadiyaram2016massive,
  title   = {Massive Online Crowdsourced Study of Subjective and Objective Picture Quality},
  author  = {Ghadiyaram, Deepti and Bovik, Alan C.},
  journal = {IEEE Transactions on Image Processing},
  volume  = {25}, number = {1}, pages = {372--387}, year = {2016}
}
@misc{ghadiyaram2015live,
  title  = {{LIVE} In the Wild Image Quality Challenge Database},
  author = {Ghadiyaram, Deepti and Bovik, Alan C.},
  howpublished = {\\url{https://live.ece.utexas.edu/research/ChallengeDB/index.html}},
  year   = {2015}
}""",
    terms=(
        "The University of Texas at Austin (2015) permits use, copying, modification and distribution of the database "
        "for any purpose, provided that its copyright notice appears in full in all copies, LIVE at UT Austin is "
        "acknowledged, and the papers above are cited."
    ),
    redistribution=REDISTRIBUTION_WITH_NOTICE,
    license="other",
    license_name="live-challenge-copyright-notice",
    notice_file="README.txt",
    notes=[
        "The first 7 entries of the .mat files (the challenge's training images) are left out.",
        "`distortion_fine` and `scenes` come from the LIQE lists (empty without them).",
    ],
)

SPEC = CorpusSpec(
    name="clive",
    card=CARD,
    marker="Data/AllMOS_release.mat",
    root_names=("ChallengeDB_release", "LIVE-Wild", "clive"),
    image_dirs=("Images",),
    liqe_folder="ChallengeDB_release",
    liqe_prefix="clive",
    mos_tolerance=1e-5,
)


def read_release(root):
    """Rows of the 1162 test images from the three ``Data/*_release.mat`` files."""
    data = root / "Data"
    (names,) = load_mat(data / "AllImages_release.mat", "AllImages_release")
    (mos,) = load_mat(data / "AllMOS_release.mat", "AllMOS_release")
    (std,) = load_mat(data / "AllStdDev_release.mat", "AllStdDev_release")
    names = mat_strings(names, f"{data / 'AllImages_release.mat'}: AllImages_release")
    mos = mat_numbers(mos, f"{data / 'AllMOS_release.mat'}: AllMOS_release")
    std = mat_numbers(std, f"{data / 'AllStdDev_release.mat'}: AllStdDev_release")
    if not len(names) == len(mos) == len(std):
        raise ConversionError(
            f"{data}: the .mat files disagree in length: {len(names)} names, {len(mos)} MOS, {len(std)} std"
        )
    if len(names) <= NUM_TRAINING:
        raise ConversionError(f"{data / 'AllImages_release.mat'}: {len(names)} entries; expected 7 training + the test images")
    rows, seen = [], set()
    for position in range(NUM_TRAINING, len(names)):
        name = names[position]
        where = f"{data}: entry {position + 1} ({name!r})"
        if not name or "/" in name or "\\" in name:
            raise ConversionError(f"{where}: not a plain file name")
        if math.isnan(mos[position]) or math.isnan(std[position]):
            raise ConversionError(f"{where}: MOS or std is not a number")
        if name in seen:
            raise ConversionError(f"{where}: listed twice")
        seen.add(name)
        rows.append(
            {
                "image": str(root / "Images" / name),
                "image_id": f"Images/{name}",
                "mos": mos[position],
                "mos_std": std[position],
                "mos_raw": mos[position],
            }
        )
    excluded = {f"Images/{name}": "training image" for name in names[:NUM_TRAINING]}
    return OfficialRelease(root=root, rows=rows, excluded=excluded)


def convert(root, out_dir, **options):
    """Convert the release under ``root``; ``options`` are those of ``common.convert_corpus``."""
    return convert_release(SPEC, read_release, root, out_dir, **options)


def main(argv=None):
    return run(SPEC, read_release, argv)


if __name__ == "__main__":
    sys.exit(main())
