"""AGIQA-3K converter on a miniature release (data.csv from the GitHub repo + the JPEGs of AGIQA-3K.zip)."""

import csv
from pathlib import Path

import pytest
import yaml

from datasets_scripts import agiqa3k
from datasets_scripts.common import ConversionError
from datasets_scripts.export import ExportError
from datasets_scripts.splits import load_session

from .fabricate import write_image

HEADER = ["name", "prompt", "adj1", "adj2", "style", "mos_quality", "std_quality", "mos_align", "std_align"]
# (name, prompt, adj1, adj2, style, mos_quality, std_quality, mos_align, std_align)
ENTRIES = [
    ("AttnGAN_normal_000.jpg", "a girl, sitting in a garden, with flowers", "", "", "", 0.9, 0.7, 1.2, 0.5),
    ("DALLE2_normal_001.jpg", "a bench", "", "", "", 2.35, 0.5, 3.1, 0.4),
    ("glide_highcorr_002.jpg", "a photo of a dog", "", "", "", 1.1, 0.9, 2.0, 0.6),
    ("midjourney_lowcorr_003.jpg", "a cat", "", "", "anime", 3.9, 0.3, 3.5, 0.3),
    ("midjourney_normal_004.jpg", "a kid, eating an apple", "happy", "", "", 4.489, 0.108, 4.286, 0.2),
    ("sd1.5_lowstep_005.jpg", "a house", "old", "", "", 0.0, 1.452, 0.021, 1.0),
    ("sd1.5_normal_006.jpg", "two people, at a table, drinking tea", "", "", "baroque", 3.2, 0.4, 2.8, 0.5),
    ("sd1.5_normal_007.jpg", "a tree", "", "", "", 2.7, 0.6, 3.3, 0.4),
    ("xl2.2_normal_008.jpg", 'a "quoted" word, and a comma', "", "", "", 4.0, 0.2, 4.1, 0.2),
    ("xl2.2_normal_009.jpg", "a car", "red", "fast", "realistic", 3.5, 0.5, 3.9, 0.3),
]


