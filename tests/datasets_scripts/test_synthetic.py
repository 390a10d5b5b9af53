"""The embedded synthetic corpus: classes, monotone levels, split by reference, determinism, round trips.

The corpus is written by the shared exporter (README.md, data/, splits/) and read back like any
converted corpus: ``load_session``, ``datasets.load_dataset``, a parquet file alone, save_to_disk.
"""

import io
import shutil
from collections import defaultdict

import datasets
import numpy as np
import pytest
import yaml
from PIL import Image

from datasets_scripts import __main__ as entry
from datasets_scripts import synthetic
from datasets_scripts.export import ExportError
from datasets_scripts.schema import FEATURES, FINE_DISTORTIONS
from datasets_scripts.splits import load_session, read_split_table
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES

SIZE = 128  # small for speed; the corpus default is 384
SPLITS = ("train", "validation", "test")


def _psnr(reference, distorted):
    mse = np.mean((reference.astype(np.float64) - distorted.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _decode(image_cell):
    if isinstance(image_cell, Image.Image):
        return np.asarray(image_cell.convert("RGB"))
    data = image_cell if isinstance(image_cell, bytes) else image_cell["bytes"]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _all_rows(corpus):
    return [row for split in SPLITS for row in corpus[split].cast_column("image", datasets.Image(decode=False))]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    corpus = synthetic.build_synthetic_corpus(out_dir=out, seed=0, image_size=SIZE)
    return out, corpus


def test_shape_schema_and_every_class(built):
    _, corpus = built
    assert set(corpus) == set(SPLITS)
    rows = _all_rows(corpus)
    n_refs, n_types = len(synthetic.REFERENCE_PHOTOS), len(synthetic.DISTORTIONS)
    assert len(rows) == n_refs * n_types * 5
    for split in SPLITS:
        assert corpus[split].features == FEATURES
    assert {row["distortion"] for row in rows} == set(range(len(DISTORTION_CLASSES)))
    assert {row["distortion_fine"] for row in rows} <= set(FINE_DISTORTIONS)
    assert {row["corpus"] for row in rows} == {"synthetic"}
    assert {row["distortion_level"] for row in rows} == {1, 2, 3, 4, 5}
    assert len({row["image_id"] for row in rows}) == len(rows)
    for row in rows:
        assert row["image_id"].startswith(f"images/{row['reference_id']}_") and row["image_id"].endswith(".png")
        assert row["mos_std"] is None and row["mos_raw"] == row["mos"] and 1.0 <= row["mos"] <= 5.0
        assert row["scenes"], row["image_id"]  # the built-in photos all carry a scene
        assert row["image"]["bytes"][:8] == b"\x89PNG\r\n\x1a\n"
    image = _decode(rows[0]["image"])
    assert image.shape == (SIZE, SIZE, 3)


def test_psnr_falls_and_mos_falls_with_level_for_every_distortion(built):
    out, corpus = built
    # The pristine photos are not stored; the card says how to rebuild them for full-reference measures.
    assert not (out / "references").exists()
    assert f"load_reference_photos(None, {SIZE})" in (out / "README.md").read_text()
    references = {p["name"]: p["image"] for p in synthetic.load_reference_photos(None, SIZE)}
    series = defaultdict(dict)
    for row in _all_rows(corpus):
        key = (row["reference_id"], row["distortion_fine"])
        series[key][row["distortion_level"]] = (_psnr(references[row["reference_id"]], _decode(row["image"])), row["mos"])
    assert len(series) == len(references) * len(synthetic.DISTORTIONS)
    failures = []
    for key, by_level in sorted(series.items()):
        psnrs = [by_level[level][0] for level in range(1, 6)]
        moses = [by_level[level][1] for level in range(1, 6)]
        if not (np.isfinite(psnrs[0]) and all(a > b for a, b in zip(psnrs, psnrs[1:]))):
            failures.append(f"{key}: PSNR {np.round(psnrs, 2).tolist()}")
        if not all(a > b for a, b in zip(moses, moses[1:])):
            failures.append(f"{key}: mos {moses}")
    assert not failures, "\n".join(failures)


def test_split_by_reference(built):
    out, corpus = built
    refs = {split: set(corpus[split]["reference_id"]) for split in SPLITS}
    assert all(refs.values())
    assert not (refs["train"] & refs["validation"] or refs["train"] & refs["test"] or refs["validation"] & refs["test"])
    assert set().union(*refs.values()) == set(synthetic.REFERENCE_PHOTOS)
    assert refs == {s: set(n) for s, n in synthetic.split_references(list(synthetic.REFERENCE_PHOTOS), seed=0).items()}
    table = read_split_table(out, "seeded")  # the stored scheme is that same split, one row per image
    split_of = {image_id: split for split in SPLITS for image_id in corpus[split]["image_id"]}
    assert dict(zip(table["image_id"], table["split"])) == split_of


def test_deterministic_for_a_seed_and_changed_by_another(built, tmp_path):
    out, corpus = built
    again = synthetic.build_synthetic_corpus(out_dir=tmp_path / "again", seed=0, image_size=SIZE)
    for split in SPLITS:
        assert _all_rows_of(corpus[split]) == _all_rows_of(again[split])
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(tmp_path / "again")) for p in (tmp_path / "again").rglob("*") if p.is_file())
    assert "data/train-00000-of-00001.parquet" in files and "splits/seeded.parquet" in files
    for name in files:  # the parquet files, the split table and the card are byte-identical
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name

    other = synthetic.build_synthetic_corpus(seed=1, image_size=SIZE, distortions=[11, 13, 19])
    first = {r["image_id"]: r["image"]["bytes"] for r in _all_rows(corpus)}
    changed = [r["image_id"] for r in _all_rows(other) if r["image"]["bytes"] != first[r["image_id"]]]
    assert len(changed) == len(_all_rows(other))  # noise, impulses and jitter all redrawn
    splits = [synthetic.split_references(list(synthetic.REFERENCE_PHOTOS), seed=s) for s in range(4)]
    assert any(s != splits[0] for s in splits[1:])
    assert {s: set(n) for s, n in splits[1].items()} == {s: set(other[s]["reference_id"]) for s in SPLITS}


