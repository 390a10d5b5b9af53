"""LIVE Image Quality Assessment Database, Release 2 (``databaserelease2``) -> dataset folder.

Reads the release's ``dmos_realigned.mat`` (``dmos_new``, ``dmos_std``, ``orgs``; 982 entries in the
order jp2k 1..227, jpeg 1..233, wn, gblur, fastfading 1..174) and ``refnames_all.mat``
(``refnames_all``, the reference of each entry). Entries with ``orgs == 1`` are copies of the
reference images and are left out (779 distorted images remain). MOS = max(dmos_new over the 779)
- dmos_new, so higher is better (LIQE/UNIQUE's rule); ``mos_raw`` is the realigned DMOS.

The LIQE lists label the 145 fast-fading images ``white noise``; the release's folder says
``fastfading`` (class jpeg2000 compression), and that label is kept.

    python -m datasets_scripts.live --root DOWNLOAD_DIR --out OUT_DIR [--liqe-labels IQA_Database]
"""

import math
import sys

from .card import REDISTRIBUTION_WITH_NOTICE, CorpusCard
from .cli import run
from .common import ConversionError, CorpusSpec, OfficialRelease, convert_release, load_mat, mat_numbers, mat_strings

# (folder, number of entries, fine label), in the order of the .mat arrays
DISTORTION_FOLDERS = (
    ("jp2k", 227, "jpeg2000 compression"),
    ("jpeg", 233, "jpeg compression"),
    ("wn", 174, "white noise"),
    ("gblur", 174, "gaussian blur"),
    ("fastfading", 174, "fastfading"),
)
NUM_ENTRIES = sum(count for _, count, _ in DISTORTION_FOLDERS)  # 982

CARD = CorpusCard(
    corpus="live",
    pretty_name="LIVE Image Quality Assessment Database, Release 2",
    homepage="https://live.ece.utexas.edu/research/quality/subjective.htm",
    description=(
        "779 images distorted from 29 reference images with JPEG2000, JPEG, white noise, Gaussian blur and "
        "Rayleigh fast-fading channel errors (Sheikh et al.). The 29 references and the 203 reference copies "
        "of the release are not rows."
    ),
    score_description=(
        "`mos_raw` is the realigned DMOS (`dmos_new` of `dmos_realigned.mat`; lower is better, about -3 to 112). "
        "`mos` = max(dmos_new over the 779 distorted images) - dmos_new, so higher is better and the worst image "
        "scores 0 (the rule of the LIQE and UNIQUE authors). `mos_std` is `dmos_std`."
    ),
    citation="""@article{sheikh2006statistical,
  title   = {A Statistical Evaluation of Recent Full Reference Image Quality Assessment Algorithms},
  author  = {Sheikh, Hamid R. and Sabir, Muhammad F. and Bovik, Alan C.},
  journal = {IEEE Transactions on Image Processing},
  volume  = {15}, number = {11}, pages = {3440--3451}, year = {2006}
}
@article{wang2004image,
  title   = {Image Quality Assessment: From Error Visibility to Structural Similarity},
  author  = {Wang, Zhou and Bovik, Alan C. and Sheikh, Hamid R. and Simoncelli, Eero P.},
  journal = {IEEE Transactions on Image Processing},
  volume  = {13}, number = {4}, pages = {600--612}, year = {2004}
}
@misc{sheikh2005live,
  title  = {{LIVE} Image Quality Assessment Database Release 2},
  author = {Sheikh, Hamid R. and Wang, Zhou and Cormack, Lawrence and Bovik, Alan C.},
  howpublished = {\\url{https://live.ece.utexas.edu/research/quality}}
}""",
    terms=(
        "The University of Texas at Austin permits use, copying, modification and distribution of the database for "
        "any purpose, provided that its copyright notice appears in full in all copies and that LIVE and the Center "
        "for Perceptual Systems at UT Austin are acknowledged "
        "(https://live.ece.utexas.edu/research/quality/copyright.htm). Nine images come from the CD \"Austin and "
        "Vicinity\" (Visual Delights Inc.) and may not be used outside the scope of this database without that "
        "company's permission: keep the database whole."
    ),
    redistribution=REDISTRIBUTION_WITH_NOTICE,
    license="other",
    license_name="live-iqa-copyright-notice",
    license_link="https://live.ece.utexas.edu/research/quality/copyright.htm",
    notice_file="readme.txt",
    notes=[
        "`distortion_fine` comes from the release's folders: jp2k -> `jpeg2000 compression`, jpeg -> `jpeg "
        "compression`, wn -> `white noise`, gblur -> `gaussian blur`, fastfading -> `fastfading` (class `jpeg2000 "
        "compression`, LIQE's own mapping). Fix: the LIQE lists label the 145 fast-fading images `white noise`; "
        "they get `fastfading` here.",
        "`distortion_level` is empty: the release gives distortion parameters, not levels.",
    ],
)

