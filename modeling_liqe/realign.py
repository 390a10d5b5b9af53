# coding=utf-8
# Copyright 2026 The liqe authors.
"""Realignment of MOS scales across corpora by one model (ANALYSES.md §2), behind `liqe realign`.

Each corpus d rates on its own scale. With one model as the yardstick, a monotone increasing 4-parameter
logistic g_d (`metrics.logistic_4`, fitted by `metrics.fit_logistic`) maps corpus d's MOS onto the model's score
scale; it is fitted on one split and judged on another. Judged: the pooled g_d(MOS) of every corpus against the
pooled scores (SRCC / PLCC / KRCC / RMSE by `metrics.iqa_metrics`), beside the raw pooled MOS and the model-free
baselines (per-corpus min-max to [0, 1] and z-score, their statistics taken on the fitting split too).

A realignment must keep each corpus's order, so g_d must be *strictly* increasing: a monotone map that sends two
different MOS values of one corpus to one value would erase that corpus's order (and change its within-corpus
SRCC). So the fit is bounded (`fit_bounds`): b1, b2 within the scores' range widened by its span, b3 within the
MOS range widened by half its span, |b4| between 1/20 and 10 spans of the MOS. Over the fitted MOS range the
logistic's argument then stays within +-30, where float64 still tells neighbouring values apart (an unbounded
fit can make a step, b4 -> 0, that maps several MOS values to one float), and g_d cannot run far off the model's
scale outside that range. When the best bounded logistic does not increase (the model ranks that corpus backwards,
e.g. an untrained model, or scores it constantly), g_d is the nearly flat, still strictly increasing map through
the mean score (the least-squares increasing fit's limit), flagged `increasing_fit: false`: that corpus keeps its
own order, so the pooled figures count the model's disagreement with it instead of hiding it in ties or rewarding
a reversal. RMSE is in the units of each target (MOS scales differ), so compare it only within a row.
Not part of the Hub remote code.
"""

import json

import numpy as np

from . import metrics

FUNCTION = "y = b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|)); x = the corpus's MOS, y = the model's score scale"
METHODS = ("raw_mos", "min_max", "z_score", "realigned")


# Half the rise of the nearly flat map of a corpus the model does not rank upwards, relative to its mean score.
FLAT_RISE = 1e-6


def fit_bounds(mos, scores):
    """(lower[4], upper[4]) of the realignment logistic's [b1, b2, b3, b4] (see the module doc)."""
    mos = np.asarray(mos, dtype=float)
    scores = np.asarray(scores, dtype=float)
    span_mos, span_scores = float(np.ptp(mos)), float(np.ptp(scores))
    lower = [scores.min() - span_scores, scores.min() - span_scores, mos.min() - span_mos / 2, span_mos / 20]
    upper = [scores.max() + span_scores, scores.max() + span_scores, mos.max() + span_mos / 2, span_mos * 10]
    return np.array(lower, dtype=float), np.array(upper, dtype=float)


def flat_map(mos, scores):
    """The nearly flat, strictly increasing map through the mean score (for a corpus the model does not rank up)."""
    mean = float(np.mean(scores))
    rise = FLAT_RISE * max(abs(mean), 1.0)
    # Wide (|b4| ten MOS spans or ten times the mean MOS), so that the tiny rise does not saturate into float ties
    # for MOS values well outside the fitted ones either (e.g. a fitting split of one MOS value).
    scale = 10 * max(float(np.ptp(mos)), abs(float(np.mean(mos))), 1.0)
    return np.array([mean + rise, mean - rise, float(np.mean(mos)), scale])


