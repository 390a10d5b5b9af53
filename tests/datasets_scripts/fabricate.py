"""Miniature official releases for the converter tests: real image formats, real annotation files.

Each ``fabricate_<corpus>(root, entries)`` writes the release's folder layout under ``root`` with
tiny images (8x8; files of one format share their bytes, so 10k-image corpora build in seconds) and
the annotation files in the formats the corpora ship (.mat through scipy.io.savemat with the real
variable names and cell shapes, .xlsx through openpyxl, legacy .xls through xlwt, .csv, .txt).
``write_liqe_lists`` writes the LIQE authors' 6-column label/split files.
"""

import csv
import io
from functools import lru_cache
from pathlib import Path

import numpy as np

LIVE_NOTICE = """LABORATORY FOR IMAGE AND VIDEO ENGINEERING

-----------COPYRIGHT NOTICE STARTS WITH THIS LINE------------
Copyright (c) 2003 The University of Texas at Austin (fabricated test notice)
Permission to use this fabricated test database is granted for tests only.
-----------COPYRIGHT NOTICE ENDS WITH THIS LINE------------

Unrelated readme text.
"""


@lru_cache(maxsize=None)
def image_bytes(fmt, shade=0):
    """Bytes of an 8x8 RGB image in PIL format ``fmt`` ("BMP", "PNG", "JPEG")."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade % 256, 64, 128)).save(buffer, fmt)
    return buffer.getvalue()


def write_image(path, fmt):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(fmt))


def write_liqe_lists(iqa_database, folder, prefix, labels, sessions):
    """The authors' split files: ``labels`` {image_id: (mos, fine, [scenes])}, ``sessions`` {n: {image_id: split}}."""
    infix = {"train": "train", "validation": "val", "test": "test"}
    for session, assignment in sessions.items():
        directory = Path(iqa_database) / folder / "splits2" / str(session)
        directory.mkdir(parents=True, exist_ok=True)
        for split, name in infix.items():
            lines = []
            for image_id, where in assignment.items():
                if where != split:
                    continue
                mos, fine, scenes = labels[image_id]
                columns = list(scenes) + ["invalid"] * (3 - len(scenes))
                lines.append("\t".join([image_id, repr(float(mos)), fine, *columns]) + "\n")
            (directory / f"{prefix}_{name}_clip.txt").write_text("".join(lines), encoding="utf-8")
    return Path(iqa_database)


def cell_vector(strings, column=False):
    """A MATLAB cell vector (1xN, or Nx1 with ``column``) for savemat."""
    cells = np.empty((len(strings), 1) if column else (1, len(strings)), dtype=object)
    for index, text in enumerate(strings):
        cells.flat[index] = text
    return cells


# --- LIVE release 2 --------------------------------------------------------------------------------

LIVE_FOLDERS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))


def live_entry_ids():
    return [f"{folder}/img{k}.bmp" for folder, count in LIVE_FOLDERS for k in range(1, count + 1)]


def fabricate_live(root, distorted, *, copies_on_disk=(), dmos_offset=100.0, notice=True):
    """``distorted``: {image_id: (mos, std, reference name)}; every other of the 982 entries is orgs == 1.

    dmos_new = dmos_offset - mos, so that max(dmos_new) - dmos_new = mos - min(mos).
    """
    from scipy.io import savemat

    root = Path(root)
    ids = live_entry_ids()
    dmos_new = np.zeros((1, len(ids)))
    dmos_std = np.zeros((1, len(ids)))
    orgs = np.ones((1, len(ids)))
    refnames = []
    for index, image_id in enumerate(ids):
        if image_id in distorted:
            mos, std, ref = distorted[image_id]
            dmos_new[0, index], dmos_std[0, index], orgs[0, index] = dmos_offset - mos, std, 0
            refnames.append(ref)
            write_image(root / image_id, "BMP")
        else:
            dmos_new[0, index] = 500.0  # far above every real DMOS: must not enter max() (orgs == 1)
            refnames.append("parrots.bmp")
    for image_id in copies_on_disk:
        write_image(root / image_id, "BMP")
    for ref in set(refnames):
        write_image(root / "refimgs" / ref, "BMP")
    savemat(root / "dmos_realigned.mat", {"dmos_new": dmos_new, "dmos_std": dmos_std, "orgs": orgs})
    savemat(root / "dmos.mat", {"dmos": dmos_new + 1.0, "orgs": orgs})
    savemat(root / "refnames_all.mat", {"refnames_all": cell_vector(refnames)})
    if notice:
        (root / "readme.txt").write_text(LIVE_NOTICE)
    return root


