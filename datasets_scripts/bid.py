"""BID (Blur Image Database, Ciancio et al.) -> dataset folder.

Reads sheet ``Plan1`` of the release's ``DatabaseGrades.xls`` (legacy BIFF, read with xlrd): columns
``Image Number``, ``Average Subjective Grade``, ``Number of Grades``, ``Grade #1`` .. ``Grade #20``
(unused grade cells are empty). Images are ``ImageDatabase/DatabaseImageNNNN.JPG``; numbers run
1..590 without 2, 346, 413 and 439 (586 images). MOS = the average grade (0-5, higher is better);
``mos_std`` = sample std (ddof 1) of the listed grades, as the LIQE/UNIQUE authors computed it.

    python -m datasets_scripts.bid --root DOWNLOAD_DIR --out OUT_DIR [--liqe-labels IQA_Database]
"""

import statistics
import sys

from .card import REDISTRIBUTION_UNKNOWN, CorpusCard
from .cli import run
from .common import ConversionError, CorpusSpec, OfficialRelease, convert_release, parse_number

ANNOTATION = "DatabaseGrades.xls"
SHEET = "Plan1"
NUMBER, AVERAGE, COUNT = "Image Number", "Average Subjective Grade", "Number of Grades"

CARD = CorpusCard(
    corpus="bid",
    pretty_name="BID (Blurred Image Database)",
    homepage="no stable public page known; see Ciancio et al., IEEE Transactions on Image Processing 20(1), 2011",
    description=(
        "586 photographs taken with consumer cameras, most of them blurred by defocus or motion, graded on a "
        "continuous 0-5 scale (Ciancio et al.)."
    ),
    score_description=(
        "`mos_raw` and `mos` are the `Average Subjective Grade` of `DatabaseGrades.xls` (0-5, higher is better). "
        "`mos_std` is the sample standard deviation (ddof 1) of the listed grades."
    ),
    citation="""@article{ciancio2011noreference,
  title   = {No-Reference Blur Assessment of Digital Pictures Based on Multifeature Classifiers},
  author  = {Ciancio, Alexandre and da Costa, Andr{\\'e} Luiz N. Targino and da Silva, Eduardo A. B. and
             Said, Amir and Samadani, Ramin and Obrador, Pere},
  journal = {IEEE Transactions on Image Processing},
  volume  = {20}, number = {1}, pages = {64--75}, year = {2011}
}""",
    terms="No licence text was found for BID; the database is distributed by its authors for research.",
    redistribution=REDISTRIBUTION_UNKNOWN,
    notes=[
        "For 7 images (71, 91, 182, 241, 252, 289, 317 in the official file) `Number of Grades` or the average "
        "disagrees with the listed grades; the `Average Subjective Grade` is kept as the official MOS.",
        "`distortion_fine` and `scenes` come from the LIQE lists (empty without them).",
    ],
)

SPEC = CorpusSpec(
    name="bid",
    card=CARD,
    marker=ANNOTATION,
    root_names=("BID", "bid"),
    image_dirs=("ImageDatabase",),
    liqe_folder="BID",
    liqe_prefix="bid",
    mos_tolerance=1e-5,
)


def read_grades(path):
    """[(excel row number, number, average, [grades])] of sheet ``Plan1``."""
    import xlrd

    try:
        book = xlrd.open_workbook(str(path))
    except Exception as error:
        raise ConversionError(f"{path}: cannot read legacy .xls workbook ({error})") from None
    if SHEET not in book.sheet_names():
        raise ConversionError(f"{path}: no sheet {SHEET!r} (sheets: {book.sheet_names()})")
    sheet = book.sheet_by_name(SHEET)
    if sheet.nrows == 0:
        raise ConversionError(f"{path}, sheet {SHEET}: empty")
    header = [str(value).strip() for value in sheet.row_values(0)]
    for column in (NUMBER, AVERAGE):
        if column not in header:
            raise ConversionError(f"{path}, sheet {SHEET}, row 1: no column {column!r} (header: {header})")
    number_col, average_col = header.index(NUMBER), header.index(AVERAGE)
    grade_cols = [i for i, name in enumerate(header) if name.lower().startswith("grade #")]
    records = []
    for index in range(1, sheet.nrows):
        values = sheet.row_values(index)
        if all(str(value).strip() == "" for value in values):
            continue
        where = f"{path.name}, sheet {SHEET}, row {index + 1}"
        number = parse_number(values[number_col], f"{where}, {NUMBER}")
        if not number.is_integer() or number < 1:
            raise ConversionError(f"{where}: {NUMBER} {values[number_col]!r} is not a positive integer")
        average = parse_number(values[average_col], f"{where}, {AVERAGE}")
        grades = [
            parse_number(values[col], f"{where}, {header[col]}", allow_empty=True) for col in grade_cols if col < len(values)
        ]
        records.append((index + 1, int(number), average, [grade for grade in grades if grade is not None]))
    return records


def read_release(root):
    """Rows of the 586 images from ``DatabaseGrades.xls``."""
    path = root / ANNOTATION
    rows, seen = [], set()
    for excel_row, number, average, grades in read_grades(path):
        image_id = f"ImageDatabase/DatabaseImage{number:04d}.JPG"
        if image_id in seen:
            raise ConversionError(f"{path.name}, sheet {SHEET}, row {excel_row}: image {number} is listed twice")
        seen.add(image_id)
        rows.append(
            {
                "image": str(root / image_id),
                "image_id": image_id,
                "mos": average,
                "mos_std": statistics.stdev(grades) if len(grades) > 1 else None,
                "mos_raw": average,
            }
        )
    if not rows:
        raise ConversionError(f"{path}, sheet {SHEET}: no data rows")
    return OfficialRelease(root=root, rows=rows)


def convert(root, out_dir, **options):
    """Convert the release under ``root``; ``options`` are those of ``common.convert_corpus``."""
    return convert_release(SPEC, read_release, root, out_dir, **options)


def main(argv=None):
    return run(SPEC, read_release, argv)


if __name__ == "__main__":
    sys.exit(main())
