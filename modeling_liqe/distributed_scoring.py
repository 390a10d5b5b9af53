# coding=utf-8
# Copyright 2026 The liqe authors.
"""`liqe score` at scale: across processes and GPUs with Accelerate, and over converted datasets.

    accelerate launch -m modeling_liqe.cli score PHOTOS/ --format csv --output scores.csv
    accelerate launch -m modeling_liqe.cli score --dataset CORPUS_DIR_OR_HUB_ID --split test \
        --output test.parquet
    # CPU only, two real processes over gloo:
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no \
        --dynamo_backend no -m modeling_liqe.cli score PHOTOS/ --device cpu --format jsonl --output scores.jsonl

The inputs (image files, or the rows of a dataset split) are cut into one contiguous block per process
(`PartialState.split_between_processes`); each process scores its block with [`LIQEScorer`] (the windows of
`--batch-size` images per forward, images prepared ahead of the model) on its own device, and the rows are
gathered on the main process (`gather_object`, in rank order, so in input order), checked (as many rows as
inputs, each input's name in its place: none lost, none duplicated) and written once, as csv, json, jsonl, table
or parquet. A file or dataset row that cannot be scored gets an error row; the others go on.

`liqe score` comes here instead of its one-process path when the command runs under a launcher with more than
one process, reads a `--dataset`, or writes `--format parquet`. Not part of the Hub remote code.
"""

import io
import os
import sys

PARQUET = "parquet"


def add_arguments(score_parser):
    """Add --dataset / --split / --image-column / --name-column and the parquet format to `liqe score`."""
    for action in score_parser._actions:
        if action.dest == "paths":
            action.nargs = "*"  # PATHs are optional with --dataset
        elif action.dest == "format" and PARQUET not in action.choices:
            action.choices = tuple(action.choices) + (PARQUET,)
            action.help = (action.help or "") + "; parquet needs --output"
    group = score_parser.add_argument_group(
        "datasets and several processes",
        "Run under `accelerate launch` to score across processes / GPUs; rows are gathered in input order.",
    )
    group.add_argument("--dataset", metavar="DIR_OR_ID",
                       help="score a dataset instead of PATHs: a converted corpus folder (datasets_scripts), a "
                            "save_to_disk folder or a Hub dataset id")
    group.add_argument("--split", default="test", help="the dataset's split (default: test)")
    group.add_argument("--image-column", default="image", help="the dataset's image column (default: image)")
    group.add_argument("--name-column", default="image_id",
                       help="the column that names a row in the output (default: image_id; else SPLIT[INDEX])")


