"""The fidelity losses and DWA against the authors' code (golden figures), and the product's fixes."""

import json
import math

import numpy as np
import pytest
import torch

from modeling_liqe.losses import (
    DynamicWeightAverage,
    multilabel_fidelity_loss,
    quality_ranking_loss,
    single_label_fidelity_loss,
)
from tests.conftest import FIXTURES

GOLDEN = json.loads((FIXTURES / "golden_expected.json").read_text())
QUALITY_CASES = {case["name"]: case for case in GOLDEN["losses"]["loss_m4"]}


@pytest.mark.parametrize("dtype,key", [(torch.float64, "value"), (torch.float32, "value_float32")])
@pytest.mark.parametrize("name", ["three_groups", "one_group"])
def test_quality_loss_matches_reference(name, dtype, key):
    case = QUALITY_CASES[name]
    value = quality_ranking_loss(
        torch.tensor(case["y_pred"], dtype=dtype), torch.tensor(case["y"], dtype=dtype), group_sizes=case["per_num"]
    )
    assert abs(value.item() - case[key]) <= 1e-6


def test_quality_loss_with_group_ids_equals_consecutive_groups():
    case = QUALITY_CASES["three_groups"]
    ids = [g for g, size in enumerate(case["per_num"]) for _ in range(size)]
    # Shuffle the batch: pairs are still taken within each corpus only.
    order = np.random.default_rng(0).permutation(len(ids))
    value = quality_ranking_loss(
        torch.tensor(case["y_pred"], dtype=torch.float64)[order],
        torch.tensor(case["y"], dtype=torch.float64)[order],
        group_ids=torch.tensor(ids)[order],
    )
    assert abs(value.item() - case["value"]) <= 1e-6


def test_empty_group_does_not_count_in_the_divisor():
    # The reference divides the sum of the two real groups by 3 (the number of entries in per_num);
    # the product averages over the groups that have pairs, i.e. divides by 2.
    case = QUALITY_CASES["empty_group_counts_in_divisor"]
    value = quality_ranking_loss(
        torch.tensor(case["y_pred"], dtype=torch.float64), torch.tensor(case["y"], dtype=torch.float64), group_sizes=case["per_num"]
    )
    assert abs(value.item() - case["value"] * 3 / 2) <= 1e-6


def test_singleton_group_is_skipped_instead_of_nan():
    case = QUALITY_CASES["singleton_group_gives_nan"]
    assert case["value_is_nan"]  # what the reference returns
    y_pred = torch.tensor(case["y_pred"], dtype=torch.float64, requires_grad=True)
    y = torch.tensor(case["y"], dtype=torch.float64)
    value = quality_ranking_loss(y_pred, y, group_sizes=case["per_num"])
    only_pairs = quality_ranking_loss(y_pred[1:], y[1:])  # the 4-image group alone
    assert math.isfinite(value.item())
    assert value.item() == pytest.approx(only_pairs.item(), abs=1e-12)
    value.backward()
    assert torch.isfinite(y_pred.grad).all()


def test_no_pair_at_all_gives_zero_with_a_graph():
    scores = torch.tensor([3.0], requires_grad=True)
    value = quality_ranking_loss(scores, torch.tensor([2.0]))
    assert value.item() == 0.0
    value.backward()
    assert scores.grad.tolist() == [0.0]


def test_group_sizes_must_cover_the_batch():
    with pytest.raises(ValueError, match="sum to 3"):
        quality_ranking_loss(torch.zeros(4), torch.zeros(4), group_sizes=[1, 2])


@pytest.mark.parametrize("dtype,key", [(torch.float64, "value"), (torch.float32, "value_float32")])
def test_scene_loss_matches_reference(dtype, key):
    case = GOLDEN["losses"]["Multi_Fidelity_Loss"]
    value = multilabel_fidelity_loss(torch.tensor(case["p"], dtype=dtype), torch.tensor(case["g"], dtype=dtype))
    assert abs(value.item() - case[key]) <= 1e-6


@pytest.mark.parametrize("dtype,key", [(torch.float64, "value"), (torch.float32, "value_float32")])
def test_distortion_loss_matches_reference(dtype, key):
    case = GOLDEN["losses"]["Fidelity_Loss_distortion"]
    p, g = torch.tensor(case["p"], dtype=dtype), torch.tensor(case["g"], dtype=dtype)
    assert abs(single_label_fidelity_loss(p, g).item() - case[key]) <= 1e-6
    # class ids give the same as one-hot rows
    assert abs(single_label_fidelity_loss(p, g.argmax(dim=1)).item() - case[key]) <= 1e-6


