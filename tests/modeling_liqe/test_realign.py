"""MOS realignment: the logistic recovers a known map, pooled figures and baselines, saved parameters, new column."""

import json

import numpy as np
import pytest

from modeling_liqe import metrics, realign

from .analysis_corpora import write_toy_corpus


def _corpora(rng, scales):
    """Corpora whose MOS are different monotone functions of one latent quality the model scores (plus noise)."""
    corpora = []
    for name, to_mos in scales.items():
        quality = {split: rng.uniform(0, 1, 200) for split in ("fit", "eval")}
        score = {split: 1 + 4 * q + rng.normal(0, 0.05, q.size) for split, q in quality.items()}
        corpora.append({"name": name, "mos_fit": to_mos(quality["fit"]), "scores_fit": score["fit"],
                        "mos_eval": to_mos(quality["eval"]), "scores_eval": score["eval"]})
    return corpora


SCALES = {"live": lambda q: 100 * q, "csiq": lambda q: 1 - np.exp(-3 * q), "kadid": lambda q: 5 - 4 * (1 - q) ** 2}


def test_fit_recovers_a_known_monotone_map():
    rng = np.random.default_rng(0)
    mos = rng.uniform(0, 100, 400)
    truth = [4.6, 1.2, 48.0, 12.0]  # MOS -> score, increasing
    scores = metrics.logistic_4(mos, *truth) + rng.normal(0, 0.02, mos.size)
    params, increasing = realign.fit_increasing(mos, scores)
    assert increasing
    grid = np.linspace(0, 100, 101)
    assert np.max(np.abs(realign.apply(params, grid) - metrics.logistic_4(grid, *truth))) < 0.03
    assert np.all(np.diff(realign.apply(params, grid)) > 0)


def test_decreasing_relation_gets_a_flat_map():
    mos = np.linspace(1, 5, 50)
    params, increasing = realign.fit_increasing(mos, 6 - mos)  # the model ranks this corpus backwards
    assert not increasing
    assert np.ptp(realign.apply(params, mos)) == 0 and realign.apply(params, mos)[0] == pytest.approx(3.0)


def test_realignment_beats_raw_and_baselines_when_scales_differ_nonlinearly():
    report = realign.realign(_corpora(np.random.default_rng(1), SCALES))
    pooled = report["pooled"]
    assert pooled["realigned"]["srcc"] > 0.99
    assert pooled["realigned"]["srcc"] > max(pooled[m]["srcc"] for m in ("raw_mos", "min_max", "z_score"))
    assert pooled["raw_mos"]["srcc"] < 0.9  # the raw scales cannot be pooled
    assert all(entry["increasing_fit"] for entry in report["corpora"].values())
    assert pooled["realigned"]["num_images"] == 600


def test_baselines_by_hand():
    corpora = [{"name": "a", "mos_fit": np.array([0.0, 10.0]), "scores_fit": np.array([1.0, 2.0]),
                "mos_eval": np.array([5.0, 2.0, 20.0]), "scores_eval": np.array([1.5, 1.2, 3.0])},
               {"name": "b", "mos_fit": np.array([1.0, 3.0]), "scores_fit": np.array([1.0, 2.0]),
                "mos_eval": np.array([2.0, 4.0]), "scores_eval": np.array([1.4, 2.6])}]
    report = realign.realign(corpora)
    minmax = np.array([0.5, 0.2, 2.0, 0.5, 1.5])  # (mos - fit min) / (fit max - fit min), per corpus
    zscore = np.array([0.0, -0.6, 3.0, 0.0, 2.0])  # (mos - fit mean) / fit std: a: mean 5 std 5; b: mean 2 std 1
    np.testing.assert_allclose(report["targets"]["min_max"], minmax)
    np.testing.assert_allclose(report["targets"]["z_score"], zscore)
    scores = np.array([1.5, 1.2, 3.0, 1.4, 2.6])
    assert report["pooled"]["min_max"]["srcc"] == pytest.approx(metrics.srcc(scores, minmax))
    assert report["pooled"]["raw_mos"]["srcc"] == pytest.approx(metrics.srcc(scores, [5, 2, 20, 2, 4]))


def test_saved_parameters_reapply(tmp_path):
    corpora = _corpora(np.random.default_rng(2), SCALES)
    report = realign.realign(corpora)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(realign.params_document(report)))
    again = realign.realign([dict(c, mos_fit=[], scores_fit=[]) for c in corpora], params=realign.load_params(path))
    assert again["pooled"]["realigned"] == report["pooled"]["realigned"]
    with pytest.raises(ValueError, match="no corpus 'other'"):
        realign.realign([dict(corpora[0], name="other")], params=realign.load_params(path))
    path.write_text("{\"corpora\": {\"live\": [1, 2]}}")
    with pytest.raises(ValueError, match="4 finite parameters"):
        realign.load_params(path)


def test_realigned_column_in_a_copy_of_the_corpus(tmp_path):
    from datasets_scripts.splits import load_session

    source = write_toy_corpus(tmp_path / "toy", "toy", scale="zero_to_hundred", references=2, levels=3)
    before = sorted(p.read_bytes() for p in (source / "data").glob("*.parquet"))
    params = [4.5, 1.5, 50.0, 20.0]
    copy = realign.write_realigned_corpus(source, tmp_path / "out" / "toy", params)
    test = load_session(copy, "seeded")["test"]
    np.testing.assert_allclose(test["mos_realigned"], realign.apply(params, test["mos"]), rtol=1e-6)
    assert load_session(copy, "liqe_session_02")["train"].num_rows == 6
    assert sorted(p.read_bytes() for p in (source / "data").glob("*.parquet")) == before  # source untouched
    with pytest.raises(ValueError, match="not empty"):
        realign.write_realigned_corpus(source, copy, params)
