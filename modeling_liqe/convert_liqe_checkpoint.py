# coding=utf-8
# Copyright 2026 The liqe authors.
"""Convert a published LIQE checkpoint (OpenAI CLIP state dict) into a Hub-ready transformers folder.

Accepted sources (all read with `torch.load(weights_only=True)` or safetensors, never unpickled freely):
- a plain OpenAI-format CLIP state dict `.pt` (the official LIQE file; fp16 or fp32);
- the `{"params": {"clip_model.<key>": tensor}}` packaging;
- a training checkpoint of the authors' script, `{"model_state_dict": {...}, "optimizer_state_dict": ...}`;
- a `.safetensors` file with OpenAI keys.
The architecture sizes are read from the tensors. Not part of the Hub remote code.
"""

import math
import os
import re
from pathlib import Path

import torch
from transformers import CLIPConfig

from .configuration_liqe import LIQEConfig
from .model_folder import prepare_model_and_processor, render_model_card, save_model_folder
from .modeling_liqe import LIQEModel

# Metadata that OpenAI's TorchScript-exported state dicts carry beside the tensors.
_IGNORED_OPENAI_KEYS = {"input_resolution", "context_length", "vocab_size"}
_PREFIXES = ("module.", "clip_model.", "model.")


class CheckpointError(ValueError):
    """A source that is not a LIQE / OpenAI CLIP checkpoint; the message says what is wrong."""


def _unpickling_problem(error):
    """One plain line for torch.load's failure (its weights-only message runs over paragraphs, with terminal
    escape codes)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if refused:
        return (f"pickles an object of class {refused.group(1)}, which the weights-only load refuses (unpickling it could run code); "
                "not a plain state dict (re-save the tensors with torch.save(model.state_dict(), ...) or safetensors)")
    first_line = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    return f"not a PyTorch checkpoint ({type(error).__name__}: {first_line})" if first_line else (
        f"not a PyTorch checkpoint ({type(error).__name__})")


def load_openai_state_dict(path):
    """Read any accepted packaging and return a flat {openai key: tensor} dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as error:  # safetensors raises its own error types
            raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None
    else:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        # torch.save writes a zip archive (PK..); files from torch < 1.6 are a bare pickle (protocol 2+: 0x80).
        if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither a zip archive nor a pickle)")
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except RuntimeError as error:
            if "TorchScript" in str(error) or "constants.pkl" in str(error):
                raise CheckpointError(f"{path}: a TorchScript archive, not a state dict; not supported") from None
            raise CheckpointError(f"{path}: not a PyTorch checkpoint ({error})") from None
        except Exception as error:  # pickle / zip errors of a file that is not a checkpoint
            raise CheckpointError(f"{path}: {_unpickling_problem(error)}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict")
    for wrapper in ("params", "model_state_dict", "state_dict"):
        if wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
            break
    flat = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{path}: key {key!r} is not a string")
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if key in _IGNORED_OPENAI_KEYS:
            continue
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        flat[key] = value
    if not any(key.startswith("visual.") for key in flat):
        raise CheckpointError(f"{path}: no 'visual.*' tensors: not an OpenAI-format CLIP / LIQE checkpoint")
    if any(key.startswith("visual.layer1.") for key in flat):
        raise CheckpointError(f"{path}: a ResNet CLIP; only ViT backbones are supported")
    return flat


def _count_layers(state, prefix):
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({int(m.group(1)) for key in state for m in [pattern.match(key)] if m})


