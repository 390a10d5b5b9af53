# coding=utf-8
# Copyright 2026 The liqe authors.
"""The `liqe` command: score images, convert published checkpoints, make random model folders.

    liqe score [--model DIR_OR_HUB_ID] [--format table|csv|json|jsonl] [--output FILE] PATH...
    liqe convert SRC OUT_DIR [--variant ...] [--dtype float32|float16]
    liqe init OUT_DIR [--geometry tiny|vit-b-32] [--variant ...] [--seed N]
    liqe export onnx MODEL OUT_DIR [--quantize none|int8] [--input-format uint8|float32]

Exit status: 0 when everything went well, 1 when a file could not be scored (or a conversion / model load
failed), 2 for usage errors (including no model, or a --model that names no folder). Every message is
`liqe <command>: error: ...` (or `warning:`). Also runs as `python -m modeling_liqe.cli`.
"""

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from . import cli_fast, cli_space, distributed_scoring
from .image_processing_liqe import IMAGE_EXTENSIONS

# Without --model: $LIQE_MODEL, else the demo checkpoint shipped with the repository, else a message.
MODEL_ENVIRONMENT_VARIABLE = "LIQE_MODEL"
DEMO_MODEL_NAME = "liqe-tiny-synthetic"
# Where the shipped demo checkpoint is looked for: beside the package (an installed copy) and in the
# repository the package is imported from (an editable install or a checkout).
DEMO_MODEL_DIRS = (
    Path(__file__).resolve().parent / "checkpoints" / DEMO_MODEL_NAME,
    Path(__file__).resolve().parent.parent / "checkpoints" / DEMO_MODEL_NAME,
)
HOW_TO_GET_A_MODEL = (
    "convert the published checkpoint (liqe convert LIQE.pt liqe-model), or make a random one to try the tools "
    "(liqe init liqe-random), then pass --model FOLDER (or a Hub id OWNER/NAME) or set $LIQE_MODEL"
)

FORMATS = ("table", "csv", "json", "jsonl")
# --output's extension gives the format when --format is not given.
FORMAT_OF_EXTENSION = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEVICES = ("cpu", "cuda", "mps", "auto")
VARIANT_NAMES = ("full", "quality_scene", "quality_distortion", "quality")
# The names of modeling_liqe.geometries.GEOMETRIES, spelled out so that parsing the command line imports no torch
# (tests/modeling_liqe/test_geometries.py checks they agree).
GEOMETRY_NAMES = ("tiny", "small", "demo", "demo-spread", "vit-b-32")
PROBABILITY_KEYS = ("quality_probs", "scene_probs", "distortion_probs")
# Show a progress bar (on a terminal only) from this many images on.
PROGRESS_MIN_IMAGES = 16


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


