# coding=utf-8
# Copyright 2026 The liqe authors.
"""Named CLIP backbone geometries, and randomly initialised LIQE models built on them.

No pretrained CLIP weights can be downloaded in this project's environments, so `liqe init` (the README's
first command, the benchmarks, the Space's smoke tests) builds a LIQE model folder with random weights on one
of these backbones. The geometries are written the OpenAI way (the numbers an OpenAI CLIP state dict implies)
and turned into a transformers `CLIPConfig` by the converter's own `clip_config_from_openai_state_dict`, so a
folder made by `liqe init --geometry tiny` has exactly the config that `liqe convert` gives the golden tiny
checkpoint (QuickGELU, LayerNorm eps 1e-5, heads = width / 64, bos 49406, eos = pad = 49407).
"""

import math

import torch

# The logit scale OpenAI CLIP checkpoints carry (exp = 100, the clamp CLIP training ends at); the spec's value,
# which `liqe init` and a from-scratch start use unless told otherwise. transformers' CLIPConfig starts at
# ln(1 / 0.07) = 2.659 instead, CLIP's value before pre-training.
CLIP_LOGIT_SCALE = math.log(100.0)

# OpenAI CLIP ViT geometries: embed = projection size; heads are width / 64 in both towers (at least 1).
GEOMETRIES = {
    # The golden reference's tiny random CLIP (tests/openai_clip_recipe.py): ~3.4 M parameters, most of them
    # the 49,408 x 64 token embedding.
    "tiny": {
        "embed": 32,
        "vision_width": 64,
        "vision_layers": 2,
        "patch": 32,
        "image": 224,
        "text_width": 64,
        "text_layers": 2,
        "context": 77,
        "vocab": 49408,
    },
    # A small from-scratch backbone that trains in minutes on two CPU cores (the synthetic demo's default):
    # 49 tokens of 32 px per window, 4 x 128-wide vision layers, 2 x 64-wide text layers (~4.1 M parameters,
    # 3.2 M of them the token embedding).
    "small": {
        "embed": 64,
        "vision_width": 128,
        "vision_layers": 4,
        "patch": 32,
        "image": 224,
        "text_width": 64,
        "text_layers": 2,
        "context": 77,
        "vocab": 49408,
    },
    # The plain natural-scene-statistics start's backbone (modeling_liqe/nss_init.py: 2 fixed blocks + a trained
    # MLP block; the demo checkpoint's before session 16), with a 1-layer, 32-wide text tower (~3.5 M parameters).
    "demo": {
        "embed": 64,
        "vision_width": 192,
        "vision_layers": 3,
        "patch": 32,
        "image": 224,
        "text_width": 32,
        "text_layers": 1,
        "context": 77,
        "vocab": 49408,
    },
    # The demo checkpoint's backbone (checkpoints/liqe-tiny-synthetic, configs/synthetic_demo.yaml): the NSS start
    # with pooling across the window (nss_init_(spread=True): 3 fixed blocks, one of them with 11 pooling heads, +
    # a trained MLP block): 14 heads of 16 channels (not width / 64), ~4.7 M parameters, so the folder stays under
    # 25 MB.
    "demo-spread": {
        "embed": 64,
        "vision_width": 224,
        "vision_layers": 4,
        "vision_heads": 14,
        "patch": 32,
        "image": 224,
        "text_width": 32,
        "text_layers": 1,
        "context": 77,
        "vocab": 49408,
    },
    # OpenAI CLIP ViT-B/32, the backbone of the published LIQE checkpoints (~151 M parameters).
    "vit-b-32": {
        "embed": 512,
        "vision_width": 768,
        "vision_layers": 12,
        "patch": 32,
        "image": 224,
        "text_width": 512,
        "text_layers": 12,
        "context": 77,
        "vocab": 49408,
    },
}


