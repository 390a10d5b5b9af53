"""Seeded (grouped) splits and the split-table helpers."""

import pytest

from datasets_scripts.splits import SessionError, data_files, liqe_session_name, seeded_split


def test_fractions_and_determinism():
    ids = [f"img{k}" for k in range(1000)]
    split = seeded_split(ids, seed=7)
    counts = {s: sum(1 for v in split.values() if v == s) for s in ("train", "validation", "test")}
    assert counts == {"train": 700, "validation": 100, "test": 200}
    assert seeded_split(list(reversed(ids)), seed=7) == split  # depends on the set of ids, not their order
    assert seeded_split(ids, seed=8) != split


def test_groups_stay_together():
    ids = [f"I{r:02d}_{d:02d}" for r in range(1, 82) for d in range(1, 6)]
    groups = [i[:3] for i in ids]
    split = seeded_split(ids, groups, seed=3)
    by_group = {}
    for image_id, group in zip(ids, groups):
        assert by_group.setdefault(group, split[image_id]) == split[image_id]
    per_split = {s: sum(1 for v in by_group.values() if v == s) for s in ("train", "validation", "test")}
    assert per_split == {"train": 57, "validation": 8, "test": 16}  # KADID's 81 references, as the authors split them


def test_small_corpora_get_every_split_and_mismatched_groups_fail():
    assert sorted(set(seeded_split(["a", "b", "c"]).values())) == ["test", "train", "validation"]
    with pytest.raises(ValueError, match="3 ids but 2 group keys"):
        seeded_split(["a", "b", "c"], ["x", "y"])


def test_names_and_missing_folder(tmp_path):
    assert liqe_session_name(3) == "liqe_session_03"
    with pytest.raises(SessionError, match="no data/<split>-\\*.parquet files"):
        data_files(tmp_path)