# -- parser ------------------------------------------------------------------------------------------------
def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels (0 = no limit), got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of pixels (0 = no limit), got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="liqe",
        description="LIQE blind image quality assessment (CVPR 2023): score images, convert checkpoints.",
        epilog="Exit status: 0 success, 1 some file failed (or conversion / model loading failed), 2 usage error.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    score = commands.add_parser(
        "score",
        help="score image files and folders",
        description=(
            "Score images: 1 (bad) .. 5 (perfect), with the most likely scene and distortion. A PATH is an image "
            "file or a folder, searched recursively for "
            + ", ".join(ext[1:] for ext in IMAGE_EXTENSIONS)
            + " files (any letter case). Files that cannot be scored get a row with an error; the others go on."
        ),
        epilog="Exit status: 0 all scored, 1 some file failed or the model could not be loaded, 2 usage error.",
    )
    score.add_argument("paths", nargs="+", metavar="PATH", help="image file or folder (recursive)")
    score.add_argument(
        "--model",
        default=None,
        metavar="DIR_OR_HUB_ID",
        help=(f"model folder or Hugging Face Hub id OWNER/NAME (default: ${MODEL_ENVIRONMENT_VARIABLE}, else the "
              f"demo checkpoint checkpoints/{DEMO_MODEL_NAME}/ when present)"),
    )
    score.add_argument("--trust-remote-code", action="store_true",
                       help="load the model with the Python code its folder or Hub repository ships, instead of this "
                            "package's own classes (only for a model that needs it, from a source you trust)")
    score.add_argument("--format", choices=FORMATS, default=None,
                       help="output format (default: from --output's extension .csv / .json / .jsonl, else table)")
    score.add_argument("--output", metavar="FILE", help="write the results to FILE instead of standard output")
    score.add_argument("--batch-size", type=_positive_int, default=8, metavar="N",
                       help="images per model call (default: 8)")
    score.add_argument("--device", choices=DEVICES, default="auto",
                       help="where the model runs (default: auto = cuda, else mps, else cpu)")
    score.add_argument("--max-image-pixels", type=_non_negative_int, default=None, metavar="N",
                       help="refuse images with more pixels, as decoded or after the resize to the 224-px windows "
                            "(default: Pillow's limit, 89478485; 0 = no limit)")
    distributed_scoring.add_arguments(score)  # --dataset, --split, parquet; `accelerate launch` support
    cli_fast.add_score_arguments(score)  # --fast, --backend onnx

    convert = commands.add_parser(
        "convert",
        help="convert a published LIQE / OpenAI CLIP checkpoint into a model folder",
        description=(
            "Convert an OpenAI-format CLIP / LIQE checkpoint (.pt state dict, pyiqa {'params': ...} packaging, "
            "training checkpoint with 'model_state_dict', or .safetensors) into a transformers model folder."
        ),
    )
    convert.add_argument("source", metavar="SRC", help="checkpoint file")
    convert.add_argument("output_dir", metavar="OUT_DIR", help="folder to write the model to")
    convert.add_argument("--variant", choices=VARIANT_NAMES, default="full", help="prompt set (default: full)")
    convert.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                         help="weights' dtype in the folder (default: float32)")

    init = commands.add_parser(
        "init",
        help="write a randomly initialised model folder (for trying the tools; scores are meaningless)",
        description="Write a LIQE model folder with random weights (seeded), its processor and a model card.",
    )
    init.add_argument("output_dir", metavar="OUT_DIR", help="folder to write the model to")
    init.add_argument("--geometry", choices=GEOMETRY_NAMES, default="tiny",
                      help="CLIP backbone: tiny (the golden test geometry) or vit-b-32 (default: tiny)")
    init.add_argument("--variant", choices=VARIANT_NAMES, default="full", help="prompt set (default: full)")
    init.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")

    from . import cli_eval, cli_gmad, cli_realign  # the analyses (eval, realign, gmad) register themselves

    for module in (cli_eval, cli_realign, cli_gmad):
        module.add_parser(commands)
    cli_space.add_parser(commands)  # liqe space push
    cli_fast.add_parser(commands)  # liqe export onnx
    return parser


# -- input files --------------------------------------------------------------------------------------------
def is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def collect_paths(arguments):
    """Expand the PATH arguments: files as given, folders recursively (sorted) for image files.

    A file's `path` is the argument as given; a file found in a folder is the folder as given joined with its
    path inside the folder. Paths that do not exist are kept (they become error rows).
    """
    paths, empty_folders = [], []
    for argument in arguments:
        if os.path.isdir(argument):
            found = []
            for root, dirs, files in os.walk(argument):
                dirs.sort()
                found.extend(os.path.join(root, name) for name in sorted(files) if is_image_name(name))
            if not found:
                empty_folders.append(argument)
            paths.extend(found)
        else:
            paths.append(argument)
    return paths, empty_folders


def _looks_like_path(model):
    """True for a --model value that cannot be a Hub id ("org/name"), so must be a local folder."""
    return (
        os.path.exists(model)
        or model.startswith(("/", ".", "~"))
        or model.count("/") > 1
        or (os.sep != "/" and os.sep in model)
    )


def demo_model_dir():
    """The shipped demo checkpoint folder, when present (None otherwise)."""
    for folder in DEMO_MODEL_DIRS:
        if (folder / "config.json").is_file():
            return str(folder)
    return None


