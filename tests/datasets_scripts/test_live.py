"""LIVE release 2 converter on a miniature release (BMP images, dmos_realigned.mat, refnames_all.mat)."""

import pytest
from scipy.io import savemat

from datasets_scripts import live
from datasets_scripts.common import ConversionError
from datasets_scripts.export import ExportError
from datasets_scripts.schema import FEATURES
from datasets_scripts.splits import load_session

from .fabricate import fabricate_live, live_entry_ids, write_liqe_lists

# image_id -> (LIQE-scale mos, dmos_std, reference)
DISTORTED = {
    "jp2k/img2.bmp": (60.5, 2.0, "bikes.bmp"),
    "jp2k/img3.bmp": (10.25, 3.0, "parrots.bmp"),
    "jpeg/img1.bmp": (0.0, 1.5, "bikes.bmp"),
    "wn/img1.bmp": (80.0, 2.5, "house.bmp"),
    "gblur/img1.bmp": (33.0, 4.0, "parrots.bmp"),
    "fastfading/img1.bmp": (45.0, 1.25, "house.bmp"),
    "fastfading/img174.bmp": (114.414709, 5.0, "bikes.bmp"),
}
SCENES = {"jp2k/img2.bmp": ["human", "still_life"], "fastfading/img1.bmp": ["landscape"]}


def liqe_labels_for(ids):
    folder_label = {"jp2k": "jpeg2000 compression", "jpeg": "jpeg compression", "wn": "white noise",
                    "gblur": "gaussian blur", "fastfading": "white noise"}  # the authors' fast-fading mislabel
    return {i: (DISTORTED[i][0], folder_label[i.split("/")[0]], SCENES.get(i, ["animal"])) for i in ids}


@pytest.fixture
def release(tmp_path):
    return fabricate_live(tmp_path / "download" / "databaserelease2", DISTORTED, copies_on_disk=["wn/img150.bmp"])


def test_rows_follow_the_release_and_the_direction_rule(release, tmp_path):
    result = live.convert(release.parent, tmp_path / "out")  # the download folder above the release works too
    assert result.num_rows == 7 and result.default_split == "seeded"
    session = load_session(tmp_path / "out")
    rows = {r["image_id"]: r for split in session.values() for r in split.remove_columns("image")}
    assert set(rows) == set(DISTORTED)
    assert session["train"].features == FEATURES
    for image_id, (mos, std, ref) in DISTORTED.items():
        row = rows[image_id]
        assert row["mos"] == pytest.approx(mos, abs=1e-4)  # max(dmos_new) - dmos_new, min is 0 here
        assert row["mos_raw"] == pytest.approx(100.0 - mos, abs=1e-4)
        assert row["mos_std"] == pytest.approx(std)
        assert row["reference_id"] == f"refimgs/{ref}"
        assert row["corpus"] == "live" and row["scenes"] == [] and row["distortion_level"] is None
    assert rows["fastfading/img1.bmp"]["distortion_fine"] == "fastfading"
    names = FEATURES["distortion"].names
    assert names[rows["fastfading/img1.bmp"]["distortion"]] == "jpeg2000 compression"
    assert names[rows["wn/img1.bmp"]["distortion"]] == "noise"
    # The seeded split keeps each reference's images together.
    split_of_reference = {}
    for split, dataset in session.items():
        for ref in dataset["reference_id"]:
            assert split_of_reference.setdefault(ref, split) == split
    image = session["train"][0]["image"] if len(session["train"]) else session["test"][0]["image"]
    assert image.format == "BMP" and image.size == (8, 8)


def test_card_carries_notice_fastfading_fix_and_reports(release, tmp_path, caplog):
    live.convert(release, tmp_path / "out")
    card = (tmp_path / "out" / "README.md").read_text()
    assert "COPYRIGHT NOTICE STARTS" in card and "fabricated test notice" in card
    assert "Unrelated readme text" not in card
    assert "fastfading" in card and "white noise" in card
    assert "@article{sheikh2006statistical" in card
    assert "Warning" not in card  # the notice was found, and the terms allow redistribution with it


def test_missing_notice_gives_a_warning(tmp_path):
    release = fabricate_live(tmp_path / "databaserelease2", DISTORTED, notice=False)
    live.convert(release, tmp_path / "out")
    assert "**Warning**" in (tmp_path / "out" / "README.md").read_text()


