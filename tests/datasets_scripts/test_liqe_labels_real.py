"""The LIQE authors' real label/split files against official releases fabricated from them.

For each of the six corpora an official layout is written whose annotation files agree with the
authors' lists (LIVE dmos_new = K - mos, CSIQ DMOS = 1 - mos, KADID var = std^2, BID two grades with
the list's mean and sample std, CLIVE .mat with 7 leading training entries, KonIQ csv), with tiny
images. Converting it with ``--liqe-labels`` must give every session and split exactly the authors'
rows (the counts of CORPORA.md section 1), their MOS after the direction rules, and their labels
(LIVE's fast-fading images excepted: they get ``fastfading``). Needs ../shared/liqe_labels.
"""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from datasets_scripts import bid, clive, csiq, kadid10k, koniq10k, live
from datasets_scripts.splits import load_session
from tests.conftest import SHARED_LIQE_LABELS

from .fabricate import (CSIQ_FOLDER_TO_TYPE, bid_grades, fabricate_bid, fabricate_clive, fabricate_csiq, fabricate_kadid,
                        fabricate_koniq, fabricate_live)

pytestmark = pytest.mark.skipif(
    not SHARED_LIQE_LABELS.is_dir(),
    reason=f"the LIQE authors' label files are not at {SHARED_LIQE_LABELS} (tests.conftest.SHARED_LIQE_LABELS)",
)

# train / validation / test rows of sessions 1..10 (CORPORA.md section 1, counted from the files)
EXPECTED_COUNTS = {
    "live": [(538, 81, 160), (535, 82, 162), (538, 81, 160), (537, 80, 162), (539, 81, 159),
             (538, 80, 161), (540, 79, 160), (540, 81, 158), (537, 81, 161), (539, 79, 161)],
    "csiq": [(607, 87, 172), (607, 86, 173), (605, 87, 174), (605, 87, 174), (607, 87, 172),
             (605, 87, 174), (606, 86, 174), (606, 86, 174), (606, 87, 173), (607, 86, 173)],
    "kadid10k": [(7125, 1000, 2000)] * 10,
    "bid": [(410, 59, 117)] * 10,
    "clive": [(813, 116, 233)] * 10,
    "koniq10k": [(7051, 1007, 2015)] * 10,
}
SCENE_NAMES = ["animal", "cityscape", "human", "indoor", "landscape", "night", "plant", "still_life", "others"]


def read_lists(folder, prefix):
    """{session: {split: {image_id: (mos, fine, scenes)}}} and {image_id: std} (from <prefix>_all.txt)."""
    splits2 = SHARED_LIQE_LABELS / folder / "splits2"
    sessions = {}
    for session in range(1, 11):
        sessions[session] = {}
        for split, infix in (("train", "train"), ("validation", "val"), ("test", "test")):
            rows = {}
            for line in (splits2 / str(session) / f"{prefix}_{infix}_clip.txt").read_text().splitlines():
                path, mos, fine, *scenes = line.split("\t")
                rows[path] = (float(mos), fine, [s for s in scenes if s != "invalid"])
            sessions[session][split] = rows
    std = {}
    for line in (splits2 / f"{prefix}_all.txt").read_text().splitlines():
        path, _, value = line.split("\t")
        std[path] = float(value)
    return sessions, std


def union(sessions):
    return {i: label for split in sessions[1].values() for i, label in split.items()}


def check_conversion(module, out_dir, folder, prefix, release, *, fine_fix=None):
    sessions, _ = read_lists(folder, prefix)
    result = module.convert(release, out_dir, liqe_labels=SHARED_LIQE_LABELS)
    assert not [r for r in result.reports if "fastfading" not in r], result.reports
    expected = EXPECTED_COUNTS[module.SPEC.name]
    for session in range(1, 11):
        loaded = load_session(out_dir, session)
        counts = tuple(len(loaded[split]) for split in ("train", "validation", "test"))
        assert counts == expected[session - 1] == tuple(len(sessions[session][s]) for s in ("train", "validation", "test"))
        for split, dataset in loaded.items():
            columns = dataset.select_columns(["image_id", "mos", "distortion_fine", "scenes"]).to_dict()
            listed = sessions[session][split]
            assert sorted(columns["image_id"]) == sorted(listed)
            mos = np.array(columns["mos"], dtype=np.float64)
            want = np.array([listed[i][0] for i in columns["image_id"]])
            np.testing.assert_allclose(mos, want, rtol=1e-6, atol=1e-6)  # float32 storage of the same value
            if session == 1:
                fines = [(fine_fix or {}).get(listed[i][1], listed[i][1]) if fine_fix and i.startswith("fastfading/") else listed[i][1]
                         for i in columns["image_id"]]
                assert columns["distortion_fine"] == fines
                assert [[SCENE_NAMES[s] for s in row] for row in columns["scenes"]] == [listed[i][2] for i in columns["image_id"]]
    return result