# --- CSIQ ------------------------------------------------------------------------------------------

CSIQ_TYPES = {  # dst_type -> (dst_idx, folder, tag)
    "noise": (1, "awgn", "AWGN"),
    "jpeg": (2, "jpeg", "JPEG"),
    "jpeg 2000": (3, "jpeg2000", "jpeg2000"),
    "fnoise": (4, "fnoise", "fnoise"),
    "blur": (5, "blur", "BLUR"),
    "contrast": (6, "contrast", "contrast"),
}
CSIQ_FOLDER_TO_TYPE = {folder: dst_type for dst_type, (_, folder, _) in CSIQ_TYPES.items()}


def csiq_image_id(image, dst_type, level):
    _, folder, tag = CSIQ_TYPES[dst_type]
    return f"dst_imgs/{folder}/{image}.{tag}.{level}.png"


def fabricate_csiq(root, entries, *, workbook="csiq.DMOS.xlsx", extra_rows=()):
    """``entries``: [(image, dst_type, level, dmos_std, dmos)]; image "1600" is written as a number."""
    import openpyxl

    root = Path(root)
    book = openpyxl.Workbook()
    book.active.title = "z_crit"
    sheet = book.create_sheet("all_by_image")
    sheet.cell(row=4, column=4, value="image")
    for offset, name in enumerate(("dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"), start=5):
        sheet.cell(row=4, column=offset, value=name)
    row = 5
    for image, dst_type, level, dmos_std, dmos in list(entries) + list(extra_rows):
        dst_idx = CSIQ_TYPES.get(dst_type, (0,))[0]
        cells = (int(image) if str(image).isdigit() else image, dst_idx, dst_type, level, dmos_std, dmos)
        for column, value in enumerate(cells, start=4):
            sheet.cell(row=row, column=column, value=value)
        row += 1
        if dst_type in CSIQ_TYPES:
            write_image(root / csiq_image_id(image, dst_type, level), "PNG")
            write_image(root / "src_imgs" / f"{image}.png", "PNG")
    distortion_sheet = book.create_sheet("all_by_distortion")
    distortion_sheet.append(["dst_idx", "dst_type", "image", "dst_lev", "dmos_rel", "dmos_rel_std", "dmos_abs", "dmos_std", "dmos"])
    book.save(root / workbook)
    return root


# --- KADID-10k -------------------------------------------------------------------------------------


