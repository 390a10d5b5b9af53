# coding=utf-8
# Copyright 2026 The liqe authors.
"""`liqe eval`: one or several models on one or several converted corpora and sessions -> the metrics table.

    liqe eval --model M [--model M2 ...] --dataset D [--dataset D2 ...] [--session K ... | --all-sessions]
              [--split test] [--by distortion] [--format markdown|csv|json] [--output-dir DIR] [--cache FILE]

Scores come from the score cache (`score_cache.py`): a second table over the same images costs no model pass.
With `--output-dir`, writes eval.md, eval.csv (summary + weighted average), eval.json (everything, per session
too), eval_by_distortion.csv (with `--by distortion`) and model-index-<model>.yaml (the model card block).
Also holds the options and helpers `liqe realign` and `liqe gmad` share. Not part of the Hub remote code.
"""

import os
import sys
from pathlib import Path

FORMATS = ("markdown", "csv", "json")


# The splits an analysis command can read: one of a session's three, or all of them.
SPLIT_CHOICES = ("train", "validation", "test", "all")


def add_scoring_options(parser):
    """--cache, --device, --batch-size: how scores are obtained (shared by eval, realign and gmad)."""
    parser.add_argument("--cache", metavar="FILE", default=None,
                        help="score cache (SQLite; default $LIQE_SCORE_CACHE or ~/.cache/liqe/scores.sqlite)")
    parser.add_argument("--device", choices=("cpu", "cuda", "mps", "auto"), default="cpu",
                        help="where the model runs on cache misses (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="images per model call (default: 8)")


def open_cache_and_scorers(args, models):
    """(ScoreCache, [CachedScorer]) for the --model values; model names are made unique."""
    from .score_cache import CachedScorer, ScoreCache

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    cache = ScoreCache(args.cache)
    scorers = []
    for model in models:
        if not os.path.isdir(model) and (model.startswith(("/", ".", "~")) or model.count("/") > 1):
            raise ValueError(f"model folder {model} does not exist")
        scorers.append(CachedScorer(model, cache, device=args.device, batch_size=args.batch_size))
    # Name models by folder; two folders of one name (run_a/final_model, run_b/final_model) by parent/name too.
    folders_of = {}
    for scorer in scorers:
        folders_of.setdefault(scorer.name, set()).add(os.path.abspath(scorer.model))
    for scorer in scorers:
        if len(folders_of[scorer.name]) > 1:
            parts = Path(os.path.abspath(scorer.model)).parts
            scorer.name = "/".join(parts[-2:]) if len(parts) >= 2 else scorer.name
    seen = {}
    for scorer in scorers:  # the same folder given twice
        seen[scorer.name] = seen.get(scorer.name, 0) + 1
        if seen[scorer.name] > 1:
            scorer.name = f"{scorer.name}#{seen[scorer.name]}"
    return cache, scorers


def report_scoring(scorers, stream=None):
    stream = sys.stderr if stream is None else stream  # looked up now: tests and callers may swap it
    for scorer in scorers:
        print(f"liqe: {scorer.name}: {scorer.images_computed} image(s) through the model, the rest from the cache",
              file=stream)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "eval",
        help="SRCC / PLCC / KRCC / RMSE (and scene / distortion accuracy) of models on converted corpora",
        description=(
            "Evaluate models on corpora written by datasets_scripts, as the LIQE authors do: SRCC and KRCC on raw "
            "scores, PLCC and RMSE after the 4-parameter logistic; median, mean and std over sessions; the "
            "average over corpora weighted by full corpus size. Scores are cached per (model, image)."
        ),
        epilog="Exit status: 0 success, 1 a model, corpus or image failed, 2 usage error.",
    )
    parser.add_argument("--model", action="append", required=True, metavar="DIR_OR_HUB_ID",
                        help="model folder or Hub id (repeat for several)")
    parser.add_argument("--dataset", action="append", required=True, metavar="DIR",
                        help="converted corpus folder or Hub dataset id (repeat for several)")
    sessions = parser.add_mutually_exclusive_group()
    sessions.add_argument("--session", action="append", metavar="K",
                          help="LIQE session number 1..10 or split-table name (e.g. seeded, official); repeat for "
                               "several (default: the data files' partition)")
    sessions.add_argument("--all-sessions", action="store_true",
                          help="every LIQE session the corpora have split tables for")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default="test",
                        help="which split of each session (default: test)")
    parser.add_argument("--by", choices=("distortion",), default=None,
                        help="also per distortion class, with the within-(reference, distortion) SRCC of score vs "
                             "level")
    parser.add_argument("--format", choices=FORMATS, default="markdown", help="standard output format")
    parser.add_argument("--output-dir", metavar="DIR", help="also write eval.md/.csv/.json and model-index YAML here")
    add_scoring_options(parser)
    parser.set_defaults(handler=run)
    return parser


