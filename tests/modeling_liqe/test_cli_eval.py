"""`liqe eval`: the table against an independent computation, sessions, weighted average, formats, cache use."""

import json

import numpy as np
import pytest
import yaml

from modeling_liqe import metrics
from modeling_liqe.cli import main
from modeling_liqe.scoring import LIQEScorer

from .analysis_corpora import shared_setup


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root, models, corpora = shared_setup()
    out = tmp_path_factory.mktemp("eval")
    argv = ["eval", "--model", str(models[0]), "--model", str(models[1]), "--dataset", str(corpora[0]),
            "--dataset", str(corpora[1]), "--all-sessions", "--by", "distortion", "--format", "json",
            "--output-dir", str(out / "report"), "--cache", str(out / "cache.sqlite")]
    return argv, out, models, corpora


def _direct_scores(model, corpus, session, split="test"):
    """Scores of a session split through LIQEScorer directly (no cache, no eval code)."""
    from datasets_scripts.splits import load_session

    rows = load_session(corpus, session)[split]
    scorer = LIQEScorer(str(model), batch_size=4)
    images = list(rows["image"])
    return np.array([row["score"] for row in scorer.score_images(images)]), np.array(rows["mos"], dtype=float)


def test_table_matches_an_independent_computation(evaluated, capsys):
    argv, out, models, corpora = evaluated
    assert main(argv) == 0
    captured = capsys.readouterr()
    output = json.loads(captured.out)
    assert "random-0: 32 image(s) through the model" in captured.err  # test rows of both sessions: 16 + 16
    per_session = {(r["model"], r["corpus"], r["session"]): r for r in output["results"]}
    assert len(per_session) == 2 * 2 * 2 and output["sessions"] == [1, 2]
    for session in (1, 2):
        scores, mos = _direct_scores(models[0], corpora[0], session)
        expected = metrics.iqa_metrics(scores, mos)
        row = per_session[("random-0", "toy_a", session)]
        assert row["num_images"] == 8
        for key in ("srcc", "krcc", "plcc", "rmse"):
            assert row[key] == pytest.approx(expected[key], abs=1e-6)
    summary = {(r["model"], r["corpus"]): r for r in output["summary"]}
    values = [per_session[("random-1", "toy_b", s)]["srcc"] for s in (1, 2)]
    assert summary[("random-1", "toy_b")]["srcc_median"] == pytest.approx(np.median(values))
    assert summary[("random-1", "toy_b")]["srcc_std"] == pytest.approx(np.std(values))
    weighted = {r["model"]: r for r in output["weighted_average"]}["random-0"]
    a, b = summary[("random-0", "toy_a")]["plcc_median"], summary[("random-0", "toy_b")]["plcc_median"]
    assert weighted["plcc_median"] == pytest.approx((24 * a + 16 * b) / 40)  # full corpus sizes 24 and 16
    # every toy image is labelled scene "others": scene accuracy = share whose top scene is "others"
    assert 0.0 <= summary[("random-0", "toy_a")]["scene_accuracy_median"] <= 1.0

    classes = {(r["model"], r["corpus"], r["distortion"]) for r in output["by_distortion"]}
    assert ("random-0", "toy_a", "noise") in classes and ("random-0", "toy_a", "blur") in classes
    assert all(r["level_rank_srcc_median"] is not None for r in output["by_distortion"])

    report = out / "report"
    index = yaml.safe_load((report / "model-index-random-0.yaml").read_text())["model-index"][0]
    assert index["name"] == "random-0"
    srcc_toy_a = next(m["value"] for r in index["results"] if r["dataset"]["name"] == "toy_a" for m in r["metrics"]
                      if m["type"] == "srcc")
    assert srcc_toy_a == round(summary[("random-0", "toy_a")]["srcc_median"], 4)
    assert (report / "eval.csv").read_text().splitlines()[0].startswith("model,corpus,num_sessions")
    assert "weighted average" in (report / "eval.md").read_text()
    assert json.loads((report / "eval.json").read_text())["results"] == output["results"]

    # The second table over the same images: no model pass at all.
    assert main(argv[:-6] + ["--format", "markdown", "--cache", argv[-1]]) == 0
    captured = capsys.readouterr()
    assert "random-0: 0 image(s) through the model" in captured.err
    assert "random-1: 0 image(s) through the model" in captured.err
    assert "| model | corpus | images | SRCC | PLCC | KRCC | RMSE |" in captured.out


def test_level_rank_srcc_by_hand():
    from modeling_liqe.eval_table import level_rank_srcc

    scores = np.array([3.0, 2.0, 1.0, 1.0, 2.0, 3.0, 5.0])
    levels = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0])
    groups = ["a", "a", "a", "b", "b", "b", "c"]  # group c has one level only: left out
    assert level_rank_srcc(scores, levels, groups) == pytest.approx((1.0 + -1.0) / 2)


def test_bad_inputs_are_clear_errors(tmp_path, capsys):
    root, models, corpora = shared_setup()
    assert main(["eval", "--model", str(models[0]), "--dataset", str(tmp_path / "missing"),
                 "--cache", str(tmp_path / "c.sqlite")]) == 1
    assert "missing: no such folder" in capsys.readouterr().err
    assert main(["eval", "--model", str(models[0]), "--dataset", "someone/not-downloaded",
                 "--cache", str(tmp_path / "c.sqlite")]) == 1  # a Hub id, offline and not in the cache
    assert "someone/not-downloaded: no such folder, and no Hub dataset snapshot" in capsys.readouterr().err
    assert main(["eval", "--model", str(models[0]), "--dataset", str(corpora[0]), "--session", "7",
                 "--cache", str(tmp_path / "c.sqlite")]) == 1
    assert "liqe_session_07" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path / "nomodel"), "--dataset", str(corpora[0]),
                 "--cache", str(tmp_path / "c.sqlite")]) == 1
    assert "nomodel" in capsys.readouterr().err


def test_grouped_srcc_equals_metrics_srcc_row_by_row():
    from modeling_liqe.eval_table import grouped_srcc

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 5))
    y = rng.integers(1, 4, size=(50, 5)).astype(float)  # many ties
    x[3] = 1.0  # a constant row
    y[7] = 2.0
    x[9] = y[9]  # a perfect row
    got = grouped_srcc(x, y)
    assert got == pytest.approx([metrics.srcc(a, b) for a, b in zip(x, y)], abs=1e-12)
    assert got[3] == 0.0 and got[7] == 0.0 and got[9] == pytest.approx(1.0)


def test_models_of_one_folder_name_are_told_apart(tmp_path):
    import argparse
    import shutil

    from modeling_liqe.cli_eval import open_cache_and_scorers

    _, models, _ = shared_setup()
    for run in ("run_a", "run_b"):
        shutil.copytree(models[0], tmp_path / run / "final_model")
    args = argparse.Namespace(cache=str(tmp_path / "c.sqlite"), device="cpu", batch_size=2)
    cache, scorers = open_cache_and_scorers(args, [str(tmp_path / "run_a" / "final_model"),
                                                   str(tmp_path / "run_b" / "final_model"), str(models[1]),
                                                   str(models[1])])
    assert [s.name for s in scorers] == ["run_a/final_model", "run_b/final_model", "random-1", "random-1#2"]
    assert scorers[0].fingerprint == scorers[1].fingerprint  # same weights: one cache entry serves both
    cache.close()
