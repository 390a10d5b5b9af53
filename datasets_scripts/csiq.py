"""CSIQ (Categorical Subjective Image Quality, Larson & Chandler) -> dataset folder.

Reads sheet ``all_by_image`` of the release's DMOS workbook (``csiq.DMOS.xlsx``; the UNIQUE copy is
called ``csiq.beta.xlsx``): rows 1-3 empty, header in row 4 starting at column D
(``image, dst_idx, dst_type, dst_lev, dmos_std, dmos``), 866 data rows. Images are
``dst_imgs/<folder>/<image>.<TAG>.<level>.png``; references ``src_imgs/<image>.png``.
DMOS is on 0-1, lower is better: MOS = 1 - DMOS (LIQE's rule), ``mos_raw`` = DMOS.

    python -m datasets_scripts.csiq --root DOWNLOAD_DIR --out OUT_DIR [--liqe-labels IQA_Database]
"""

import sys

from .card import REDISTRIBUTION_UNKNOWN, CorpusCard
from .cli import run
from .common import ConversionError, CorpusSpec, OfficialRelease, convert_release, parse_number

SHEET = "all_by_image"
HEADER = ("image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos")
WORKBOOK_NAMES = ("csiq.DMOS.xlsx", "csiq.beta.xlsx")
# xlsx dst_type -> (dst_idx, folder, file tag (case matters), LIQE fine label)
DISTORTION_TYPES = {
    "noise": (1, "awgn", "AWGN", "white noise"),
    "jpeg": (2, "jpeg", "JPEG", "jpeg compression"),
    "jpeg 2000": (3, "jpeg2000", "jpeg2000", "jpeg2000 compression"),
    "fnoise": (4, "fnoise", "fnoise", "fnoise"),
    "blur": (5, "blur", "BLUR", "gaussian blur"),
    "contrast": (6, "contrast", "contrast", "contrast"),
}
DISTORTION_TYPES["jpeg2000"] = DISTORTION_TYPES["jpeg 2000"]  # the spelling of the tab-separated export

CARD = CorpusCard(
    corpus="csiq",
    pretty_name="CSIQ (Categorical Subjective Image Quality) database",
    homepage="originally http://vision.okstate.edu/csiq (Oklahoma State University); the page has moved since",
    description=(
        "866 images distorted from 30 reference images with additive white noise, JPEG, JPEG2000, additive pink "
        "Gaussian noise, Gaussian blur and global contrast decrements, at 4-5 levels (Larson & Chandler). The 30 "
        "references are not rows."
    ),
    score_description=(
        "`mos_raw` is the DMOS of sheet `all_by_image` (0-1, lower is better). `mos` = 1 - DMOS, so higher is better "
        "(the LIQE authors' rule; they used the DMOS rounded to 3 decimals, this conversion the workbook's value). "
        "`mos_std` is the workbook's `dmos_std` (the LIQE `_all.txt` std column is wrong for 171 images)."
    ),
    citation="""@article{larson2010most,
  title   = {Most Apparent Distortion: Full-Reference Image Quality Assessment and the Role of Strategy},
  author  = {Larson, Eric C. and Chandler, Damon M.},
  journal = {Journal of Electronic Imaging},
  volume  = {19}, number = {1}, pages = {011006}, year = {2010}
}""",
    terms="No licence text was found for CSIQ; the images are distributed by the authors for research.",
    redistribution=REDISTRIBUTION_UNKNOWN,
    notes=[
        "`distortion_fine`: noise -> `white noise`, jpeg -> `jpeg compression`, jpeg 2000 -> `jpeg2000 compression`, "
        "fnoise -> `fnoise`, blur -> `gaussian blur`, contrast -> `contrast`; `distortion_level` is `dst_lev`.",
    ],
)

SPEC = CorpusSpec(
    name="csiq",
    card=CARD,
    marker="dst_imgs",
    root_names=("CSIQ", "csiq"),
    image_dirs=tuple(f"dst_imgs/{folder}" for _, folder, _, _ in DISTORTION_TYPES.values()),
    synthetic=True,
    liqe_folder="CSIQ",
    liqe_prefix="csiq",
    mos_tolerance=6e-4,  # the LIQE lists use the DMOS rounded to 3 decimals
)


