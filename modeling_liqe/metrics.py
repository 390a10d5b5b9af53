# coding=utf-8
# Copyright 2026 The liqe authors.
"""Image-quality metrics as the LIQE authors evaluate (one implementation, shared by training, `liqe eval`,
the analyses, the `evaluate` module in `metrics/` and the tests).

- SRCC (Spearman) and KRCC (Kendall tau-b) on the raw predictions;
- PLCC (Pearson) and RMSE after the monotone 4-parameter logistic
  ``y = b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))`` fitted by least squares from predictions x to MOS y,
  started at ``[max y, min y, mean x, std x]`` (std floored, so that a constant prediction has a start);
- summaries over sessions (median, mean, standard deviation) and the size-weighted average over corpora.

Degenerate inputs get a defined result instead of an exception or a NaN that poisons a model selection:
a correlation involving a constant vector is 0.0 (no association can be measured; scipy returns NaN), and
the result says so in ``constant_predictions``. Not part of the Hub remote code.
"""

import math
import warnings

import numpy as np

# Smallest |b4| (and start value) of the logistic: a constant prediction has std 0.
LOGISTIC_MIN_SCALE = 1e-6


def logistic_4(x, b1, b2, b3, b4):
    """The 4-parameter logistic of the spec (monotone increasing in x when b1 > b2)."""
    from scipy.special import expit

    x = np.asarray(x, dtype=np.float64)
    return b2 + (b1 - b2) * expit((x - b3) / max(abs(b4), LOGISTIC_MIN_SCALE))


def fit_logistic(x, y, bounds=None):
    """Least-squares fit of `logistic_4` mapping `x` onto `y`; returns ``np.array([b1, b2, b3, b4])``.

    Started at ``[max y, min y, mean x, max(std x, 1e-6)]`` as the authors do. When the optimiser does not
    converge the start is returned (it is already a monotone map spanning y's range). `bounds`, a pair
    (lower[4], upper[4]) as scipy's `curve_fit` takes, confines the parameters (the start is moved inside them);
    the evaluation metrics fit without bounds, as the authors do.
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"fit_logistic: need two non-empty vectors of one length, got {x.size} and {y.size}")
    start = np.array([y.max(), y.min(), x.mean(), max(float(x.std()), LOGISTIC_MIN_SCALE)])
    extra = {}
    if bounds is not None:
        lower, upper = (np.asarray(side, dtype=np.float64).reshape(4) for side in bounds)
        if not np.all(lower < upper):
            raise ValueError(f"fit_logistic: every lower bound must be below its upper bound, got {bounds}")
        start = np.clip(start, lower + 1e-9 * (upper - lower), upper - 1e-9 * (upper - lower))
        extra = {"bounds": (lower, upper)}
    if x.size < 4 or float(x.std()) == 0.0:
        return start
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            params, _ = curve_fit(logistic_4, x, y, p0=start, maxfev=20000, **extra)
    except (RuntimeError, ValueError):
        return start
    if not np.all(np.isfinite(params)):
        return start
    return params


def _is_constant(values):
    return values.size < 2 or float(values.max()) == float(values.min())


def srcc(predictions, mos):
    """Spearman rank correlation; 0.0 when either vector is constant."""
    from scipy.stats import spearmanr

    x, y = _vectors(predictions, mos)
    if _is_constant(x) or _is_constant(y):
        return 0.0
    return float(spearmanr(x, y).statistic)


def krcc(predictions, mos):
    """Kendall rank correlation (tau-b); 0.0 when either vector is constant."""
    from scipy.stats import kendalltau

    x, y = _vectors(predictions, mos)
    if _is_constant(x) or _is_constant(y):
        return 0.0
    return float(kendalltau(x, y).statistic)


def plcc(predictions, mos, params=None):
    """Pearson correlation between the logistic-mapped predictions and the MOS (fit on these data unless
    `params` are given); 0.0 when the mapped predictions or the MOS are constant."""
    x, y = _vectors(predictions, mos)
    mapped = logistic_4(x, *(fit_logistic(x, y) if params is None else params))
    if _is_constant(mapped) or _is_constant(y):
        return 0.0
    return float(np.corrcoef(mapped, y)[0, 1])


def rmse(predictions, mos, params=None):
    """Root mean square error between the logistic-mapped predictions and the MOS."""
    x, y = _vectors(predictions, mos)
    mapped = logistic_4(x, *(fit_logistic(x, y) if params is None else params))
    return float(np.sqrt(np.mean((mapped - y) ** 2)))


def _vectors(predictions, mos):
    x = np.asarray(predictions, dtype=np.float64).reshape(-1)
    y = np.asarray(mos, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"{x.size} predictions for {y.size} MOS values")
    if x.size == 0:
        raise ValueError("no predictions to evaluate")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("predictions and MOS must be finite (a NaN or inf was given)")
    return x, y


def iqa_metrics(predictions, mos):
    """{"srcc", "plcc", "krcc", "rmse", "num_images", "constant_predictions", "logistic_params"} of one set.

    One logistic fit serves PLCC and RMSE.
    """
    x, y = _vectors(predictions, mos)
    params = fit_logistic(x, y)
    return {
        "srcc": srcc(x, y),
        "plcc": plcc(x, y, params),
        "krcc": krcc(x, y),
        "rmse": rmse(x, y, params),
        "num_images": int(x.size),
        "constant_predictions": bool(_is_constant(x)),
        "logistic_params": [float(p) for p in params],
    }


def top_k_accuracy(probabilities, label_sets, k=None):
    """Share of images whose top-k predicted classes hold all their labels.

    `probabilities`: (N, C); `label_sets`: N lists of class ids (an empty list leaves the image out). With
    `k=None`, k is each image's own number of labels (the authors' scene evaluation: an image with two scene
    labels counts as right when they are its top two). Returns NaN when no image has a label.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    hits, counted = 0, 0
    for row, labels in zip(probabilities, label_sets):
        labels = [int(label) for label in labels if int(label) >= 0]
        if not labels:
            continue
        top = np.argsort(-row, kind="stable")[: (len(labels) if k is None else k)]
        hits += int(set(labels) <= set(top.tolist()))
        counted += 1
    return hits / counted if counted else float("nan")


def summarize(values):
    """{"median", "mean", "std", "count"} of per-session figures (NaN ignored; std is the population std)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"median": float("nan"), "mean": float("nan"), "std": float("nan"), "count": 0}
    array = np.asarray(finite)
    return {"median": float(np.median(array)), "mean": float(array.mean()), "std": float(array.std()),
            "count": len(finite)}


def weighted_average(values, weights):
    """Σ w v / Σ w over the pairs whose value is finite (UNIQUE's size-weighted average over corpora)."""
    pairs = [(float(v), float(w)) for v, w in zip(values, weights) if v is not None and math.isfinite(float(v))]
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return float("nan")
    return sum(v * w for v, w in pairs) / total


__all__ = [
    "logistic_4",
    "fit_logistic",
    "srcc",
    "krcc",
    "plcc",
    "rmse",
    "iqa_metrics",
    "top_k_accuracy",
    "summarize",
    "weighted_average",
]
