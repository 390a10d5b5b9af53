# coding=utf-8
# Copyright 2026 The liqe authors.
"""The `--fast` path: int8 dynamic quantisation of the vision tower's linear layers (CPU).

Chosen by measurement (benchmarks/bench_inference.py, benchmarks/bench_fast_accuracy.py, on this project's
shared 2-core CPUs). On the random ViT-B/32 (the published checkpoints' geometry) it costs ~0.37x the exact
path per image and moves scores by at most ~5e-4 on the golden images; the alternatives measured were ONNX
Runtime int8 (about the same time, ~10x the error), ONNX fp32 (1.0x), bfloat16 (1.6x: slower on these CPUs)
and fewer windows (8 of 15: 0.53x the time, 3x the error; on the golden tiny model 2x the error of int8).
Weights are int8 per output channel (half the error of per-tensor on the golden tiny model, same speed),
activations are quantised per call. The patch embedding (a convolution), the layer norms, the projection to
the joint space, the prompt features, the x100 logit scale, the softmax and the marginals stay float32, because
the logit scale amplifies any rounding there. The window choice and pre-processing are unchanged.
`LIQEScorer(fast=True)` runs the quantised model one image per call: activation scales are computed per call,
so batching images together would make a score depend on its neighbours (0.13 vs 0.19 max |delta| on the golden
tiny model for batches of 9 and 8); per image, scores are the same for any batch size.

How far scores move depends on the weights: on the golden tiny random model (scores 1.9 .. 3.4, a sharp
softmax) max |delta score| is 0.12, and rounding the weights alone to int8 already gives 0.13, so no int8 scheme
does better there. The figure that decides the 0.02 target is the demo checkpoint's (bench_fast_accuracy.py).

Not part of the Hub remote code.
"""

import copy
import warnings

import torch

FAST_DESCRIPTION = (
    "int8 dynamic quantisation of the vision tower's linear layers (CPU only, per-channel weights); ~0.37x the "
    "exact path's time, scores within ~5e-4 of it on the random ViT-B/32"
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
        model.clip.vision_model = quantize_dynamic(
            model.clip.vision_model, {torch.nn.Linear: quantization.per_channel_dynamic_qconfig}
        )
    return model


__all__ = ["quantize_vision_tower", "FAST_DESCRIPTION"]
