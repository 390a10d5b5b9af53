# coding=utf-8
# Copyright 2026 The liqe authors.
"""`liqe export onnx`: a LIQE model folder → an ONNX folder that scores images without torch.

The graph goes from windows to the model's outputs, with the prompt text features baked in as a constant
(the text tower is not exported: its output never changes at inference):

    inputs   pixel_values  (batch, patches, 3, S, S)  uint8 (raw RGB windows; default) or float32 (normalised)
             patch_mask    (batch, patches)           int64, 1 for real windows, 0 for padding
    outputs  score (batch,), logits (batch, C), joint_probs (batch, C), <axis>_probs (batch, axis size) per axis

The uint8 input is normalised inside the graph with the processor's arithmetic (x / 255, then (x - mean) / std,
float32), so a deployment only cuts windows. The folder gets `model.onnx`, `liqe_onnx.json` (labels, quality
weights, pre-processing settings), a copy of the torch-free scorer `liqe_onnx_scorer.py` and a model card that
says how it was made. `--quantize int8` applies ONNX Runtime's dynamic int8 quantisation to the vision tower's
matrix products (the projection, the prompt-similarity product and the score stay float32: the x100 logit scale
would amplify their rounding).

Not part of the Hub remote code.
"""

import json
import os
import shutil
import time
from pathlib import Path

import torch
from torch import nn

from . import onnx_scorer
from .onnx_scorer import METADATA_FILE, MODEL_FILE, SCORER_FORMAT_VERSION

from .cli_fast import EXPORT_INPUT_FORMATS as INPUT_FORMATS
from .cli_fast import EXPORT_QUANTIZATIONS as QUANTIZATIONS
SCORER_FILE = "liqe_onnx_scorer.py"
OPSET = 18


class LIQEWindowsToScores(nn.Module):
    """The LIQE forward pass from windows to scores, with the prompt features as a constant (for export)."""

    def __init__(self, model, input_format="uint8", image_mean=None, image_std=None):
        super().__init__()
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}")
        self.model = model.eval()
        self.train(False)
        self.input_format = input_format
        config = model.config
        with torch.no_grad():
            text = model.prompt_features().detach().float().clone()
        dtype = model.clip.visual_projection.weight.dtype
        self.register_buffer("text_features", text)
        self.register_buffer("logit_scale", model.clip.logit_scale.detach().float().exp().reshape(()).clone())
        mean = torch.tensor(image_mean, dtype=torch.float32)[:, None, None]
        std = torch.tensor(image_std, dtype=torch.float32)[:, None, None]
        self.register_buffer("image_mean", mean)
        self.register_buffer("image_std", std)
        quality = config.axis(config.quality_axis)
        self.register_buffer("quality_weights", torch.tensor(quality["weights"], dtype=torch.float32))
        self.axis_sizes = list(config.axis_sizes)
        self.axis_names = list(config.axis_names)
        self.quality_index = self.axis_names.index(config.quality_axis)
        self.dtype_ = dtype

    def forward(self, pixel_values, patch_mask):
        if self.input_format == "uint8":
            # The processor's arithmetic and order: float32 x / 255, then (x - mean) / std.
            pixel_values = (pixel_values.to(torch.float32) / 255 - self.image_mean) / self.image_std
        batch, patches = pixel_values.shape[0], pixel_values.shape[1]
        windows = pixel_values.reshape(batch * patches, *pixel_values.shape[2:]).to(self.dtype_)
        pooled = self.model.clip.vision_model(pixel_values=windows).pooler_output
        features = self.model.clip.visual_projection(pooled).float()
        features = features / features.norm(dim=-1, keepdim=True)
        features = features.reshape(batch, patches, -1)
        patch_logits = self.logit_scale * features @ self.text_features.t()
        mask = patch_mask.to(torch.float32).unsqueeze(-1)
        logits = (patch_logits * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)
        joint_probs = logits.softmax(dim=-1)
        joint = joint_probs.reshape(batch, *self.axis_sizes)
        marginals = []
        for position in range(len(self.axis_sizes)):
            other = [1 + k for k in range(len(self.axis_sizes)) if k != position]
            marginals.append(joint.sum(dim=other) if other else joint)
        score = marginals[self.quality_index] @ self.quality_weights
        return (score, logits, joint_probs, *marginals)


def output_names(axis_names):
    return ["score", "logits", "joint_probs", *[f"{name}_probs" for name in axis_names]]


def _export_graph(wrapper, path, patch_size):
    """torch.onnx.export (the dynamo exporter) with dynamic batch and window counts."""
    dtype = torch.uint8 if wrapper.input_format == "uint8" else torch.float32
    example = (
        torch.zeros(2, 3, 3, patch_size, patch_size, dtype=dtype),
        torch.ones(2, 3, dtype=torch.long),
    )
    batch, patches = torch.export.Dim("batch", min=1), torch.export.Dim("patches", min=1)
    names = output_names(wrapper.axis_names)
    with torch.no_grad():
        program = torch.onnx.export(
            wrapper,
            example,
            dynamo=True,
            input_names=["pixel_values", "patch_mask"],
            output_names=names,
            dynamic_shapes={"pixel_values": {0: batch, 1: patches}, "patch_mask": {0: batch, 1: patches}},
            opset_version=OPSET,
            external_data=False,
            optimize=True,
            verbose=False,
        )
    program.save(str(path), external_data=False)