def world_size():
    """Processes of the launch this process belongs to (1 when not launched by accelerate / torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def output_format(args):
    """--format; parquet for an --output ending in .parquet (unless another file format is asked for), else what
    `liqe score` itself infers. (A table, the default where cli.py has no inference, never goes to a .parquet.)"""
    from . import cli

    if args.format in (None, "table") and (args.output or "").lower().endswith(".parquet"):
        return PARQUET
    if args.format == PARQUET:
        return PARQUET
    infer = getattr(cli, "output_format", None)  # --format from --output's extension, where cli.py has it
    return infer(args.format, args.output) if infer is not None else (args.format or "table")


def handles(args):
    """Whether `liqe score` with these arguments runs here rather than on its one-process path."""
    from .cli import UsageError

    if not args.paths and not getattr(args, "dataset", None):
        raise UsageError("give image files / folders (PATH...) or --dataset DIR_OR_ID")
    if args.paths and args.dataset:
        raise UsageError("give PATHs or --dataset, not both")
    return bool(args.dataset) or output_format(args) == PARQUET or world_size() > 1


def _model_and_options(args):
    """The model to load and LIQEScorer's extra options, as `liqe score`'s one-process path gets them."""
    from . import cli

    resolve = getattr(cli, "resolve_model", None)  # --model, else $LIQE_MODEL, else the demo checkpoint
    model = resolve(args.model) if resolve is not None else args.model
    options = {}
    if hasattr(args, "trust_remote_code"):
        options["trust_remote_code"] = args.trust_remote_code
    return model, options


# -- inputs -------------------------------------------------------------------------------------------------
def load_split(dataset, split):
    """A `datasets.Dataset`: one split of a save_to_disk folder, a converted corpus folder or a Hub dataset."""
    import datasets

    from .cli import UsageError

    if os.path.isdir(dataset) and (
        os.path.isfile(os.path.join(dataset, "dataset_dict.json"))
        or os.path.isfile(os.path.join(dataset, "state.json"))
    ):
        loaded = datasets.load_from_disk(dataset)
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise UsageError(f"--dataset {dataset} has no split {split!r}; it has {sorted(loaded)}")
            return loaded[split]
        return loaded
    if not os.path.isdir(dataset) and (dataset.startswith(("/", ".", "~")) or dataset.count("/") > 1):
        raise UsageError(f"--dataset folder {dataset} does not exist")
    try:
        return datasets.load_dataset(dataset, split=split)
    except ValueError as error:  # e.g. an unknown split
        raise UsageError(f"--dataset {dataset} --split {split}: {error}") from None


class DatasetImages:
    """The images of a dataset split, decoded on demand: (name, PIL image or an error message) per row."""

    def __init__(self, dataset, split, image_column, name_column, max_image_pixels=None):
        import datasets

        from .cli import UsageError

        if image_column not in dataset.column_names:
            raise UsageError(f"the dataset has no image column {image_column!r}; columns: {dataset.column_names}")
        if isinstance(dataset.features[image_column], datasets.Image):  # decode ourselves, one row at a time
            dataset = dataset.cast_column(image_column, datasets.Image(decode=False))
        self.dataset, self.image_column = dataset, image_column
        self.names = (
            [str(name) for name in dataset[name_column]]
            if name_column in dataset.column_names
            else [f"{split}[{index}]" for index in range(len(dataset))]
        )
        self.max_image_pixels = max_image_pixels

    def __len__(self):
        return len(self.names)

    def decode(self, index):
        from PIL import Image

        name = self.names[index]
        value = self.dataset[index][self.image_column]
        try:
            if isinstance(value, Image.Image):
                image = value
            elif isinstance(value, dict) and value.get("bytes"):
                image = Image.open(io.BytesIO(value["bytes"]))
            elif isinstance(value, dict) and value.get("path"):
                image = Image.open(value["path"])
            else:
                return name, f"{name}: no image in column {self.image_column!r}"
            limit = self.max_image_pixels or Image.MAX_IMAGE_PIXELS
            if limit and image.width * image.height > limit:
                return name, f"{name}: {image.width}x{image.height} pixels exceeds the limit of {limit}"
            image.seek(0)
            image.load()
            return name, image
        except Exception as error:  # one bad row must not stop the others; the message names the row
            return name, f"{name}: cannot decode image ({type(error).__name__}: {error})"


def _score_dataset_rows(scorer, images, indices, chunk):
    """Rows of the dataset rows `indices`, in order; decoding failures become error rows."""
    from .scoring import RESULT_KEYS

    for start in range(0, len(indices), chunk):
        decoded = [images.decode(index) for index in indices[start : start + chunk]]
        good = [(name, image) for name, image in decoded if not isinstance(image, str)]
        scored = iter(scorer.score_images([image for _, image in good], names=[name for name, _ in good]))
        for name, image in decoded:
            if isinstance(image, str):
                row = dict.fromkeys(RESULT_KEYS)
                row["path"], row["error"] = name, image
                yield row
            else:
                yield next(scored)


# -- output -------------------------------------------------------------------------------------------------
def write_parquet(rows, path, label_axes):
    """The rows as a parquet table with the csv format's flat columns (floats stay floats, None stays null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .cli import PROBABILITY_KEYS, csv_columns

    columns = csv_columns(label_axes)
    data = {column: [] for column in columns}
    for row in rows:
        flat = {key: row.get(key) for key in ("path", "score", "scene", "distortion", "error")}
        for key in PROBABILITY_KEYS:
            for label, value in (row.get(key) or {}).items():
                flat[f"{key}.{label}"] = value
        for column in columns:
            data[column].append(flat.get(column))
    types = {column: pa.string() if column in ("path", "scene", "distortion", "error") else pa.float64()
             for column in columns}
    table = pa.table({column: pa.array(data[column], types[column]) for column in columns})
    pq.write_table(table, path)


