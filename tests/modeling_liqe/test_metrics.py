"""The shared IQA metric functions against scipy, a known logistic, and degenerate inputs."""

import math

import numpy as np
import pytest
from scipy import stats

from modeling_liqe.metrics import (
    fit_logistic,
    iqa_metrics,
    krcc,
    logistic_4,
    plcc,
    rmse,
    srcc,
    summarize,
    top_k_accuracy,
    weighted_average,
)


@pytest.mark.parametrize("seed,size", [(0, 7), (1, 50), (2, 333)])
def test_rank_correlations_equal_scipy(seed, size):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=size)
    y = 0.5 * x + rng.normal(size=size)
    y[::5] = y[0]  # ties
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_logistic_fit_recovers_a_known_monotone_map():
    rng = np.random.default_rng(3)
    x = rng.uniform(1, 5, size=400)
    truth = (80.0, 10.0, 3.2, 0.4)
    y = logistic_4(x, *truth)
    params = fit_logistic(x, y)
    assert np.allclose(logistic_4(x, *params), y, atol=1e-4)
    assert params[:3] == pytest.approx(truth[:3], rel=1e-3)
    assert abs(params[3]) == pytest.approx(truth[3], rel=1e-3)
    assert plcc(x, y) == pytest.approx(1.0, abs=1e-9)
    assert rmse(x, y) == pytest.approx(0.0, abs=1e-4)


def test_plcc_and_rmse_by_hand_with_given_parameters():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 3.0, 2.0, 5.0])
    params = (6.0, 0.0, 2.5, 1.0)
    mapped = 0.0 + 6.0 / (1 + np.exp(-(x - 2.5)))
    assert plcc(x, y, params) == pytest.approx(np.corrcoef(mapped, y)[0, 1], abs=1e-12)
    assert rmse(x, y, params) == pytest.approx(math.sqrt(np.mean((mapped - y) ** 2)), abs=1e-12)
    # a negative b4 is read as |b4|, as in the authors' formula
    assert plcc(x, y, (6.0, 0.0, 2.5, -1.0)) == pytest.approx(plcc(x, y, params), abs=1e-12)


def test_constant_predictions_give_a_clear_result():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    result = iqa_metrics(np.full(5, 3.0), y)
    assert result["constant_predictions"] is True
    assert result["srcc"] == 0.0 and result["krcc"] == 0.0 and result["plcc"] == 0.0
    # the start of the fit maps every prediction to the middle of the MOS range
    assert result["rmse"] == pytest.approx(math.sqrt(np.mean((3.0 - y) ** 2)))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="3 predictions for 2"):
        srcc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        iqa_metrics([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="no predictions"):
        srcc([], [])


def test_top_k_accuracy_uses_each_images_label_count():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.4, 0.35, 0.25]])
    assert top_k_accuracy(probs, [[0], [1], [0, 1]]) == pytest.approx(2 / 3)
    assert top_k_accuracy(probs, [[], [2], [-1]]) == 1.0
    assert math.isnan(top_k_accuracy(probs, [[], [], []]))


def test_summaries():
    assert summarize([0.9, 0.8, float("nan"), 0.7]) == pytest.approx(
        {"median": 0.8, "mean": 0.8, "std": np.std([0.9, 0.8, 0.7]), "count": 3}
    )
    assert weighted_average([0.9, 0.5, float("nan")], [3, 1, 10]) == pytest.approx(0.8)