def _all_rows_of(dataset):
    """Rows with the image as its bytes only (save_to_disk keeps just the file name of its path)."""
    rows = list(dataset.cast_column("image", datasets.Image(decode=False)))
    return [dict(row, image=row["image"]["bytes"]) for row in rows]


def test_one_copy_in_the_shared_layout(built):
    out, corpus = built
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data", "splits"]  # no disk/, hub/, references/
    assert sorted(p.name for p in (out / "data").iterdir()) == [f"{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")]
    assert sorted(p.name for p in (out / "splits").iterdir()) == ["seeded.parquet"]
    stored = sum(p.stat().st_size for p in (out / "data").iterdir())
    images = sum(len(row["image"]["bytes"]) for row in _all_rows(corpus))
    assert images <= stored < 1.1 * images  # the PNG bytes once, plus small columns


def test_load_session_gives_the_split_by_reference(built):
    out, corpus = built
    expected = synthetic.split_references(list(synthetic.REFERENCE_PHOTOS), seed=0)
    for session in (None, "seeded"):  # the data files' partition and the stored scheme agree
        loaded = load_session(out, session)
        assert list(loaded) == list(SPLITS)
        for split in SPLITS:
            assert loaded[split].features == FEATURES
            assert sorted(set(loaded[split]["reference_id"])) == expected[split]
            assert _all_rows_of(loaded[split]) == _all_rows_of(corpus[split])  # same rows, order and bytes
    assert load_session(out)["test"][0]["image"].size == (SIZE, SIZE)


def test_save_to_disk_round_trip(built, tmp_path):
    out, corpus = built
    load_session(out).save_to_disk(str(tmp_path / "arrow"))
    loaded = datasets.load_from_disk(str(tmp_path / "arrow"))
    for split in SPLITS:
        assert loaded[split].features == FEATURES
        assert _all_rows_of(loaded[split]) == _all_rows_of(corpus[split])


