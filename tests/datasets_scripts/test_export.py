"""write_corpus / push_to_hub: the standard folder and its round trips (save_to_disk, parquet, load_dataset)."""

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from datasets_scripts.card import REDISTRIBUTION_ALLOWED, CorpusCard
from datasets_scripts.export import ExportError, publish_privately_by_default, push_to_hub, write_corpus
from datasets_scripts.schema import FEATURES
from datasets_scripts.splits import load_corpus, load_session

from .fabricate import write_image

CARD = CorpusCard(corpus="toy", pretty_name="Toy corpus", homepage="https://example.org", description="Toy.",
                  score_description="MOS 1-5.", citation="@misc{toy}", terms="MIT.", redistribution=REDISTRIBUTION_ALLOWED,
                  license="mit")
FORMATS = {"png": "PNG", "bmp": "BMP", "jpg": "JPEG"}


def toy_rows(folder, count=9):
    rows = []
    for k in range(count):
        ext = list(FORMATS)[k % 3]
        path = folder / "imgs" / f"{k}.{ext}"
        write_image(path, FORMATS[ext])
        rows.append({"image": str(path), "image_id": f"imgs/{k}.{ext}", "mos": 1 + k / 2, "corpus": "toy",
                     "distortion_fine": "jpeg compression" if k % 2 else None, "scenes": ["night"] if k % 2 else [],
                     "reference_id": f"ref{k % 3}", "distortion_level": k % 5 + 1})
    return rows


@pytest.fixture
def corpus(tmp_path):
    rows = toy_rows(tmp_path)
    ids = [row["image_id"] for row in rows]
    splits = {"seeded": dict(zip(ids, ["test", "train", "validation"] * 3)),
              "liqe_session_01": dict(zip(ids, ["train"] * 6 + ["validation", "test", "test"])),
              "partial": {ids[0]: "test", ids[1]: "train"}}
    counts = write_corpus(tmp_path / "out", rows, splits, CARD, default_split="seeded", notes=["a note"], max_shard_bytes=150)
    return tmp_path / "out", rows, splits, counts


def test_layout_shards_and_split_tables(corpus):
    out, rows, splits, counts = corpus
    assert counts == {"seeded": {"train": 3, "validation": 3, "test": 3},
                      "liqe_session_01": {"train": 6, "validation": 1, "test": 2},
                      "partial": {"train": 1, "validation": 0, "test": 1}}
    data = sorted(p.name for p in (out / "data").iterdir())
    assert len(data) > 3 and all(name.endswith(".parquet") for name in data)  # 150-byte shards: several per split
    assert data[0].startswith("test-00000-of-")
    table = pq.read_table(out / "splits" / "partial.parquet").to_pydict()
    # In row-id order: rows are stored train, validation, test, so the train image comes first.
    assert table["image_id"] == ["imgs/1.bmp", "imgs/0.png"] and table["split"] == ["train", "test"]
    assert table["row_id"] == sorted(table["row_id"])
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data", "splits"]  # no partial folder left


def test_parquet_embeds_the_original_bytes(corpus):
    out, rows, _, _ = corpus
    stored = {}
    for path in (out / "data").iterdir():
        for image in pq.read_table(path).column("image").to_pylist():
            stored[image["path"]] = image["bytes"]
    for row in rows:
        assert stored[row["image_id"]] == open(row["image"], "rb").read()


def test_load_session_and_row_ids(corpus):
    out, rows, splits, _ = corpus
    everything = load_corpus(out)
    assert everything.features == FEATURES and len(everything) == 9
    for name in ("seeded", "liqe_session_01", 1, "partial"):
        session = load_session(out, name)
        assignment = splits["liqe_session_01" if name == 1 else name]
        assert list(session) == ["train", "validation", "test"]
        for split, dataset in session.items():
            assert sorted(dataset["image_id"]) == sorted(i for i, s in assignment.items() if s == split)
    row = load_session(out, 1)["test"][0]
    assert row["image"].size == (8, 8) and row["corpus"] == "toy"
    with pytest.raises(ValueError, match=r"no split table 'liqe_session_04'; this corpus has \['liqe_session_01', 'partial', 'seeded'\]"):
        load_session(out, 4)