def find_workbook(root):
    """The DMOS workbook: one of the known names, else the only .xlsx holding sheet ``all_by_image``."""
    for name in WORKBOOK_NAMES:
        if (root / name).is_file():
            return root / name
    import openpyxl

    for path in sorted(root.glob("*.xlsx")):
        try:
            if SHEET in openpyxl.load_workbook(path, read_only=True).sheetnames:
                return path
        except Exception:
            continue
    raise ConversionError(f"{root}: no CSIQ DMOS workbook ({' or '.join(WORKBOOK_NAMES)} with sheet {SHEET!r})")


def read_sheet(path):
    """[(excel row number, {column: value})] of sheet ``all_by_image``; the header row is searched for."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:
        raise ConversionError(f"{path}: cannot read workbook ({error})") from None
    if SHEET not in workbook.sheetnames:
        raise ConversionError(f"{path}: no sheet {SHEET!r} (sheets: {workbook.sheetnames})")
    rows = list(workbook[SHEET].iter_rows(values_only=True))
    workbook.close()
    for header_index, cells in enumerate(rows[:20]):
        names = [str(cell).strip().lower() if cell is not None else None for cell in cells]
        if "image" in names and "dmos" in names:
            break
    else:
        raise ConversionError(f"{path}, sheet {SHEET}: no header row with {', '.join(HEADER)}")
    absent = [column for column in HEADER if column not in names]
    if absent:
        raise ConversionError(f"{path}, sheet {SHEET}, row {header_index + 1}: header lacks {absent}")
    position = {column: names.index(column) for column in HEADER}
    records = []
    for index, cells in enumerate(rows[header_index + 1 :], start=header_index + 2):
        cells = list(cells) + [None] * (max(position.values()) + 1 - len(cells))
        record = {column: cells[p] for column, p in position.items()}
        if all(value is None or str(value).strip() == "" for value in record.values()):
            continue  # trailing blank rows
        records.append((index, record))
    return records


def read_release(root):
    """Rows of the 866 distorted images from the DMOS workbook."""
    path = find_workbook(root)
    rows, seen = [], set()
    for excel_row, record in read_sheet(path):
        where = f"{path.name}, sheet {SHEET}, row {excel_row}"
        image = record["image"]
        if isinstance(image, float) and image.is_integer():
            image = int(image)
        image = str(image).strip() if image is not None else ""  # reference "1600" is stored as a number
        if not image:
            raise ConversionError(f"{where}: empty image name")
        dst_type = str(record["dst_type"] or "").strip().lower()
        if dst_type not in DISTORTION_TYPES:
            raise ConversionError(f"{where}: unknown dst_type {record['dst_type']!r}")
        dst_idx, folder, tag, fine = DISTORTION_TYPES[dst_type]
        if parse_number(record["dst_idx"], f"{where}, dst_idx") != dst_idx:
            raise ConversionError(f"{where}: dst_idx {record['dst_idx']!r} does not match dst_type {dst_type!r} ({dst_idx})")
        level = parse_number(record["dst_lev"], f"{where}, dst_lev")
        if not level.is_integer() or not 1 <= level <= 5:
            raise ConversionError(f"{where}: dst_lev {record['dst_lev']!r} is not a level 1..5")
        dmos = parse_number(record["dmos"], f"{where}, dmos")
        dmos_std = parse_number(record["dmos_std"], f"{where}, dmos_std", allow_empty=True)
        image_id = f"dst_imgs/{folder}/{image}.{tag}.{int(level)}.png"
        if image_id in seen:
            raise ConversionError(f"{where}: {image_id} is listed twice")
        seen.add(image_id)
        rows.append(
            {
                "image": str(root / image_id),
                "image_id": image_id,
                "mos": 1.0 - dmos,
                "mos_std": dmos_std,
                "mos_raw": dmos,
                "reference_id": f"src_imgs/{image}.png",
                "distortion_fine": fine,
                "distortion_level": int(level),
            }
        )
    if not rows:
        raise ConversionError(f"{path}, sheet {SHEET}: no data rows")
    return OfficialRelease(root=root, rows=rows, notes=[f"Scores read from `{path.name}`, sheet `{SHEET}`."])


def convert(root, out_dir, **options):
    """Convert the release under ``root``; ``options`` are those of ``common.convert_corpus``."""
    return convert_release(SPEC, read_release, root, out_dir, **options)


def main(argv=None):
    return run(SPEC, read_release, argv)


if __name__ == "__main__":
    sys.exit(main())