def fit_increasing(mos, scores):
    """(params, increasing): the bounded logistic from MOS to scores, strictly increasing (see the module doc)."""
    mos = np.asarray(mos, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if np.ptp(mos) == 0 or np.ptp(scores) == 0:
        return flat_map(mos, scores), False
    params = np.asarray(metrics.fit_logistic(mos, scores, bounds=fit_bounds(mos, scores)), dtype=float)
    if params[0] - params[1] > 2 * FLAT_RISE * max(abs(float(np.mean(scores))), 1.0):
        return params, True
    return flat_map(mos, scores), False


def apply(params, mos):
    """g(MOS) for fitted parameters [b1, b2, b3, b4]."""
    return metrics.logistic_4(mos, *params)


def _baseline(method, mos, fit_mos):
    if method == "raw_mos":
        return np.asarray(mos, dtype=float)
    if method == "min_max":
        low, high = float(np.min(fit_mos)), float(np.max(fit_mos))
        return (mos - low) / (high - low) if high > low else np.zeros_like(mos)
    if method == "z_score":
        std = float(np.std(fit_mos))
        return (mos - float(np.mean(fit_mos))) / std if std > 0 else np.zeros_like(mos)
    raise ValueError(method)


def realign(corpora, params=None):
    """Fit (unless `params` are given) and judge a realignment.

    corpora: [{"name", "mos_fit", "scores_fit", "mos_eval", "scores_eval"}] (arrays; the fit arrays may be empty
    when `params` are given). params: {corpus name: [b1, b2, b3, b4]} to reuse a saved realignment.
    Returns {"corpora": {name: {...}}, "pooled": {method: metrics}, "targets": {method: pooled eval targets}}.
    """
    per_corpus, targets, pooled_scores = {}, {method: [] for method in METHODS}, []
    for corpus in corpora:
        name = corpus["name"]
        mos_fit, scores_fit = np.asarray(corpus["mos_fit"], float), np.asarray(corpus["scores_fit"], float)
        mos_eval, scores_eval = np.asarray(corpus["mos_eval"], float), np.asarray(corpus["scores_eval"], float)
        if params is not None:
            if name not in params:
                raise ValueError(f"the realignment parameters have no corpus {name!r} (they have {sorted(params)})")
            fitted, increasing = np.asarray(params[name], float), float(params[name][0]) > float(params[name][1])
        else:
            if mos_fit.size < 2:
                raise ValueError(f"corpus {name}: {mos_fit.size} image(s) in the fitting split; need at least 2")
            fitted, increasing = fit_increasing(mos_fit, scores_fit)
        if mos_eval.size == 0:
            raise ValueError(f"corpus {name}: no image in the judging split")
        reference_mos = mos_fit if mos_fit.size else mos_eval
        for method in METHODS[:-1]:
            targets[method].append(_baseline(method, mos_eval, reference_mos))
        realigned = apply(fitted, mos_eval)
        targets["realigned"].append(realigned)
        pooled_scores.append(scores_eval)
        per_corpus[name] = {
            "params": [float(value) for value in fitted],
            "increasing_fit": bool(increasing),
            "num_fit": int(mos_fit.size),
            "num_eval": int(mos_eval.size),
            "mos_range": [float(mos_eval.min()), float(mos_eval.max())],
            "srcc_within": metrics.srcc(scores_eval, mos_eval),
            # equal to srcc_within: a strictly increasing map keeps the corpus's order (a check, shown in the table)
            "srcc_within_realigned": metrics.srcc(scores_eval, realigned),
        }
    scores = np.concatenate(pooled_scores)
    pooled_targets = {method: np.concatenate(values) for method, values in targets.items()}
    pooled = {}
    for method, target in pooled_targets.items():
        computed = metrics.iqa_metrics(scores, target)
        pooled[method] = {key: computed[key] for key in ("srcc", "plcc", "krcc", "rmse", "num_images")}
    return {"corpora": per_corpus, "pooled": pooled, "targets": pooled_targets, "scores": scores}


def params_document(report, model=None, fit=None):
    """The reusable JSON of a realignment (like the authors' cbetas.mat): per corpus [b1, b2, b3, b4]."""
    return {
        "function": FUNCTION,
        "direction": "corpus MOS -> model score scale",
        "model": model,
        "fit": fit,
        "corpora": {name: entry["params"] for name, entry in report["corpora"].items()},
        "increasing_fit": {name: entry["increasing_fit"] for name, entry in report["corpora"].items()},
    }


def load_params(path):
    """{corpus: [b1, b2, b3, b4]} from a file `params_document` wrote; a clear error otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        corpora = document["corpora"]
        parsed = {str(name): [float(value) for value in values] for name, values in corpora.items()}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a realignment parameter file ({type(error).__name__}: {error})") from None
    bad = [name for name, values in parsed.items() if len(values) != 4 or not np.all(np.isfinite(values))]
    if bad:
        raise ValueError(f"{path}: corpora {bad} do not have 4 finite parameters")
    flat = [name for name, values in parsed.items() if not values[0] > values[1] or values[3] == 0]
    if flat:
        raise ValueError(f"{path}: the maps of corpora {flat} are not strictly increasing (need b1 > b2 and b4 != 0); "
                         "a realignment must keep each corpus's order")
    return parsed


def to_markdown(report):
    lines = ["| target | pooled SRCC | PLCC | KRCC | RMSE (target units) | images |", "|---|---|---|---|---|---|"]
    labels = {"raw_mos": "raw MOS (before)", "min_max": "per-corpus min-max", "z_score": "per-corpus z-score",
              "realigned": "**realigned MOS (after)**"}
    for method in METHODS:
        row = report["pooled"][method]
        lines.append(f"| {labels[method]} | {row['srcc']:.4f} | {row['plcc']:.4f} | {row['krcc']:.4f} | "
                     f"{row['rmse']:.4f} | {row['num_images']} |")
    lines += ["", "| corpus | fit images | judged images | within-corpus SRCC (MOS / realigned) | increasing fit | "
              "b1, b2, b3, b4 |", "|---|---|---|---|---|---|"]
    for name, entry in report["corpora"].items():
        lines.append(f"| {name} | {entry['num_fit']} | {entry['num_eval']} | {entry['srcc_within']:.4f} / "
                     f"{entry['srcc_within_realigned']:.4f} | "
                     f"{'yes' if entry['increasing_fit'] else 'NO (nearly flat map)'} | "
                     + ", ".join(f"{value:.4g}" for value in entry["params"]) + " |")
    flat = [name for name, entry in report["corpora"].items() if not entry["increasing_fit"]]
    if flat:
        lines += ["", f"**Warning**: the model ranks {', '.join(flat)} backwards (or not at all); a realignment keeps "
                      "each corpus's order, so those corpora got a nearly flat increasing map at their mean score: "
                      "the pooled 'after' figures count the model's disagreement with their order, and do not "
                      "realign them."]
    return "\n".join(lines) + "\n"


def write_realigned_corpus(source, destination, params, column="mos_realigned"):
    """Copy a converted corpus folder to `destination` with one more column, g(MOS), in every data file.

    The layout (README.md, data/<split>-*.parquet, splits/) is kept, so `load_session` and
    `datasets.load_dataset` read the copy; the source folder is not modified.
    """
    import shutil
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    source, destination = Path(source), Path(destination)
    if destination.resolve() == source.resolve():
        raise ValueError(f"{destination}: refusing to overwrite the source corpus; give another folder")
    if destination.exists() and any(destination.iterdir()):
        raise ValueError(f"{destination}: exists and is not empty")
    (destination / "data").mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name == "data":
            continue
        if item.is_dir():
            shutil.copytree(item, destination / item.name)
        else:
            shutil.copy2(item, destination / item.name)
    for file in sorted((source / "data").glob("*.parquet")):
        table = pq.read_table(file)
        if column in table.column_names:
            table = table.drop_columns([column])
        mos = np.array([np.nan if value is None else value for value in table.column("mos").to_pylist()], float)
        realigned = apply(params, mos)
        table = table.append_column(column, pa.array(realigned.astype(np.float32), type=pa.float32()))
        pq.write_table(table, destination / "data" / file.name)
    return destination


__all__ = ["fit_increasing", "fit_bounds", "flat_map", "apply", "realign", "params_document", "load_params",
           "to_markdown", "write_realigned_corpus", "FUNCTION"]
