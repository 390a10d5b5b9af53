"""SPAQ (Smartphone Photography Attribute and Quality, Fang et al., CVPR 2020) -> dataset folder.

Release layout (the folder ``SPAQ/``)::

    TestImage/<Image name>                          11,125 photos (the names carry their extension)
    Annotations/MOS and Image attribute scores.xlsx Image name, MOS, Brightness, Colorfulness,
                                                    Contrast, Noisiness, Sharpness
    Annotations/Scene category labels.xlsx          Image name + 9 scene columns (multi-label)
    Annotations/EXIF_tags.xlsx                      Image name + EXIF (optional; only cross-checked)

MOS is on 0-100, higher is better: ``mos`` = ``mos_raw`` = MOS; SPAQ publishes no spread, so
``mos_std`` is empty. The five attribute scores and the EXIF tags are not in the shared schema and
are left out. A photo's ``scenes`` are the SPAQ categories whose cell is positive, strongest first
(ties in LIQE's scene order), mapped onto LIQE's 9 scenes: Animal -> animal, Cityscape -> cityscape,
Human -> human, Indoor scene -> indoor, Landscape -> landscape, Night scene -> night, Plant -> plant,
Still-life -> still_life, Others -> others. Column names are matched ignoring case, spaces, hyphens
and underscores; an unknown scene column is an error. The workbooks are joined by ``Image name``
(not by row order); each must list the same images, else an error names the first mismatch. SPAQ has
no distortion labels (``distortion`` -1) and no official split: a seeded random 70/10/20 split.
The folder ``Annotations`` and the workbook names are matched ignoring case.

    python -m datasets_scripts.spaq --root DOWNLOAD_DIR --out OUT_DIR [--seed N]
"""

import re
import sys
from pathlib import Path

from .card import REDISTRIBUTION_UNKNOWN, CorpusCard
from .cli import run
from .common import IMAGE_EXTENSIONS, ConversionError, CorpusSpec, OfficialRelease, convert_release, parse_number

IMAGE_DIR = "TestImage"
ANNOTATION_DIR = "Annotations"
MOS_WORKBOOK = "MOS and Image attribute scores.xlsx"
SCENE_WORKBOOK = "Scene category labels.xlsx"
EXIF_WORKBOOK = "EXIF_tags.xlsx"
NAME_COLUMN = "image name"
MOS_COLUMN = "mos"
# SPAQ scene column (normalised: lower case, runs of space/-/_ as one space) -> LIQE scene.
SCENE_COLUMNS = {
    "animal": "animal",
    "cityscape": "cityscape",
    "human": "human",
    "indoor scene": "indoor",
    "indoor": "indoor",
    "landscape": "landscape",
    "night scene": "night",
    "night": "night",
    "plant": "plant",
    "still life": "still_life",
    "others": "others",
    "other": "others",
}
MOS_RANGE = (0.0, 100.0)
HEADER_SEARCH_ROWS = 10  # the header is the first row holding "Image name" among the first rows

CARD = CorpusCard(
    corpus="spaq",
    pretty_name="SPAQ (Smartphone Photography Attribute and Quality)",
    homepage="https://github.com/h4nwei/SPAQ",
    description=(
        "11,125 photographs taken with 66 smartphones, rated in a laboratory for overall quality (MOS 0-100) and "
        "five attributes, with multi-label scene categories and EXIF tags (Fang, Zhu, Zeng, Ma & Wang)."
    ),
    score_description=(
        "`mos_raw` and `mos` are the `MOS` of `Annotations/MOS and Image attribute scores.xlsx` (0-100, higher is "
        "better), used as is. SPAQ publishes no spread of the opinion scores: `mos_std` is empty."
    ),
    citation="""@inproceedings{fang2020perceptual,
  title     = {Perceptual Quality Assessment of Smartphone Photography},
  author    = {Fang, Yuming and Zhu, Hanwei and Zeng, Yan and Ma, Kede and Wang, Zhou},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {3677--3686},
  year      = {2020}
}""",
    terms=(
        "No licence was found for SPAQ: the project's GitHub README (h4nwei/SPAQ) states none, and the images are "
        "distributed by the authors through Baidu Yun and Google Drive. Ask the authors before publishing a copy."
    ),
    redistribution=REDISTRIBUTION_UNKNOWN,
    notes=[
        "`scenes` come from SPAQ's own `Scene category labels.xlsx` (not from LIQE lists, which do not cover SPAQ): "
        "every category with a positive value, strongest first, mapped to LIQE's scenes (Indoor scene -> `indoor`, "
        "Night scene -> `night`, Still-life -> `still_life`, the others by name); the raw category values are not kept.",
        "Not in the shared schema and left out: the five attribute scores of the MOS workbook (Brightness, "
        "Colorfulness, Contrast, Noisiness, Sharpness, 0-100) and the EXIF tags of `EXIF_tags.xlsx`; read them from "
        "the release by image name (`image_id` without `TestImage/`).",
        "SPAQ has no distortion labels (`distortion_fine` empty, `distortion` -1) and no official split.",
        "The images are the full-resolution smartphone photos, stored unchanged; training pipelines usually resize "
        "them first (pyiqa's configuration to 448 px, LoDa to 384 px).",
    ],
)

