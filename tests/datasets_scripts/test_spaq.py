"""SPAQ converter on a miniature release (JPEG photos in TestImage/, the three Annotations/ workbooks)."""

from pathlib import Path

import openpyxl
import pytest

from datasets_scripts import spaq
from datasets_scripts.common import ConversionError
from datasets_scripts.export import ExportError
from datasets_scripts.schema import FEATURES
from datasets_scripts.splits import load_session

from .fabricate import write_image

SCENE_HEADER = ["Animal", "Cityscape", "Human", "Indoor scene", "Landscape", "Night scene", "Plant", "Still-life", "Others"]
# (Image name, MOS 0-100, {SPAQ scene column: value}); the values are fractions, as in the release.
ENTRIES = [
    ("00001.jpg", 42.5, {"Animal": 1.0}),
    ("00002.jpg", 73.1, {"Indoor scene": 0.5, "Still-life": 0.5}),
    ("00003.jpg", 12.0, {"Night scene": 0.25, "Cityscape": 0.75}),
    ("00004.jpg", 95.8, {"Human": 0.3, "Landscape": 0.2, "Plant": 0.5}),
    ("00005.jpg", 0.0, {"Others": 1.0}),
    ("00006.jpg", 100.0, {"Landscape": 1.0}),
    ("00007.png", 55.5, {"Plant": 0.6, "Animal": 0.4}),  # the extension comes from the workbook
    ("00008.jpg", 61.0, {"Cityscape": 1.0}),
    ("00009.jpg", 33.3, {"Human": 1.0}),
    ("00010.jpg", 80.0, {"Indoor scene": 1.0}),
]
EXPECTED_SCENES = {
    "00001.jpg": ["animal"],
    "00002.jpg": ["indoor", "still_life"],  # a tie keeps LIQE's scene order
    "00003.jpg": ["cityscape", "night"],  # strongest first
    "00004.jpg": ["plant", "human", "landscape"],
    "00005.jpg": ["others"],
    "00006.jpg": ["landscape"],
    "00007.png": ["plant", "animal"],
    "00008.jpg": ["cityscape"],
    "00009.jpg": ["human"],
    "00010.jpg": ["indoor"],
}


def write_sheet(path, title, header, rows):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def fabricate_spaq(root, entries=ENTRIES, *, scene_header=SCENE_HEADER, annotations="Annotations", exif=True,
                   extra_mos_rows=(), extra_scene_rows=(), extra_exif_rows=(), drop_from_scenes=()):
    """The SPAQ/ folder: TestImage/<name> and the MOS, scene and EXIF workbooks (openpyxl, as shipped)."""
    root = Path(root)
    folder = root / annotations
    mos_rows = [(name, mos, 50.1, 60.2, 40.3, 30.4, 70.5) for name, mos, _ in entries] + list(extra_mos_rows)
    write_sheet(folder / "MOS and Image attribute scores.xlsx", "Sheet1",
                ["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"], mos_rows)
    scene_rows = [
        (name, *[weights.get(column, 0) for column in SCENE_HEADER])
        for name, _, weights in reversed(entries)  # another row order than the MOS workbook: joined by name
        if name not in drop_from_scenes
    ] + list(extra_scene_rows)
    write_sheet(folder / "Scene category labels.xlsx", "Sheet1", ["Image name", *scene_header], scene_rows)
    if exif:
        exif_rows = [(name, 4.2, 1.8, 0.01, 100, 5.5, 0) for name, _, _ in entries] + list(extra_exif_rows)
        write_sheet(folder / "EXIF_tags.xlsx", "Source EXIF tags",
                    ["Image name", "Focal length", "F-number", "Exposure time", "ISO", "Brightness", "Flash"], exif_rows)
    for name, _, _ in entries:
        write_image(root / "TestImage" / name, "PNG" if name.endswith(".png") else "JPEG")
    return root


def rows_of(out_dir, session=None):
    return {r["image_id"]: r for split in load_session(out_dir, session).values() for r in split.remove_columns("image")}


def scene_names(row):
    names = FEATURES["scenes"].feature.names
    return [names[s] for s in row["scenes"]]