def test_dwa_matches_reference_weights_and_totals():
    dwa_case = GOLDEN["dwa"]
    dwa = DynamicWeightAverage(num_tasks=3, temperature=2.0)
    for epoch in range(dwa_case["n_epochs"]):
        np.testing.assert_allclose(dwa.weights(), dwa_case["lambda_weight_by_epoch"][epoch], atol=1e-6, rtol=0)
        steps = [s for s in dwa_case["steps"] if s["epoch"] == epoch]
        for step in steps:
            weights = dwa.weights()
            np.testing.assert_allclose(weights, step["lambda_weight"], atol=1e-6, rtol=0)
            losses = [torch.tensor(v, dtype=torch.float32) for v in step["losses"]]
            assert abs(float(dwa.combine(losses)) - step["total"]) <= 1e-6
            dwa.record(losses)
        means = dwa.end_epoch()
        np.testing.assert_allclose(means, dwa_case["avg_cost"][epoch], atol=1e-6, rtol=0)
    assert len(dwa.epoch_means) == dwa_case["n_epochs"]


def test_dwa_skips_nan_steps_and_round_trips_its_state():
    dwa = DynamicWeightAverage()
    for losses in ([1.0, 2.0, 3.0], [float("nan"), 2.0, 3.0], [3.0, 2.0, 3.0]):
        dwa.record(losses)
    assert dwa.end_epoch() == [2.0, 2.0, 3.0]
    dwa.record([1.0, 1.0, 1.0])
    dwa.end_epoch()
    resumed = DynamicWeightAverage()
    resumed.load_state_dict(json.loads(json.dumps(dwa.state_dict())))
    assert resumed.weights() == dwa.weights()
    assert sum(dwa.weights()) == pytest.approx(3.0)


def _dwa_after(*epochs):
    dwa = DynamicWeightAverage()
    for losses in epochs:
        if losses is not None:
            dwa.record(losses)
        dwa.end_epoch()
    return dwa


@pytest.mark.parametrize(
    "epochs,expected_ratios",
    [
        # A task whose epoch mean was 0 ("no pair -> loss 0" for a whole epoch): ratio 1 for it, not inf.
        (([0.0, 2.0, 1.0], [0.5, 1.0, 1.0]), [1.0, 0.5, 1.0]),
        # 0 -> 0: ratio 1, not NaN.
        (([0.0, 2.0, 1.0], [0.0, 1.0, 1.0]), [1.0, 0.5, 1.0]),
        # A task with no finite step in the last epoch (mean NaN): ratio 1; the others keep theirs.
        (([1.0, 2.0, 1.0], [float("nan"), 1.0, 2.0]), [1.0, 0.5, 2.0]),
        # ... or in the epoch before.
        (([float("inf"), 2.0, 1.0], [1.0, 1.0, 2.0]), [1.0, 0.5, 2.0]),
    ],
)
def test_dwa_ratio_is_one_where_it_is_undefined(epochs, expected_ratios):
    dwa = _dwa_after(*epochs)
    weights = dwa.weights()
    assert all(math.isfinite(w) for w in weights) and sum(weights) == pytest.approx(3.0)
    exps = [math.exp(r / 2.0) for r in expected_ratios]
    np.testing.assert_allclose(weights, [3 * e / sum(exps) for e in exps], rtol=1e-12)


def test_dwa_epoch_without_any_finite_step_keeps_finite_weights():
    dwa = _dwa_after([1.0, 2.0, 3.0], None)  # the second epoch recorded nothing (every step NaN or skipped)
    assert all(math.isnan(m) for m in dwa.epoch_means[-1])
    assert dwa.weights() == [1.0, 1.0, 1.0]
    # A huge but finite ratio does not overflow.
    assert all(math.isfinite(w) for w in _dwa_after([1e-300, 1.0, 1.0], [1e300, 1.0, 1.0]).weights())


def test_dwa_record_names_a_wrong_number_of_losses():
    with pytest.raises(ValueError, match="3 tasks, got 2 losses"):
        DynamicWeightAverage().record([1.0, 2.0])


def test_quality_level_cross_entropy_is_minus_log_of_the_rounded_level():
    from modeling_liqe.losses import quality_level_cross_entropy

    probs = torch.tensor([[0.1, 0.2, 0.3, 0.25, 0.15], [0.5, 0.2, 0.1, 0.1, 0.1], [0.05, 0.05, 0.1, 0.2, 0.6]])
    # MOS 2.6 -> level 3, 0.2 -> clamped to level 1, 7.0 -> clamped to level 5
    mos = torch.tensor([2.6, 0.2, 7.0])
    expected = -(math.log(0.3 + 1e-6) + math.log(0.5 + 1e-6) + math.log(0.6 + 1e-6)) / 3
    assert float(quality_level_cross_entropy(probs, mos)) == pytest.approx(expected, rel=1e-6)
    # a 3-level axis clamps to 3
    three = torch.tensor([[0.2, 0.3, 0.5]])
    assert float(quality_level_cross_entropy(three, torch.tensor([4.4]))) == pytest.approx(-math.log(0.5 + 1e-6), rel=1e-6)
