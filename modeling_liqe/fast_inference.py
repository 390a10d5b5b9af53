# coding=utf-8
# Copyright 2026 The liqe authors.
"""The `--fast` path: int8 dynamic quantisation of the vision tower's linear layers that a calibration finds safe.

Chosen by measurement (benchmarks/bench_inference.py for time on the random ViT-B/32 geometry,
benchmarks/bench_fast_accuracy.py for accuracy on the demo checkpoint and the golden images; figures in
README.md, "Fast and portable inference"). No scheme measured meets both of issue 7's targets (<= 0.40x the
exact path's time, max |delta score| <= 0.02 and SRCC >= 0.999 on the demo checkpoint):

* int8 everywhere (torch dynamic, per-channel weights, per-tensor activations; or ONNX Runtime int8): ~0.5-0.74x
  the time on the random ViT-B/32, but it DESTROYS the demo checkpoint (max |delta| 3.5, SRCC 0.0 on the golden
  images; 3.8 and 0.12 on the 875 synthetic ones): that vision tower (modeling_liqe/nss_init.py) carries a constant channel of ~300 next to responses of
  1e-4 .. 1e-1, and one int8 scale per tensor rounds every response to 0;
* fewer windows (the logits are averaged over windows before the softmax): the demo checkpoint's windows
  disagree, so even 14 of the 15 windows move a golden score by 0.08 and a synthetic one by 0.23, and 8 windows
  (0.66x the time, measured under load) by up to 1.06; 6 windows cost 0.53x;
* bfloat16 (slower on these AVX2 CPUs), ONNX fp32 (1.0x), torch.compile (~0.86x, measured under load);
* the engines measured for the 0.40x target (benchmarks/bench_fast_engines.py, research/LOG.md "Issue 7"): ONNX
  Runtime int8 dynamic 0.55-0.58x, with the class-token-only last layer and an int8 patch embedding 0.51-0.53x,
  static int8 (QDQ / QOperator) no faster; an int8 product is ~0.52-0.60x a float32 one on these CPUs, so int8
  alone cannot reach 0.40x.

The last encoder layer runs for the class token only (`ClassTokenLastLayer`): the tower pools that token alone,
so the other tokens' queries, attention outputs and MLPs in that layer are dead work (exact arithmetic).

So `--fast` quantises only what it can measure to be harmless, per model: each `nn.Linear` of the vision tower
is tried in int8 on deterministic calibration windows (`calibration_windows`), and kept float32 when its output's
int8 error exceeds `LAYER_TOLERANCE` of the output's spread across tokens; the whole quantised model is then
checked against the float one on the calibration windows (scores within `SCORE_TOLERANCE`, marginals within
`PROBS_TOLERANCE`), layers being returned to float32, most damaged first, until it passes. On the random
ViT-B/32 every linear layer passes (the speed of full int8); on the demo checkpoint the layers that read the
constant channel stay float32, so its scores stay exact where int8 would have destroyed them, and it is not
faster there. `quantize_vision_tower(..., calibrate=False)` quantises every linear layer (the earlier scheme).

Weights are int8 per output channel, activations are quantised per call. The patch embedding (a convolution),
the layer norms, the projection to the joint space, the prompt features, the x100 logit scale, the softmax and
the marginals stay float32. The window choice and pre-processing are unchanged.
The quantised copy's prompt features are computed once and frozen (no per-call check of the text weights).
`LIQEScorer(fast=True)` runs the quantised model one image per call: activation scales are computed per call,
so batching images together would make a score depend on its neighbours; per image, scores are the same for
any batch size.

Not part of the Hub remote code.
"""

import copy
import warnings

import numpy as np
import torch

FAST_DESCRIPTION = (
    "int8 dynamic quantisation (CPU only, per-channel weights) of the vision tower's linear layers that a "
    "calibration check finds harmless, float32 for the others, and the last encoder layer for the class token "
    "only (exact): ~0.56-0.61x the exact path's CPU time on the random ViT-B/32 (every layer int8); the demo "
    "checkpoint keeps its outlier-reading layers in float32 (scores equal within 1e-6, ~0.9x the CPU time)"
)

# A layer stays float32 when ||int8 output - float output|| > LAYER_TOLERANCE * ||float output - its token mean||
# on the calibration windows. Measured: random ViT-B/32 layers 0.02 .. 0.03; the demo checkpoint's NSS layers
# 0.3 .. >100 (see README.md).
LAYER_TOLERANCE = 0.05
# The quantised model must reproduce the float model's scores and marginals on the calibration windows this well.
SCORE_TOLERANCE = 0.005
PROBS_TOLERANCE = 0.01
CALIBRATION_SEED = 0


