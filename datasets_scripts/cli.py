"""The command line every converter shares.

    python -m datasets_scripts.<corpus> --root DOWNLOAD_DIR --out OUT_DIR
        [--liqe-labels IQA_DATABASE_DIR] [--push-to-hub ORG/NAME] [--public] [--token TOKEN]
        [--seed N] [--overwrite] [--max-shard-mb MB]

Errors in the release or the lists end the run with exit status 1 and one message naming the
file and the problem; reports (unnamed files, relabelled images) are printed as warnings.
"""

import argparse
import logging
import sys

from .common import ConversionError, convert_corpus, resolve_root
from .export import ExportError
from .liqe_labels import LiqeLabelError
from .splits import DEFAULT_SEED


def build_parser(spec):
    parser = argparse.ArgumentParser(
        prog=f"python -m datasets_scripts.{spec.name}",
        description=f"Convert the official {spec.card.pretty_name} release into a Hugging Face dataset folder.",
    )
    parser.add_argument("--root", required=True, help=f"the release folder (holding {spec.marker}) or the folder above it")
    parser.add_argument("--out", required=True, help="output folder (README.md, data/, splits/)")
    parser.add_argument(
        "--liqe-labels",
        metavar="DIR",
        help="the LIQE authors' IQA_Database folder: attach their scene/distortion labels and write their 10 sessions",
    )
    parser.add_argument("--push-to-hub", metavar="ORG/NAME", help="upload the output folder as this Hub dataset repo")
    parser.add_argument(
        "--public",
        action="store_true",
        help="create the Hub repo public even where the corpus's terms do not clearly allow redistribution",
    )
    parser.add_argument("--token", help="Hub token (default: the logged-in one)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the random 70/10/20 split")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier conversion in --out")
    parser.add_argument("--max-shard-mb", type=float, default=500, help="largest parquet shard, in MB of image files")
    return parser


def run(spec, read_release, argv=None):
    """Parse ``argv``, convert, print a summary; returns the process exit status."""
    args = build_parser(spec).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        release = read_release(resolve_root(args.root, spec))
        result = convert_corpus(
            spec,
            release,
            args.out,
            liqe_labels=args.liqe_labels,
            seed=args.seed,
            overwrite=args.overwrite,
            push_to_hub_repo=args.push_to_hub,
            public=args.public,
            token=args.token,
            max_shard_bytes=int(args.max_shard_mb * 1024 * 1024),
        )
    except (ConversionError, ExportError, LiqeLabelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{spec.name}: {result.num_rows} rows written to {result.out_dir} (data files split by {result.default_split})")
    for name, counts in sorted(result.split_counts.items()):
        print(f"  {name}: " + ", ".join(f"{split} {count}" for split, count in counts.items()))
    return 0
