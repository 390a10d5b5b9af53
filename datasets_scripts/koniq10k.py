"""KonIQ-10k -> dataset folder.

Reads ``koniq10k_scores_and_distributions.csv`` (``image_name,c1..c5,c_total,MOS,SD,MOS_zscore``):
MOS and SD on 1-5, higher is better, used as is (the LIQE authors' scale). Images are
``1024x768/<image_name>`` (the originals; LIQE used them). The official split is the ``set`` column
of ``koniq10k_distributions_sets.csv`` (the koniq GitHub repo's ``metadata/`` file; looked for in the
root and in ``metadata/``); its ``MOS`` column is on another (0-100) scale and is not used.

    python -m datasets_scripts.koniq10k --root DOWNLOAD_DIR --out OUT_DIR [--liqe-labels IQA_Database]
"""

import csv
import sys

from .card import REDISTRIBUTION_FORBIDDEN, CorpusCard
from .cli import run
from .common import ConversionError, CorpusSpec, OfficialRelease, convert_release, parse_number

SCORES = "koniq10k_scores_and_distributions.csv"
SETS = "koniq10k_distributions_sets.csv"
IMAGE_DIR = "1024x768"
SET_NAMES = {"training": "train", "train": "train", "validation": "validation", "test": "test"}

CARD = CorpusCard(
    corpus="koniq10k",
    pretty_name="KonIQ-10k",
    homepage="https://database.mmsp-kn.de/koniq-10k-database.html",
    description=(
        "10,073 in-the-wild photographs sampled from YFCC100M, each rated by about 120 crowd workers on a 5-point "
        "scale (Hosu, Lin, Sziranyi & Saupe). Images are the 1024x768 originals."
    ),
    score_description=(
        "`mos_raw` and `mos` are the `MOS` of `koniq10k_scores_and_distributions.csv` (1-5, higher is better); "
        "`mos_std` is its `SD`. (The `MOS` column of `koniq10k_distributions_sets.csv` is on a 0-100 scale and "
        "is not used.)"
    ),
    citation="""@article{hosu2020koniq,
  title   = {{KonIQ-10k}: An Ecologically Valid Database for Deep Learning of Blind Image Quality Assessment},
  author  = {Hosu, Vlad and Lin, Hanhe and Sziranyi, Tamas and Saupe, Dietmar},
  journal = {IEEE Transactions on Image Processing},
  volume  = {29}, pages = {4041--4056}, year = {2020}
}""",
    terms=(
        "No licence for the database was found. The images come from YFCC100M (Flickr), each under its uploader's "
        "Creative Commons licence, which vary; redistributors of KonIQ have stated they are not authorised to "
        "redistribute it. The metadata csv of the koniq GitHub repository is MIT-licensed."
    ),
    redistribution=REDISTRIBUTION_FORBIDDEN,
    notes=[
        "`official` is the `set` column of `koniq10k_distributions_sets.csv` (training 7058, validation 1000, test "
        "2015 in the full release). The LIQE sessions are random splits, not the official one.",
        "`distortion_fine` and `scenes` come from the LIQE lists (empty without them).",
    ],
)

SPEC = CorpusSpec(
    name="koniq10k",
    card=CARD,
    marker=SCORES,
    root_names=("koniq10k", "koniq-10k", "KonIQ-10k"),
    image_dirs=(IMAGE_DIR,),
    liqe_folder="koniq-10k",
    liqe_prefix="koniq10k",
    mos_tolerance=1e-5,
)


def _read_csv(path, required):
    """[(line number, {column: text})] of a csv; names may be double-quoted."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip().strip('"') for name in next(reader, [])]
        absent = [column for column in required if column not in header]
        if absent:
            raise ConversionError(f"{path}: header lacks {absent} (header: {header})")
        records = []
        for line, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                raise ConversionError(f"{path}:{line}: expected {len(header)} columns, got {len(cells)}")
            records.append((line, {name: cell.strip().strip('"') for name, cell in zip(header, cells)}))
    return records


def read_official_split(root, image_names):
    """{image_id: split} from the sets csv, or None when the release folder lacks it."""
    for path in (root / SETS, root / "metadata" / SETS):
        if path.is_file():
            break
    else:
        return None
    split = {}
    for line, record in _read_csv(path, ("image_name", "set")):
        name, set_name = record["image_name"], record["set"].lower()
        if set_name not in SET_NAMES:
            raise ConversionError(f"{path}:{line}: unknown set {record['set']!r}; expected training, validation or test")
        if name not in image_names:
            raise ConversionError(f"{path}:{line}: {name} is not in {SCORES}")
        split[f"{IMAGE_DIR}/{name}"] = SET_NAMES[set_name]
    if len(split) != len(image_names):
        raise ConversionError(f"{path}: assigns {len(split)} of the {len(image_names)} images of {SCORES} to a set")
    return split


def read_release(root):
    """Rows of the 10,073 images from the scores csv, and the official split where it is present."""
    path = root / SCORES
    rows, seen = [], set()
    for line, record in _read_csv(path, ("image_name", "MOS", "SD")):
        where = f"{path}:{line}"
        name = record["image_name"]
        if not name or "/" in name:
            raise ConversionError(f"{where}: image_name {name!r} is not a plain file name")
        if name in seen:
            raise ConversionError(f"{where}: {name} is listed twice")
        seen.add(name)
        mos = parse_number(record["MOS"], f"{where}, MOS")
        rows.append(
            {
                "image": str(root / IMAGE_DIR / name),
                "image_id": f"{IMAGE_DIR}/{name}",
                "mos": mos,
                "mos_std": parse_number(record["SD"], f"{where}, SD"),
                "mos_raw": mos,
            }
        )
    if not rows:
        raise ConversionError(f"{path}: no data rows")
    official = read_official_split(root, seen)
    notes = [] if official else [f"No `{SETS}` in the release folder: the official split is not available."]
    return OfficialRelease(root=root, rows=rows, official_split=official, notes=notes)


def convert(root, out_dir, **options):
    """Convert the release under ``root``; ``options`` are those of ``common.convert_corpus``."""
    return convert_release(SPEC, read_release, root, out_dir, **options)


def main(argv=None):
    return run(SPEC, read_release, argv)


if __name__ == "__main__":
    sys.exit(main())
