"""CSIQ converter on a miniature release (PNG images, DMOS workbook with header in row 4 from column D)."""

import openpyxl
import pytest

from datasets_scripts import csiq
from datasets_scripts.common import ConversionError
from datasets_scripts.schema import FEATURES
from datasets_scripts.splits import load_session

from .fabricate import csiq_image_id, fabricate_csiq, write_liqe_lists

# (image, dst_type, level, dmos_std, dmos)
ENTRIES = [
    ("1600", "noise", 1, 0.045, 0.03149),  # the LIQE lists round DMOS to 0.031
    ("1600", "jpeg 2000", 3, 0.1, 0.52),
    ("shroom", "jpeg", 2, 0.08, 0.136),
    ("shroom", "contrast", 4, 0.2, 0.9),
    ("elk", "fnoise", 5, 0.3, 1.0),
    ("elk", "blur", 1, 0.05, 0.0),
]
FINE = {"noise": "white noise", "jpeg": "jpeg compression", "jpeg 2000": "jpeg2000 compression",
        "fnoise": "fnoise", "blur": "gaussian blur", "contrast": "contrast"}


def rows_of(out_dir, session=None):
    return {r["image_id"]: r for split in load_session(out_dir, session).values() for r in split.remove_columns("image")}


def test_rows_mos_direction_levels_and_references(tmp_path):
    release = fabricate_csiq(tmp_path / "CSIQ", ENTRIES)
    csiq.convert(tmp_path, tmp_path / "out")
    rows = rows_of(tmp_path / "out")
    assert set(rows) == {csiq_image_id(i, t, l) for i, t, l, _, _ in ENTRIES}
    assert "dst_imgs/awgn/1600.AWGN.1.png" in rows and "dst_imgs/blur/elk.BLUR.1.png" in rows  # tags keep their case
    for image, dst_type, level, dmos_std, dmos in ENTRIES:
        row = rows[csiq_image_id(image, dst_type, level)]
        assert row["mos"] == pytest.approx(1 - dmos) and row["mos_raw"] == pytest.approx(dmos)
        assert row["mos_std"] == pytest.approx(dmos_std)
        assert row["distortion_level"] == level and row["distortion_fine"] == FINE[dst_type]
        assert row["reference_id"] == f"src_imgs/{image}.png"
    names = FEATURES["distortion"].names
    assert names[rows["dst_imgs/fnoise/elk.fnoise.5.png"]["distortion"]] == "noise"
    assert release.joinpath("src_imgs/1600.png").is_file()
    card = (tmp_path / "out" / "README.md").read_text()
    assert "**Warning**" in card and "@article{larson2010most" in card  # no licence found: warn


def test_unique_copy_name_and_lists_rounded_to_three_decimals(tmp_path):
    release = fabricate_csiq(tmp_path / "CSIQ", ENTRIES, workbook="csiq.beta.xlsx")
    ids = [csiq_image_id(i, t, l) for i, t, l, _, _ in ENTRIES]
    labels = {csiq_image_id(i, t, l): (round(1 - round(d, 3), 3), FINE[t], ["animal"]) for i, t, l, _, d in ENTRIES}
    labels[ids[0]] = (0.969, "white noise", ["plant", "night"])  # 1 - 0.031, as the authors rounded
    sessions = {1: dict(zip(ids, ["train", "train", "validation", "test", "train", "test"]))}
    result = csiq.convert(release, tmp_path / "out", liqe_labels=write_liqe_lists(tmp_path / "L", "CSIQ", "csiq", labels, sessions))
    assert result.split_counts["liqe_session_01"] == {"train": 3, "validation": 1, "test": 2}
    scenes = FEATURES["scenes"].feature.names
    assert [scenes[s] for s in rows_of(tmp_path / "out", 1)[ids[0]]["scenes"]] == ["plant", "night"]


def test_malformed_rows_are_errors_naming_the_row(tmp_path):
    cases = [
        (("woman", "pixelate", 1, 0.1, 0.5), r"row 11: unknown dst_type 'pixelate'"),
        (("woman", "jpeg", 1, 0.1, "n/a"), r"row 11, dmos: 'n/a' is not a number"),
        (("woman", "jpeg", 7, 0.1, 0.2), r"row 11: dst_lev 7 is not a level 1..5"),
        (("", "jpeg", 1, 0.1, 0.2), r"row 11: empty image name"),
    ]
    for number, (extra, message) in enumerate(cases):
        release = fabricate_csiq(tmp_path / f"CSIQ{number}", ENTRIES, extra_rows=[extra])
        with pytest.raises(ConversionError, match=message):
            csiq.convert(release, tmp_path / f"out{number}")


def test_dst_idx_must_match_dst_type(tmp_path):
    release = fabricate_csiq(tmp_path / "CSIQ", ENTRIES)
    book = openpyxl.load_workbook(release / "csiq.DMOS.xlsx")
    book["all_by_image"].cell(row=6, column=5, value=4)
    book.save(release / "csiq.DMOS.xlsx")
    with pytest.raises(ConversionError, match=r"row 6: dst_idx 4 does not match dst_type 'jpeg 2000'"):
        csiq.convert(release, tmp_path / "out")


def test_missing_sheet_and_missing_image(tmp_path):
    release = fabricate_csiq(tmp_path / "CSIQ", ENTRIES)
    (release / "dst_imgs/jpeg/shroom.JPEG.2.png").unlink()
    with pytest.raises(ConversionError, match=r"missing on disk: dst_imgs/jpeg/shroom\.JPEG\.2\.png"):
        csiq.convert(release, tmp_path / "out")
    book = openpyxl.load_workbook(release / "csiq.DMOS.xlsx")
    del book["all_by_image"]
    book.save(release / "csiq.DMOS.xlsx")
    with pytest.raises(ConversionError, match=r"csiq\.DMOS\.xlsx: no sheet 'all_by_image'"):
        csiq.convert(release, tmp_path / "out")
