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


def _strictly_increasing_on(params, mos):
    values = np.unique(np.asarray(mos, float))
    return bool(np.all(np.diff(realign.apply(params, values)) > 0))


def test_decreasing_relation_gets_a_nearly_flat_strictly_increasing_map():
    mos = np.linspace(1, 5, 50)
    params, increasing = realign.fit_increasing(mos, 6 - mos)  # the model ranks this corpus backwards
    assert not increasing
    mapped = realign.apply(params, mos)
    assert np.ptp(mapped) < 1e-4 and mapped.mean() == pytest.approx(3.0)  # at the mean score ...
    assert _strictly_increasing_on(params, mos)  # ... yet the corpus keeps its own order (no ties)
    assert metrics.srcc(mos, mapped) == pytest.approx(1.0)


def test_constant_predictions_keep_the_corpus_order():
    mos = np.repeat([1.0, 2.0, 3.0, 4.0], 5)
    params, increasing = realign.fit_increasing(mos, np.full(mos.size, 2.5))
    assert not increasing and _strictly_increasing_on(params, mos)
    assert realign.apply(params, mos).mean() == pytest.approx(2.5)
    # a fitting split with a single MOS value: the judged split's other MOS values stay apart as well
    params, increasing = realign.fit_increasing(np.full(8, 3.0), np.linspace(2, 4, 8))
    assert not increasing and _strictly_increasing_on(params, np.linspace(0, 100, 1001))


def test_step_like_relation_keeps_every_mos_value_apart():
    # Few distinct MOS values and a model that only separates the two halves: the unbounded least-squares logistic
    # is a step (b4 -> 0) that sends MOS 1 and 2 to the same float, erasing part of the corpus's order.
    rng = np.random.default_rng(0)
    mos = np.repeat([1.0, 2.0, 3.0, 4.0], 10)
    scores = np.where(mos >= 2.5, 4.0, 2.0) + rng.normal(0, 0.01, mos.size)
    params, increasing = realign.fit_increasing(mos, scores)
    assert increasing and _strictly_increasing_on(params, mos)
    assert metrics.srcc(scores, realign.apply(params, mos)) == pytest.approx(metrics.srcc(scores, mos))
    lower, upper = realign.fit_bounds(mos, scores)
    assert np.all(params >= lower) and np.all(params <= upper)


def test_bounded_fit_stays_on_the_model_scale_outside_the_fitted_range():
    # A concave relation (LIVE-like MOS = 100 q^1.5, scores linear in q): the unbounded fit runs b2 to about -39,
    # so below the fitted MOS range g leaves the model's 1-5 scale far behind. Bounded, g stays within the scores'
    # range widened by its span, and over the fitted range it is as good as the unbounded fit.
    rng = np.random.default_rng(3)
    quality = rng.uniform(0, 1, 300)
    mos, scores = 100 * quality ** 1.5, 1 + 4 * quality + rng.normal(0, 0.6, quality.size)
    params, increasing = realign.fit_increasing(mos, scores)
    assert increasing
    band = (scores.min() - np.ptp(scores), scores.max() + np.ptp(scores))
    far = realign.apply(params, np.array([-100.0, -50.0, 250.0]))
    assert np.all(far > band[0]) and np.all(far < band[1])
    free = metrics.fit_logistic(mos, scores)
    fitted_sse = np.sum((realign.apply(params, mos) - scores) ** 2)
    assert fitted_sse <= 1.01 * np.sum((metrics.logistic_4(mos, *free) - scores) ** 2)


def test_every_corpus_keeps_its_within_corpus_srcc():
    # Corpora of different sizes, one with three distinct MOS values, one the model ranks backwards, one it scores
    # constantly: a strictly increasing map leaves each corpus's within-corpus SRCC exactly as it was.
    rng = np.random.default_rng(4)

    def corpus(name, size, to_mos, to_score):
        quality = {split: rng.uniform(0, 1, size) for split in ("fit", "eval")}
        return {"name": name, **{f"mos_{s}": to_mos(q) for s, q in quality.items()},
                **{f"scores_{s}": to_score(q) for s, q in quality.items()}}

    corpora = [
        corpus("large", 400, lambda q: 100 * q, lambda q: 1 + 4 * q + rng.normal(0, 0.3, q.size)),
        corpus("small", 9, lambda q: 1 + 4 * q, lambda q: 2 + 2 * q + rng.normal(0, 0.3, q.size)),
        corpus("three_values", 60, lambda q: np.round(2 * q), lambda q: np.where(q > 0.5, 4.2, 2.0)
               + rng.normal(0, 0.01, q.size)),
        corpus("reversed", 50, lambda q: q, lambda q: 5 - 4 * q + rng.normal(0, 0.1, q.size)),
        corpus("constant", 30, lambda q: 10 * q, lambda q: np.full(q.size, 3.0)),
    ]
    report = realign.realign(corpora)
    start = 0
    for entry, data in zip(report["corpora"].values(), corpora):
        judged = slice(start, start + data["mos_eval"].size)
        start = judged.stop
        within_after = metrics.srcc(report["scores"][judged], report["targets"]["realigned"][judged])
        within_before = metrics.srcc(data["scores_eval"], data["mos_eval"])
        assert within_after == pytest.approx(within_before, abs=1e-12), data["name"]
        assert _strictly_increasing_on(entry["params"], np.concatenate([data["mos_fit"], data["mos_eval"]]))
    for entry in report["corpora"].values():  # the report shows the same check
        assert entry["srcc_within_realigned"] == pytest.approx(entry["srcc_within"], abs=1e-12)
    assert [report["corpora"][n]["increasing_fit"] for n in ("large", "small", "three_values", "reversed",
                                                             "constant")] == [True, True, True, False, False]
    assert np.isfinite(report["pooled"]["realigned"]["srcc"])


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
    path.write_text("{\"corpora\": {\"live\": [2, 2, 50, 10]}}")  # flat: would erase the corpus's order
    with pytest.raises(ValueError, match="not strictly increasing"):
        realign.load_params(path)
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