def test_parquet_holds_the_image_bytes(built, tmp_path):
    out, corpus = built
    copy = tmp_path / "copy"  # a copied folder, then one parquet file by itself, far from any image file
    shutil.copytree(out, copy)
    alone = tmp_path / "alone.parquet"
    shutil.copy(copy / "data" / "test-00000-of-00001.parquet", alone)
    dataset = datasets.Dataset.from_parquet(str(alone), cache_dir=str(tmp_path / "cache"))
    assert dataset.features == FEATURES
    assert len(dataset) == len(corpus["test"])
    row = dataset[3]
    assert row["image"].size == (SIZE, SIZE)
    assert np.array_equal(np.asarray(row["image"]), np.asarray(corpus["test"][3]["image"]))
    assert _all_rows_of(dataset) == _all_rows_of(corpus["test"])


def test_load_dataset_reads_the_folder(built, tmp_path):
    out, corpus = built
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["license"] == "other" and front["license_name"] == "public-domain-and-cc0"
    assert [c["config_name"] for c in front["configs"]] == ["default", "splits"]
    for name, meta in synthetic.REFERENCE_PHOTOS.items():  # the photo licence table
        assert f"| {name} | {meta['licence']} | {meta['source']} |" in card
    assert "Warning" not in card
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert {s: len(d) for s, d in loaded.items()} == {s: len(corpus[s]) for s in SPLITS}
    assert loaded["train"].features == FEATURES
    row = loaded["validation"][0]
    assert row["image"].size == (SIZE, SIZE) and row["corpus"] == "synthetic"
    assert _all_rows_of(loaded["validation"]) == _all_rows_of(corpus["validation"])
    tables = datasets.load_dataset(str(out), "splits", cache_dir=str(tmp_path / "cache"))
    assert tables["seeded"].num_rows == sum(len(corpus[s]) for s in SPLITS)


def test_overwrite_is_explicit(tmp_path):
    out = tmp_path / "out"
    tiny = dict(image_size=64, levels=1, distortions=[1, 11])
    synthetic.build_synthetic_corpus(out_dir=out, seed=0, **tiny)
    with pytest.raises(ExportError, match="not empty; pass overwrite=True"):
        synthetic.build_synthetic_corpus(out_dir=out, seed=1, **tiny)
    assert synthetic.main(["--out", str(out), "--size", "64", "--levels", "1"]) == 1  # the CLI: an error, no traceback
    synthetic.build_synthetic_corpus(out_dir=out, seed=1, overwrite=True, **tiny)
    expected = synthetic.split_references(list(synthetic.REFERENCE_PHOTOS), seed=1)
    assert {s: sorted(set(d["reference_id"])) for s, d in load_session(out).items()} == expected


