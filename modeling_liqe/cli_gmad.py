# coding=utf-8
# Copyright 2026 The liqe authors.
"""`liqe gmad`: the gMAD competition between two or more models over an unlabelled pool (see `gmad.py`).

    liqe gmad --model A --model B [--model C ...] --pool FOLDER_OR_CORPUS --output-dir DIR
              [--anchor CORPUS [--anchor-split all]] [--levels 6] [--window W | --window-fraction 0.09]
              [--top-k 1] [--same-content] [--judge level|mos|MODEL] [--no-plots]

Writes to DIR: gmad_pairs.json and gmad_pairs.csv (every pair, both roles), gmad.json (settings, common-scale
fits, and with --judge the PROXY aggressiveness / resistance), gmad_grid.png. Pool scores come from the score
cache, so adding a model to a competition costs only that model's pass. Not part of the Hub remote code.
"""

import csv
import json
import sys
from pathlib import Path

from .cli_eval import SPLIT_CHOICES, add_scoring_options, open_cache_and_scorers, report_scoring


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "gmad",
        help="gMAD: the pairs on which one model's equal-quality levels split another model the most",
        description=(
            "Group maximum differentiation competition (Ma et al.): each model in turn defends; its scores over "
            "the pool are cut into levels of images it calls equal; in each level the attacker's worst and best "
            "image form a pair for people (or a proxy judge) to compare."
        ),
        epilog="Exit status: 0 success, 1 a model, pool or image failed, 2 usage error.",
    )
    parser.add_argument("--model", action="append", required=True, metavar="DIR_OR_HUB_ID",
                        help="a competing model (at least two)")
    parser.add_argument("--pool", required=True, metavar="PATH",
                        help="folder of images (recursive) or converted corpus folder (labels ignored unless --judge)")
    parser.add_argument("--pool-split", default="all", choices=SPLIT_CHOICES,
                        help="with a converted corpus as pool: which split (default: all)")
    parser.add_argument("--anchor", metavar="CORPUS",
                        help="converted corpus with MOS: each model's logistic onto its MOS scale (default: raw "
                             "1-5 LIQE scores)")
    parser.add_argument("--anchor-split", default="all", choices=SPLIT_CHOICES,
                        help="split of the anchor corpus (default: all)")
    parser.add_argument("--levels", type=int, default=6, metavar="L", help="levels per defender (default: 6)")
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--window", type=float, metavar="W", help="absolute ± half-width on the common scale")
    window.add_argument("--window-fraction", type=float, default=0.09, metavar="F",
                        help="± half-width as a fraction of the common scale's span (default 0.09 = the toolbox's "
                             "±9 on 0-100)")
    parser.add_argument("--top-k", type=int, default=1, metavar="K", help="pairs per level (default: 1)")
    parser.add_argument("--same-content", action="store_true",
                        help="both images of a pair from one reference photo (needs a corpus with reference_id)")
    parser.add_argument("--judge", metavar="level|mos|MODEL",
                        help="PROXY judge: the known distortion level (same-reference pairs), the pool's MOS, or a "
                             "third model folder; computes aggressiveness and resistance")
    parser.add_argument("--output-dir", required=True, metavar="DIR", help="where pairs, summary and grid go")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG grid (no matplotlib needed)")
    add_scoring_options(parser)
    parser.set_defaults(handler=run)
    return parser


def _check(args):
    if len(args.model) < 2:
        raise ValueError("gMAD needs at least two --model")
    if args.levels < 1:
        raise ValueError(f"--levels must be at least 1, got {args.levels}")
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    if args.window is not None and args.window <= 0 or args.window_fraction <= 0:
        raise ValueError("the window must be positive")