def resolve_model(model):
    """The model to load: --model, else $LIQE_MODEL, else the demo checkpoint; checked before anything loads.

    Raises UsageError with what to do when there is no model, or when the value names no model: a path that
    does not exist, a file, a folder without config.json, or a bare name that is neither a folder nor a Hub id.
    A Hub id (OWNER/NAME) is returned as it is (whether it exists is known only when it loads).
    """
    origin = "--model"
    if model is None and os.environ.get(MODEL_ENVIRONMENT_VARIABLE):
        model, origin = os.environ[MODEL_ENVIRONMENT_VARIABLE], f"${MODEL_ENVIRONMENT_VARIABLE}"
    if model is None:
        model = demo_model_dir()
        if model is None:
            raise UsageError(f"no model given (--model, ${MODEL_ENVIRONMENT_VARIABLE}) and the demo checkpoint "
                             f"checkpoints/{DEMO_MODEL_NAME}/ is not here; {HOW_TO_GET_A_MODEL}")
        return model
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded):
        # config.json: a model folder; liqe_onnx.json: a folder written by `liqe export onnx` (--backend onnx)
        if not any(os.path.isfile(os.path.join(expanded, name)) for name in ("config.json", "liqe_onnx.json")):
            raise UsageError(f"{origin} {model}: a folder without config.json, not a model folder; "
                             f"{HOW_TO_GET_A_MODEL}")
        return expanded
    if os.path.exists(expanded):
        raise UsageError(f"{origin} {model}: a file, not a model folder; {HOW_TO_GET_A_MODEL}")
    if _looks_like_path(model):
        raise UsageError(f"{origin} {model}: no such model folder")
    if model.count("/") != 1 or not all(model.split("/")):
        raise UsageError(f"{origin} {model}: neither a model folder here nor a Hugging Face Hub id (OWNER/NAME); "
                         f"{HOW_TO_GET_A_MODEL}")
    return model


def output_format(fmt, output):
    """--format, else the one --output's extension names, else table; a contradiction is a usage error."""
    implied = FORMAT_OF_EXTENSION.get(os.path.splitext(output or "")[1].lower())
    if fmt is not None and implied is not None and fmt != implied:
        raise UsageError(f"--format {fmt} contradicts --output {output} (a {implied} file name); "
                         "drop --format or change the file name")
    return fmt or implied or "table"


def _load_error_message(error):
    """One line out of a model-loading exception (transformers' messages run over several paragraphs)."""
    text = " ".join(str(error).split("\n")[0].split()) or type(error).__name__
    if "offline" in text.lower() or type(error).__name__ in ("LocalEntryNotFoundError", "OfflineModeIsEnabled"):
        return f"not found in the local cache and the Hub is offline or unreachable ({text})"
    return f"{type(error).__name__}: {text}"


# -- output -------------------------------------------------------------------------------------------------
def _format_float(value, digits=None):
    if value is None:
        return ""
    return f"{value:.{digits}f}" if digits is not None else repr(float(value))


def csv_columns(label_axes):
    """Columns of the csv format: the fixed ones, then `quality_probs.<label>`... for the model's axes."""
    columns = ["path", "score", "scene", "distortion", "error"]
    for key in PROBABILITY_KEYS:
        labels = label_axes.get(key)
        if labels:
            columns.extend(f"{key}.{label}" for label in labels)
    return columns


def csv_row(row, columns):
    flat = {
        "path": row["path"],
        "score": _format_float(row["score"]),
        "scene": row["scene"] or "",
        "distortion": row["distortion"] or "",
        "error": row["error"] or "",
    }
    for key in PROBABILITY_KEYS:
        for label, value in (row.get(key) or {}).items():
            flat[f"{key}.{label}"] = _format_float(value)
    return [flat.get(column, "") for column in columns]


