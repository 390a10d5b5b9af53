"""`liqe realign` end to end on two toy corpora with different MOS scales: reports, parameters, column, PNGs."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from modeling_liqe import metrics, realign
from modeling_liqe.cli import main

from .analysis_corpora import shared_setup


def test_realign_command(tmp_path, capsys):
    root, models, corpora = shared_setup()
    out = tmp_path / "realign"
    argv = ["realign", "--model", str(models[0]), "--dataset", str(corpora[0]), "--dataset", str(corpora[1]),
            "--output-dir", str(out), "--cache", str(tmp_path / "cache.sqlite"),
            "--write-datasets", str(tmp_path / "realigned")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "| **realigned MOS (after)** |" in captured.out and "per-corpus z-score" in captured.out
    report = json.loads((out / "realign.json").read_text())
    assert set(report["pooled"]) == {"raw_mos", "min_max", "z_score", "realigned"}
    assert report["pooled"]["realigned"]["num_images"] == 8 + 8  # the seeded test split: one photo of each corpus

    # The reported pooled SRCC is that of the CSV's realigned MOS (test split) against the scores.
    with open(out / "realigned_mos.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "test"]
    expected = metrics.srcc([float(r["score"]) for r in rows], [float(r["mos_realigned"]) for r in rows])
    assert report["pooled"]["realigned"]["srcc"] == pytest.approx(expected)
    params = json.loads((out / "realign_params.json").read_text())
    assert set(params["corpora"]) == {"toy_a", "toy_b"} and "MOS" in params["function"]
    for corpus in ("toy_a", "toy_b"):
        fitted = report["corpora"][corpus]
        assert fitted["params"][0] > fitted["params"][1]  # strictly increasing, even for a corpus ranked backwards
        assert fitted["increasing_fit"] == (fitted["params"][0] - fitted["params"][1] > 1e-4)  # else nearly flat
        assert fitted["srcc_within_realigned"] == pytest.approx(fitted["srcc_within"], abs=1e-12)

    for name in ("realign_scatter.png", "realign_strip.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 100

    from datasets_scripts.splits import load_session

    copy = load_session(tmp_path / "realigned" / "toy_b", "seeded")["train"]
    np.testing.assert_allclose(copy["mos_realigned"], realign.apply(params["corpora"]["toy_b"], copy["mos"]),
                               rtol=1e-5)

    # Reuse the saved parameters: the same pooled figures, no fitting, no model pass.
    again = tmp_path / "again"
    assert main(argv[:7] + ["--output-dir", str(again), "--cache", str(tmp_path / "cache.sqlite"),
                            "--params", str(out / "realign_params.json"), "--no-plots"]) == 0
    assert "0 image(s) through the model" in capsys.readouterr().err
    assert json.loads((again / "realign.json").read_text())["pooled"]["realigned"] == report["pooled"]["realigned"]
    assert not (again / "realign_scatter.png").exists()


def test_realign_refuses_bad_inputs(tmp_path, capsys):
    root, models, corpora = shared_setup()
    base = ["realign", "--model", str(models[0]), "--output-dir", str(tmp_path / "o"),
            "--cache", str(tmp_path / "c.sqlite")]
    assert main(base + ["--dataset", str(corpora[0]), "--dataset", str(corpora[0])]) == 1
    assert "same corpus name" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("not json")
    assert main(base + ["--dataset", str(corpora[0]), "--params", str(tmp_path / "bad.json")]) == 1
    assert "bad.json: not a realignment parameter file" in capsys.readouterr().err


def test_realignment_beats_naive_rescaling_when_one_corpus_covers_only_mild_distortions(tmp_path, capsys):
    """Issue 10's must-show in miniature, with a stand-in model whose scores follow the known quality.

    Two small synthetic corpora: one over all 5 levels on the 1-5 scale, one holding only levels 1-2 but rated over
    its own whole 0-100 scale (`rescale_mos --max-level 2 --own-range`). Per-corpus min-max and z-score stretch the
    mild corpus over the same span as the full one (its level-2 images land beside the other's level-5 ones); the
    realignment maps each corpus's MOS onto the model's scale, where the mild corpus sits high. The stand-in model
    is a weights file (for the fingerprint) whose scores are written to the score cache: a monotone map of the
    synthetic quality target plus seeded noise, so the model is good but not perfect.
    """
    from safetensors.numpy import save_file

    from datasets_scripts import rescale_mos, synthetic
    from modeling_liqe.analysis_data import load_converted, table_hashes
    from modeling_liqe.score_cache import ScoreCache, model_fingerprint

    tiny = dict(image_size=48, distortions=[1, 10, 11])  # gaussian blur, JPEG, white noise; 5 levels; 7 photos
    full, other, mild = tmp_path / "full", tmp_path / "other", tmp_path / "mild"
    synthetic.build_synthetic_corpus(out_dir=full, seed=0, **tiny)
    synthetic.build_synthetic_corpus(out_dir=other, seed=1, split_seed=0, **tiny)
    assert rescale_mos.main([str(other), str(mild), "--name", "synthetic_mild", "--max-level", "2",
                             "--own-range"]) == 0
    model = tmp_path / "stand-in"
    model.mkdir()
    save_file({"weight": np.zeros(1, np.float32)}, str(model / "model.safetensors"))
    cache_path = tmp_path / "cache.sqlite"
    cache = ScoreCache(cache_path)
    fingerprint = model_fingerprint(model, cache)
    by_fine = {d.fine: d for d in synthetic.DISTORTIONS}
    rng = np.random.default_rng(0)
    for corpus in (full, mild):
        table = load_converted(corpus)
        quality = np.array([synthetic.quality_target(by_fine[fine], int(level))
                            for fine, level in zip(table.extra["distortion_fine"], table.distortion_level)])
        scores = 1 + 4 / (1 + np.exp(-1.5 * (quality - 3))) + rng.normal(0, 0.3, size=len(table))
        cache.store(fingerprint, {h: {"score": float(s), "quality_probs": None, "scene_probs": None,
                                      "distortion_probs": None} for h, s in zip(table_hashes(table), scores)})
    cache.close()

    out = tmp_path / "realign"
    assert main(["realign", "--model", str(model), "--dataset", str(full), "--dataset", str(mild), "--output-dir",
                 str(out), "--cache", str(cache_path), "--no-plots"]) == 0
    assert "0 image(s) through the model" in capsys.readouterr().err  # every score is the stand-in's
    report = json.loads((out / "realign.json").read_text())
    assert report["corpora"]["synthetic_mild"]["mos_range"][1] == pytest.approx(100, abs=1e-3)
    pooled = report["pooled"]
    for measure in ("srcc", "plcc", "krcc"):
        naive = {method: pooled[method][measure] for method in ("raw_mos", "min_max", "z_score")}
        assert pooled["realigned"][measure] > max(naive.values()), (measure, pooled["realigned"][measure], naive)