def test_save_to_disk_round_trip(corpus, tmp_path):
    out, _, _, _ = corpus
    session = load_session(out, 1)
    session.save_to_disk(str(tmp_path / "arrow"))
    back = datasets.load_from_disk(str(tmp_path / "arrow"))
    assert back["train"].features == FEATURES
    for split in session:
        a, b = session[split].remove_columns("image"), back[split].remove_columns("image")
        assert a.to_list() == b.to_list()
        assert [x["bytes"] for x in session[split].cast_column("image", datasets.Image(decode=False))["image"]] == \
               [x["bytes"] for x in back[split].cast_column("image", datasets.Image(decode=False))["image"]]


def test_folder_loads_like_a_hub_repo(corpus):
    out, _, _, _ = corpus
    front = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    assert front["license"] == "mit" and [c["config_name"] for c in front["configs"]] == ["default", "splits"]
    hub = datasets.load_dataset(str(out))
    assert sorted(hub) == ["test", "train", "validation"] and hub["train"].features == FEATURES
    assert sorted(hub["validation"]["image_id"]) == sorted(load_session(out)["validation"]["image_id"])
    tables = datasets.load_dataset(str(out), "splits")
    assert sorted(tables) == ["liqe_session_01", "partial", "seeded"] and tables["partial"].num_rows == 2
    assert "a note" in (out / "README.md").read_text()


def test_refuses_bad_inputs(tmp_path):
    rows = toy_rows(tmp_path, 3)
    ids = [row["image_id"] for row in rows]
    full = {"s": dict(zip(ids, ["train", "validation", "test"]))}
    with pytest.raises(ExportError, match=r"default split 's' leaves 1 rows out: imgs/2\.jpg"):
        write_corpus(tmp_path / "o1", rows, {"s": {ids[0]: "train", ids[1]: "test"}}, CARD, default_split="s")
    with pytest.raises(ExportError, match=r"unknown split names \['val'\]"):
        write_corpus(tmp_path / "o2", rows, {"s": dict(full["s"], **{ids[0]: "val"})}, CARD, default_split="s")
    with pytest.raises(ExportError, match=r"names 1 images that are not rows: nope\.png"):
        write_corpus(tmp_path / "o3", rows, {"s": dict(full["s"], **{"nope.png": "train"})}, CARD, default_split="s")
    with pytest.raises(ExportError, match=r"1 image ids occur twice: imgs/0\.png"):
        write_corpus(tmp_path / "o4", rows + [rows[0]], full, CARD, default_split="s")
    with pytest.raises(ValueError, match=r"unknown fine distortion label 'smudge'"):
        write_corpus(tmp_path / "o5", [dict(rows[0], distortion_fine="smudge")], full, CARD, default_split="s")
    (tmp_path / "o6").mkdir()
    (tmp_path / "o6" / "precious.txt").write_text("x")
    with pytest.raises(ExportError, match=r"will not overwrite a folder holding files it did not write: precious\.txt"):
        write_corpus(tmp_path / "o6", rows, full, CARD, default_split="s", overwrite=True)


def test_push_to_hub_calls_create_repo_then_upload_folder(corpus, monkeypatch):
    out = corpus[0]
    calls = []
    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", lambda self, repo_id, **kw: calls.append(("create_repo", repo_id, kw)))
    monkeypatch.setattr("huggingface_hub.HfApi.upload_folder", lambda self, **kw: calls.append(("upload_folder", kw)) or "commit")
    assert push_to_hub(out, "org/toy", private=True, token="hf_test") == "commit"
    assert calls[0] == ("create_repo", "org/toy", {"repo_type": "dataset", "private": True, "exist_ok": True})
    upload = calls[1][1]
    assert upload["repo_id"] == "org/toy" and upload["repo_type"] == "dataset" and upload["folder_path"] == str(out)
    assert "data/*.parquet" in upload["delete_patterns"] and "README.md" in upload["allow_patterns"]
    assert not publish_privately_by_default(CARD)
    with pytest.raises(ExportError, match="not a converted corpus folder"):
        push_to_hub(out / "data", "org/toy")