def format_table(rows):
    """Aligned, human-readable columns: path, score (4 decimals), scene, distortion, error."""
    header = ["path", "score", "scene", "distortion", "error"]
    body = [
        [row["path"], _format_float(row["score"], 4), row["scene"] or "", row["distortion"] or "", row["error"] or ""]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    lines = []
    for line in [header] + body:
        cells = [cell.rjust(widths[i]) if i == 1 else cell.ljust(widths[i]) for i, cell in enumerate(line)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


class _Writer:
    """Writes rows as they come (csv, jsonl) or at the end (table, json)."""

    def __init__(self, stream, fmt, label_axes):
        self.stream, self.fmt, self.rows = stream, fmt, []
        if fmt == "csv":
            self.columns = csv_columns(label_axes)
            self.csv = csv.writer(stream, lineterminator="\n")
            self.csv.writerow(self.columns)

    def write(self, row):
        if self.fmt == "csv":
            self.csv.writerow(csv_row(row, self.columns))
            self.stream.flush()
        elif self.fmt == "jsonl":
            self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.stream.flush()
        else:
            self.rows.append(row)

    def close(self):
        if self.fmt == "json":
            self.stream.write(json.dumps(self.rows, ensure_ascii=False, indent=2) + "\n")
        elif self.fmt == "table":
            self.stream.write(format_table(self.rows))
        self.stream.flush()


def _open_output(path):
    if path is None:
        stream = sys.stdout
        if hasattr(stream, "reconfigure"):
            try:  # never die on a file name the terminal's encoding cannot show
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
        return stream, False
    try:
        return open(path, "w", encoding="utf-8", errors="backslashreplace", newline=""), True
    except OSError as error:
        raise UsageError(f"cannot write --output {path}: {error.strerror or error}") from None


def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# -- commands -----------------------------------------------------------------------------------------------
def command_score(args):
    if distributed_scoring.handles(args):  # several processes, a dataset, or parquet
        return distributed_scoring.run(args)
    from .scoring import resolve_device

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    fmt = output_format(args.format, args.output)
    model = resolve_model(args.model)
    paths, empty_folders = collect_paths(args.paths)
    for folder in empty_folders:
        print(f"liqe score: warning: no image files in folder {folder}", file=sys.stderr)
    if not paths:
        print("liqe score: error: no image files to score", file=sys.stderr)
        return 1

    _quiet_transformers()
    try:
        scorer = cli_fast.make_scorer(args, model, device, UsageError)
    except UsageError:
        raise
    except Exception as error:  # an unknown Hub id offline, a broken config, weights that do not fit...
        print(f"liqe score: error: cannot load model {model}: {_load_error_message(error)}", file=sys.stderr)
        return 1
    label_axes = {
        "quality_probs": scorer.axis_labels.get(scorer.quality_axis),
        "scene_probs": scorer.axis_labels.get("scene"),
        "distortion_probs": scorer.axis_labels.get("distortion"),
    }

    stream, owned = _open_output(args.output)
    progress = None
    if len(paths) >= PROGRESS_MIN_IMAGES and sys.stderr.isatty():
        from tqdm.auto import tqdm

        progress = tqdm(total=len(paths), unit="img", file=sys.stderr, desc="liqe score")
    failed = 0
    try:
        writer = _Writer(stream, fmt, label_axes)
        for row in scorer.score_paths(paths):
            if row["error"] is not None:
                failed += 1
                if progress is not None:
                    progress.write(f"liqe score: error: {row['error']}", file=sys.stderr)
                elif fmt != "table" or owned:
                    print(f"liqe score: error: {row['error']}", file=sys.stderr)
            writer.write(row)
            if progress is not None:
                progress.update(1)
        writer.close()
    finally:
        if progress is not None:
            progress.close()
        if owned:
            stream.close()
    if failed:
        print(f"liqe score: error: {failed} of {len(paths)} file(s) could not be scored", file=sys.stderr)
    return 1 if failed else 0


def command_convert(args):
    import torch

    from .convert_liqe_checkpoint import CheckpointError, convert_checkpoint

    _quiet_transformers()
    dtype = {"float32": torch.float32, "float16": torch.float16}[args.dtype]
    try:
        model, _ = convert_checkpoint(args.source, args.output_dir, variant=args.variant, dtype=dtype)
    except (CheckpointError, OSError) as error:  # OSError: e.g. the output folder cannot be written
        print(f"liqe convert: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output_dir} ({model.config.variant} variant, {model.config.num_prompts} prompts, {args.dtype})",
          file=sys.stderr)
    return 0


def command_init(args):
    from .geometries import init_random_model

    _quiet_transformers()
    try:
        model, _ = init_random_model(args.geometry, variant=args.variant, seed=args.seed, output_dir=args.output_dir)
    except OSError as error:
        print(f"liqe init: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output_dir} (RANDOM weights, {args.geometry} geometry, {model.config.variant} variant, "
          f"seed {args.seed}; scores are meaningless)", file=sys.stderr)
    return 0


COMMANDS = {"score": command_score, "convert": command_convert, "init": command_init, "space": cli_space.run,
            "export": cli_fast.run}


def main(argv=None):
    """Run the `liqe` command line; returns the exit status (0, 1, or 2 for usage errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2), message already printed
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return COMMANDS.get(args.command, getattr(args, "handler", None))(args)
    except UsageError as error:
        print(f"liqe {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `liqe score ... | head`: the reader left; stay quiet
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except KeyboardInterrupt:
        print(f"liqe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