def fabricate_agiqa(root, entries=ENTRIES, *, images_dir="AGIQA-3K", extra_lines=()):
    """data.csv (csv.writer quotes the prompts with commas, as the repo's file does) and the images folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "data.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(entries)
        for line in extra_lines:
            handle.write(line + "\r\n")
    for entry in entries:
        write_image(root / images_dir / entry[0], "JPEG")
    return root


def rows_of(out_dir, session=None):
    return {r["image_id"]: r for split in load_session(out_dir, session).values() for r in split.remove_columns("image")}


def test_command_line_rows_scores_split_and_card(tmp_path, capsys):
    release = fabricate_agiqa(tmp_path / "AGIQA-3K")  # images in AGIQA-3K/AGIQA-3K/, as the zip unpacks
    assert '"a girl, sitting in a garden, with flowers"' in (release / "data.csv").read_text()
    assert agiqa3k.main(["--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert "agiqa3k: 10 rows written" in capsys.readouterr().out
    rows = rows_of(tmp_path / "out")
    assert set(rows) == {entry[0] for entry in ENTRIES}  # image_id is the csv name, whatever the folder
    for name, _, _, _, _, mos, std, mos_align, _ in ENTRIES:
        row = rows[name]
        assert row["mos"] == pytest.approx(mos) and row["mos_raw"] == pytest.approx(mos)  # quality, not alignment
        assert row["mos_std"] == pytest.approx(std)
        assert row["distortion"] == -1 and row["distortion_fine"] is None and row["scenes"] == []
        assert row["reference_id"] is None and row["corpus"] == "agiqa3k"
    assert "mos_align" not in rows["sd1.5_normal_007.jpg"] and "prompt" not in rows["sd1.5_normal_007.jpg"]
    assert max(rows.values(), key=lambda r: r["mos"])["image_id"] == "midjourney_normal_004.jpg"
    session = load_session(tmp_path / "out")
    assert {split: len(d) for split, d in session.items()} == {"train": 7, "validation": 1, "test": 2}
    assert session["test"][0]["image"].format == "JPEG"
    card = (tmp_path / "out" / "README.md").read_text()
    assert yaml.safe_load(card.split("---")[1])["license"] == "mit"
    assert "**Warning**" not in card and "MIT licence" in card and "own terms of use may also apply" in card
    assert "@article{li2024agiqa3k" in card and "alignment score (`mos_align`, `std_align`)" in card
    assert "Images read from `AGIQA-3K/`" in card


@pytest.mark.parametrize("images_dir", [".", "images", "AGIQA-3K/images", "agiqa-3k"])
def test_the_images_folder_is_found_where_the_zip_put_it(tmp_path, images_dir):
    release = fabricate_agiqa(tmp_path / "dl", images_dir=images_dir)
    (release / "__MACOSX" / "AGIQA-3K").mkdir(parents=True)
    for entry in ENTRIES:  # resource forks of a macOS zip: never the images
        (release / "__MACOSX" / "AGIQA-3K" / ("._" + entry[0])).write_bytes(b"\x00\x05\x16\x07")
    result = agiqa3k.convert(release, tmp_path / "out")
    assert result.num_rows == 10 and not result.reports
    assert set(rows_of(tmp_path / "out")) == {entry[0] for entry in ENTRIES}


def test_images_folder_not_found_is_a_clear_error(tmp_path):
    release = fabricate_agiqa(tmp_path / "dl", images_dir="a/b/c")  # three levels down: too deep
    with pytest.raises(ConversionError, match=r"no folder holds the images named by data\.csv \(e\.g\. AttnGAN_normal_000\.jpg\); "
                                              r"looked in \., a, a/b\. Unpack AGIQA-3K\.zip next to data\.csv"):
        agiqa3k.convert(release, tmp_path / "out")


def test_malformed_rows_are_errors_naming_the_line(tmp_path):
    cases = [
        ("x_normal_1.jpg,a dog, running,,,,2.0,0.5,2.0,0.5", r"data\.csv:12: expected 9 columns, got 10 \(an unquoted comma"),
        ("x_normal_1.jpg,a dog,,,,high,0.5,2.0,0.5", r"data\.csv:12, mos_quality: 'high' is not a number"),
        ("x_normal_1.jpg,a dog,,,,2.0,,2.0,0.5", r"data\.csv:12, std_quality: '' is not a number"),
        ("x_normal_1.jpg,a dog,,,,2.0,-0.5,2.0,0.5", r"data\.csv:12: std_quality -0\.5 is negative"),
        ("DALLE2_normal_001.jpg,a dog,,,,2.0,0.5,2.0,0.5", r"data\.csv:12: DALLE2_normal_001\.jpg is listed twice \(first on line 3\)"),
        ("x_normal_1,a dog,,,,2.0,0.5,2.0,0.5", r"data\.csv:12: name 'x_normal_1' has no image file extension"),
        ('"a, b",a dog,,,,2.0,0.5,2.0,0.5', r"data\.csv:12: name 'a, b' has no image file extension"),
    ]
    for number, (line, message) in enumerate(cases):
        release = fabricate_agiqa(tmp_path / f"a{number}", extra_lines=[line])
        with pytest.raises(ConversionError, match=message):
            agiqa3k.convert(release, tmp_path / f"out{number}")
    release = fabricate_agiqa(tmp_path / "header")
    text = (release / "data.csv").read_text().replace("mos_quality", "mos_q", 1)
    (release / "data.csv").write_text(text)
    with pytest.raises(ConversionError, match=r"data\.csv: header lacks \['mos_quality'\]"):
        agiqa3k.convert(release, tmp_path / "out_header")


def test_missing_and_unreadable_images_and_liqe_lists_refused(tmp_path, capsys):
    release = fabricate_agiqa(tmp_path / "dl")
    (release / "AGIQA-3K" / "glide_highcorr_002.jpg").unlink()
    with pytest.raises(ConversionError, match=r"1 images named by the annotation files are missing on disk: glide_highcorr_002\.jpg"):
        agiqa3k.convert(release, tmp_path / "out")
    write_image(release / "AGIQA-3K" / "glide_highcorr_002.jpg", "JPEG")
    (release / "AGIQA-3K" / "sd1.5_normal_007.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(ExportError, match=r"1 images cannot be decoded: .*sd1\.5_normal_007\.jpg"):
        agiqa3k.convert(release, tmp_path / "out")
    assert not (tmp_path / "out" / "data").exists()
    write_image(release / "AGIQA-3K" / "sd1.5_normal_007.jpg", "JPEG")
    write_image(release / "AGIQA-3K" / "sd1.5_normal_999.jpg", "JPEG")
    result = agiqa3k.convert(release, tmp_path / "out")
    assert any("on disk" in r and "sd1.5_normal_999.jpg" in r for r in result.reports)
    assert agiqa3k.main(["--root", str(release), "--out", str(tmp_path / "o2"), "--liqe-labels", str(tmp_path)]) == 1
    assert "no label lists for AGIQA-3K" in capsys.readouterr().err
    (release / "data.csv").unlink()
    assert agiqa3k.main(["--root", str(release), "--out", str(tmp_path / "o3")]) == 1
    assert "not a AGIQA-3K release: data.csv is neither there nor in" in capsys.readouterr().err
