# coding=utf-8
# Copyright 2026 The liqe authors.
"""The cross-corpus evaluation table behind `liqe eval` (ANALYSES.md §1), from cached scores.

Per (model, corpus, session): SRCC and KRCC on the raw scores, PLCC and RMSE after the authors' 4-parameter
logistic (all from `metrics.iqa_metrics`), scene accuracy (an image with n scene labels is right when they are
its top n scenes, `metrics.top_k_accuracy`) and distortion-class accuracy (top-1) where the corpus has labels.
Over sessions: median, mean and std (`metrics.summarize`); over corpora: the average weighted by the full
corpus sizes (`metrics.weighted_average`, UNIQUE's convention). With `by_distortion`, the same per distortion
class, plus the **level-ranking SRCC**: the mean, over (reference photo, fine distortion type) groups, of the
SRCC between the score and **minus** the distortion level (so 1.0 = a milder level is always scored higher).
Not part of the Hub remote code.
"""

import csv
import io
import json
import math

import numpy as np

from . import metrics
from .configuration_liqe import DISTORTION_CLASSES, SCENES

IQA_KEYS = ("srcc", "plcc", "krcc", "rmse")
ACCURACY_KEYS = ("scene_accuracy", "distortion_accuracy")
SUMMARY_KEYS = IQA_KEYS + ACCURACY_KEYS + ("level_rank_srcc",)


def prepare(records):
    """Arrays of one model's records over a table, built once: {"scores": (N,), "scene": (N, 9) or None,
    "distortion": (N, 11) or None} in the schema's label order (NaN rows where an image was not scored; None
    when the model lacks that axis)."""
    scores = np.array([np.nan if record["score"] is None else record["score"] for record in records], dtype=float)
    prepared = {"scores": scores}
    for name, key, labels in (("scene", "scene_probs", SCENES), ("distortion", "distortion_probs", DISTORTION_CLASSES)):
        sample = next((record[key] for record in records if record["score"] is not None), None)
        if sample is None:
            prepared[name] = None
            continue
        matrix = np.full((len(records), len(labels)), np.nan)
        for row, record in enumerate(records):
            if record["score"] is not None and record.get(key) is not None:
                probs = record[key]
                matrix[row] = [probs.get(label, 0.0) for label in labels]
        prepared[name] = matrix
    return prepared


def level_rank_srcc(scores, levels, groups):
    """Mean over groups (with >= 2 distinct levels) of SRCC(score, -level); NaN when no group qualifies."""
    by_group = {}
    for index, group in enumerate(groups):
        if np.isfinite(levels[index]) and np.isfinite(scores[index]):
            by_group.setdefault(group, []).append(index)
    by_size = {}
    for members in by_group.values():
        if len(set(levels[members].tolist())) >= 2:
            by_size.setdefault(len(members), []).append(members)
    values = []
    for members in by_size.values():  # one batched computation per group size (a corpus has few sizes)
        index = np.array(members)
        values.extend(grouped_srcc(scores[index], -levels[index]).tolist())
    return float(np.mean(values)) if values else float("nan")


