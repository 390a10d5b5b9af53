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
