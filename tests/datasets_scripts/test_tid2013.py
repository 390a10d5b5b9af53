"""TID2013 converter on a miniature release (BMP images with the release's case quirks, the .txt files)."""

import re
from pathlib import Path

import pytest

from datasets_scripts import tid2013
from datasets_scripts.common import ConversionError
from datasets_scripts.export import ExportError
from datasets_scripts.schema import FEATURES, FINE_DISTORTIONS
from modeling_liqe.configuration_liqe import FINE_DISTORTION_TO_CLASS
from datasets_scripts.splits import load_session

from .fabricate import write_image

# (name as mos_with_names.txt writes it, MOS 0-9, std)
ENTRIES = [
    ("i01_01_1.bmp", 5.51429, 0.13013),  # on disk I01_01_1.bmp
    ("i01_10_3.bmp", 3.9, 0.11),
    ("i02_11_1.bmp", 6.2, 0.12),  # on disk I02_11_1.BMP
    ("i02_12_2.bmp", 4.4, 0.2),
    ("i03_13_1.bmp", 5.0, 0.15),  # on disk I03_13_1.BMP
    ("i03_18_4.bmp", 4.75, 0.14),
    ("i04_03_5.bmp", 1.2, 0.3),
    ("i04_24_2.bmp", 4.1, 0.1),
    ("i05_21_3.bmp", 3.3, 0.16),
    ("i25_01_1.bmp", 7.21429, 0.1),  # on disk I25_01_1.bmp; its reference is i25.bmp, not I25.BMP
    ("i25_16_5.bmp", 0.24242, 0.18),
    ("i25_17_2.bmp", 5.6, 0.12),
]
EXPECTED_CLASS = {
    "i01_01_1.bmp": "noise", "i01_10_3.bmp": "jpeg compression", "i02_11_1.bmp": "jpeg2000 compression",
    "i02_12_2.bmp": "jpeg compression", "i03_13_1.bmp": "jpeg2000 compression", "i03_18_4.bmp": "color",
    "i04_03_5.bmp": "noise", "i04_24_2.bmp": "jpeg2000 compression", "i05_21_3.bmp": "noise",
    "i25_01_1.bmp": "noise", "i25_16_5.bmp": "other", "i25_17_2.bmp": "contrast",
}


def disk_name(name):
    """The on-disk spelling of a distorted image (the release's case quirks)."""
    kind, level = int(name[4:6]), int(name[7])
    if level == 1 and kind == 1:
        return "I" + name[1:]
    if level == 1 and kind in (11, 13):
        return "I" + name[1:-4] + ".BMP"
    return name


def reference_disk_name(reference):
    return "i25.bmp" if reference == 25 else f"I{reference:02d}.BMP"