def fabricate_kadid(root, entries, *, references_on_disk=True, extra_lines=()):
    """``entries``: [(dist_img, dmos, var)], e.g. ("I01_01_01.png", 4.57, 0.496)."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    with open(root / "dmos.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dist_img", "ref_img", "dmos", "var"])
        references = set()
        for dist_img, dmos, var in entries:
            reference = dist_img.split("_")[0] + ".png"
            references.add(reference)
            writer.writerow([dist_img, reference, repr(float(dmos)), repr(float(var))])
            write_image(root / "images" / dist_img, "PNG")
        for line in extra_lines:
            handle.write(line + "\n")
    if references_on_disk:
        for reference in references:
            write_image(root / "images" / reference, "PNG")
    return root


# --- BID -------------------------------------------------------------------------------------------


def bid_grades(mos, std):
    """Two grades whose mean is ``mos`` and whose sample std (ddof 1) is ``std``."""
    half = std / np.sqrt(2.0)
    return [mos - half, mos + half]


def fabricate_bid(root, entries, *, extra_rows=()):
    """``entries``: [(number, average, [grades])]; writes DatabaseGrades.xls (BIFF, sheet Plan1) and the JPEGs."""
    import xlwt

    root = Path(root)
    book = xlwt.Workbook()
    sheet = book.add_sheet("Plan1")
    header = ["Image Number", "Average Subjective Grade", "Number of Grades"] + [f"Grade #{k}" for k in range(1, 21)]
    for column, name in enumerate(header):
        sheet.write(0, column, name)
    for row, (number, average, grades) in enumerate(list(entries) + list(extra_rows), start=1):
        sheet.write(row, 0, number)
        sheet.write(row, 1, average)
        sheet.write(row, 2, len(grades))
        for column in range(20):
            sheet.write(row, 3 + column, grades[column] if column < len(grades) else "")  # empty strings, as shipped
        if isinstance(number, int):
            write_image(root / "ImageDatabase" / f"DatabaseImage{number:04d}.JPG", "JPEG")
    book.add_sheet("Plan2")
    book.add_sheet("Plan3")
    root.mkdir(parents=True, exist_ok=True)
    book.save(str(root / "DatabaseGrades.xls"))
    return root


# --- CLIVE -----------------------------------------------------------------------------------------

CLIVE_TRAINING = [f"t{k}.bmp" for k in range(1, 8)]


def fabricate_clive(root, entries, *, notice=True):
    """``entries``: [(name, mos, std)] of test images; 7 training entries lead the .mat files."""
    from scipy.io import savemat

    root = Path(root)
    (root / "Data").mkdir(parents=True, exist_ok=True)
    names = CLIVE_TRAINING + [name for name, _, _ in entries]
    mos = [50.0] * len(CLIVE_TRAINING) + [m for _, m, _ in entries]
    std = [10.0] * len(CLIVE_TRAINING) + [s for _, _, s in entries]
    savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": cell_vector(names, column=True)})
    savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.array([mos])})
    savemat(root / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": np.array([std])})
    for name in CLIVE_TRAINING:
        write_image(root / "Images" / "trainingImages" / name, "BMP")
    for name, _, _ in entries:
        write_image(root / "Images" / name, "BMP" if name.lower().endswith(".bmp") else "JPEG")
    if notice:
        (root / "README.txt").write_text(LIVE_NOTICE.replace("2003", "2015"))
    return root


# --- KonIQ-10k -------------------------------------------------------------------------------------


def fabricate_koniq(root, entries, *, sets=True, sets_in_metadata=False, quote_names=False):
    """``entries``: [(image_name, mos, sd, set)]; writes the scores csv, the sets csv and 1024x768/ JPEGs."""
    root = Path(root)
    (root / "1024x768").mkdir(parents=True, exist_ok=True)
    with open(root / "koniq10k_scores_and_distributions.csv", "w", newline="") as handle:
        handle.write("image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,MOS_zscore\n")
        for name, mos, sd, _ in entries:
            shown = f'"{name}"' if quote_names else name
            handle.write(f"{shown},0.1,0.2,0.3,0.2,0.2,120,{mos!r},{sd!r},{(mos - 1) * 25!r}\n")
            write_image(root / "1024x768" / name, "JPEG")
    if sets:
        folder = root / "metadata" if sets_in_metadata else root
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "koniq10k_distributions_sets.csv", "w", newline="") as handle:
            handle.write("image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,set\n")
            for name, mos, sd, set_name in entries:
                handle.write(f"{name},0.1,0.2,0.3,0.2,0.2,120,{(mos - 1) * 25!r},{sd!r},{set_name}\n")
    return root
