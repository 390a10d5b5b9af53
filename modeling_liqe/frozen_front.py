# coding=utf-8
# Copyright 2026 The liqe authors.
"""Train a LIQE model whose vision tower starts with a fixed front, from that front's cached output.

The natural-scene-statistics start (`nss_init.py`) keeps its filter bank and first two blocks (three with
`spread=True`: `front_layers` then is 3) fixed, and the attention of every later block at zero (so a later block's MLP sees each token alone, and the pooled CLS token
depends on the CLS token only). Then the CLS token after the fixed blocks is a fixed function of the window: the
DataLoader worker that makes the training images computes it once per image (`FrozenFront`), and the training
step runs only what trains (`FrontCachedLIQE`: the later blocks' MLPs on that token, post-LayerNorm, projection,
text tower, softmax, losses): the same maths as `LIQEModel.forward`, checked at construction
(`check_front_cache_exact`), at a fraction of the cost. Evaluation and the saved model use the plain
`LIQEModel`. Not part of the Hub remote code.
"""

import copy

import torch

FRONT_LAYERS = 2


def separability_problems(model, front_layers=FRONT_LAYERS):
    """Why `model`'s vision tower cannot be trained from a cached front (empty list: it can)."""
    vision = model.clip.vision_model
    layers = vision.encoder.layers
    problems = []
    if len(layers) <= front_layers:
        problems.append(f"the vision tower has {len(layers)} layers; the cached front needs more than {front_layers}")
    fixed = [("embeddings", vision.embeddings), ("pre_layrnorm", vision.pre_layrnorm)]
    fixed += [(f"encoder.layers.{i}", layers[i]) for i in range(min(front_layers, len(layers)))]
    for i in range(front_layers, len(layers)):
        fixed += [(f"encoder.layers.{i}.self_attn", layers[i].self_attn), (f"encoder.layers.{i}.layer_norm1", layers[i].layer_norm1)]
    for name, module in fixed:
        if any(p.requires_grad for p in module.parameters()):
            problems.append(f"clip.vision_model.{name} trains (it must be frozen)")
    for i in range(front_layers, len(layers)):
        attention = layers[i].self_attn
        if any(bool(p.detach().abs().max() > 0) for p in attention.parameters()):
            problems.append(f"clip.vision_model.encoder.layers.{i}.self_attn is not zero (tokens would mix)")
    return problems


class FrozenFront:
    """A frozen copy of the vision tower's front: windows (N, 3, S, S) -> the CLS token after `front_layers`
    blocks (N, width). Picklable, so DataLoader workers can hold it."""

    def __init__(self, model, front_layers=FRONT_LAYERS):
        # On the CPU: DataLoader workers run it (also when the model trains on an accelerator).
        self.vision = copy.deepcopy(model.clip.vision_model).float().cpu().eval().requires_grad_(False)
        self.front_layers = int(front_layers)
        # Only the front runs here: drop the later blocks (their output is not used).
        del self.vision.encoder.layers[self.front_layers:]

    @torch.no_grad()
    def __call__(self, pixel_values):
        # The copy holds only the front's blocks, so its last hidden state is the front's output (post_layernorm
        # applies to the pooled token only). No output_hidden_states: transformers 5 would install unpicklable
        # hooks, and a spawned DataLoader worker receives this object pickled.
        return self.vision(pixel_values=pixel_values).last_hidden_state[:, 0]


class FrontCachedLIQE(torch.nn.Module):
    """`LIQEModel.forward` from the front's CLS tokens (`front_states` (batch, patches, width)) instead of windows.
    The wrapped model is `.model` (what is saved and evaluated)."""

    def __init__(self, model, front_layers=FRONT_LAYERS):
        super().__init__()
        problems = separability_problems(model, front_layers)
        if problems:
            raise ValueError("cannot train from a cached front: " + "; ".join(problems))
        self.model = model
        self.front_layers = int(front_layers)

    @property
    def config(self):
        return self.model.config

    def image_features(self, front_states):
        vision = self.model.clip.vision_model
        x = front_states
        for layer in vision.encoder.layers[self.front_layers:]:
            x = x + layer.mlp(layer.layer_norm2(x))  # attention is zero: the residual stream passes unchanged
        features = self.model.clip.visual_projection(vision.post_layernorm(x))
        return features / features.norm(dim=-1, keepdim=True)

    def forward(self, front_states, patch_mask=None, **labels):
        return self.model.forward_from_image_features(self.image_features(front_states), patch_mask, **labels)


def check_front_cache_exact(model, pixel_values, front_layers=FRONT_LAYERS, atol=1e-6):
    """Raise when the cached-front path and `model.forward` disagree on `pixel_values` (N, 3, S, S): the largest
    difference of their image-prompt cosines (logits / logit scale; float rounding only) must be <= `atol`."""
    front = FrozenFront(model, front_layers)
    wrapper = FrontCachedLIQE(model, front_layers)
    with torch.no_grad():
        expected = model(pixel_values=pixel_values[:, None]).logits
        got = wrapper(front(pixel_values)[:, None]).logits
        scale = float(model.clip.logit_scale.float().exp())
    difference = float((expected - got).abs().max()) / scale
    if not difference <= atol:
        raise AssertionError(f"the cached-front path differs from LIQEModel.forward by {difference:.3g} in cosine (> {atol})")
    return difference


def front_freeze_patterns(front_layers=FRONT_LAYERS):
    """Parameter-name patterns of the part `FrontCachedLIQE` needs frozen."""
    return (
        r"^clip\.vision_model\.(embeddings|pre_layrnorm)\.",
        r"^clip\.vision_model\.encoder\.layers\.(" + "|".join(str(i) for i in range(front_layers)) + r")\.",
        r"^clip\.vision_model\.encoder\.layers\.\d+\.(self_attn|layer_norm1)\.",
    )


__all__ = ["FrozenFront", "FrontCachedLIQE", "separability_problems", "check_front_cache_exact", "front_freeze_patterns"]
