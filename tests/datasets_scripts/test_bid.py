"""BID converter on a miniature release (JPEG images, legacy BIFF DatabaseGrades.xls written with xlwt)."""

import statistics

import pytest

from datasets_scripts import bid
from datasets_scripts.common import ConversionError
from datasets_scripts.splits import load_session

from .fabricate import bid_grades, fabricate_bid, write_liqe_lists

# (Image Number, Average Subjective Grade, grades); image 2 does not exist, as in the release
ENTRIES = [
    (1, 3.180518, [3.0, 3.5, 3.0, 3.22]),
    (3, 4.787501, bid_grades(4.787501, 0.233858)),
    (4, 0.163806, [0.0, 0.3, 0.2]),
    (5, 2.5, [2.5]),  # one grade: no spread
    (6, 1.0, [1.5, 0.5, 2.0]),  # the average disagrees with the grades, as for 7 real images: kept
    (7, 4.919752, [5.0, 4.8]),
    (8, 2.2, [2.0, 2.4]),
]


def rows_of(out_dir, session=None):
    return {r["image_id"]: r for split in load_session(out_dir, session).values() for r in split.remove_columns("image")}


def test_rows_mos_and_sample_std(tmp_path):
    fabricate_bid(tmp_path / "BID", ENTRIES)
    result = bid.convert(tmp_path, tmp_path / "out")
    rows = rows_of(tmp_path / "out")
    assert set(rows) == {f"ImageDatabase/DatabaseImage{n:04d}.JPG" for n, _, _ in ENTRIES}
    for number, average, grades in ENTRIES:
        row = rows[f"ImageDatabase/DatabaseImage{number:04d}.JPG"]
        assert row["mos"] == pytest.approx(average) and row["mos_raw"] == pytest.approx(average)
        if len(grades) > 1:
            assert row["mos_std"] == pytest.approx(statistics.stdev(grades))
        else:
            assert row["mos_std"] is None
        assert row["distortion_fine"] is None and row["distortion"] == -1 and row["scenes"] == []
    assert rows["ImageDatabase/DatabaseImage0003.JPG"]["mos_std"] == pytest.approx(0.233858)
    assert result.default_split == "seeded" and sum(result.split_counts["seeded"].values()) == 7
    assert load_session(tmp_path / "out")["train"][0]["image"].format == "JPEG"


def test_lists_give_the_authentic_distortion_labels(tmp_path):
    release = fabricate_bid(tmp_path / "BID", ENTRIES)
    ids = [f"ImageDatabase/DatabaseImage{n:04d}.JPG" for n, _, _ in ENTRIES]
    fine = ["realistic blur", "other realistic", "underexposure", "realistic noise", "realistic contrast change",
            "overexposure", "realistic blur"]
    labels = {i: (a, f, ["cityscape", "night"]) for i, (_, a, _), f in zip(ids, ENTRIES, fine)}
    sessions = {1: dict(zip(ids, ["train"] * 5 + ["validation", "test"]))}
    bid.convert(release, tmp_path / "out", liqe_labels=write_liqe_lists(tmp_path / "L", "BID", "bid", labels, sessions))
    rows = rows_of(tmp_path / "out", 1)
    assert [rows[i]["distortion_fine"] for i in ids] == fine
    assert rows[ids[2]]["distortion"] == 7  # underexposure
    assert rows[ids[0]]["scenes"] == [1, 5]  # cityscape, night


def test_malformed_rows_are_errors_naming_the_row(tmp_path):
    cases = [
        ((9, "n/a", [1.0]), r"row 9, Average Subjective Grade: 'n/a' is not a number"),
        ((9.5, 1.0, [1.0]), r"row 9: Image Number 9\.5 is not a positive integer"),
        ((9, 1.0, [1.0, "x"]), r"row 9, Grade #2: 'x' is not a number"),
        ((1, 1.0, [1.0, 2.0]), r"row 9: image 1 is listed twice"),
    ]
    for number, (extra, message) in enumerate(cases):
        release = fabricate_bid(tmp_path / f"BID{number}", ENTRIES, extra_rows=[extra])
        with pytest.raises(ConversionError, match=message):
            bid.convert(release, tmp_path / f"out{number}")


def test_unreadable_xls_and_missing_image(tmp_path):
    release = fabricate_bid(tmp_path / "BID", ENTRIES)
    (release / "ImageDatabase" / "DatabaseImage0004.JPG").unlink()
    with pytest.raises(ConversionError, match=r"missing on disk: ImageDatabase/DatabaseImage0004\.JPG"):
        bid.convert(release, tmp_path / "out")
    (release / "DatabaseGrades.xls").write_bytes(b"not a workbook")
    with pytest.raises(ConversionError, match=r"DatabaseGrades\.xls: cannot read legacy \.xls workbook"):
        bid.convert(release, tmp_path / "out")


def test_lower_case_extension_on_disk_is_found(tmp_path):
    release = fabricate_bid(tmp_path / "BID", ENTRIES)
    path = release / "ImageDatabase" / "DatabaseImage0007.JPG"
    path.rename(path.with_suffix(".jpg"))
    bid.convert(release, tmp_path / "out")
    assert "ImageDatabase/DatabaseImage0007.JPG" in rows_of(tmp_path / "out")