SPEC = CorpusSpec(
    name="spaq",
    card=CARD,
    marker=IMAGE_DIR,
    root_names=("SPAQ", "spaq"),
    image_dirs=(IMAGE_DIR,),
)


def normalise(name):
    """A header cell as a key: lower case, surrounding space dropped, runs of space/-/_ as one space."""
    return re.sub(r"[\s_\-]+", " ", str(name).strip().lower())


def find_child(folder, name, *, directory=False):
    """``folder/name`` with the case of the name ignored, or None."""
    folder = Path(folder)
    exact = folder / name
    if (exact.is_dir() if directory else exact.is_file()):
        return exact
    if not folder.is_dir():
        return None
    for entry in sorted(folder.iterdir()):
        if entry.name.lower() == name.lower() and (entry.is_dir() if directory else entry.is_file()):
            return entry
    return None


def read_workbook(path):
    """(header cells, [(excel row number, cells)]) of the first sheet; the header row is searched for."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:
        raise ConversionError(f"{path}: cannot read workbook ({type(error).__name__}: {error})") from None
    try:
        sheet = workbook.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        title = sheet.title
    finally:
        workbook.close()
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if any(cell is not None and normalise(cell) == NAME_COLUMN for cell in cells):
            break
    else:
        raise ConversionError(f"{path}, sheet {title!r}: no header row with an 'Image name' column in the first {HEADER_SEARCH_ROWS} rows")
    header = [normalise(cell) if cell is not None and str(cell).strip() else None for cell in rows[index]]
    records = []
    for number, cells in enumerate(rows[index + 1 :], start=index + 2):
        cells = list(cells) + [None] * (len(header) - len(cells))
        if all(cell is None or str(cell).strip() == "" for cell in cells):
            continue  # blank rows, e.g. formatted but empty rows at the end
        records.append((number, cells))
    return title, header, records


def image_name(value, where):
    """The ``Image name`` cell as a plain file name with an image extension."""
    name = str(value).strip() if value is not None else ""
    if not name:
        raise ConversionError(f"{where}: empty Image name")
    if "/" in name or "\\" in name:
        raise ConversionError(f"{where}: Image name {name!r} is not a plain file name")
    if Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
        raise ConversionError(f"{where}: Image name {name!r} has no image file extension (expected e.g. 00001.jpg)")
    return name


def names_by_row(path, title, header, records):
    """{image name: excel row} of a workbook; a name listed twice is an error."""
    column = header.index(NAME_COLUMN)
    rows = {}
    for number, cells in records:
        where = f"{path.name}, sheet {title!r}, row {number}"
        name = image_name(cells[column], where)
        if name in rows:
            raise ConversionError(f"{where}: {name} is listed twice (first in row {rows[name]})")
        rows[name] = number
    if not rows:
        raise ConversionError(f"{path}, sheet {title!r}: no data rows")
    return rows


def same_images(first_path, first, other_path, other):
    """An error naming the first image (in sheet order) that one workbook lists and the other does not."""
    for path, names, elsewhere, other_name in ((first_path, first, other, other_path), (other_path, other, first, first_path)):
        for name, row in names.items():
            if name not in elsewhere:
                raise ConversionError(
                    f"{path.name} and {other_name.name} do not list the same images: {name} (row {row} of "
                    f"{path.name}) is not in {other_name.name}"
                )


def read_scores(path):
    """({image name: (excel row, mos)}, rows by name) from the MOS workbook."""
    title, header, records = read_workbook(path)
    if MOS_COLUMN not in header:
        raise ConversionError(f"{path}, sheet {title!r}: no column 'MOS' (header: {[h for h in header if h]})")
    names = names_by_row(path, title, header, records)
    column = header.index(MOS_COLUMN)
    name_column = header.index(NAME_COLUMN)
    scores = {}
    for number, cells in records:
        where = f"{path.name}, sheet {title!r}, row {number}"
        mos = parse_number(cells[column], f"{where}, MOS")
        if not MOS_RANGE[0] <= mos <= MOS_RANGE[1]:
            raise ConversionError(f"{where}: MOS {mos} is outside {MOS_RANGE[0]:g}-{MOS_RANGE[1]:g}")
        scores[str(cells[name_column]).strip()] = mos
    return scores, names


def read_scenes(path):
    """({image name: [LIQE scenes, strongest first]}, rows by name) from the scene workbook."""
    from modeling_liqe.configuration_liqe import SCENES

    title, header, records = read_workbook(path)
    columns = {}
    for position, name in enumerate(header):
        if name is None or name == NAME_COLUMN:
            continue
        if name not in SCENE_COLUMNS:
            raise ConversionError(
                f"{path}, sheet {title!r}: unknown scene column {name!r}; expected SPAQ's 9 categories "
                f"(Animal, Cityscape, Human, Indoor scene, Landscape, Night scene, Plant, Still-life, Others)"
            )
        scene = SCENE_COLUMNS[name]
        if scene in columns.values():
            raise ConversionError(f"{path}, sheet {title!r}: two columns map to scene {scene!r}")
        columns[position] = scene
    absent = [scene for scene in SCENES if scene not in columns.values()]
    if absent:
        raise ConversionError(f"{path}, sheet {title!r}: no column for the scene(s) {absent} (header: {[h for h in header if h]})")
    names = names_by_row(path, title, header, records)
    name_column = header.index(NAME_COLUMN)
    scenes = {}
    for number, cells in records:
        where = f"{path.name}, sheet {title!r}, row {number}"
        weights = []
        for position, scene in columns.items():
            cell = cells[position]
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                continue  # an empty cell: not this scene
            value = parse_number(cell, f"{where}, column {header[position]!r}")
            if value > 0:
                weights.append((-value, SCENES.index(scene), scene))
        scenes[str(cells[name_column]).strip()] = [scene for _, _, scene in sorted(weights)]
    return scenes, names


def read_release(root):
    """Rows of the SPAQ photos: MOS from the MOS workbook, scenes from the scene workbook."""
    annotations = find_child(root, ANNOTATION_DIR, directory=True)
    if annotations is None:
        raise ConversionError(f"{root}: no {ANNOTATION_DIR}/ folder (it holds '{MOS_WORKBOOK}' and '{SCENE_WORKBOOK}')")
    paths = {}
    for name in (MOS_WORKBOOK, SCENE_WORKBOOK):
        paths[name] = find_child(annotations, name)
        if paths[name] is None:
            raise ConversionError(f"{annotations / name}: annotation file is missing")
    scores, score_rows = read_scores(paths[MOS_WORKBOOK])
    scenes, scene_rows = read_scenes(paths[SCENE_WORKBOOK])
    same_images(paths[MOS_WORKBOOK], score_rows, paths[SCENE_WORKBOOK], scene_rows)
    notes = []
    exif = find_child(annotations, EXIF_WORKBOOK)
    if exif is not None:
        title, header, records = read_workbook(exif)
        same_images(paths[MOS_WORKBOOK], score_rows, exif, names_by_row(exif, title, header, records))
    else:
        notes.append(f"`{EXIF_WORKBOOK}` was not in the release's `{annotations.name}/`; it was not cross-checked.")
    rows = []
    for name, mos in scores.items():
        rows.append(
            {
                "image": str(root / IMAGE_DIR / name),
                "image_id": f"{IMAGE_DIR}/{name}",
                "mos": mos,
                "mos_std": None,
                "mos_raw": mos,
                "scenes": scenes[name],
            }
        )
    unlabelled = [name for name, labels in scenes.items() if not labels]
    if unlabelled:
        notes.append(f"{len(unlabelled)} photos have no positive scene category and an empty `scenes`.")
    return OfficialRelease(root=root, rows=rows, notes=notes)


def convert(root, out_dir, **options):
    """Convert the release under ``root``; ``options`` are those of ``common.convert_corpus``."""
    return convert_release(SPEC, read_release, root, out_dir, **options)


def main(argv=None):
    return run(SPEC, read_release, argv)


if __name__ == "__main__":
    sys.exit(main())
