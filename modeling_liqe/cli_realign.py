# coding=utf-8
# Copyright 2026 The liqe authors.
"""`liqe realign`: realign the MOS scales of several corpora with one model (see `realign.py`).

    liqe realign --model M --dataset D1 --dataset D2 ... --output-dir DIR [--session S] [--fit-split train]
                 [--eval-split test] [--params FILE] [--write-datasets DIR] [--no-plots]

Writes to DIR: realign.md and realign.json (pooled SRCC / PLCC / KRCC / RMSE before, after, and the min-max and
z-score baselines; per corpus the fit), realign_params.json (reusable with --params, like cbetas.mat),
realigned_mos.csv (corpus, image_id, split, mos, mos_realigned, score), and the PNGs realign_scatter.png and
realign_strip.png. --write-datasets writes a copy of every corpus with a `mos_realigned` column.
Not part of the Hub remote code.
"""

import csv
import json
import sys
from pathlib import Path

from .cli_eval import SPLIT_CHOICES, add_scoring_options, open_cache_and_scorers, report_scoring


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "realign",
        help="realign several corpora's MOS scales onto one model's scale (pooled SRCC before / after)",
        description=(
            "Per corpus, fit a monotone increasing 4-parameter logistic from its MOS to the model's scores on one "
            "split, and judge the pooled realigned MOS against the pooled scores on another, beside raw MOS and "
            "the per-corpus min-max and z-score baselines."
        ),
        epilog="Exit status: 0 success, 1 a model, corpus or image failed, 2 usage error.",
    )
    parser.add_argument("--model", required=True, metavar="DIR_OR_HUB_ID", help="the yardstick model")
    parser.add_argument("--dataset", action="append", required=True, metavar="DIR",
                        help="converted corpus folder (repeat; at least two to realign)")
    parser.add_argument("--session", default=None, metavar="S",
                        help="LIQE session number or split-table name (default: the data files' partition)")
    parser.add_argument("--fit-split", default="train", choices=SPLIT_CHOICES,
                        help="split the logistics are fitted on (default: train)")
    parser.add_argument("--eval-split", default="test", choices=SPLIT_CHOICES,
                        help="split the realignment is judged on (default: test)")
    parser.add_argument("--params", metavar="FILE", help="apply a saved realign_params.json instead of fitting")
    parser.add_argument("--output-dir", required=True, metavar="DIR", help="where the reports and plots go")
    parser.add_argument("--write-datasets", metavar="DIR",
                        help="write each corpus again under DIR/<name> with a mos_realigned column")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs (no matplotlib needed)")
    add_scoring_options(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args):
    import numpy as np

    from . import realign
    from .analysis_data import load_converted, score_table, scores_array, split_rows
    from .cli import _quiet_transformers

    _quiet_transformers()
    session = int(args.session) if args.session is not None and args.session.isdigit() else args.session
    cache = None
    try:
        if args.fit_split == args.eval_split and args.params is None:
            print("liqe realign: warning: fitting and judging on the same split rewards self-consistency",
                  file=sys.stderr)
        params = realign.load_params(args.params) if args.params else None
        tables = [load_converted(path) for path in args.dataset]
        names = [table.name for table in tables]
        if len(set(names)) != len(names):
            raise ValueError(f"two --dataset folders hold the same corpus name {names}; realign distinct corpora")
        cache, (scorer,) = open_cache_and_scorers(args, [args.model])
        corpora, failed, per_table = [], 0, []
        for table in tables:
            fit_rows = split_rows(table, session, args.fit_split) if params is None else np.array([], int)
            eval_rows = split_rows(table, session, args.eval_split)
            needed = sorted(set(fit_rows.tolist()) | set(eval_rows.tolist()))
            records = score_table(scorer, table, needed, probabilities=False)
            for row in needed:
                if records[row]["error"] is not None:
                    failed += 1
                    print(f"error: {records[row]['error']}", file=sys.stderr)
            scores = scores_array(records)
            fit_rows = fit_rows[np.isfinite(scores[fit_rows]) & np.isfinite(table.mos[fit_rows])]
            eval_rows = eval_rows[np.isfinite(scores[eval_rows]) & np.isfinite(table.mos[eval_rows])]
            corpora.append({"name": table.name, "mos_fit": table.mos[fit_rows], "scores_fit": scores[fit_rows],
                            "mos_eval": table.mos[eval_rows], "scores_eval": scores[eval_rows]})
            per_table.append((table, eval_rows, scores))
        report = realign.realign(corpora, params=params)
    except Exception as error:
        print(f"liqe realign: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        if cache is not None:
            cache.close()
    report_scoring([scorer])

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    fit = {"session": session, "split": args.fit_split if params is None else None,
           "judged_on": args.eval_split, "params_file": args.params}
    model = {"name": scorer.name, "source": scorer.model, "fingerprint": scorer.fingerprint}
    document = realign.params_document(report, model=model, fit=fit)
    (out / "realign_params.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    summary = {"model": model, "fit": fit, "corpora": report["corpora"], "pooled": report["pooled"],
               "note": "RMSE is in each target's units (MOS scales differ); compare SRCC/PLCC/KRCC across rows."}
    (out / "realign.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    markdown = realign.to_markdown(report)
    (out / "realign.md").write_text(markdown, encoding="utf-8")
    with open(out / "realigned_mos.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["corpus", "image_id", "split", "mos", "mos_realigned", "score"])
        for table, _, scores in per_table:
            realigned = realign.apply(report["corpora"][table.name]["params"], table.mos)
            for row in range(len(table)):
                score = scores[row]
                writer.writerow([table.name, table.image_ids[row], table.partition[row], repr(float(table.mos[row])),
                                 repr(float(realigned[row])), "" if not np.isfinite(score) else repr(float(score))])
    if args.write_datasets:
        for table in tables:
            destination = realign.write_realigned_corpus(table.source, Path(args.write_datasets) / table.name,
                                                         report["corpora"][table.name]["params"])
            print(f"liqe realign: wrote {destination} (column mos_realigned)", file=sys.stderr)
    if not args.no_plots:
        from . import plots

        labels = np.concatenate([[table.name] * eval_rows.size for table, eval_rows, _ in per_table])
        plots.realignment_scatter(out / "realign_scatter.png", labels, report["targets"]["raw_mos"],
                                  report["targets"]["realigned"], report["scores"])
        plots.corpus_strip_plot(out / "realign_strip.png",
                                {table.name: scores[eval_rows] for table, eval_rows, scores in per_table})
    sys.stdout.write(markdown)
    print(f"liqe realign: wrote {out}/realign.md, realign.json, realign_params.json, realigned_mos.csv"
          + ("" if args.no_plots else ", realign_scatter.png, realign_strip.png"), file=sys.stderr)
    if failed:
        print(f"liqe realign: {failed} image(s) could not be scored and were left out", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["add_parser", "run"]
