"""KADID-10k converter on a miniature release (PNG images and references in images/, dmos.csv)."""

import math

import pytest

from datasets_scripts import kadid10k
from datasets_scripts.common import ConversionError
from datasets_scripts.splits import load_session

from .fabricate import fabricate_kadid, write_liqe_lists

# (dist_img, dmos (a MOS, higher is better), var)
ENTRIES = [
    ("I01_01_01.png", 4.57, 0.496),
    ("I01_01_05.png", 1.2, 0.25),
    ("I01_24_02.png", 3.9, 0.0),
    ("I02_02_03.png", 2.73, 0.81),
    ("I02_18_01.png", 4.1, 0.3),
    ("I03_25_04.png", 2.0, 1.0),
    ("I04_10_02.png", 3.3, 0.4),
]


def rows_of(out_dir, session=None):
    return {r["image_id"]: r for split in load_session(out_dir, session).values() for r in split.remove_columns("image")}


def test_rows_scores_types_levels_and_grouped_split(tmp_path):
    fabricate_kadid(tmp_path / "kadid10k", ENTRIES)
    result = kadid10k.convert(tmp_path, tmp_path / "out")
    rows = rows_of(tmp_path / "out")
    assert set(rows) == {f"images/{name}" for name, _, _ in ENTRIES}  # references I01.png ... are not rows
    assert not [r for r in result.reports if "on disk" in r]  # and not reported as unnamed either
    for name, dmos, var in ENTRIES:
        row = rows[f"images/{name}"]
        assert row["mos"] == pytest.approx(dmos) and row["mos_raw"] == pytest.approx(dmos)  # not flipped
        assert row["mos_std"] == pytest.approx(math.sqrt(var))
        assert row["reference_id"] == f"images/{name[:3]}.png"
        assert row["distortion_level"] == int(name[7:9])
    assert rows["images/I01_24_02.png"]["distortion_fine"] == "sharpness"
    assert rows["images/I02_02_03.png"]["distortion_fine"] == "lens"
    assert rows["images/I02_18_01.png"]["distortion_fine"] == "shifting the mean"
    session = load_session(tmp_path / "out")
    seen = {}
    for split, dataset in session.items():
        for ref in dataset["reference_id"]:
            assert seen.setdefault(ref, split) == split  # a reference never spans two splits


def test_seeded_split_is_reproducible(tmp_path):
    fabricate_kadid(tmp_path / "kadid10k", ENTRIES)
    first = kadid10k.convert(tmp_path, tmp_path / "first", seed=1).split_counts
    again = kadid10k.convert(tmp_path, tmp_path / "again", seed=1).split_counts
    assert first == again
    assert (tmp_path / "again/splits/seeded.parquet").read_bytes() == (tmp_path / "first/splits/seeded.parquet").read_bytes()


def test_lists_give_scenes_and_keep_the_release_type(tmp_path):
    release = fabricate_kadid(tmp_path / "kadid10k", ENTRIES)
    labels = {f"images/{n}": (d, kadid10k.DISTORTION_TYPES[int(n[4:6])], ["landscape"]) for n, d, _ in ENTRIES}
    sessions = {s: {i: ("test" if k % 3 == s % 3 else "train") for k, i in enumerate(sorted(labels))} for s in (1, 2, 3)}
    result = kadid10k.convert(release, tmp_path / "out", liqe_labels=write_liqe_lists(tmp_path / "L", "kadid10k", "kadid10k", labels, sessions))
    assert not result.reports
    assert sorted(result.split_counts) == ["liqe_session_01", "liqe_session_02", "liqe_session_03"]
    assert all(row["scenes"] == [4] for row in rows_of(tmp_path / "out", 3).values())  # 4 = landscape


def test_malformed_csv_rows_are_errors_naming_the_line(tmp_path):
    cases = [
        ("I05_01_01.png,I05.png,abc,0.1", r"dmos\.csv:9, dmos: 'abc' is not a number"),
        ("I05_01_01.png,I05.png,3.0,-0.1", r"dmos\.csv:9: var -0\.1 is negative"),
        ("I05_26_01.png,I05.png,3.0,0.1", r"dmos\.csv:9: I05_26_01\.png has distortion type 26"),
        ("I05_01_01.png,I06.png,3.0,0.1", r"dmos\.csv:9: ref_img 'I06\.png' does not match"),
        ("img5.png,I05.png,3.0,0.1", r"dmos\.csv:9: dist_img 'img5\.png' is not named"),
        ("I05_01_01.png,I05.png", r"dmos\.csv:9: expected 4 columns, got 2"),
        ("I01_01_01.png,I01.png,3.0,0.1", r"dmos\.csv:9: I01_01_01\.png is listed twice"),
    ]
    for number, (line, message) in enumerate(cases):
        release = fabricate_kadid(tmp_path / f"k{number}", ENTRIES, extra_lines=[line])
        with pytest.raises(ConversionError, match=message):
            kadid10k.convert(release, tmp_path / f"out{number}")
    release = fabricate_kadid(tmp_path / "header", ENTRIES)
    text = (release / "dmos.csv").read_text().replace("dist_img,ref_img,dmos,var", "name,ref,score,var")
    (release / "dmos.csv").write_text(text)
    with pytest.raises(ConversionError, match=r"dmos\.csv: header is \['name', 'ref', 'score', 'var'\]"):
        kadid10k.convert(release, tmp_path / "out_header")