def grouped_srcc(x, y):
    """Row-wise Spearman correlation of two (groups, n) arrays, equal to `metrics.srcc` on each row (average ranks
    for ties; 0.0 for a constant row): thousands of (reference, distortion) groups in one numpy pass, where one
    scipy call per group took 2 ms each."""
    from scipy.stats import rankdata

    ranks_x = rankdata(x, axis=1) - (x.shape[1] + 1) / 2
    ranks_y = rankdata(y, axis=1) - (y.shape[1] + 1) / 2
    norm = np.sqrt((ranks_x ** 2).sum(axis=1) * (ranks_y ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ranks_x * ranks_y).sum(axis=1) / norm
    return np.where(norm > 0, np.clip(rho, -1.0, 1.0), 0.0)


def measure(table, prepared, rows):
    """The metrics of one (model, corpus, session split) from `prepare`d arrays: a dict (NaN where undefined)."""
    rows = np.asarray(rows, dtype=int)
    scores = prepared["scores"][rows]
    ok = np.isfinite(scores) & np.isfinite(table.mos[rows]) if table.mos is not None else np.isfinite(scores)
    kept = rows[ok]
    result = {"num_images": int(ok.sum()), "num_failed": int((~ok).sum())}
    if kept.size >= 2 and table.mos is not None:
        computed = metrics.iqa_metrics(scores[ok], table.mos[kept])
        result.update({key: computed[key] for key in IQA_KEYS})
        result["constant_predictions"] = computed["constant_predictions"]
    else:
        result.update(dict.fromkeys(IQA_KEYS, float("nan")))
    scene = prepared["scene"][kept] if prepared["scene"] is not None else None
    result["scene_accuracy"] = (metrics.top_k_accuracy(scene, [table.scenes[row] for row in kept])
                                if scene is not None and table.scenes is not None else float("nan"))
    distortion = prepared["distortion"][kept] if prepared["distortion"] is not None else None
    result["distortion_accuracy"] = (
        metrics.top_k_accuracy(distortion, [[int(table.distortion[row])] for row in kept], k=1)
        if distortion is not None and table.distortion is not None else float("nan"))
    if table.distortion_level is not None and table.reference_id is not None:
        fine = table.extra.get("distortion_fine")
        groups = [(table.reference_id[row], int(table.distortion[row]) if fine is None else fine[row]) for row in kept]
        result["level_rank_srcc"] = level_rank_srcc(scores[ok], table.distortion_level[kept], groups)
    else:
        result["level_rank_srcc"] = float("nan")
    return result


def evaluate(models, tables, records, sessions, split="test", by_distortion=False):
    """The full evaluation as a JSON-ready dict.

    models: [{"name", "source", "fingerprint"}]; tables: [ImageTable]; records[(model name, table index)]: the
    records of every row of that table; sessions: [None] or session ids (ints / split-table names).
    """
    from .analysis_data import split_rows

    results, by_class = [], []
    for model in models:
        for index, table in enumerate(tables):
            rows_of_table = prepare(records[(model["name"], index)])
            for session in sessions:
                rows = split_rows(table, session, split)
                if rows.size == 0:
                    raise ValueError(f"{table.source}: split {split!r} of session {session} has no rows")
                entry = {"model": model["name"], "corpus": table.name, "session": session}
                entry.update(measure(table, rows_of_table, rows))
                results.append(entry)
                if by_distortion and table.distortion is not None:
                    for class_id in sorted(set(int(d) for d in table.distortion[rows] if d >= 0)):
                        members = rows[table.distortion[rows] == class_id]
                        item = {"model": model["name"], "corpus": table.name, "session": session,
                                "distortion": DISTORTION_CLASSES[class_id]}
                        item.update(measure(table, rows_of_table, members))
                        by_class.append(item)
    summary = _summaries(results, ("model", "corpus"))
    sizes = {table.name: len(table) for table in tables}
    weighted = []
    for model in models:
        mine = [row for row in summary if row["model"] == model["name"]]
        entry = {"model": model["name"], "corpus": "weighted average", "weights": "full corpus sizes"}
        for key in SUMMARY_KEYS:
            for statistic in ("median", "mean"):
                entry[f"{key}_{statistic}"] = metrics.weighted_average(
                    [row[f"{key}_{statistic}"] for row in mine], [sizes[row["corpus"]] for row in mine])
        weighted.append(entry)
    output = {
        "split": split,
        "sessions": sessions,
        "conventions": ("SRCC/KRCC on raw scores; PLCC/RMSE after the 4-parameter logistic fitted per corpus and "
                        "session; median, mean and population std over sessions; weighted average over corpora "
                        "weighted by full corpus size; level_rank_srcc = mean within-(reference, distortion type) "
                        "SRCC between score and -level"),
        "models": models,
        "corpora": [{"name": table.name, "source": table.source, "size": len(table)} for table in tables],
        "results": results,
        "summary": summary,
        "weighted_average": weighted,
    }
    if by_distortion:
        output["by_distortion"] = _summaries(by_class, ("model", "corpus", "distortion"))
        output["by_distortion_sessions"] = by_class
    return _finite_or_none(output)


def _summaries(entries, keys):
    groups = {}
    for entry in entries:
        groups.setdefault(tuple(entry[key] for key in keys), []).append(entry)
    rows = []
    for group, members in groups.items():
        row = dict(zip(keys, group))
        row["num_sessions"] = len(members)
        row["num_images"] = int(np.median([member["num_images"] for member in members]))
        row["num_failed"] = int(max(member["num_failed"] for member in members))
        for key in SUMMARY_KEYS:
            summary = metrics.summarize([member[key] for member in members])
            for statistic in ("median", "mean", "std"):
                row[f"{key}_{statistic}"] = summary[statistic]
        rows.append(row)
    return rows


def _finite_or_none(value):
    """NaN -> None, so the JSON is strict (and says "undefined" rather than a fake number)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


# -- rendering -------------------------------------------------------------------------------------------------
def _cell(row, key, sessions):
    median = row.get(f"{key}_median")
    if median is None:
        return "-"
    if sessions <= 1:
        return f"{median:.4f}"
    return f"{median:.4f} ({row[f'{key}_mean']:.4f} ± {row[f'{key}_std']:.4f})"


def to_markdown(output):
    """The tables as Markdown: a cell is the median over sessions, with (mean ± std) when there are several."""
    sessions = len(output["sessions"])
    keys = [key for key in SUMMARY_KEYS if any(row.get(f"{key}_median") is not None for row in output["summary"])]
    header = ["model", "corpus", "images"] + [key.upper() if key in IQA_KEYS else key for key in keys]
    note = (f"Split `{output['split']}`, {sessions} session(s)"
            + ("; cells: median (mean ± std) over sessions" if sessions > 1 else "")
            + ". SRCC/KRCC raw; PLCC/RMSE after the 4-parameter logistic. Weighted average: by full corpus size.")
    lines = [note, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in output["summary"]:
        lines.append("| " + " | ".join([row["model"], row["corpus"], str(row["num_images"])]
                                         + [_cell(row, key, sessions) for key in keys]) + " |")
    if len(output["corpora"]) > 1:
        for row in output["weighted_average"]:
            lines.append("| " + " | ".join([row["model"], "**weighted average**", ""]
                                             + [_cell(row, key, 1) for key in keys]) + " |")
    if output.get("by_distortion"):
        keys = [key for key in ("srcc", "distortion_accuracy", "level_rank_srcc")
                if any(row.get(f"{key}_median") is not None for row in output["by_distortion"])]
        lines += ["", "Per distortion class (level_rank_srcc: mean within-(reference, type) SRCC of score vs "
                      "-level):", "",
                  "| model | corpus | distortion | images | " + " | ".join(keys) + " |",
                  "|" + "---|" * (4 + len(keys))]
        for row in output["by_distortion"]:
            lines.append("| " + " | ".join([row["model"], row["corpus"], row["distortion"], str(row["num_images"])]
                                             + [_cell(row, key, sessions) for key in keys]) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows):
    """Rows (summary, weighted average or by-distortion) as CSV text, one column per field."""
    if not rows:
        return ""
    columns = list(rows[0])
    for row in rows[1:]:
        columns += [column for column in row if column not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if value is None else value) for key, value in row.items()})
    return buffer.getvalue()


def to_json(output):
    return json.dumps(output, indent=2, ensure_ascii=False) + "\n"


def model_index_yaml(output, model_name, dataset_types=None):
    """The model card's `model-index` YAML block of one model (medians over sessions), via huggingface_hub."""
    from huggingface_hub import EvalResult, ModelCardData

    dataset_types = dataset_types or {}
    sessions = len(output["sessions"])
    results = []
    for row in output["summary"]:
        if row["model"] != model_name:
            continue
        for key in IQA_KEYS + ACCURACY_KEYS:
            value = row.get(f"{key}_median")
            if value is None:
                continue
            results.append(EvalResult(
                task_type="image-quality-assessment", task_name="Image Quality Assessment",
                dataset_type=dataset_types.get(row["corpus"], row["corpus"]), dataset_name=row["corpus"],
                dataset_split=output["split"], metric_type=key, metric_value=round(float(value), 4),
                metric_name=f"{key.upper() if key in IQA_KEYS else key} (median over {sessions} session(s))",
            ))
    if not results:
        raise ValueError(f"no metrics of model {model_name!r} to put in a model-index block")
    return ModelCardData(model_name=model_name, eval_results=results).to_yaml() + "\n"


__all__ = ["evaluate", "prepare", "measure", "level_rank_srcc", "to_markdown", "to_csv", "to_json", "model_index_yaml"]
