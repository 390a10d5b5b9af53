"""Score cache: keys (model fingerprint, image content), no model pass on a hit, failures not cached."""

import shutil

import pytest

from modeling_liqe.analysis_data import load_converted, score_table
from modeling_liqe.score_cache import CachedScorer, ScoreCache, content_hash, model_fingerprint

from .analysis_corpora import init_models, write_toy_corpus


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    models = init_models(root, seeds=(0, 1))
    corpus = write_toy_corpus(root / "toy", "toy", references=2, levels=3)
    return root, models, corpus


def _count_forwards(cached):
    calls = []
    cached.scorer.model.register_forward_hook(lambda *args: calls.append(1))
    return calls


def test_second_table_costs_no_model_pass(setup, tmp_path):
    root, (model, _), corpus = setup
    table = load_converted(corpus)
    cache = ScoreCache(tmp_path / "scores.sqlite")
    first = CachedScorer(model, cache, batch_size=4)
    forwards = _count_forwards(first)
    records = score_table(first, table)
    assert first.images_computed == len(table) == 12
    assert len(forwards) == 3  # 12 images, 4 a call
    assert all(record["error"] is None for record in records)
    assert set(records[0]["scene_probs"]) >= {"animal", "others"} and len(records[0]["quality_probs"]) == 5

    # A fresh process-like start on the same cache file: every record comes back, the model is never loaded.
    again = CachedScorer(model, ScoreCache(tmp_path / "scores.sqlite"), batch_size=4)
    cached = score_table(again, table)
    assert again.images_computed == 0 and not again.model_loaded
    assert [r["score"] for r in cached] == pytest.approx([r["score"] for r in records], abs=0)
    assert cached[5]["distortion_probs"] == records[5]["distortion_probs"]

    # The same bytes under another name are the same image; new bytes cost exactly one pass.
    partial = again.score_encoded([("renamed.png", table.images[3]), ("new.png", _png(7))])
    assert partial[0]["score"] == records[3]["score"]
    assert again.images_computed == 1


def test_other_model_other_key_and_fingerprint_rules(setup, tmp_path):
    root, (model_a, model_b), corpus = setup
    cache = ScoreCache(tmp_path / "scores.sqlite")
    assert model_fingerprint(model_a) != model_fingerprint(model_b)
    copy = tmp_path / "copy"
    shutil.copytree(model_a, copy)
    assert model_fingerprint(copy, cache) == model_fingerprint(model_a)  # content, not location
    (copy / "README.md").write_text("another card")
    assert model_fingerprint(copy, cache) == model_fingerprint(model_a)  # the card does not change scores
    config = (copy / "config.json").read_text()
    (copy / "config.json").write_text(config.replace("{", '{"_edited": 1, ', 1))
    assert model_fingerprint(copy, cache) != model_fingerprint(model_a)

    table = load_converted(corpus)
    a = CachedScorer(model_a, cache, batch_size=8)
    b = CachedScorer(model_b, cache, batch_size=8)
    score_table(a, table)
    score_table(b, table)
    assert a.images_computed == b.images_computed == len(table)
    assert cache.count(a.fingerprint) == cache.count(b.fingerprint) == len(table)


def test_broken_image_is_an_error_row_and_not_cached(setup, tmp_path):
    _, (model, _), _ = setup
    cache = ScoreCache(tmp_path / "scores.sqlite")
    scorer = CachedScorer(model, cache)
    records = scorer.score_encoded([("good.png", _png(1)), ("broken.png", b"not an image"), ("empty.png", b"")])
    assert records[0]["error"] is None and records[0]["score"] is not None
    assert records[1]["score"] is None and "broken.png" in records[1]["error"]
    assert "empty.png" in records[2]["error"]
    assert cache.count(scorer.fingerprint) == 1
    assert content_hash(b"not an image") not in cache.lookup(scorer.fingerprint, [content_hash(b"not an image")])


def test_bad_model_and_cache_files_are_clear_errors(tmp_path):
    (tmp_path / "empty_model").mkdir()
    with pytest.raises(ValueError, match="no .safetensors"):
        model_fingerprint(tmp_path / "empty_model")
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="bad.sqlite"):
        ScoreCache(bad)


def _png(shade):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (shade, 100, 200)).save(buffer, "PNG")
    return buffer.getvalue()