def _sessions(args):
    from .analysis_data import sessions_of

    if args.all_sessions:
        found = [set(sessions_of(path)) for path in args.dataset]
        common = sorted(set.intersection(*found)) if found else []
        if not common:
            raise ValueError("--all-sessions: the corpora share no liqe_session_NN split table")
        return common
    if not args.session:
        return [None]
    return [int(value) if value.isdigit() else value for value in args.session]


def run(args):
    from . import eval_table
    from .cli import _quiet_transformers

    _quiet_transformers()
    from .analysis_data import load_converted, score_table, split_rows

    try:
        sessions = _sessions(args)
        tables = []
        for path in args.dataset:
            tables.append(load_converted(path))
        names = [table.name for table in tables]
        if len(set(names)) != len(names):  # two folders of one corpus: tell them apart by folder name
            for table in tables:
                table.name = Path(table.source).name if names.count(table.name) > 1 else table.name
        cache, scorers = open_cache_and_scorers(args, args.model)
    except ValueError as error:
        print(f"liqe eval: error: {error}", file=sys.stderr)
        return 1
    records, failed = {}, 0
    try:
        for scorer in scorers:
            for index, table in enumerate(tables):
                needed = sorted(set().union(*(split_rows(table, session, args.split).tolist() for session in sessions)))
                rows = score_table(scorer, table, needed, probabilities=("scene_probs", "distortion_probs"))
                
                for row in (rows[position] for position in needed):
                    if row["error"] is not None:
                        failed += 1
                        print(f"error: {row['error']}", file=sys.stderr)
                records[(scorer.name, index)] = rows
        models = [{"name": s.name, "source": s.model, "fingerprint": s.fingerprint} for s in scorers]
        output = eval_table.evaluate(models, tables, records, sessions, split=args.split,
                                     by_distortion=args.by == "distortion")
    except Exception as error:  # a model that cannot load, a broken split table: one clear line
        print(f"liqe eval: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        cache.close()
    report_scoring(scorers)
    summary_rows = output["summary"] + (output["weighted_average"] if len(tables) > 1 else [])
    text = {"markdown": eval_table.to_markdown, "json": eval_table.to_json}.get(
        args.format, lambda out: eval_table.to_csv(summary_rows))(output)
    sys.stdout.write(text)
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.md").write_text(eval_table.to_markdown(output), encoding="utf-8")
        (out / "eval.csv").write_text(eval_table.to_csv(summary_rows), encoding="utf-8")
        (out / "eval.json").write_text(eval_table.to_json(output), encoding="utf-8")
        if output.get("by_distortion"):
            (out / "eval_by_distortion.csv").write_text(eval_table.to_csv(output["by_distortion"]), encoding="utf-8")
        for model in output["models"]:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model["name"])
            (out / f"model-index-{safe}.yaml").write_text(eval_table.model_index_yaml(output, model["name"]),
                                                          encoding="utf-8")
        print(f"liqe eval: wrote {out}/eval.md, eval.csv, eval.json, model-index-*.yaml", file=sys.stderr)
    if failed:
        print(f"liqe eval: {failed} image(s) could not be scored and were left out", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["add_parser", "run", "add_scoring_options", "open_cache_and_scorers"]