def check_gathered(rows, names):
    """The gathered rows must be the inputs, each once, in input order."""
    got = [row["path"] for row in rows]
    if got != list(names):
        missing = len(set(names) - set(got))
        raise RuntimeError(
            f"gathered {len(got)} rows for {len(names)} inputs ({missing} names missing, "
            f"{len(got) - len(set(got))} duplicated or out of order): not writing a partial result"
        )


# -- command ------------------------------------------------------------------------------------------------
def run(args):
    """`liqe score` on this process's share of the inputs; the main process writes every row. Exit status as
    `liqe score`: 0, 1 when a file failed or the model could not be loaded, 2 for usage errors (raised)."""
    from accelerate import PartialState
    from accelerate.utils import gather_object

    from .cli import UsageError, _open_output, _quiet_transformers, _Writer, collect_paths
    from .scoring import LIQEScorer, resolve_device

    fmt = output_format(args)
    if fmt == PARQUET and not args.output:
        raise UsageError("--format parquet writes a file: give --output FILE")
    model, options = _model_and_options(args)
    state = PartialState(cpu=args.device == "cpu")
    if args.device == "cpu":
        device = "cpu"
    elif args.device in ("auto", "cuda") and state.device.type not in ("cpu", "mps"):
        device = str(state.device)  # this process's own GPU
    else:
        try:
            device = resolve_device(args.device)
        except ValueError as error:
            raise UsageError(str(error)) from None

    if args.dataset:
        _quiet_transformers()
        images = DatasetImages(load_split(args.dataset, args.split), args.split, args.image_column, args.name_column,
                               args.max_image_pixels)
        names = images.names
    else:
        paths, empty_folders = collect_paths(args.paths)
        if state.is_main_process:
            for folder in empty_folders:
                print(f"liqe score: warning: no image files in folder {folder}", file=sys.stderr)
        names = paths
    if not names:
        if state.is_main_process:
            print("liqe score: error: no images to score", file=sys.stderr)
        return 1

    _quiet_transformers()
    try:
        scorer = LIQEScorer(model, device=device, batch_size=args.batch_size,
                            max_image_pixels=args.max_image_pixels, **options)
    except Exception as error:
        print(f"liqe score: error: cannot load model {model!r} on process {state.process_index}: "
              f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1

    with state.split_between_processes(list(range(len(names)))) as mine:
        mine = list(mine)
        if args.dataset:
            rows = list(_score_dataset_rows(scorer, images, mine, chunk=4 * args.batch_size))
        else:
            rows = list(scorer.score_paths([names[index] for index in mine]))
    rows = gather_object(rows) if state.num_processes > 1 else rows
    if not state.is_main_process:
        return 0

    check_gathered(rows, names)
    label_axes = {
        "quality_probs": scorer.axis_labels.get(scorer.quality_axis),
        "scene_probs": scorer.axis_labels.get("scene"),
        "distortion_probs": scorer.axis_labels.get("distortion"),
    }
    failed = [row for row in rows if row["error"] is not None]
    for row in failed:
        print(f"liqe score: error: {row['error']}", file=sys.stderr)
    if fmt == PARQUET:
        write_parquet(rows, args.output, label_axes)
    else:
        stream, owned = _open_output(args.output)
        try:
            writer = _Writer(stream, fmt, label_axes)
            for row in rows:
                writer.write(row)
            writer.close()
        finally:
            if owned:
                stream.close()
    if state.num_processes > 1 or failed:
        print(f"liqe score: scored {len(rows) - len(failed)} of {len(rows)} input(s) on "
              f"{state.num_processes} process(es)",
              file=sys.stderr)
    return 1 if failed else 0


__all__ = ["add_arguments", "handles", "run", "load_split", "write_parquet", "check_gathered", "world_size"]
