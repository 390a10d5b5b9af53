"""The `evaluate` module in metrics/liqe_iqa, loaded by its path offline, equals modeling_liqe.metrics."""

import numpy as np
import pytest

from modeling_liqe.metrics import iqa_metrics
from tests.conftest import REPO_ROOT


def test_the_evaluate_module_is_a_thin_wrapper_over_the_shared_metrics():
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(str(REPO_ROOT / "metrics" / "liqe_iqa"))
    rng = np.random.default_rng(0)
    mos = rng.uniform(1, 5, 50)
    predictions = mos + rng.normal(0, 0.7, 50)
    result = metric.compute(predictions=predictions.tolist(), references=mos.tolist())
    expected = iqa_metrics(predictions, mos)
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-9), key
    assert 0.5 < result["srcc"] < 1.0
    # batches added one at a time give the same result; a constant prediction is a result, not a crash
    for p, m in zip(predictions[:10], mos[:10]):
        metric.add(prediction=float(p), reference=float(m))
    assert metric.compute()["srcc"] == pytest.approx(iqa_metrics(predictions[:10], mos[:10])["srcc"])
    constant = metric.compute(predictions=[3.0] * 5, references=[1.0, 2.0, 3.0, 4.0, 5.0])
    assert constant["srcc"] == 0.0 and constant["constant_predictions"] is True