def test_command_line_rows_scores_scenes_split_and_card(tmp_path, capsys):
    fabricate_spaq(tmp_path / "SPAQ")
    assert spaq.main(["--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 0  # finds the SPAQ/ sub-folder
    assert "spaq: 10 rows written" in capsys.readouterr().out
    rows = rows_of(tmp_path / "out")
    assert set(rows) == {f"TestImage/{name}" for name, _, _ in ENTRIES}
    for name, mos, _ in ENTRIES:
        row = rows[f"TestImage/{name}"]
        assert row["mos"] == pytest.approx(mos) and row["mos_raw"] == pytest.approx(mos)  # 0-100, higher is better
        assert row["mos_std"] is None and row["reference_id"] is None and row["distortion_level"] is None
        assert row["distortion_fine"] is None and row["distortion"] == -1
        assert row["corpus"] == "spaq"
        assert scene_names(row) == EXPECTED_SCENES[name], name
    best = max(rows.values(), key=lambda r: r["mos"])
    assert best["image_id"] == "TestImage/00006.jpg"
    session = load_session(tmp_path / "out")
    assert {split: len(d) for split, d in session.items()} == {"train": 7, "validation": 1, "test": 2}
    assert session["train"][0]["image"].format in ("JPEG", "PNG")  # the original bytes, decodable
    card = (tmp_path / "out" / "README.md").read_text()
    assert "**Warning**: no licence allowing redistribution" in card
    assert "@inproceedings{fang2020perceptual" in card and "@inproceedings{zhang2023liqe" in card
    assert "Brightness, Colorfulness, Contrast, Noisiness, Sharpness" in card  # attributes left out, said so
    assert "`seeded`: random 70/10/20 split, seed 20200626\n" in card  # not grouped: no references


def test_seeded_split_follows_the_seed(tmp_path):
    release = fabricate_spaq(tmp_path / "SPAQ")
    first = spaq.convert(release, tmp_path / "a", seed=3)
    again = spaq.convert(release, tmp_path / "b", seed=3)
    other = spaq.convert(release, tmp_path / "c", seed=4)
    assert (tmp_path / "a/splits/seeded.parquet").read_bytes() == (tmp_path / "b/splits/seeded.parquet").read_bytes()
    assert first.split_counts == other.split_counts == {"seeded": {"train": 7, "validation": 1, "test": 2}}
    test_a = sorted(load_session(tmp_path / "a")["test"]["image_id"])
    test_c = sorted(load_session(tmp_path / "c")["test"]["image_id"])
    assert again.default_split == "seeded" and test_a != test_c


def test_header_spelling_and_folder_case_are_tolerated(tmp_path):
    header = [" animal ", "CITYSCAPE", "human", "Indoor_Scene", "landscape", "night-scene", "PLANT", "Still life", "others"]
    release = fabricate_spaq(tmp_path / "SPAQ", scene_header=header, annotations="annotations", exif=False)
    result = spaq.convert(release, tmp_path / "out")
    rows = rows_of(tmp_path / "out")
    assert all(scene_names(rows[f"TestImage/{n}"]) == EXPECTED_SCENES[n] for n, _, _ in ENTRIES)
    assert result.num_rows == 10
    assert "`EXIF_tags.xlsx` was not in the release's `annotations/`" in (tmp_path / "out" / "README.md").read_text()


def test_unknown_or_absent_scene_columns_are_errors(tmp_path):
    release = fabricate_spaq(tmp_path / "a", scene_header=SCENE_HEADER[:-1] + ["Food"])
    with pytest.raises(ConversionError, match=r"Scene category labels\.xlsx, sheet 'Sheet1': unknown scene column 'food'"):
        spaq.convert(release, tmp_path / "out")
    entries = [(name, mos, {k: v for k, v in w.items() if k != "Others"}) for name, mos, w in ENTRIES]
    release = fabricate_spaq(tmp_path / "b", entries, scene_header=SCENE_HEADER[:-1])
    with pytest.raises(ConversionError, match=r"no column for the scene\(s\) \['others'\]"):
        spaq.convert(release, tmp_path / "out")


def test_workbooks_must_list_the_same_images(tmp_path):
    release = fabricate_spaq(tmp_path / "a", drop_from_scenes=("00004.jpg",))
    with pytest.raises(ConversionError, match=r"do not list the same images: 00004\.jpg \(row 5 of MOS and Image attribute "
                                              r"scores\.xlsx\) is not in Scene category labels\.xlsx"):
        spaq.convert(release, tmp_path / "out")
    release = fabricate_spaq(tmp_path / "b", extra_scene_rows=[("00099.jpg", 1, 0, 0, 0, 0, 0, 0, 0, 0)])
    with pytest.raises(ConversionError, match=r"00099\.jpg \(row 12 of Scene category labels\.xlsx\) is not in MOS"):
        spaq.convert(release, tmp_path / "out")
    release = fabricate_spaq(tmp_path / "c", extra_exif_rows=[("00042.jpg", 4.2, 1.8, 0.01, 100, 5.5, 0)])
    with pytest.raises(ConversionError, match=r"00042\.jpg \(row 12 of EXIF_tags\.xlsx\) is not in MOS"):
        spaq.convert(release, tmp_path / "out")


def test_malformed_rows_are_errors_naming_the_row(tmp_path):
    attributes = (50.0, 50.0, 50.0, 50.0, 50.0)
    mos_sheet = r"MOS and Image attribute scores\.xlsx, sheet 'Sheet1', row 12"
    cases = [
        (dict(extra_mos_rows=[("00011.jpg", "n/a", *attributes)]), mos_sheet + r", MOS: 'n/a' is not a number"),
        (dict(extra_mos_rows=[("00011.jpg", 120.0, *attributes)]), mos_sheet + r": MOS 120\.0 is outside 0-100"),
        (dict(extra_mos_rows=[("00011", 50.0, *attributes)]), mos_sheet + r": Image name '00011' has no image file extension"),
        (dict(extra_mos_rows=[(None, 50.0, *attributes)]), mos_sheet + r": empty Image name"),
        (dict(extra_mos_rows=[("00001.jpg", 50.0, *attributes)]), mos_sheet + r": 00001\.jpg is listed twice \(first in row 2\)"),
        (dict(extra_scene_rows=[("00011.jpg", "yes", 0, 0, 0, 0, 0, 0, 0, 0)]),
         r"Scene category labels\.xlsx, sheet 'Sheet1', row 12, column 'animal': 'yes' is not a number"),
    ]
    for number, (extras, message) in enumerate(cases):
        release = fabricate_spaq(tmp_path / f"r{number}", exif=False, **extras)
        with pytest.raises(ConversionError, match=message):
            spaq.convert(release, tmp_path / f"out{number}")


def test_missing_files_and_unreadable_images(tmp_path):
    release = fabricate_spaq(tmp_path / "SPAQ")
    (release / "TestImage" / "00003.jpg").unlink()
    with pytest.raises(ConversionError, match=r"1 images named by the annotation files are missing on disk: TestImage/00003\.jpg"):
        spaq.convert(release, tmp_path / "out")
    write_image(release / "TestImage" / "00003.jpg", "JPEG")
    (release / "TestImage" / "00005.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    with pytest.raises(ExportError, match=r"1 images cannot be decoded: .*TestImage/00005\.jpg"):
        spaq.convert(release, tmp_path / "out")
    assert not (tmp_path / "out" / "data").exists()
    (release / "Annotations" / "Scene category labels.xlsx").write_bytes(b"PK not a workbook")
    with pytest.raises(ConversionError, match=r"Scene category labels\.xlsx: cannot read workbook"):
        spaq.convert(release, tmp_path / "out")
    (release / "Annotations" / "Scene category labels.xlsx").unlink()
    with pytest.raises(ConversionError, match=r"Annotations/Scene category labels\.xlsx: annotation file is missing"):
        spaq.convert(release, tmp_path / "out")
    (release / "Annotations").rename(release / "Notes")
    with pytest.raises(ConversionError, match=r"no Annotations/ folder"):
        spaq.convert(release, tmp_path / "out")
    (release / "TestImage").rename(release / "Photos")
    with pytest.raises(ConversionError, match=r"not a SPAQ .* release: TestImage is neither there nor in"):
        spaq.convert(release, tmp_path / "out")


def test_unnamed_photos_are_reported_and_liqe_lists_refused(tmp_path, capsys):
    release = fabricate_spaq(tmp_path / "SPAQ")
    write_image(release / "TestImage" / "09999.jpg", "JPEG")
    result = spaq.convert(release, tmp_path / "out")
    assert any("on disk" in r and "TestImage/09999.jpg" in r for r in result.reports)
    assert spaq.main(["--root", str(release), "--out", str(tmp_path / "o2"), "--liqe-labels", str(tmp_path)]) == 1
    assert "no label lists for SPAQ" in capsys.readouterr().err
