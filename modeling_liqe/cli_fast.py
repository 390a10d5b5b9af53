# coding=utf-8
# Copyright 2026 The liqe authors.
"""The `liqe` command's fast and portable inference: `liqe score --fast / --backend onnx`, `liqe export onnx`.

Kept out of cli.py (which only registers these) and light to import: torch and onnx load when a command runs.
"""

import sys

BACKENDS = ("torch", "onnx")
EXPORT_INPUT_FORMATS = ("uint8", "float32")
EXPORT_QUANTIZATIONS = ("none", "int8")


def add_score_arguments(score):
    """`--fast` and `--backend` for `liqe score`."""
    score.add_argument(
        "--fast",
        action="store_true",
        help="CPU: int8 dynamic quantisation of the vision tower's linear layers that a calibration check "
             "finds harmless, float32 for the others, and the last layer for the class token only (~0.6x the "
             "time on a ViT-B/32 where every layer passes; ~0.9x, and exact, on the demo checkpoint). The default "
             "path is exact.",
    )
    score.add_argument(
        "--backend",
        choices=BACKENDS,
        default="torch",
        help="torch (default): a model folder or Hub id; onnx: a folder written by `liqe export onnx` "
             "(scored with onnxruntime)",
    )


def make_scorer(args, model, device, usage_error):
    """The scorer `liqe score` uses for these arguments (raises `usage_error` for contradictory ones)."""
    if args.backend == "onnx":
        if args.fast:
            raise usage_error("--fast applies to the torch backend; for int8 ONNX export with --quantize int8")
        from .onnx_scorer import ONNXScorer

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if args.device == "cuda" else None
        return ONNXScorer(model, batch_size=args.batch_size, max_image_pixels=args.max_image_pixels,
                          providers=providers)
    from .scoring import LIQEScorer

    if args.fast:
        if args.device == "auto":
            device = "cpu"  # the int8 path is a CPU path
        elif device != "cpu":
            raise usage_error(f"--fast runs on the CPU only (int8 dynamic quantisation), not on --device {device}")
    return LIQEScorer(model, device=device, batch_size=args.batch_size, max_image_pixels=args.max_image_pixels,
                      fast=args.fast, trust_remote_code=args.trust_remote_code, pixel_limit_option="--max-image-pixels")


def add_parser(commands):
    """`liqe export onnx MODEL OUT_DIR [--quantize int8] [--input-format uint8|float32]`."""
    export = commands.add_parser(
        "export",
        help="export a model folder for another runtime (onnx)",
        description="Export a LIQE model folder for deployment without torch.",
    )
    targets = export.add_subparsers(dest="target", metavar="TARGET")
    targets.required = True
    onnx_parser = targets.add_parser(
        "onnx",
        help="an ONNX graph from windows to scores, plus a torch-free scorer",
        description=(
            "Write OUT_DIR with model.onnx (windows -> logits, joint probabilities, marginals, score; the prompt "
            "text features are constants of the graph), liqe_onnx.json, the torch-free scorer liqe_onnx_scorer.py "
            "and a model card saying how it was made. Score with `liqe score --backend onnx --model OUT_DIR PATH...` "
            "or, with onnxruntime, numpy and Pillow only, `python OUT_DIR/liqe_onnx_scorer.py OUT_DIR PATH...`."
        ),
    )
    onnx_parser.add_argument("model", metavar="MODEL", help="LIQE model folder or Hub id")
    onnx_parser.add_argument("output_dir", metavar="OUT_DIR", help="folder to write")
    onnx_parser.add_argument("--quantize", choices=EXPORT_QUANTIZATIONS, default="none",
                             help="int8: ONNX Runtime dynamic int8 quantisation of the vision tower (default: none)")
    onnx_parser.add_argument("--input-format", choices=EXPORT_INPUT_FORMATS, default="uint8",
                             help="graph input: raw uint8 windows, normalised in the graph (default), or "
                                  "normalised float32 windows")
    return export


def run(args):
    """`liqe export ...`: 0 on success, 1 when the model cannot be loaded or exported."""
    from .cli import _quiet_transformers
    from .onnx_export import export_onnx

    _quiet_transformers()
    try:
        graph = export_onnx(args.model, args.output_dir, quantize=args.quantize, input_format=args.input_format)
    except (OSError, ValueError) as error:
        print(f"liqe export: error: cannot export {args.model!r}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"wrote {graph} ({'int8' if args.quantize == 'int8' else 'float32'}, {args.input_format} windows)",
          file=sys.stderr)
    return 0


__all__ = ["add_score_arguments", "make_scorer", "add_parser", "run", "BACKENDS"]
