"""CLIVE converter on a miniature release (BMP and JPEG images, Data/*_release.mat with 7 training entries)."""

import numpy as np
import pytest
from scipy.io import savemat

from datasets_scripts import clive
from datasets_scripts.common import ConversionError
from datasets_scripts.splits import load_session

from .fabricate import cell_vector, fabricate_clive, write_liqe_lists

# (name, MOS 0-100, std); extensions interleave as in the release
ENTRIES = [("3.bmp", 38.489474, 21.085801), ("4.JPG", 40.485714, 20.147119), ("5.JPG", 92.43, 6.76),
           ("6.bmp", 3.42, 28.59), ("7.bmp", 60.0, 15.0), ("8.JPG", 55.5, 12.0)]


def rows_of(out_dir, session=None):
    return {r["image_id"]: r for split in load_session(out_dir, session).values() for r in split.remove_columns("image")}


def test_training_entries_are_dropped_and_scores_kept(tmp_path):
    fabricate_clive(tmp_path / "ChallengeDB_release", ENTRIES)
    result = clive.convert(tmp_path, tmp_path / "out")
    rows = rows_of(tmp_path / "out")
    assert set(rows) == {f"Images/{name}" for name, _, _ in ENTRIES}
    for name, mos, std in ENTRIES:
        assert rows[f"Images/{name}"]["mos"] == pytest.approx(mos) and rows[f"Images/{name}"]["mos_raw"] == pytest.approx(mos)
        assert rows[f"Images/{name}"]["mos_std"] == pytest.approx(std)
        assert rows[f"Images/{name}"]["reference_id"] is None
    assert not [r for r in result.reports if "on disk" in r]  # Images/trainingImages/ is not scanned
    formats = {r["image"].format for split in load_session(tmp_path / "out").values() for r in split}
    assert formats == {"BMP", "JPEG"}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Copyright (c) 2015" in card and "@article{ghadiyaram2016massive" in card and "**Warning**" not in card


def test_lists_labels_and_a_training_image_in_the_lists_is_refused(tmp_path):
    release = fabricate_clive(tmp_path / "ChallengeDB_release", ENTRIES)
    labels = {f"Images/{n}": (m, "realistic blur", ["landscape"]) for n, m, _ in ENTRIES}
    ids = sorted(labels)
    sessions = {1: dict(zip(ids, ["train", "train", "train", "train", "validation", "test"]))}
    clive.convert(release, tmp_path / "out", liqe_labels=write_liqe_lists(tmp_path / "L", "ChallengeDB_release", "clive", labels, sessions))
    assert {r["distortion_fine"] for r in rows_of(tmp_path / "out", 1).values()} == {"realistic blur"}
    labels["Images/trainingImages/t1.bmp"] = (50.0, "realistic blur", ["human"])
    sessions[1]["Images/trainingImages/t1.bmp"] = "train"
    write_liqe_lists(tmp_path / "L2", "ChallengeDB_release", "clive", labels, sessions)
    with pytest.raises(ConversionError, match=r"absent from the official annotation files: Images/trainingImages/t1\.bmp"):
        clive.convert(release, tmp_path / "out2", liqe_labels=tmp_path / "L2")


def test_malformed_mat_files_are_errors(tmp_path):
    release = fabricate_clive(tmp_path / "ChallengeDB_release", ENTRIES)
    savemat(release / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.ones((1, 12))})
    with pytest.raises(ConversionError, match=r"disagree in length: 13 names, 12 MOS, 13 std"):
        clive.convert(release, tmp_path / "out")
    savemat(release / "Data" / "AllMOS_release.mat", {"MOS": np.ones((1, 13))})
    with pytest.raises(ConversionError, match=r"AllMOS_release\.mat: no variable AllMOS_release \(it holds \['MOS'\]\)"):
        clive.convert(release, tmp_path / "out")
    savemat(release / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.ones((1, 13))})
    savemat(release / "Data" / "AllImages_release.mat", {"AllImages_release": cell_vector(["a.bmp"] * 12 + [""], column=True)})
    with pytest.raises(ConversionError, match=r"entry 9 \('a\.bmp'\): listed twice"):
        clive.convert(release, tmp_path / "out")
    savemat(release / "Data" / "AllImages_release.mat", {"AllImages_release": cell_vector([f"{k}.bmp" for k in range(12)] + [""], column=True)})
    with pytest.raises(ConversionError, match=r"entry 13 \(''\): not a plain file name"):
        clive.convert(release, tmp_path / "out")
    (release / "Data" / "AllImages_release.mat").write_bytes(b"garbage")
    with pytest.raises(ConversionError, match=r"AllImages_release\.mat: cannot read MATLAB file"):
        clive.convert(release, tmp_path / "out")
