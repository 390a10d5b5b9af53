"""Per-corpus evaluation: the metrics of a split from per-image outputs, the mean over corpora, tracker keys."""

import math

import numpy as np
import pytest

from modeling_liqe import metrics
from modeling_liqe.evaluation import flatten, mean_over_corpora, split_metrics


def test_split_metrics_use_the_shared_metrics_and_the_label_rules():
    rng = np.random.default_rng(1)
    mos = rng.uniform(1, 5, 20)
    score = mos + rng.normal(0, 0.5, 20)
    scene_probs = rng.dirichlet(np.ones(9), 20)
    scene_labels = np.zeros((20, 9))
    scene_labels[:10, 2] = 1  # one label: right when it is the top scene
    scene_labels[10:, [4, 7]] = 1  # two labels: right when they are the top two
    scene_probs[:5, 2] = 5.0
    scene_probs[10:13, 4] = scene_probs[10:13, 7] = 5.0
    distortion_probs = rng.dirichlet(np.ones(11), 20)
    distortion_labels = np.argmax(distortion_probs, axis=1)
    distortion_labels[:4] = (distortion_labels[:4] + 1) % 11  # 4 wrong
    distortion_labels[4:8] = -1  # 4 unlabelled: left out
    result = split_metrics({"score": score, "mos": mos, "scene_probs": scene_probs, "scene_labels": scene_labels,
                            "distortion_probs": distortion_probs, "distortion_labels": distortion_labels})
    expected = metrics.iqa_metrics(score, mos)
    for key in ("srcc", "plcc", "krcc", "rmse", "num_images"):
        assert result[key] == expected[key]
    top = np.argsort(-scene_probs, axis=1)
    hits = sum(top[i, 0] == 2 for i in range(10)) + sum(set(top[i, :2]) == {4, 7} for i in range(10, 20))
    assert result["scene_accuracy"] == pytest.approx(hits / 20) and hits >= 8
    assert result["distortion_accuracy"] == pytest.approx(12 / 16)
    # a quality-only model has no scene / distortion outputs
    quality_only = split_metrics({"score": score, "mos": mos, "scene_probs": None, "scene_labels": scene_labels,
                                  "distortion_probs": None, "distortion_labels": distortion_labels})
    assert "scene_accuracy" not in quality_only and "distortion_accuracy" not in quality_only


def test_mean_over_corpora_and_flatten():
    results = {"a": {"validation": {"srcc": 0.5, "num_images": 3}, "test": {"srcc": 0.9}},
               "b": {"validation": {"srcc": 0.7}}, "c": {"test": {"srcc": 0.1}}}
    assert mean_over_corpora(results) == pytest.approx(0.6)
    assert mean_over_corpora(results, "test") == pytest.approx(0.5)
    assert math.isnan(mean_over_corpora(results, "train"))
    flat = flatten(results)
    assert flat["eval/a/validation/srcc"] == 0.5 and flat["eval/a/validation/num_images"] == 3 and len(flat) == 5


def test_level_ranking_is_the_mean_within_reference_and_type_srcc_of_score_against_level():
    import datasets

    from modeling_liqe.evaluation import level_ranking

    # Two ladders ranked perfectly and inverted, one ranked half-way; a pristine row (no level) and a row with no
    # reference join no ladder; a ladder with one level has no ranking.
    rows = [("a", "blur", 1, 5.0), ("a", "blur", 2, 4.0), ("a", "blur", 3, 3.0),
            ("a", "noise", 1, 1.0), ("a", "noise", 2, 2.0), ("a", "noise", 3, 3.0),
            ("b", "blur", 1, 2.0), ("b", "blur", 2, 3.0), ("b", "blur", 3, 1.0),
            ("b", "jpeg", 2, 9.0), ("b", None, 1, 7.0), (None, "blur", 4, 0.0), ("a", "blur", None, 9.9)]
    table = datasets.Dataset.from_dict({
        "reference_id": [r[0] for r in rows], "distortion_fine": [r[1] for r in rows],
        "distortion_level": [r[2] for r in rows], "mos": [1.0] * len(rows)})
    scores = [r[3] for r in rows]
    expected = np.mean([1.0, -1.0, metrics.srcc([2.0, 3.0, 1.0], [-1, -2, -3])])
    assert level_ranking(table, scores) == pytest.approx(expected)
    assert level_ranking(table.remove_columns("distortion_level"), scores) is None  # no levels: no ranking
    assert level_ranking(None, scores) is None
    # the coarse class column serves when the fine type is absent
    coarse = table.remove_columns("distortion_fine").add_column("distortion", [0, 0, 0, 1, 1, 1, 0, 0, 0, 2, None, 0, 0])
    assert level_ranking(coarse, scores) == pytest.approx(expected)