def _make_user_photos(folder):
    folder.mkdir()
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:150, 0:200]
    for index in range(4):
        smooth = np.stack([np.sin(xx / (9 + 4 * index)), np.cos(yy / (7 + 3 * index)), np.sin((xx + yy) / 13)], -1)
        array = np.clip(127 + 90 * smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
        image = Image.fromarray(array)
        if index == 0:
            image.save(folder / "garden photo.jpg", quality=95)
        elif index == 1:
            image.putalpha(200)
            image.save(folder / "street.png")
        else:
            image.save(folder / f"shot{index}.png")
    (folder / "notes.txt").write_text("not an image")


def test_user_reference_folder(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "photos"
    _make_user_photos(folder)
    out = tmp_path / "out"
    calls = []
    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", lambda self, repo_id, **kw: calls.append((repo_id, kw["private"])))
    monkeypatch.setattr("huggingface_hub.HfApi.upload_folder", lambda self, **kw: calls.append(kw["folder_path"]))
    argv = ["--out", str(out), "--references", str(folder), "--size", "64", "--levels", "3", "--seed", "3", "--push-to-hub", "org/syn"]
    assert entry.main(["synthetic", *argv]) == 0  # python -m datasets_scripts synthetic ...
    assert "synthetic: 300 rows written to" in capsys.readouterr().out
    assert calls == [("org/syn", True), str(out)]  # user photos, unknown terms: a private repo
    loaded = load_session(out)
    rows = [row for split in SPLITS for row in _all_rows_of(loaded[split])]
    names = {"garden_photo", "street", "shot2", "shot3"}
    assert {row["reference_id"] for row in rows} == names
    assert len(rows) == len(names) * len(synthetic.DISTORTIONS) * 3
    assert {row["distortion_level"] for row in rows} == {1, 3, 5}
    assert all(row["scenes"] == [] for row in rows)
    assert all(_decode(row["image"]).shape == (64, 64, 3) for row in rows[:5])
    refs = {split: set(loaded[split]["reference_id"]) for split in SPLITS}
    assert all(refs.values()) and sum(len(r) for r in refs.values()) == len(names)
    card = (out / "README.md").read_text()
    assert yaml.safe_load(card.split("---")[1])["license"] == "unknown"
    assert "garden photo.jpg" in card and "> **Warning**: no licence" in card

    with pytest.raises(ValueError, match="at least 3"):
        synthetic.build_synthetic_corpus(references=sorted(folder.glob("shot*.png")), image_size=64, distortions=[1])


def test_table_lists_every_distortion_and_level(capsys):
    assert synthetic.main(["--table"]) == 0
    table = capsys.readouterr().out
    for distortion in synthetic.DISTORTIONS:
        assert f"| {distortion.type_id:02d} | {distortion.name} | {distortion.fine} | {distortion.distortion_class} |" in table
    assert "875 images" in table and "384x384" in table and "11 of the 11" in table


def test_the_builder_says_what_it_does_before_the_first_progress_bar(tmp_path, monkeypatch, capsys):
    said_before = []

    def build(**kwargs):  # stands in for the 30-second build: what had been said by the time it starts?
        said_before.append(capsys.readouterr().err)
        raise ExportError("stop here")

    monkeypatch.setattr(synthetic, "build_synthetic_corpus", build)
    assert synthetic.main(["--out", str(tmp_path / "out"), "--levels", "3"]) == 1
    [line] = said_before[0].splitlines()
    assert line.startswith("synthetic: distorting the reference photos (25 distortions x 3 levels each, 384x384 px)")
    assert str(tmp_path / "out") in line
    assert capsys.readouterr().err == "python -m datasets_scripts.synthetic: error: stop here\n"


def test_split_seed_keeps_another_seeds_photo_split(tmp_path):
    # A second corpus with other distortion draws (seed 1) but the photo split of seed 0: its test photos are the
    # seed-0 test photos, so a model trained on seed 0's training photos sees none of either corpus's test photos.
    tiny = dict(image_size=64, levels=1, distortions=[11])
    first = synthetic.build_synthetic_corpus(seed=0, **tiny)
    second = synthetic.build_synthetic_corpus(out_dir=tmp_path / "s1", seed=1, split_seed=0, **tiny)
    own = synthetic.build_synthetic_corpus(seed=1, **tiny)
    expected = synthetic.split_references(list(synthetic.REFERENCE_PHOTOS), seed=0)
    assert {s: sorted(set(second[s]["reference_id"])) for s in SPLITS} == {s: sorted(n) for s, n in expected.items()}
    assert {s: sorted(set(d["reference_id"])) for s, d in load_session(tmp_path / "s1").items()} == expected
    by_id = {r["image_id"]: r["image"]["bytes"] for r in _all_rows(own)}
    assert all(r["image"]["bytes"] == by_id[r["image_id"]] for r in _all_rows(second))  # seed 1's distortions
    assert any(r["image"]["bytes"] != by_id[r["image_id"]] for r in _all_rows(first))  # not seed 0's
    assert synthetic.main(["--out", str(tmp_path / "cli"), "--size", "64", "--levels", "1", "--seed", "1",
                           "--split-seed", "0"]) == 0
    assert {s: sorted(set(d["reference_id"])) for s, d in load_session(tmp_path / "cli").items()} == expected