def run(args):
    import numpy as np

    from . import gmad
    from .analysis_data import load_converted, load_images, score_table, scores_array, split_rows
    from .cli import _quiet_transformers

    _quiet_transformers()
    cache = None
    try:
        _check(args)
        pool = load_images(args.pool)
        pool_rows = split_rows(pool, None, args.pool_split) if pool.is_corpus else np.arange(len(pool))
        groups_all = pool.content_groups()
        if args.same_content and groups_all is None:
            raise ValueError(f"--same-content: the pool {args.pool} has no reference_id for every image")
        judge_model = args.judge if args.judge not in (None, "level", "mos") else None
        cache, scorers = open_cache_and_scorers(args, args.model + ([judge_model] if judge_model else []))
        judge_scorer = scorers.pop() if judge_model else None
        anchor = load_converted(args.anchor) if args.anchor else None
        anchor_rows = split_rows(anchor, None, args.anchor_split) if anchor is not None else None
        failed = 0
        raw, fits = {}, {}
        for scorer in scorers:
            records = score_table(scorer, pool, pool_rows, probabilities=False)
            raw[scorer.name] = scores_array(records)[pool_rows]
            failed += sum(records[row]["error"] is not None for row in pool_rows)
            if anchor is not None:
                anchor_scores = scores_array(score_table(scorer, anchor, anchor_rows, probabilities=False))[anchor_rows]
                ok = np.isfinite(anchor_scores) & np.isfinite(anchor.mos[anchor_rows])
                params = gmad.fit_common_scale(anchor_scores[ok], anchor.mos[anchor_rows][ok])
                fits[scorer.name] = {"params": [float(v) for v in params], "anchor_images": int(ok.sum()),
                                     "anchor_srcc": gmad.metrics.srcc(anchor_scores[ok], anchor.mos[anchor_rows][ok]),
                                     "increasing": bool(params[0] > params[1])}
        keep = np.all([np.isfinite(values) for values in raw.values()], axis=0)
        if keep.sum() < 2:
            raise ValueError(f"{args.pool}: fewer than two images scored by every model")
        rows = pool_rows[keep]
        common = {name: gmad.to_common_scale(values[keep], fits[name]["params"] if name in fits else None)
                  for name, values in raw.items()}
        span = (float(np.nanmax(anchor.mos[anchor_rows]) - np.nanmin(anchor.mos[anchor_rows]))
                if anchor is not None else gmad.RAW_LIQE_SPAN)
        window = args.window if args.window is not None else args.window_fraction * span
        groups = [groups_all[row] for row in rows] if args.same_content else None
        names = [pool.image_ids[row] for row in rows]
        pairs = gmad.find_pairs(common, window, num_levels=args.levels, top_k=args.top_k, groups=groups, names=names)
        summary = None
        if args.judge:
            if args.judge == "level":
                if not pool.is_corpus or groups_all is None:
                    raise ValueError("--judge level needs a converted corpus pool with reference_id and levels")
                judge = gmad.level_judge(pool.distortion_level[rows], [groups_all[row] for row in rows])
            elif args.judge == "mos":
                if pool.mos is None:
                    raise ValueError("--judge mos needs a converted corpus pool (with MOS)")
                judge = gmad.score_judge(pool.mos[rows])
            else:
                judge = gmad.score_judge(scores_array(score_table(judge_scorer, pool, rows, probabilities=False))[rows])
            gmad.judge_pairs(pairs, judge)
            summary = gmad.competition_summary(pairs)
    except Exception as error:
        print(f"liqe gmad: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        if cache is not None:
            cache.close()
    report_scoring(scorers + ([judge_scorer] if judge_scorer else []))

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for pair in pairs:  # indices into the kept pool -> rows of the pool table
        pair["worst_index"], pair["best_index"] = int(rows[pair["worst_index"]]), int(rows[pair["best_index"]])
    (out / "gmad_pairs.json").write_text(json.dumps(pairs, indent=2) + "\n", encoding="utf-8")
    model_names = list(common)
    columns = ["defender", "attacker", "level", "rank", "centre", "window", "num_in_level", "level_weight",
               "worst_name", "best_name", "attacker_difference", "defender_difference"]
    columns += [f"{role}_{name}" for role in ("worst", "best") for name in model_names]
    columns += ["preference"] if args.judge else []
    with open(out / "gmad_pairs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for pair in pairs:
            flat = dict(pair, **{f"{role}_{name}": pair[f"{role}_scores"][name]
                                 for role in ("worst", "best") for name in model_names})
            writer.writerow(["" if flat.get(column) is None else flat[column] for column in columns])
    report = {
        "models": [{"name": s.name, "source": s.model, "fingerprint": s.fingerprint} for s in scorers],
        "pool": {"source": args.pool, "split": args.pool_split, "images": int(rows.size),
                 "left_out": int((~keep).sum())},
        "common_scale": ({"anchor": args.anchor, "split": args.anchor_split, "mos_span": span, "fits": fits}
                         if anchor is not None else {"anchor": None, "scale": "raw LIQE scores 1-5", "span": span}),
        "levels": args.levels, "window": window,
        "window_rule": ("absolute (--window)" if args.window is not None
                        else f"{args.window_fraction} x span of the common scale (±9 on a 0-100 scale)"),
        "top_k": args.top_k, "same_content": args.same_content, "num_pairs": len(pairs),
    }
    if summary is not None:
        report["judge"] = {"kind": "PROXY (not human judgements)", "judge": args.judge,
                           "preference": "+100: the attacker's best preferred, -100: its worst, 0: tie",
                           "summary": summary}
    (out / "gmad.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.no_plots:
        from . import plots

        plots.gmad_grid(out / "gmad_grid.png", pairs, lambda index: pool.images[index], model_names,
                        title=f"gMAD on {Path(args.pool).name} ({rows.size} images; window ±{window:.3g})")
    def shown(value):
        return "undefined" if value is None else f"{value:.1f}"

    for entry in summary or []:
        print(f"PROXY ({args.judge}) {entry['attacker']} attacking {entry['defender']}: aggressiveness "
              f"{shown(entry['aggressiveness'])}, {entry['defender']}'s resistance {shown(entry['resistance'])} "
              f"({entry['judged_pairs']} judged pairs in {entry['judged_levels']} levels)")
    print(f"liqe gmad: {len(pairs)} pairs over {rows.size} images; wrote {out}/gmad_pairs.json, gmad_pairs.csv, "
          f"gmad.json" + ("" if args.no_plots else ", gmad_grid.png"), file=sys.stderr)
    if failed:
        print(f"liqe gmad: {failed} pool image(s) could not be scored and were left out", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["add_parser", "run"]