def calibration_windows(image_processor, count=6, seed=CALIBRATION_SEED):
    """`count` deterministic normalised windows (count, 3, S, S) with natural-image-like statistics.

    Smooth random fields (a few octaves of upsampled noise), some with sensor noise, blockiness, blur, low or high
    exposure, so that the activations cover what photos and their distortions produce. No file is read.
    """
    from PIL import Image, ImageFilter

    size = image_processor.patch_size
    rng = np.random.default_rng(seed)
    crops = []
    for index in range(count):
        field = np.zeros((size, size, 3))
        for octave in (4, 8, 16, 32, 64):
            small = rng.normal(0, 1, (octave, octave, 3)).astype(np.float32)
            layers = [np.asarray(Image.fromarray(small[..., c], mode="F").resize((size, size), Image.BICUBIC))
                      for c in range(3)]
            field += np.stack(layers, -1) * (4.0 / octave)
        field = (field - field.min()) / (np.ptp(field) + 1e-9)
        kind = index % 6
        if kind == 1:
            field = field + rng.normal(0, 0.08, field.shape)  # noise
        elif kind == 2:
            field = field * 0.3  # dark
        elif kind == 3:
            field = 0.6 + field * 0.4  # bright
        pixels = np.clip(field * 255, 0, 255).round().astype(np.uint8)
        image = Image.fromarray(pixels)
        if kind == 4:
            image = image.filter(ImageFilter.GaussianBlur(3))
        elif kind == 5:
            small = image.resize((size // 8, size // 8), Image.BILINEAR)
            image = small.resize((size, size), Image.NEAREST)  # blocky
        crops.append(np.asarray(image))
    return image_processor.normalize_windows(np.stack(crops))


def _quantize_dynamic():
    quantization = getattr(getattr(torch, "ao", None), "quantization", None)
    quantize_dynamic = getattr(quantization, "quantize_dynamic", None)
    if quantize_dynamic is None:
        raise RuntimeError(
            f"torch {torch.__version__} has no torch.ao.quantization.quantize_dynamic; use "
            "`liqe export onnx MODEL OUT --quantize int8` and `liqe score --backend onnx` instead"
        )
    return quantization, quantize_dynamic


def _quantized_linear(linear):
    quantization, quantize_dynamic = _quantize_dynamic()
    with warnings.catch_warnings():
        # torch.ao.quantization warns that it moves to torchao; it is still the maintained eager path in torch.
        warnings.simplefilter("ignore")
        wrapper = quantize_dynamic(torch.nn.Sequential(copy.deepcopy(linear)),
                                   {torch.nn.Linear: quantization.per_channel_dynamic_qconfig})
    return wrapper[0]


def _linears(vision):
    return {name: module for name, module in vision.named_modules() if type(module) is torch.nn.Linear}


def layer_errors(model, windows, quantized=None):
    """{name: relative int8 error} of every `nn.Linear` of the vision tower, on the activations `windows` give.

    The error is ||int8 output - float output|| / ||float output - its mean over tokens||: the rounding measured
    against the part of the output that differs between tokens and windows (what the model reads). `quantized`
    ({name: int8 module}) is filled with the quantised layers when given.
    """
    linears = _linears(model.clip.vision_model)
    inputs, hooks = {}, []
    for name, module in linears.items():
        hooks.append(module.register_forward_hook(lambda m, args, out, name=name: inputs.__setitem__(name, args[0])))
    try:
        with torch.inference_mode():
            model.clip.vision_model(pixel_values=windows)
    finally:
        for hook in hooks:
            hook.remove()
    errors = {}
    with torch.inference_mode():
        for name, module in linears.items():
            x = inputs[name]
            exact = module(x)
            int8 = _quantized_linear(module)
            if quantized is not None:
                quantized[name] = int8
            approx = int8(x)
            spread = (exact - exact.reshape(-1, exact.shape[-1]).mean(0)).norm()
            error = (approx - exact).norm()
            errors[name] = float("inf") if not torch.isfinite(error) else float(error / spread.clamp_min(1e-12))
    return errors


def _outputs(model, windows):
    """Scores and marginals of each calibration window scored as an image of its own, in one call (as `--fast`
    runs an image's windows: one activation scale for all of them)."""
    with torch.inference_mode():
        output = model(pixel_values=windows[:, None])
    return output.score, torch.cat(output.axis_probs, -1)


def _swap(vision, modules):
    """Put `modules` ({dotted name: module}) into `vision`; returns the modules they replaced."""
    replaced = {}
    for name, module in modules.items():
        parent_name, _, child = name.rpartition(".")
        parent = vision.get_submodule(parent_name) if parent_name else vision
        replaced[name] = getattr(parent, child)
        setattr(parent, child, module)
    return replaced


def quantize_vision_tower(model, inplace=False, calibrate=True, image_processor=None, class_token_only=True):
    """`model` with its CLIP vision tower's `nn.Linear` layers dynamically quantised to int8 (CPU inference).

    With `calibrate` (default) only the layers that the calibration check finds harmless are quantised (module
    docstring); their names are in `model.fast_int8_layers`, the float ones in `model.fast_float_layers` and the
    measured per-layer errors in `model.fast_layer_errors`. `calibrate=False` quantises every linear layer.
    `class_token_only` (default) computes the last encoder layer for the class token only (`ClassTokenLastLayer`:
    the same arithmetic, float rounding apart, for less work).
    The exact model is left untouched unless `inplace`. Raises a clear error where the torch build has no
    dynamic quantisation (then export with `liqe export onnx --quantize int8` and use `--backend onnx`).
    """
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("the --fast path (int8 dynamic quantisation) runs on the CPU only; move the model to cpu")
    _quantize_dynamic()
    if not inplace:
        model = copy.deepcopy(model)
    model = model.float().eval()
    if class_token_only:
        # Exact arithmetic, less work: the last encoder layer for the class token only (the only token pooled).
        class_token_last_layer(model)
    # The prompt features of the float text tower, frozen: the quantised model is a scoring copy, and its forward
    # (one call per image) then skips the per-call checksum of the text weights that guards the cache of the
    # trainable model (a read of all text weights per call: ~1.5 s of a ViT-B/32's 3 s per image under load).
    frozen = model.prompt_features().detach().clone()
    model.prompt_features = lambda: frozen
    vision = model.clip.vision_model
    all_linears = list(_linears(vision))
    if not calibrate:
        names = all_linears
        _swap(vision, {name: _quantized_linear(module) for name, module in _linears(vision).items()})
    else:
        if image_processor is None:
            from .image_processing_liqe import LIQEImageProcessor

            image_processor = LIQEImageProcessor(patch_size=model.config.clip_config.vision_config.image_size)
        windows = calibration_windows(image_processor)
        quantized = {}
        errors = layer_errors(model, windows, quantized)
        names = sorted((name for name in all_linears if errors[name] <= LAYER_TOLERANCE), key=errors.get)
        reference_scores, reference_probs = _outputs(model, windows)
        while names:
            replaced = _swap(vision, {name: quantized[name] for name in names})
            scores, probs = _outputs(model, windows)
            if ((scores - reference_scores).abs().max() <= SCORE_TOLERANCE
                    and (probs - reference_probs).abs().max() <= PROBS_TOLERANCE):
                break
            _swap(vision, replaced)  # back to float32, then retry without the most damaged quarter
            names = names[: len(names) * 3 // 4]
        model.fast_layer_errors = errors
    model.fast_int8_layers = sorted(names)
    model.fast_float_layers = sorted(set(all_linears) - set(names))
    return model




class ClassTokenLastLayer(torch.nn.Module):
    """The last CLIP encoder layer computed for the class token only (exact: nothing after it reads the others).

    The vision tower's output is `post_layernorm(last_hidden_state[:, 0])`, so in the last layer only the class
    token's query, attention output, out_proj and MLP matter; the keys and values still come from every token.
    This skips ~10/12 of the last layer's matrix work (~7% of a 12-layer tower's). Returns a (batch, 1, width)
    hidden state (the class token), which the tower pools as before.
    """

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states, attention_mask=None, *args, **kwargs):
        if attention_mask is not None:
            raise ValueError("ClassTokenLastLayer: the vision tower has no attention mask")
        layer = self.layer
        attn = layer.self_attn
        batch, tokens, width = hidden_states.shape
        heads, head_dim = attn.num_heads, attn.head_dim
        x = layer.layer_norm1(hidden_states)
        query = attn.q_proj(x[:, :1]).view(batch, 1, heads, head_dim).transpose(1, 2)
        key = attn.k_proj(x).view(batch, tokens, heads, head_dim).transpose(1, 2)
        value = attn.v_proj(x).view(batch, tokens, heads, head_dim).transpose(1, 2)
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, scale=attn.scale)
        out = attn.out_proj(out.transpose(1, 2).reshape(batch, 1, width))
        cls = hidden_states[:, :1] + out
        cls = cls + layer.mlp(layer.layer_norm2(cls))
        return cls if _LAYER_RETURNS_TENSOR else (cls,)


def _layer_returns_tensor():
    import transformers

    return int(transformers.__version__.split(".")[0]) >= 5


_LAYER_RETURNS_TENSOR = _layer_returns_tensor()


def class_token_last_layer(model):
    """Replace the vision tower's last encoder layer by `ClassTokenLastLayer` (in place; returns `model`)."""
    layers = model.clip.vision_model.encoder.layers
    if not isinstance(layers[-1], ClassTokenLastLayer):
        layers[-1] = ClassTokenLastLayer(layers[-1])
    return model


__all__ = ["quantize_vision_tower", "calibration_windows", "layer_errors", "class_token_last_layer",
           "ClassTokenLastLayer", "FAST_DESCRIPTION", "LAYER_TOLERANCE", "SCORE_TOLERANCE", "PROBS_TOLERANCE"]