def test_live(tmp_path):
    sessions, std = read_lists("databaserelease2", "live")
    labels = union(sessions)
    assert min(mos for mos, _, _ in labels.values()) == 0.0  # so max(dmos_new) - dmos_new = mos exactly
    # References are not in the lists; any grouping will do for the release's refnames_all.
    distorted = {i: (mos, std[i], f"ref{k % 29}.bmp") for k, (i, (mos, _, _)) in enumerate(sorted(labels.items()))}
    release = fabricate_live(tmp_path / "databaserelease2", distorted, dmos_offset=112.0)
    result = check_conversion(live, tmp_path / "out", "databaserelease2", "live", release,
                              fine_fix={"white noise": "fastfading"})
    assert any("145 images `white noise`" in r and "`fastfading`" in r for r in result.reports)
    fine = Counter(load_session(tmp_path / "out", 1)["train"]["distortion_fine"])
    assert "fastfading" in fine


def test_csiq(tmp_path):
    sessions, std = read_lists("CSIQ", "csiq")
    entries = []
    for image_id, (mos, _, _) in union(sessions).items():
        _, folder, name = image_id.split("/")
        image, _, level, _ = name.rsplit(".", 3)
        entries.append((image, CSIQ_FOLDER_TO_TYPE[folder], int(level), std[image_id], round(1.0 - mos, 3)))
    release = fabricate_csiq(tmp_path / "CSIQ", entries)
    check_conversion(csiq, tmp_path / "out", "CSIQ", "csiq", release)


@pytest.mark.slow
def test_kadid10k(tmp_path):
    sessions, std = read_lists("kadid10k", "kadid10k")
    entries = [(i.split("/")[1], mos, std[i] ** 2) for i, (mos, _, _) in union(sessions).items()]
    release = fabricate_kadid(tmp_path / "kadid10k", entries)
    check_conversion(kadid10k, tmp_path / "out", "kadid10k", "kadid10k", release)


def test_bid(tmp_path):
    sessions, std = read_lists("BID", "bid")
    entries = sorted((int(Path(i).stem[len("DatabaseImage"):]), mos, bid_grades(mos, std[i])) for i, (mos, _, _) in union(sessions).items())
    assert len(entries) == 586 and {2, 346, 413, 439}.isdisjoint(number for number, _, _ in entries)
    release = fabricate_bid(tmp_path / "BID", entries)
    check_conversion(bid, tmp_path / "out", "BID", "bid", release)
    rows = load_session(tmp_path / "out", 1)["test"].select_columns(["image_id", "mos_std"]).to_dict()
    np.testing.assert_allclose(rows["mos_std"], [std[i] for i in rows["image_id"]], rtol=1e-5)


def test_clive(tmp_path):
    sessions, std = read_lists("ChallengeDB_release", "clive")
    entries = [(i.split("/")[1], mos, std[i]) for i, (mos, _, _) in union(sessions).items()]
    release = fabricate_clive(tmp_path / "ChallengeDB_release", entries)
    check_conversion(clive, tmp_path / "out", "ChallengeDB_release", "clive", release)


@pytest.mark.slow
def test_koniq10k(tmp_path):
    sessions, std = read_lists("koniq-10k", "koniq10k")
    labels = sorted(union(sessions).items())
    sets = ["training"] * 7058 + ["validation"] * 1000 + ["test"] * 2015
    entries = [(i.split("/")[1], mos, std[i], s) for (i, (mos, _, _)), s in zip(labels, sets)]
    release = fabricate_koniq(tmp_path / "koniq10k", entries)
    result = check_conversion(koniq10k, tmp_path / "out", "koniq-10k", "koniq10k", release)
    assert result.split_counts["official"] == {"train": 7058, "validation": 1000, "test": 2015}