def clip_config_from_openai_state_dict(state, source="checkpoint", vision_heads=None):
    """A transformers CLIPConfig with the geometry the tensors imply (OpenAI blocks: QuickGELU, eps 1e-5).
    `vision_heads`: the vision tower's attention heads (the tensors do not say; default OpenAI's width / 64)."""
    try:
        vision_width, _, patch, _ = state["visual.conv1.weight"].shape
        grid = math.isqrt(state["visual.positional_embedding"].shape[0] - 1)
        projection_dim = state["visual.proj"].shape[1]
        text_width = state["ln_final.weight"].shape[0]
        context_length = state["positional_embedding"].shape[0]
        vocab_size = state["token_embedding.weight"].shape[0]
        vision_mlp = state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
        text_mlp = state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
    except KeyError as error:
        raise CheckpointError(f"{source}: missing tensor {error.args[0]!r} needed to read the architecture") from None
    vision_config = {
        "hidden_size": vision_width,
        "intermediate_size": vision_mlp,
        "num_hidden_layers": _count_layers(state, "visual.transformer.resblocks."),
        "num_attention_heads": int(vision_heads) if vision_heads else max(1, vision_width // 64),
        "image_size": patch * grid,
        "patch_size": patch,
        "projection_dim": projection_dim,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
    }
    text_config = {
        "hidden_size": text_width,
        "intermediate_size": text_mlp,
        "num_hidden_layers": _count_layers(state, "transformer.resblocks."),
        "num_attention_heads": max(1, text_width // 64),
        "max_position_embeddings": context_length,
        "vocab_size": vocab_size,
        "projection_dim": projection_dim,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
        # CLIP pools the text at the first end-of-text token: these must be the tokenizer's ids.
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 49407,
    }
    return CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=projection_dim)


def _block_mapping(openai_prefix, hf_prefix, num_layers):
    mapping = {}
    for n in range(num_layers):
        o, h = f"{openai_prefix}{n}.", f"{hf_prefix}{n}."
        mapping[o + "attn.out_proj.weight"] = h + "self_attn.out_proj.weight"
        mapping[o + "attn.out_proj.bias"] = h + "self_attn.out_proj.bias"
        for a, b in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
            mapping[f"{o}{a}.weight"] = f"{h}{b}.weight"
            mapping[f"{o}{a}.bias"] = f"{h}{b}.bias"
    return mapping


def openai_to_transformers_state_dict(state, clip_config, source="checkpoint"):
    """Rename, split the fused q/k/v projections and transpose the output projections.

    Returns (converted, origin): the transformers-keyed tensors, and for each the OpenAI key it came from
    (so that errors name the key the user's file has).
    """
    vision_layers = clip_config.vision_config.num_hidden_layers
    text_layers = clip_config.text_config.num_hidden_layers
    direct = {
        "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
        "visual.class_embedding": "vision_model.embeddings.class_embedding",
        "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
        "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
        "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
        "visual.ln_post.weight": "vision_model.post_layernorm.weight",
        "visual.ln_post.bias": "vision_model.post_layernorm.bias",
        "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
        "positional_embedding": "text_model.embeddings.position_embedding.weight",
        "ln_final.weight": "text_model.final_layer_norm.weight",
        "ln_final.bias": "text_model.final_layer_norm.bias",
        "logit_scale": "logit_scale",
    }
    direct.update(_block_mapping("visual.transformer.resblocks.", "vision_model.encoder.layers.", vision_layers))
    direct.update(_block_mapping("transformer.resblocks.", "text_model.encoder.layers.", text_layers))
    transposed = {"visual.proj": "visual_projection.weight", "text_projection": "text_projection.weight"}
    fused = {}
    for prefix, hf_prefix, layers in (
        ("visual.transformer.resblocks.", "vision_model.encoder.layers.", vision_layers),
        ("transformer.resblocks.", "text_model.encoder.layers.", text_layers),
    ):
        for n in range(layers):
            fused[f"{prefix}{n}.attn.in_proj_weight"] = (f"{hf_prefix}{n}.self_attn.", "weight")
            fused[f"{prefix}{n}.attn.in_proj_bias"] = (f"{hf_prefix}{n}.self_attn.", "bias")

    expected = set(direct) | set(transposed) | set(fused)
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing keys ({len(missing)}): {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
        if unexpected:
            problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:10])}{' ...' if len(unexpected) > 10 else ''}")
        raise CheckpointError(f"{source}: " + "; ".join(problems))

    converted, origin = {}, {}
    for key, hf_key in direct.items():
        converted[hf_key], origin[hf_key] = state[key], key
    for key, hf_key in transposed.items():
        if state[key].dim() != 2:
            raise CheckpointError(f"{source}: tensor {key!r} has shape {tuple(state[key].shape)}, expected 2 dimensions")
        converted[hf_key], origin[hf_key] = state[key].t().contiguous(), key
    for key, (hf_prefix, kind) in fused.items():
        if state[key].shape[0] % 3:
            raise CheckpointError(f"{source}: tensor {key!r} has shape {tuple(state[key].shape)}: not q, k, v stacked")
        for name, part in zip("qkv", state[key].chunk(3, dim=0)):
            converted[hf_prefix + f"{name}_proj.{kind}"], origin[hf_prefix + f"{name}_proj.{kind}"] = part.contiguous(), key
    if converted["logit_scale"].dim() == 1:
        converted["logit_scale"] = converted["logit_scale"].reshape(())
    return converted, origin


def convert_checkpoint(source, output_dir=None, variant="full", dtype=torch.float32, tokenizer=None, model_card=True):
    """Load `source`, build a `LIQEModel` + `LIQEProcessor`, and save them to `output_dir` (when given).

    Returns (model, processor).
    """
    state = load_openai_state_dict(source)
    clip_config = clip_config_from_openai_state_dict(state, source)
    converted, origin = openai_to_transformers_state_dict(state, clip_config, source)
    config = LIQEConfig(clip_config=clip_config, variant=variant)
    model = LIQEModel(config)
    expected_shapes = {k: v.shape for k, v in model.clip.state_dict().items()}
    for key, tensor in converted.items():
        if key in expected_shapes and tuple(tensor.shape) != tuple(expected_shapes[key]):
            raise CheckpointError(
                f"{source}: tensor {origin[key]!r} does not fit the architecture its other tensors imply "
                f"(gives {key} of shape {tuple(tensor.shape)}, expected {tuple(expected_shapes[key])})"
            )
    result = model.clip.load_state_dict({k: v.to(torch.float32) for k, v in converted.items()}, strict=False)
    # position_ids buffers are not in OpenAI checkpoints; nothing else may be missing.
    missing = [key for key in result.missing_keys if not key.endswith("position_ids")]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{source}: could not load {missing or result.unexpected_keys}")
    model, processor = prepare_model_and_processor(model, tokenizer, dtype)
    if output_dir is not None:
        card = None
        if model_card:
            intro = (f"Blind image quality assessment by vision-language correspondence (Zhang et al., CVPR 2023), "
                     f"converted from `{os.path.basename(str(source))}` with `liqe convert`.")
            card = render_model_card(config, f"LIQE ({config.variant} variant)", intro)
        save_model_folder(output_dir, model, processor, card)
    return model, processor


__all__ = [
    "CheckpointError",
    "load_openai_state_dict",
    "clip_config_from_openai_state_dict",
    "openai_to_transformers_state_dict",
    "convert_checkpoint",
]
