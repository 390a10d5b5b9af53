# coding=utf-8
# Copyright 2026 The liqe authors.
"""The `--fast` path: int8 dynamic quantisation of the vision tower's linear layers (CPU).

Chosen by measurement (benchmarks/bench_inference.py, benchmarks/bench_fast_accuracy.py, random ViT-B/32 on
this project's CPUs): per image it costs ~0.37x the exact path, and moves scores by at most ~5e-4, where ONNX
Runtime's own int8 quantisation costs about the same (~0.40x) with 10x the error (~5e-3) and ONNX fp32 costs the
same as the exact path. The weights of every `nn.Linear` inside the CLIP vision tower become int8 (per tensor),
activations are quantised per call; the patch embedding (a convolution), the layer norms, the projection to the
joint space, the prompt features, the x100 logit scale, the softmax and the marginals stay float32, because the
logit scale amplifies any rounding there. The window choice and pre-processing are unchanged.

Not part of the Hub remote code.
"""

import copy
import warnings

import torch

FAST_DESCRIPTION = (
    "int8 dynamic quantisation of the vision tower's linear layers (CPU only); ~0.37x the exact path's time, "
    "scores within ~5e-4 of it on the random ViT-B/32"
)


def quantize_vision_tower(model, inplace=False):
    """`model` with its CLIP vision tower's `nn.Linear` layers dynamically quantised to int8 (CPU inference).

    The exact model is left untouched unless `inplace`. Raises a clear error where the torch build has no
    dynamic quantisation (then export with `liqe export onnx --quantize int8` and use `--backend onnx`).
    """
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("the --fast path (int8 dynamic quantisation) runs on the CPU only; move the model to cpu")
    quantization = getattr(getattr(torch, "ao", None), "quantization", None)
    quantize_dynamic = getattr(quantization, "quantize_dynamic", None)
    if quantize_dynamic is None:
        raise RuntimeError(
            f"torch {torch.__version__} has no torch.ao.quantization.quantize_dynamic; use "
            "`liqe export onnx MODEL OUT --quantize int8` and `liqe score --backend onnx` instead"
        )
    if not inplace:
        model = copy.deepcopy(model)
    model = model.float().eval()
    # Make the prompt-feature cache of the float model before quantisation (it only involves the text tower).
    model.prompt_features()
    with warnings.catch_warnings():
        # torch.ao.quantization warns that it moves to torchao; it is still the maintained eager path in torch.
        warnings.simplefilter("ignore")
        model.clip.vision_model = quantize_dynamic(model.clip.vision_model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


__all__ = ["quantize_vision_tower", "FAST_DESCRIPTION"]