SPEC = CorpusSpec(
    name="live",
    card=CARD,
    marker="dmos_realigned.mat",
    root_names=("databaserelease2", "live"),
    image_dirs=tuple(folder for folder, _, _ in DISTORTION_FOLDERS),
    synthetic=True,
    liqe_folder="databaserelease2",
    liqe_prefix="live",
    mos_tolerance=1e-5,
)


def read_release(root):
    """Rows of the 779 distorted images from ``dmos_realigned.mat`` and ``refnames_all.mat``."""
    realigned = root / "dmos_realigned.mat"
    dmos_new, dmos_std, orgs = load_mat(realigned, "dmos_new", "dmos_std", "orgs")
    (refnames,) = load_mat(root / "refnames_all.mat", "refnames_all")
    dmos_new = mat_numbers(dmos_new, f"{realigned}: dmos_new")
    dmos_std = mat_numbers(dmos_std, f"{realigned}: dmos_std")
    orgs = mat_numbers(orgs, f"{realigned}: orgs")
    refnames = mat_strings(refnames, f"{root / 'refnames_all.mat'}: refnames_all")
    for name, values, source in (
        ("dmos_new", dmos_new, realigned),
        ("dmos_std", dmos_std, realigned),
        ("orgs", orgs, realigned),
        ("refnames_all", refnames, root / "refnames_all.mat"),
    ):
        if len(values) != NUM_ENTRIES:
            raise ConversionError(
                f"{source}: {name} has {len(values)} entries, expected {NUM_ENTRIES} "
                f"(jp2k 227 + jpeg 233 + wn 174 + gblur 174 + fastfading 174)"
            )
    names = [(f"{folder}/img{number}.bmp", fine) for folder, count, fine in DISTORTION_FOLDERS for number in range(1, count + 1)]
    entries = [(index, image_id, fine) for index, (image_id, fine) in enumerate(names)]  # in the .mat order
    for index, image_id, _ in entries:
        if orgs[index] not in (0.0, 1.0):
            raise ConversionError(f"{realigned}: orgs entry {index + 1} ({image_id}) is {orgs[index]}, expected 0 or 1")
        if math.isnan(dmos_new[index]) or (orgs[index] == 0 and math.isnan(dmos_std[index])):
            raise ConversionError(f"{realigned}: entry {index + 1} ({image_id}) has no DMOS or no std")
    distorted = [entry for entry in entries if orgs[entry[0]] == 0]
    best = max(dmos_new[index] for index, _, _ in distorted)
    rows = [
        {
            "image": str(root / image_id),
            "image_id": image_id,
            "mos": best - dmos_new[index],
            "mos_std": dmos_std[index],
            "mos_raw": dmos_new[index],
            "reference_id": f"refimgs/{refnames[index]}",
            "distortion_fine": fine,
            "distortion_level": None,
        }
        for index, image_id, fine in distorted
    ]
    excluded = {image_id: "copy of its reference image (orgs == 1)" for index, image_id, _ in entries if orgs[index] == 1}
    notes = [
        f"{len(excluded)} entries of `dmos_realigned.mat` with `orgs == 1` are copies of reference images and are "
        f"left out; {len(rows)} distorted images remain. max(dmos_new) over them = {best:.6f}."
    ]
    return OfficialRelease(root=root, rows=rows, excluded=excluded, notes=notes)


def convert(root, out_dir, **options):
    """Convert the release under ``root``; ``options`` are those of ``common.convert_corpus``."""
    return convert_release(SPEC, read_release, root, out_dir, **options)


def main(argv=None):
    return run(SPEC, read_release, argv)


if __name__ == "__main__":
    sys.exit(main())