def test_liqe_labels_attach_scenes_sessions_and_fix_fastfading(release, tmp_path):
    ids = sorted(DISTORTED)
    sessions = {
        1: {i: ("test" if i.startswith("jp2k") else "validation" if i.startswith("wn") else "train") for i in ids},
        2: {i: ("test" if i.startswith("fastfading") else "train") for i in ids},
    }
    labels_dir = write_liqe_lists(tmp_path / "IQA_Database", "databaserelease2", "live", liqe_labels_for(ids), sessions)
    result = live.convert(release, tmp_path / "out", liqe_labels=labels_dir)
    assert result.default_split == "liqe_session_01"
    assert any("`white noise`" in report and "`fastfading`" in report for report in result.reports)
    for number, assignment in sessions.items():
        session = load_session(tmp_path / "out", number)
        for split, dataset in session.items():
            assert sorted(dataset["image_id"]) == sorted(i for i, s in assignment.items() if s == split)
    rows = {r["image_id"]: r for r in load_session(tmp_path / "out", 2)["test"].remove_columns("image")}
    assert rows["fastfading/img1.bmp"]["distortion_fine"] == "fastfading"
    scene_names = FEATURES["scenes"].feature.names
    assert [scene_names[s] for s in rows["fastfading/img1.bmp"]["scenes"]] == ["landscape"]
    assert "fastfading" in (tmp_path / "out" / "README.md").read_text()


def test_list_mos_that_disagrees_with_the_release_is_an_error(release, tmp_path):
    labels = liqe_labels_for(sorted(DISTORTED))
    labels["wn/img1.bmp"] = (79.0, "white noise", ["animal"])
    labels_dir = write_liqe_lists(tmp_path / "IQA_Database", "databaserelease2", "live", labels,
                                  {1: {i: "train" for i in DISTORTED}})
    with pytest.raises(ConversionError, match=r"wn/img1\.bmp \(release 80\.000000, list 79\.000000\)"):
        live.convert(release, tmp_path / "out", liqe_labels=labels_dir)


def test_images_named_by_the_lists_but_missing_on_disk_are_refused(release, tmp_path):
    (release / "gblur" / "img1.bmp").unlink()
    labels_dir = write_liqe_lists(tmp_path / "IQA_Database", "databaserelease2", "live",
                                  liqe_labels_for(sorted(DISTORTED)), {1: {i: "train" for i in DISTORTED}})
    with pytest.raises(ConversionError, match=r"1 images .* missing on disk: gblur/img1\.bmp"):
        live.convert(release, tmp_path / "out", liqe_labels=labels_dir)
    assert not (tmp_path / "out").exists()


def test_unnamed_files_on_disk_are_reported_but_reference_copies_are_not(release, tmp_path):
    (release / "jpeg" / "img999.bmp").write_bytes((release / "jpeg" / "img1.bmp").read_bytes())
    result = live.convert(release, tmp_path / "out")
    unnamed = [r for r in result.reports if "on disk" in r]
    assert len(unnamed) == 1 and "jpeg/img999.bmp" in unnamed[0] and "wn/img150.bmp" not in unnamed[0]


def test_unreadable_image_is_an_error_naming_it(release, tmp_path):
    (release / "wn" / "img1.bmp").write_bytes(b"BM this is not a bitmap")
    with pytest.raises(ExportError, match=r"1 images cannot be decoded: .*wn/img1\.bmp"):
        live.convert(release, tmp_path / "out")
    assert not (tmp_path / "out" / "data").exists()


def test_malformed_annotation_arrays_are_errors(release, tmp_path):
    savemat(release / "dmos_realigned.mat", {"dmos_new": [[1.0] * 981], "dmos_std": [[1.0] * 982], "orgs": [[0] * 982]})
    with pytest.raises(ConversionError, match=r"dmos_realigned\.mat: dmos_new has 981 entries, expected 982"):
        live.convert(release, tmp_path / "out")
    savemat(release / "dmos_realigned.mat", {"dmos_new": [[1.0] * 982], "orgs": [[0] * 982]})
    with pytest.raises(ConversionError, match=r"dmos_realigned\.mat: no variable dmos_std"):
        live.convert(release, tmp_path / "out")
    orgs = [[0] * 981 + [2]]
    savemat(release / "dmos_realigned.mat", {"dmos_new": [[1.0] * 982], "dmos_std": [[1.0] * 982], "orgs": orgs})
    with pytest.raises(ConversionError, match=r"orgs entry 982 \(fastfading/img174\.bmp\) is 2\.0"):
        live.convert(release, tmp_path / "out")


def test_entry_order_is_the_release_order():
    ids = live_entry_ids()
    assert len(ids) == 982 and ids[226] == "jp2k/img227.bmp" and ids[227] == "jpeg/img1.bmp" and ids[-1] == "fastfading/img174.bmp"


def test_command_line(release, tmp_path, capsys):
    assert live.main(["--root", str(release), "--out", str(tmp_path / "out")]) == 0
    assert "live: 7 rows written" in capsys.readouterr().out
    assert live.main(["--root", str(release), "--out", str(tmp_path / "out")]) == 1  # not empty, no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert live.main(["--root", str(release), "--out", str(tmp_path / "out"), "--overwrite"]) == 0
    assert live.main(["--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2")]) == 1
    assert "dmos_realigned.mat" in capsys.readouterr().err
