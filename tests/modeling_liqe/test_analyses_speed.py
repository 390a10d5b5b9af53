"""The analysis commands on 10,000 images whose scores are cached: each command well under 10 seconds.

The pool: two converted corpora of 5,000 tiny images each (written by the real exporter), the same files as one
folder pool; the cache holds scores of two models for all of them (synthetic, correlated with the MOS), so the
commands read the cache only: the models are never loaded (checked).
"""

import io
import re
import json
import time

import numpy as np
import pytest
from PIL import Image

from datasets_scripts.card import REDISTRIBUTION_ALLOWED, CorpusCard
from datasets_scripts.export import write_corpus
from modeling_liqe.cli import main
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES, QUALITY_LEVELS, SCENES
from modeling_liqe.score_cache import ScoreCache, content_hash, model_fingerprint

from .analysis_corpora import shared_setup

PER_CORPUS = 5000
LIMIT_SECONDS = 10.0


def _tiny_png(index):
    pixels = np.frombuffer(index.to_bytes(4, "little") * 48, dtype=np.uint8).reshape(8, 8, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("big")
    _, models, _ = shared_setup()
    rng = np.random.default_rng(0)
    cache = ScoreCache(root / "cache.sqlite")
    fingerprints = [model_fingerprint(model, cache) for model in models]
    corpora, records = [], [{}, {}]
    for corpus_index, (name, scale) in enumerate((("big_a", 4.0), ("big_b", 100.0))):
        rows, split = [], {}
        for i in range(PER_CORPUS):
            index = corpus_index * PER_CORPUS + i
            data = _tiny_png(index)
            path = root / "pool" / name / f"{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            level = i % 4 + 1
            quality = 1 - 0.2 * level + rng.uniform(0, 0.1)
            image_id = f"{name}/{i:05d}.png"
            rows.append({"image": str(path), "image_id": image_id, "mos": scale * quality, "corpus": name,
                         "reference_id": f"{name}-{i // 8}",
                         "distortion_fine": ("white noise", "gaussian blur")[i // 4 % 2],
                         "distortion_level": level, "scenes": ["others"]})
            split[image_id] = "test" if (i // 8) % 5 == 0 else "train"
            for model_index, record in enumerate(records):
                score = 1 + 4 * quality + rng.normal(0, 0.2 + 0.3 * model_index)
                record[content_hash(data)] = {
                    "score": float(score),
                    "quality_probs": dict(zip(QUALITY_LEVELS, rng.dirichlet(np.ones(5)).tolist())),
                    "scene_probs": dict(zip(SCENES, rng.dirichlet(np.ones(len(SCENES))).tolist())),
                    "distortion_probs": dict(zip(DISTORTION_CLASSES, rng.dirichlet(np.ones(11)).tolist())),
                }
        card = CorpusCard(corpus=name, pretty_name=name, homepage="https://example.org", description="Big toy.",
                          score_description="toy", citation="@misc{toy}", terms="MIT.",
                          redistribution=REDISTRIBUTION_ALLOWED, license="mit")
        write_corpus(root / name, rows, {"seeded": split}, card, default_split="seeded")
        corpora.append(root / name)
    for fingerprint, record in zip(fingerprints, records):
        cache.store(fingerprint, record)
    assert cache.count() == 2 * 2 * PER_CORPUS
    cache.close()
    return root, models, corpora


def _timed(argv, capsys):
    start = time.perf_counter()
    status = main(argv)
    seconds = time.perf_counter() - start
    captured = capsys.readouterr()
    assert status == 0, captured.err
    computed = re.findall(r"(\d+) image\(s\) through the model", captured.err)
    assert computed and set(computed) == {"0"}, captured.err  # every score from the cache
    return seconds, captured


@pytest.mark.slow
def test_commands_on_10000_cached_images(big, capsys):
    root, models, corpora = big
    cache = ["--cache", str(root / "cache.sqlite")]
    two_models = ["--model", str(models[0]), "--model", str(models[1])]
    timings = {}
    timings["eval"], captured = _timed(["eval", *two_models, "--dataset", str(corpora[0]), "--dataset",
                                        str(corpora[1]), "--split", "all", "--by", "distortion", "--format", "json",
                                        *cache], capsys)
    output = json.loads(captured.out)
    assert sum(row["num_images"] for row in output["summary"]) == 2 * 2 * PER_CORPUS
    timings["realign"], _ = _timed(["realign", "--model", str(models[0]), "--dataset", str(corpora[0]), "--dataset",
                                    str(corpora[1]), "--output-dir", str(root / "realign"), *cache], capsys)
    report = json.loads((root / "realign" / "realign.json").read_text())
    assert report["pooled"]["realigned"]["srcc"] > report["pooled"]["raw_mos"]["srcc"]
    timings["gmad"], _ = _timed(["gmad", *two_models, "--pool", str(root / "pool"), "--top-k", "2",
                                 "--output-dir", str(root / "gmad"), *cache], capsys)
    assert json.loads((root / "gmad" / "gmad.json").read_text())["pool"]["images"] == 2 * PER_CORPUS
    assert (root / "gmad" / "gmad_grid.png").stat().st_size > 1000
    print(f"\n10,000 cached images, seconds: {json.dumps({k: round(v, 2) for k, v in timings.items()})}")
    for command, seconds in timings.items():
        assert seconds < LIMIT_SECONDS, f"liqe {command} took {seconds:.1f} s on 10,000 cached images"