def _shape_only_state_dict(geometry):
    """The OpenAI-format tensors the converter reads the architecture from, as shape-only (meta) tensors."""
    g = geometry
    grid = g["image"] // g["patch"]

    def meta(*shape):
        return torch.empty(*shape, device="meta")

    state = {
        "visual.conv1.weight": meta(g["vision_width"], 3, g["patch"], g["patch"]),
        "visual.positional_embedding": meta(grid * grid + 1, g["vision_width"]),
        "visual.proj": meta(g["vision_width"], g["embed"]),
        "ln_final.weight": meta(g["text_width"]),
        "positional_embedding": meta(g["context"], g["text_width"]),
        "token_embedding.weight": meta(g["vocab"], g["text_width"]),
    }
    for prefix, width, layers in (
        ("visual.transformer.resblocks.", g["vision_width"], g["vision_layers"]),
        ("transformer.resblocks.", g["text_width"], g["text_layers"]),
    ):
        for n in range(layers):
            state[f"{prefix}{n}.mlp.c_fc.weight"] = meta(4 * width, width)
    return state


def geometry(name, **overrides):
    """The numbers of a named geometry, with `overrides` (any key of `GEOMETRIES[name]`, None = keep)."""
    if name not in GEOMETRIES:
        raise ValueError(f"unknown geometry {name!r}; expected one of {sorted(GEOMETRIES)}")
    result = dict(GEOMETRIES[name])
    result.setdefault("vision_heads", None)  # None: width / 64, the OpenAI rule the converter applies
    for key, value in overrides.items():
        if key not in result:
            raise ValueError(f"unknown geometry key {key!r}; expected some of {sorted(result)}")
        if value is not None:
            result[key] = int(value)
    if result["image"] % result["patch"]:
        raise ValueError(f"the image size {result['image']} must be a multiple of the patch size {result['patch']}")
    return result


def clip_config_for_geometry(name, **overrides):
    """The transformers `CLIPConfig` of a named geometry (see `GEOMETRIES`), with `overrides` (see `geometry`)."""
    from .convert_liqe_checkpoint import clip_config_from_openai_state_dict

    numbers = geometry(name, **overrides)
    if numbers["vision_heads"] is not None and numbers["vision_width"] % numbers["vision_heads"]:
        raise ValueError(f"the vision width {numbers['vision_width']} must be a multiple of the heads {numbers['vision_heads']}")
    config = clip_config_from_openai_state_dict(_shape_only_state_dict(numbers), source=f"geometry {name!r}",
                                                vision_heads=numbers["vision_heads"])
    config.logit_scale_init_value = CLIP_LOGIT_SCALE
    return config


def set_logit_scale(model, value=CLIP_LOGIT_SCALE, learnable=False):
    """Set a LIQE model's logit scale (the log of the softmax temperature's inverse) and whether it trains."""
    with torch.no_grad():
        model.clip.logit_scale.fill_(float(value))
    model.clip.logit_scale.requires_grad_(bool(learnable))
    return model


def init_random_model(geometry="tiny", variant="full", seed=0, output_dir=None, dtype=torch.float32):
    """A randomly initialised `LIQEModel` (CLIP's own initialisation, seeded) with its prompts tokenised.

    Returns (model, processor) in eval mode; with `output_dir`, also saves both and a model card there, as a
    folder that `AutoModel.from_pretrained(output_dir, trust_remote_code=True)` loads. The global torch RNG is
    left untouched. The scores of such a model mean nothing: it is for smoke tests, demos and benchmarks.
    """
    from .configuration_liqe import LIQEConfig
    from .model_folder import prepare_model_and_processor, render_model_card, save_model_folder
    from .modeling_liqe import LIQEModel

    config = LIQEConfig(clip_config=clip_config_for_geometry(geometry), variant=variant)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LIQEModel(config)
    set_logit_scale(model, CLIP_LOGIT_SCALE)  # the value CLIP checkpoints carry, as the spec says
    model, processor = prepare_model_and_processor(model, dtype=dtype)
    if output_dir is not None:
        intro = (
            f"This folder was written by `liqe init --geometry {geometry} --variant {config.variant} --seed {seed}`: "
            "a LIQE model whose CLIP backbone has random weights. Its scores are meaningless; it exists to try the "
            "tools, run smoke tests and time the code. Convert a published checkpoint with `liqe convert` for real "
            "quality assessment."
        )
        card = render_model_card(config, f"LIQE ({config.variant} variant), RANDOMLY INITIALISED", intro, ("random-weights",))
        save_model_folder(output_dir, model, processor, card)
    return model, processor


__all__ = ["CLIP_LOGIT_SCALE", "GEOMETRIES", "geometry", "clip_config_for_geometry", "set_logit_scale", "init_random_model"]