def fabricate_tid(root, entries=ENTRIES, *, extra_lines=(), extra_std=(), references=True):
    """tid2013/: distorted_images/, reference_images/, mos_with_names.txt, mos_std.txt and mos.txt."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines = [f"{mos:.5f} {name}" for name, mos, _ in entries] + list(extra_lines)
    (root / "mos_with_names.txt").write_text("\r\n".join(lines) + "\r\n")  # the release's DOS line ends
    (root / "mos_std.txt").write_text("\r\n".join([f"{std:.5f}" for _, _, std in entries] + list(extra_std)) + "\r\n")
    (root / "mos.txt").write_text("\r\n".join(f"{mos:.5f}" for _, mos, _ in entries) + "\r\n")
    for name, _, _ in entries:
        write_image(root / "distorted_images" / disk_name(name), "BMP")
    if references:
        for reference in sorted({int(name[1:3]) for name, _, _ in entries}):
            write_image(root / "reference_images" / reference_disk_name(reference), "BMP")
    return root


def rows_of(out_dir, session=None):
    return {r["image_id"]: r for split in load_session(out_dir, session).values() for r in split.remove_columns("image")}


def test_command_line_rows_case_quirks_labels_and_card(tmp_path, capsys):
    release = fabricate_tid(tmp_path / "tid2013")
    assert (release / "distorted_images" / "I02_11_1.BMP").is_file() and (release / "reference_images" / "i25.bmp").is_file()
    assert tid2013.main(["--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert "tid2013: 12 rows written" in capsys.readouterr().out
    rows = rows_of(tmp_path / "out")
    assert set(rows) == {f"distorted_images/{name}" for name, _, _ in ENTRIES}  # the txt's spelling
    classes = FEATURES["distortion"].names
    for name, mos, std in ENTRIES:
        row = rows[f"distorted_images/{name}"]
        assert row["mos"] == pytest.approx(mos) and row["mos_raw"] == pytest.approx(mos)  # 0-9, higher is better
        assert row["mos_std"] == pytest.approx(std)
        assert row["reference_id"] == f"reference_images/i{name[1:3]}.bmp"
        assert row["distortion_level"] == int(name[7])
        assert row["distortion_fine"] == tid2013.DISTORTION_TYPES[int(name[4:6])]
        assert classes[row["distortion"]] == EXPECTED_CLASS[name], name
        assert row["scenes"] == [] and row["corpus"] == "tid2013"
    assert rows["distorted_images/i04_03_5.bmp"]["distortion_fine"] == "fnoise"
    assert rows["distorted_images/i03_13_1.bmp"]["distortion_fine"] == "fastfading"
    assert rows["distorted_images/i03_18_4.bmp"]["distortion_fine"] == "desaturation"
    assert rows["distorted_images/i25_16_5.bmp"]["distortion_fine"] == "shifting the mean"
    assert max(rows.values(), key=lambda r: r["mos"])["image_id"] == "distorted_images/i25_01_1.bmp"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "**Warning**: the terms of this corpus do not allow public redistribution" in card
    assert "@article{ponomarenko2015image" in card and "Research use only" in card
    assert "grouped by reference image" in card


def test_split_is_grouped_by_reference(tmp_path):
    release = fabricate_tid(tmp_path / "tid2013")
    result = tid2013.convert(release, tmp_path / "out", seed=7)
    assert not result.reports  # the upper-case files on disk are the named ones, not strays
    split_of = {}
    for split, dataset in load_session(tmp_path / "out").items():
        assert len(dataset), split  # 6 references: every split gets at least one
        for reference in dataset["reference_id"]:
            assert split_of.setdefault(reference, split) == split  # no reference spans two splits
    assert len(split_of) == 6
    again = tid2013.convert(release, tmp_path / "again", seed=7)
    assert again.split_counts == result.split_counts
    assert (tmp_path / "again/splits/seeded.parquet").read_bytes() == (tmp_path / "out/splits/seeded.parquet").read_bytes()


def test_type_table_covers_24_types_and_matches_the_docstring():
    assert sorted(tid2013.DISTORTION_TYPES) == list(range(1, 25))
    assert set(tid2013.DISTORTION_TYPES.values()) <= set(FINE_DISTORTIONS)
    lines = tid2013.__doc__.splitlines()
    rule = next(line for line in lines if line.strip().startswith("==  ==="))
    spans = [match.span() for match in re.finditer(r"=+", rule)]  # the table's 4 columns
    documented = {}
    for line in lines:
        if re.match(r"^    \d\d  ", line):
            kind, _, fine, liqe_class = (line[a:b if n < 3 else None].strip() for n, (a, b) in enumerate(spans))
            fine = fine.rstrip("~ ")
            assert FINE_DISTORTION_TO_CLASS[fine] == liqe_class, line
            documented[int(kind)] = fine
    assert documented == tid2013.DISTORTION_TYPES


def test_malformed_lines_are_errors_naming_the_line(tmp_path):
    cases = [
        ("abc i06_01_1.bmp", r"mos_with_names\.txt:13, MOS: 'abc' is not a number"),
        ("5.0", r"mos_with_names\.txt:13: expected '<MOS> <name>', got '5\.0'"),
        ("5.0 i06_25_1.bmp", r"mos_with_names\.txt:13: i06_25_1\.bmp has reference 6 / type 25 / level 1 out of range"),
        ("5.0 i06_01_6.bmp", r"type 1 / level 6 out of range"),
        ("9.5 i06_01_1.bmp", r"mos_with_names\.txt:13: MOS 9\.5 is outside 0-9"),
        ("5.0 img6.bmp", r"mos_with_names\.txt:13: 'img6\.bmp' is not named iXX_YY_Z\.bmp"),
        ("5.0 I01_01_1.BMP", r"mos_with_names\.txt:13: I01_01_1\.BMP is listed twice \(first on line 1\)"),
    ]
    for number, (line, message) in enumerate(cases):
        release = fabricate_tid(tmp_path / f"t{number}", extra_lines=[line], extra_std=["0.1"])
        with pytest.raises(ConversionError, match=message):
            tid2013.convert(release, tmp_path / f"out{number}")
    release = fabricate_tid(tmp_path / "std", extra_lines=["5.0 i06_01_2.bmp"], extra_std=["-0.1"])
    with pytest.raises(ConversionError, match=r"mos_std\.txt:13: std -0\.1 is negative"):
        tid2013.convert(release, tmp_path / "out_std")
    release = fabricate_tid(tmp_path / "short", extra_lines=["5.0 i06_01_2.bmp"])
    with pytest.raises(ConversionError, match=r"mos_std\.txt has 12 values but mos_with_names\.txt has 13 lines"):
        tid2013.convert(release, tmp_path / "out_short")


def test_missing_files_and_unreadable_images(tmp_path):
    release = fabricate_tid(tmp_path / "tid2013")
    (release / "distorted_images" / "I02_11_1.BMP").unlink()
    with pytest.raises(ConversionError, match=r"1 images named by the annotation files are missing on disk: distorted_images/i02_11_1\.bmp"):
        tid2013.convert(release, tmp_path / "out")
    write_image(release / "distorted_images" / "I02_11_1.BMP", "BMP")
    (release / "reference_images" / "i25.bmp").unlink()
    with pytest.raises(ConversionError, match=r"reference_images: 1 reference images are missing: reference_images/i25\.bmp"):
        tid2013.convert(release, tmp_path / "out")
    write_image(release / "reference_images" / "i25.bmp", "BMP")
    (release / "distorted_images" / "i04_24_2.bmp").write_bytes(b"BM not a bitmap")
    with pytest.raises(ExportError, match=r"1 images cannot be decoded: .*distorted_images/i04_24_2\.bmp"):
        tid2013.convert(release, tmp_path / "out")
    assert not (tmp_path / "out" / "data").exists()
    (release / "mos_std.txt").unlink()
    with pytest.raises(ConversionError, match=r"mos_std\.txt: annotation file is missing"):
        tid2013.convert(release, tmp_path / "out")
    (release / "mos_with_names.txt").unlink()
    with pytest.raises(ConversionError, match=r"not a TID2013 .* release: mos_with_names\.txt is neither there nor in"):
        tid2013.convert(release, tmp_path / "out")


def test_stray_files_are_reported_and_liqe_lists_refused(tmp_path, capsys):
    release = fabricate_tid(tmp_path / "tid2013")
    write_image(release / "distorted_images" / "i09_09_9.bmp", "BMP")
    result = tid2013.convert(release, tmp_path / "out")
    assert any("on disk" in r and "distorted_images/i09_09_9.bmp" in r for r in result.reports)
    assert tid2013.main(["--root", str(release), "--out", str(tmp_path / "o2"), "--liqe-labels", str(tmp_path)]) == 1
    assert "no label lists for TID2013" in capsys.readouterr().err
