"""Rebuild the golden set's random OpenAI-format CLIP weights from their published recipe.

The golden README pins the recipe (numpy PCG64 seed, key order, per-tensor base/std) and a SHA-256 of
the result, so the 14 MB checkpoints need not be committed: tests rebuild them and check the hash.
"""

import hashlib
import math
from collections import OrderedDict

import numpy as np
import torch

TINY_CHECKSUM = "6d36050ce9f5673e04d0370b1eba32001dac9baeda08d88f55eec6b06d61717f"


def openai_clip_shapes(embed=32, vision_width=64, vision_layers=2, patch=32, image=224, text_width=64,
                       text_layers=2, context=77, vocab=49408):
    grid = image // patch
    shapes = {
        "logit_scale": (),
        "token_embedding.weight": (vocab, text_width),
        "positional_embedding": (context, text_width),
        "ln_final.weight": (text_width,),
        "ln_final.bias": (text_width,),
        "text_projection": (text_width, embed),
        "visual.class_embedding": (vision_width,),
        "visual.positional_embedding": (grid * grid + 1, vision_width),
        "visual.conv1.weight": (vision_width, 3, patch, patch),
        "visual.ln_pre.weight": (vision_width,),
        "visual.ln_pre.bias": (vision_width,),
        "visual.ln_post.weight": (vision_width,),
        "visual.ln_post.bias": (vision_width,),
        "visual.proj": (vision_width, embed),
    }
    for prefix, width, layers in (("transformer.resblocks.", text_width, text_layers),
                                  ("visual.transformer.resblocks.", vision_width, vision_layers)):
        for n in range(layers):
            p = f"{prefix}{n}."
            shapes.update({
                p + "attn.in_proj_weight": (3 * width, width), p + "attn.in_proj_bias": (3 * width,),
                p + "attn.out_proj.weight": (width, width), p + "attn.out_proj.bias": (width,),
                p + "ln_1.weight": (width,), p + "ln_1.bias": (width,),
                p + "ln_2.weight": (width,), p + "ln_2.bias": (width,),
                p + "mlp.c_fc.weight": (4 * width, width), p + "mlp.c_fc.bias": (4 * width,),
                p + "mlp.c_proj.weight": (width, 4 * width), p + "mlp.c_proj.bias": (width,),
            })
    return shapes


def _base_and_std(key, shape):
    layer_norm = any(f"{name}.weight" in key for name in ("ln_1", "ln_2", "ln_pre", "ln_post", "ln_final"))
    if layer_norm:
        return 1.0, 0.02
    if key.endswith(".bias") or key.endswith("in_proj_bias"):
        return 0.0, 0.02
    if key in ("token_embedding.weight", "positional_embedding", "visual.positional_embedding", "visual.class_embedding"):
        return 0.0, 0.1
    if key in ("visual.proj", "text_projection"):
        return 0.0, 1.5 / math.sqrt(shape[0])
    return 0.0, 1.5 / math.sqrt(math.prod(shape[1:]))


def build_openai_clip_state_dict(seed=1234, **geometry):
    rng = np.random.default_rng(seed)
    shapes = openai_clip_shapes(**geometry)
    state = OrderedDict()
    for key in sorted(shapes):
        if key == "logit_scale":
            state[key] = torch.tensor(np.float32(math.log(100.0)))
            continue
        base, std = _base_and_std(key, shapes[key])
        z = rng.standard_normal(size=shapes[key])
        state[key] = torch.from_numpy((base + std * z).astype(np.float32))
    return state


def state_dict_checksum(state):
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + b"\n")
        digest.update(state[key].detach().cpu().numpy().astype("<f4").tobytes(order="C"))
    return digest.hexdigest()
