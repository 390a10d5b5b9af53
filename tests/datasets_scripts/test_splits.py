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


def test_load_session_takes_a_hub_dataset_id_through_snapshot_download(tmp_path, monkeypatch):
    """A Hub id is fetched with huggingface_hub.snapshot_download (monkeypatched: no network) and read like a folder."""
    import huggingface_hub
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datasets_scripts.splits import corpus_folder, load_session

    folder = tmp_path / "snapshot"
    (folder / "data").mkdir(parents=True)
    (folder / "splits").mkdir()
    rows = {"image_id": [f"i{k}" for k in range(5)], "mos": [float(k) for k in range(5)]}
    pq.write_table(pa.table({k: v[:3] for k, v in rows.items()}), folder / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({k: v[3:] for k, v in rows.items()}), folder / "data" / "test-00000-of-00001.parquet")
    pq.write_table(pa.table({"row_id": list(range(5)), "image_id": rows["image_id"],
                             "split": ["train", "validation", "train", "test", "test"]}), folder / "splits" / "seeded.parquet")
    calls = []

    def fake_snapshot_download(repo_id, repo_type=None, revision=None, allow_patterns=None, **kwargs):
        calls.append((repo_id, repo_type, revision, tuple(allow_patterns)))
        if repo_id != "org/corpus":
            raise huggingface_hub.errors.RepositoryNotFoundError(f"404 {repo_id}")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    session = load_session("org/corpus", "seeded", revision="v1")
    assert {split: session[split]["image_id"] for split in session} == {
        "train": ["i0", "i2"], "validation": ["i1"], "test": ["i3", "i4"]}
    assert calls == [("org/corpus", "dataset", "v1", ("README.md", "data/*.parquet", "splits/*.parquet"))]
    assert load_session("org/corpus")["train"]["image_id"] == ["i0", "i1", "i2"]
    assert corpus_folder(folder) == folder  # a folder is used as it is, no download
    assert len(calls) == 2
    with pytest.raises(SessionError, match="org/absent: not a local folder, and fetching it as a Hub dataset failed"):
        load_session("org/absent")
    with pytest.raises(SessionError, match="no such corpus folder"):
        load_session(str(tmp_path / "nowhere" / "deeper"))