def _vision_matmuls(model_path, num_prompts, projection_dim):
    """(names to quantise, names to keep float32) of the graph's MatMul / Gemm nodes with a constant weight.

    Quantised: the vision tower's 2-d weights. Kept: the prompt-similarity product (its constant is the
    (projection_dim, num_prompts) prompt features, whatever name the exporter's constant folding gave it), the
    projection to the joint space and the 1-d quality weights of the score.
    """
    import onnx

    graph = onnx.load(str(model_path), load_external_data=True).graph
    constants = {init.name: init for init in graph.initializer}
    quantize, keep = [], []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        weights = [constants[name] for name in node.input[1:2] if name in constants]
        if not weights:
            continue
        dims = sorted(weights[0].dims)
        is_prompt_features = dims == sorted([num_prompts, projection_dim])
        is_projection = "visual_projection" in weights[0].name
        (keep if len(dims) != 2 or is_prompt_features or is_projection else quantize).append(node.name)
    return quantize, keep


def quantize_int8(fp32_path, int8_path, num_prompts, projection_dim):
    """ONNX Runtime dynamic quantisation: int8 weights, activations quantised per call, vision tower only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes, excluded = _vision_matmuls(fp32_path, num_prompts, projection_dim)
    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gemm"],
        nodes_to_quantize=nodes,
        nodes_to_exclude=excluded,
        extra_options={"MatMulConstBOnly": True},
    )
    return len(nodes)


def _card(config, source, input_format, quantize, metadata, seconds):
    axes = ", ".join(f"{axis['name']} ({len(axis['labels'])})" for axis in config.label_axes)
    quant = (
        "ONNX Runtime dynamic int8 quantisation (`onnxruntime.quantization.quantize_dynamic`, int8 weights, "
        "activations quantised per call) of the vision tower's matrix products; the projection to the joint space, "
        "the prompt-similarity product, the softmax, the marginals and the score stay float32"
        if quantize == "int8"
        else "none (float32)"
    )
    return f"""---
library_name: onnx
license: mit
tags:
- image-quality-assessment
- liqe
- onnx
---

# LIQE as ONNX ({config.variant} variant{', int8' if quantize == 'int8' else ''})

Exported by `liqe export onnx {source} OUT_DIR{' --quantize int8' if quantize == 'int8' else ''}` (liqe
{metadata['liqe_version']}, torch {torch.__version__}, dynamo exporter, opset {OPSET}) in {seconds:.0f} s.

- Source model: `{source}` ({config.num_prompts} prompts over {axes}).
- Graph `{MODEL_FILE}`: inputs `pixel_values` (batch, windows, 3, {metadata['patch_size']}, {metadata['patch_size']})
  {input_format}{' (raw RGB windows; normalised in the graph)' if input_format == 'uint8' else ' (already normalised)'},
  `patch_mask` (batch, windows) int64; outputs {', '.join(f'`{n}`' for n in metadata['output_names'])}.
- The {config.num_prompts} prompt text features are constants of the graph (the text tower is not exported).
- Quantisation: {quant}.

Score images without torch or transformers (needs `onnxruntime`, `numpy`, `Pillow`):

```bash
python {SCORER_FILE} THIS_FOLDER photo.jpg more_photos/ --format json
```

or, with the liqe package, `liqe score --backend onnx --model THIS_FOLDER PATH...`. The pre-processing is the
package's (RGB, 768-px bilinear resize rule, 15 evenly spaced 224-px windows, CLIP normalisation); the rows are
those of `liqe score`.
"""


def export_onnx(model_dir, output_dir, quantize="none", input_format="uint8"):
    """Export a LIQE model folder (or Hub id) to `output_dir`; returns the path of the written graph."""
    from . import __version__
    from .scoring import load_model_and_processor

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    start = time.perf_counter()
    model_dir = os.fspath(model_dir)
    # This package's own classes: exporting never runs code that a model folder or repository ships.
    model, processor = load_model_and_processor(model_dir)
    model = model.float().eval()
    image_processor = getattr(processor, "image_processor", processor)
    config = model.config
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    wrapper = LIQEWindowsToScores(model, input_format, image_processor.image_mean, image_processor.image_std)
    graph = output_dir / MODEL_FILE
    if quantize == "int8":
        fp32 = output_dir / "model.fp32.tmp.onnx"
        _export_graph(wrapper, fp32, image_processor.patch_size)
        quantize_int8(fp32, graph, config.num_prompts, config.clip_config.projection_dim)
        fp32.unlink()
    else:
        _export_graph(wrapper, graph, image_processor.patch_size)
    metadata = {
        "format_version": SCORER_FORMAT_VERSION,
        "liqe_version": __version__,
        "source": model_dir,
        "variant": config.variant,
        "quantization": quantize,
        "input_format": input_format,
        "label_axes": config.label_axes,
        "quality_axis": config.quality_axis,
        "output_names": output_names(config.axis_names),
        "patch_size": image_processor.patch_size,
        "num_test_patches": image_processor.num_test_patches,
        "stride": image_processor.stride,
        "large_stride": image_processor.large_stride,
        "large_image_side": image_processor.large_image_side,
        "resize_short_side": image_processor.resize_short_side,
        "image_mean": list(image_processor.image_mean),
        "image_std": list(image_processor.image_std),
        "apply_exif_orientation": bool(image_processor.apply_exif_orientation),
    }
    with open(output_dir / METADATA_FILE, "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2)
    shutil.copyfile(onnx_scorer.__file__, output_dir / SCORER_FILE)
    seconds = time.perf_counter() - start
    (output_dir / "README.md").write_text(
        _card(config, model_dir, input_format, quantize, metadata, seconds), encoding="utf-8"
    )
    return graph


__all__ = ["LIQEWindowsToScores", "export_onnx", "quantize_int8", "INPUT_FORMATS", "QUANTIZATIONS"]
