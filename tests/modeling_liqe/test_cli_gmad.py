"""`liqe gmad` end to end: pairs from cached pool scores, anchor scale, proxy judge, grid PNG, adding a model."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from modeling_liqe import gmad
from modeling_liqe.analysis_data import load_converted, score_table, scores_array
from modeling_liqe.cli import main
from modeling_liqe.score_cache import CachedScorer, ScoreCache

from .analysis_corpora import init_models, shared_setup


def test_gmad_command_on_a_corpus_pool(tmp_path, capsys):
    root, models, corpora = shared_setup()
    cache_path = tmp_path / "cache.sqlite"
    out = tmp_path / "gmad"
    argv = ["gmad", "--model", str(models[0]), "--model", str(models[1]), "--pool", str(corpora[0]),
            "--anchor", str(corpora[1]), "--judge", "level", "--top-k", "2", "--output-dir", str(out),
            "--cache", str(cache_path)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "PROXY (level) random-1 attacking random-0" in captured.out
    report = json.loads((out / "gmad.json").read_text())
    assert report["judge"]["kind"].startswith("PROXY")
    span = report["common_scale"]["mos_span"]
    assert report["window"] == pytest.approx(0.09 * span)

    # The pairs are those of gmad.find_pairs over the anchor-mapped cached scores (recomputed here).
    cache = ScoreCache(cache_path)
    pool, anchor = load_converted(corpora[0]), load_converted(corpora[1])
    common = {}
    for model in models:
        scorer = CachedScorer(model, cache)
        scores = scores_array(score_table(scorer, pool))
        anchor_scores = scores_array(score_table(scorer, anchor))
        assert scorer.images_computed == 0  # the command cached every score it used
        common[scorer.name] = gmad.to_common_scale(scores, gmad.fit_common_scale(anchor_scores, anchor.mos))
    expected = gmad.find_pairs(common, report["window"], top_k=2)
    pairs = json.loads((out / "gmad_pairs.json").read_text())
    assert [(p["defender"], p["level"], p["rank"], p["worst_index"], p["best_index"]) for p in pairs] == \
        [(p["defender"], p["level"], p["rank"], p["worst_index"], p["best_index"]) for p in expected]
    for pair in pairs:
        assert pair["worst_name"] == pool.image_ids[pair["worst_index"]]
        same_reference = pool.reference_id[pair["worst_index"]] == pool.reference_id[pair["best_index"]]
        assert (pair["preference"] is not None) == same_reference
    with open(out / "gmad_pairs.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(pairs)
    with Image.open(out / "gmad_grid.png") as image:
        assert image.format == "PNG" and image.width > 300

    # Other proxy judges, on the raw scale (no anchor): the pool's MOS, and a third model (here models[0] itself,
    # whose scores are cached: as a judge it must prefer its own "best" wherever it attacks).
    for judge in ("mos", str(models[0])):
        assert main(argv[:7] + ["--judge", judge, "--top-k", "2", "--output-dir", str(tmp_path / "j"),
                                "--cache", str(cache_path), "--no-plots"]) == 0
        capsys.readouterr()
        judged = json.loads((tmp_path / "j" / "gmad_pairs.json").read_text())
        assert all(p["preference"] is not None for p in judged)
        if judge == "mos":
            assert all(p["preference"] == 100.0 * np.sign(pool.mos[p["best_index"]] - pool.mos[p["worst_index"]])
                       for p in judged)
        else:
            assert all(p["preference"] in (0.0, 100.0) for p in judged if p["attacker"] == "random-0")
        summary = json.loads((tmp_path / "j" / "gmad.json").read_text())["judge"]["summary"]
        assert {(s["attacker"], s["defender"]) for s in summary} == {("random-0", "random-1"), ("random-1", "random-0")}


def test_adding_a_model_costs_only_its_pass(tmp_path, capsys):
    root, models, corpora = shared_setup()
    folder_pool = corpora[0].parent / f"{corpora[0].name}-images"  # the same images as plain files
    cache = str(tmp_path / "cache.sqlite")
    base = ["gmad", "--pool", str(folder_pool), "--cache", cache, "--no-plots", "--output-dir"]
    assert main(base + [str(tmp_path / "two"), "--model", str(models[0]), "--model", str(models[1])]) == 0
    assert "random-1: 24 image(s) through the model" in capsys.readouterr().err
    third = init_models(tmp_path, seeds=(2,))[0]
    assert main(base + [str(tmp_path / "three"), "--model", str(models[0]), "--model", str(models[1]),
                        "--model", str(third)]) == 0
    err = capsys.readouterr().err
    assert "random-0: 0 image(s)" in err and "random-1: 0 image(s)" in err and "random-2: 24 image(s)" in err
    pairs = json.loads((tmp_path / "three" / "gmad_pairs.json").read_text())
    assert len({(p["attacker"], p["defender"]) for p in pairs}) == 6
    report = json.loads((tmp_path / "three" / "gmad.json").read_text())
    assert report["common_scale"]["anchor"] is None and report["window"] == pytest.approx(0.36)


def test_gmad_refuses_bad_inputs(tmp_path, capsys):
    root, models, corpora = shared_setup()
    folder_pool = corpora[0].parent / f"{corpora[0].name}-images"
    base = ["gmad", "--model", str(models[0]), "--output-dir", str(tmp_path), "--cache", str(tmp_path / "c.sqlite")]
    assert main(base + ["--pool", str(folder_pool)]) == 1
    assert "at least two --model" in capsys.readouterr().err
    base += ["--model", str(models[1])]
    assert main(base + ["--pool", str(folder_pool), "--same-content"]) == 1
    assert "no reference_id" in capsys.readouterr().err
    assert main(base + ["--pool", str(folder_pool), "--judge", "level"]) == 1
    assert "--judge level needs" in capsys.readouterr().err
    assert main(base + ["--pool", str(tmp_path / "nowhere")]) == 1
    assert "nowhere: no such folder" in capsys.readouterr().err
