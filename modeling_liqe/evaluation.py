# coding=utf-8
# Copyright 2026 The liqe authors.
"""Per-corpus evaluation of a LIQE model during training (and of saved weights, for the tests and tools).

Every process scores its share of a split (the DataLoader is `accelerator.prepare`d); `gather_for_metrics`
collects the per-image outputs in dataset order without the padding duplicates of the last batch; the metrics
themselves come from `modeling_liqe.metrics` (one implementation): SRCC, KRCC, PLCC and RMSE after the
4-parameter logistic, scene accuracy (an image with n scene labels is right when they are its top n scenes,
the authors' rule) and distortion accuracy (top 1, over the images with a distortion label). Not part of the Hub
remote code.
"""

import math

import numpy as np
import torch

from . import metrics


def predict_split(model, dataloader, accelerator=None):
    """Per-image outputs of one split as numpy arrays: score, mos, scene_probs, scene_labels, distortion_probs,
    distortion_labels (probabilities are None when the variant has no such axis)."""
    collected = {}
    model.eval()
    device = accelerator.device if accelerator is not None else next(model.parameters()).device
    with torch.no_grad():
        for batch in dataloader:
            batch = {key: value.to(device) for key, value in batch.items()}
            output = model(pixel_values=batch["pixel_values"], patch_mask=batch["patch_mask"])
            values = {
                "score": output.score.float(),
                "mos": batch["mos"].float(),
                "scene_labels": batch["scene_labels"].float(),
                "distortion_labels": batch["distortion_labels"],
            }
            if output.scene_probs is not None:
                values["scene_probs"] = output.scene_probs.float()
            if output.distortion_probs is not None:
                values["distortion_probs"] = output.distortion_probs.float()
            if accelerator is not None:
                values = accelerator.gather_for_metrics(values)
            for key, value in values.items():
                collected.setdefault(key, []).append(value.cpu())
    result = {key: torch.cat(value).numpy() for key, value in collected.items()}
    result.setdefault("scene_probs", None)
    result.setdefault("distortion_probs", None)
    return result


def split_metrics(predictions):
    """The metrics of one split from `predict_split`'s arrays."""
    result = metrics.iqa_metrics(predictions["score"], predictions["mos"])
    result.pop("logistic_params", None)
    if predictions.get("scene_probs") is not None:
        label_sets = [np.flatnonzero(row).tolist() for row in predictions["scene_labels"]]
        result["scene_accuracy"] = metrics.top_k_accuracy(predictions["scene_probs"], label_sets)
    if predictions.get("distortion_probs") is not None:
        label_sets = [[int(label)] if label >= 0 else [] for label in predictions["distortion_labels"]]
        result["distortion_accuracy"] = metrics.top_k_accuracy(predictions["distortion_probs"], label_sets, k=1)
    return result


def level_ranking(dataset, scores):
    """Mean within-(reference, distortion type) SRCC between score and distortion level (`liqe eval`'s
    level_rank_srcc), for a split whose rows carry `reference_id`, `distortion_level` and a distortion column;
    None otherwise. `scores` are in the dataset's row order."""
    from .eval_table import level_rank_srcc

    columns = getattr(dataset, "column_names", None) or []
    if "reference_id" not in columns or "distortion_level" not in columns:
        return None
    kind = "distortion_fine" if "distortion_fine" in columns else "distortion" if "distortion" in columns else None
    if kind is None:
        return None
    references, types = dataset["reference_id"], dataset[kind]
    levels = np.array([np.nan if v is None else float(v) for v in dataset["distortion_level"]])
    # Pristine references (no level) and unlabelled rows do not join a ladder.
    groups = [(ref, t) if ref is not None and t is not None else None for ref, t in zip(references, types)]
    levels = np.where([g is None for g in groups], np.nan, levels)
    value = level_rank_srcc(np.asarray(scores, dtype=np.float64), levels, groups)
    return value if math.isfinite(value) else None


def evaluate_corpora(model, loaders, accelerator=None, return_predictions=False):
    """{corpus: {split: metrics}} for `loaders` = {corpus: {split: DataLoader}}; empty splits are left out.

    Splits of corpora with known distortion levels (the synthetic corpus, KADID, ...) also get `level_rank_srcc`.
    With `return_predictions`, also {corpus: {split: {"score": [...], "mos": [...]}}} in dataset order.
    """
    results, predictions = {}, {}
    for corpus, splits in loaders.items():
        for split, loader in splits.items():
            if len(loader.dataset) == 0:
                continue
            outputs = predict_split(model, loader, accelerator)
            results.setdefault(corpus, {})[split] = split_metrics(outputs)
            ranking = level_ranking(getattr(loader.dataset, "data", None), outputs["score"])
            if ranking is not None:
                results[corpus][split]["level_rank_srcc"] = ranking
            predictions.setdefault(corpus, {})[split] = {"score": outputs["score"].tolist(), "mos": outputs["mos"].tolist()}
    return (results, predictions) if return_predictions else results


def mean_over_corpora(results, split="validation", key="srcc"):
    """The mean of one metric over the corpora that have the split (NaN when none has it)."""
    values = [splits[split][key] for splits in results.values() if split in splits and key in splits[split]]
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def flatten(results, prefix="eval"):
    """{"eval/<corpus>/<split>/<metric>": value} for trackers (numbers only)."""
    flat = {}
    for corpus, splits in results.items():
        for split, values in splits.items():
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    flat[f"{prefix}/{corpus}/{split}/{key}"] = value
    return flat


__all__ = ["predict_split", "split_metrics", "level_ranking", "evaluate_corpora", "mean_over_corpora", "flatten"]
