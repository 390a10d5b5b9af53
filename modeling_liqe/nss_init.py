# coding=utf-8
# Copyright 2026 The liqe authors.
"""A hand-built starting point for a CLIP vision tower: natural-scene statistics in two transformer blocks.

A randomly initialised ViT does not learn image quality from a few photos in the CPU minutes this project
has (issue 11): it must first discover that noise, blur, blocking and exposure live in local pixel
statistics. This module writes those statistics into the weights of a standard transformers CLIP vision tower
(no new module, so the converter, the remote code and every tool keep working), as a BRISQUE-like feature
extractor that training then fine-tunes with everything else:

* patch embedding (patch 32 or 16): a filter bank: the patch's mean luminance and two opponent-colour means,
  and small derivative filters (pixel differences, a Laplacian, differences of 2/4/8-px box means, differences
  across and inside the 8-px JPEG block grid, chroma differences) each at several positions in the patch;
* channel 0 of every token holds a constant C (position embedding) and a "balance" channel keeps the other
  channels summing to zero, so every LayerNorm (gain C sqrt(width - 1)/width, bias C/width) is nearly the identity and
  does not divide away the absolute size of the responses;
* block 1 (attention off): its MLP takes |response| (quick_gelu(a x) + quick_gelu(-a x)) and averages them per
  filter family into energy channels;
* block 2: uniform attention (query and key 0) averages the energies and the colour means over the window's
  patches; its MLP turns each pooled energy into a piecewise-linear log, standardised on training crops;
* block 3 (optional): a randomly initialised MLP head on those features, so training can fit nonlinear
  combinations; blocks beyond it start as identities;
* the visual projection starts as a random map of the standardised features and the head's outputs.

With `spread=True` (needs >= 4 layers and >= 11 attention heads), one more fixed block reads how the statistics
vary *across* the window, which a mean over patches hides (fine texture over a whole photo and noise have the
same mean energy; noise also lifts the quietest patches, texture does not; a pasted colour block lifts the loudest
chroma patch only): block 2's MLP also writes each patch's own log energy (Laplacian, 2/4-px boxes, chroma), and
block 3's attention pools them three ways -- uniformly, and as soft maxima and minima (attention logits +-2 times
the standardised log energy, the CLS token left out by an indicator channel) -- plus soft extremes of the patch
luminance. The head is then block 4.

With `luminance_normalised=True` the log energies are Weber contrasts: minus the log of the window's (pooled) or the
patch's (per patch) mean luminance plus a small constant, so a photo whose light is scaled has the same energies, and
its exposure shows only in the luminance features (a darker photo no longer has "less texture or noise" by
construction: research/LOG.md, session 18).

Not part of the Hub remote code: it only sets weights (the saved model is a plain `LIQEModel`).
"""

import math

import numpy as np
import torch

from .image_processing_liqe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

LUMA = np.array([0.299, 0.587, 0.114])
CONSTANT = 300.0  # the constant channel: large against every response, so LayerNorm ~ identity
ABS_GAIN = 500.0  # quick_gelu(a x) + quick_gelu(-a x) = a x tanh(0.85 a x) ~ a |x| for |x| > 0.005
LOG_KNOTS = [1e-4 * 2**k for k in range(14)]  # piecewise-linear log between 1e-4 and ~1 (pixel units)
# Exposure: the share of a window's patches whose mean luminance (0..1) is under / over each threshold (soft).
SHADOW_THRESHOLDS = (0.08, 0.2, 0.35)
LIGHT_THRESHOLDS = (0.65, 0.8, 0.92)
EXPOSURE_SOFTNESS = 40.0
# spread=True: the families whose per-patch log energy is pooled across the window, the sharpness of the soft
# extremes (attention logit = +-SPREAD_SHARPNESS x the standardised value), the luminance gain for the same, and
# the logit that keeps the CLS token (which has no patch) out of those pools.
SPREAD_FAMILIES = ("laplacian", "box2", "box4", "chroma_diff")
SPREAD_SHARPNESS = 2.0
SPREAD_LUMINANCE_GAIN = 4.0
CLS_EXCLUSION = 50.0
# luminance_normalised=True: every log energy minus log(luminance + WEBER_CONSTANT) (the window's mean luminance for
# the pooled energies, the patch's own for the per-patch ones), so that scaling a photo's light scales no energy;
# the constant keeps black patches from dividing by ~0 (MSCN's C, BRISQUE).
WEBER_CONSTANT = 0.03


def _filter_families(patch, rng):
    """{family: [(colour weights (3,), kernel (patch, patch))]}; kernels act on pixel values in [0, 1]."""
    p = patch
    rg = np.array([1.0, -1.0, 0.0])
    yb = np.array([0.5, 0.5, -1.0])

    def positions(count, margin_y, margin_x, predicate=lambda y, x: True):
        cells = [(y, x) for y in range(p - margin_y) for x in range(p - margin_x) if predicate(y, x)]
        chosen = rng.choice(len(cells), size=min(count, len(cells)), replace=False)
        return [cells[i] for i in sorted(chosen)]

    def kernel(entries):
        k = np.zeros((p, p))
        for (y, x), v in entries:
            k[y, x] += v
        return k

    def box(y, x, size, sign):
        return [((y + i, x + j), sign / size**2) for i in range(size) for j in range(size)]

    n = 12 if p >= 32 else 6
    families = {
        "dc": [(LUMA, np.full((p, p), 1.0 / p**2))],
        "chroma_dc": [(rg, np.full((p, p), 1.0 / p**2)), (yb, np.full((p, p), 1.0 / p**2))],
        # Pixel differences inside the 8-px grid, and across its lines (JPEG blocking shows as their ratio).
        "diff_h": [(LUMA, kernel([((y, x), -1), ((y, x + 1), 1)])) for y, x in positions(n, 0, 1, lambda y, x: x % 8 != 7)],
        "diff_v": [(LUMA, kernel([((y, x), -1), ((y + 1, x), 1)])) for y, x in positions(n, 1, 0, lambda y, x: y % 8 != 7)],
        "block_h": [(LUMA, kernel([((y, x), -1), ((y, x + 1), 1)])) for y, x in positions(n, 0, 1, lambda y, x: x % 8 == 7)],
        "block_v": [(LUMA, kernel([((y, x), -1), ((y + 1, x), 1)])) for y, x in positions(n, 1, 0, lambda y, x: y % 8 == 7)],
        "laplacian": [
            (LUMA, kernel([((y + 1, x + 1), 1), ((y, x + 1), -0.25), ((y + 2, x + 1), -0.25), ((y + 1, x), -0.25), ((y + 1, x + 2), -0.25)]))
            for y, x in positions(n + 4, 2, 2)
        ],
        "chroma_diff": [
            (colour, kernel([((y, x), -1), ((y, x + 1), 1)] if k % 2 else [((y, x), -1), ((y + 1, x), 1)]))
            for k, ((y, x), colour) in enumerate(zip(positions(n, 1, 1), [rg, yb] * n))
        ],
    }
    for size, count in ((2, n), (4, max(4, n - 2)), (8, max(2, n - 4) if p >= 32 else 2)):
        if 2 * size > p:
            continue
        family = []
        for k, (y, x) in enumerate(positions(count, 2 * size, 2 * size)):
            if k % 2 == 0:  # horizontal neighbours
                family.append((LUMA, kernel(box(y, x, size, -1) + box(y, x + size, size, 1))))
            else:
                family.append((LUMA, kernel(box(y, x, size, -1) + box(y + size, x, size, 1))))
        families[f"box{size}"] = family
    return families


class NSSLayout:
    """Which residual channel holds what (computed from the width and the families)."""

    def __init__(self, width, families, spread=False):
        self.families = list(families)
        self.spread = bool(spread)
        self.front_layers = 3 if spread else 2  # the fixed blocks (frozen_front.py caches their CLS token)
        self.rows = [(name, colour, k) for name in families for colour, k in families[name]]
        self.const = 0
        self.raw = list(range(1, 1 + len(self.rows)))
        self.raw_balance = 1 + len(self.rows)
        self.exposure_families = [f"shadow_{t}" for t in SHADOW_THRESHOLDS] + [f"light_{t}" for t in LIGHT_THRESHOLDS]
        self.energy_families = [f for f in self.families if f != "dc"] + self.exposure_families
        start = self.raw_balance + 1
        self.energy = {f: start + i for i, f in enumerate(self.energy_families)}
        start += len(self.energy_families)
        self.energy_balance = start
        start += 1
        self.pooled = {f: start + i for i, f in enumerate(self.energy_families)}
        start += len(self.energy_families)
        self.pooled_colour = [start, start + 1, start + 2]  # mean luminance, mean R-G, mean Y-B over the window
        start += 3
        self.pooled_balance = start
        start += 1
        self.log = {f: start + i for i, f in enumerate(self.energy_families)}
        start += len(self.energy_families)
        self.log_balance = start
        start += 1
        self.spread_features = []
        if spread:
            self.cls_indicator, self.cls_balance = start, start + 1
            start += 2
            self.patch_log = {f: start + i for i, f in enumerate(SPREAD_FAMILIES)}
            start += len(SPREAD_FAMILIES)
            self.patch_log_balance = start
            start += 1
            # Pooled across the window: (statistic, source) with source a spread family or "luminance".
            self.spread_features = ([("mean", f) for f in SPREAD_FAMILIES] + [("max", f) for f in SPREAD_FAMILIES]
                                    + [("min", f) for f in SPREAD_FAMILIES] + [("max", "luminance"), ("min", "luminance")])
            self.spread_pooled = {key: start + i for i, key in enumerate(self.spread_features)}
            start += len(self.spread_features)
            self.spread_balance = start
            start += 1
        self.used = start
        if self.used > width:
            raise ValueError(f"the NSS layout needs a width >= {self.used}, got {width}")

    def features(self):
        """Channels the projection reads: the standardised log energies and the pooled colour means."""
        return [self.log[f] for f in self.energy_families] + self.pooled_colour + [self.spread_pooled[k] for k in self.spread_features]

    def feature_names(self):
        """A name per `features()` channel."""
        return self.energy_families + ["luminance", "rg", "yb"] + [f"{stat}_{source}" for stat, source in self.spread_features]


def _zero_block(layer):
    with torch.no_grad():
        for module in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.out_proj, layer.mlp.fc1, layer.mlp.fc2):
            module.weight.zero_()
            module.bias.zero_()


def _identity_layernorm(norm, width):
    # A token that is CONSTANT in channel 0 and zero elsewhere has mean C / W and (biased) standard deviation
    # C sqrt(W - 1) / W: undo exactly that, so every small, zero-sum response passes through unchanged.
    with torch.no_grad():
        norm.weight.fill_(CONSTANT * math.sqrt(width - 1) / width)
        norm.bias.fill_(CONSTANT / width)


@torch.no_grad()
def nss_init_(model, seed=0, calibration_images=None, spread=False, luminance_normalised=False):
    """Write the natural-scene-statistics construction into `model.clip`'s vision tower (in place).

    `calibration_images`: (N, 3, S, S) CLIP-normalised windows to standardise the log energies on (pristine and
    distorted training crops); without them the logs stay unstandardised. `spread`: also pool the per-patch
    statistics across the window (soft maxima / minima, a third fixed block; see the module's docstring).
    `luminance_normalised`: the log energies become log Weber contrasts (see the module's docstring).
    Returns the `NSSLayout` (its `front_layers`: how many leading blocks are the fixed front).
    """
    vision = model.clip.vision_model
    config = model.config.clip_config.vision_config
    width, patch = config.hidden_size, config.patch_size
    if config.num_hidden_layers < 2:
        raise ValueError("the NSS construction needs at least 2 vision layers")
    heads = config.num_attention_heads
    if spread:
        needed_heads = 1 + 2 * len(SPREAD_FAMILIES) + 2
        if config.num_hidden_layers < 4:
            raise ValueError(f"spread=True needs at least 4 vision layers (3 fixed blocks and a head), got {config.num_hidden_layers}")
        if heads < needed_heads or width // heads < len(SPREAD_FAMILIES):
            raise ValueError(f"spread=True needs >= {needed_heads} vision attention heads of >= {len(SPREAD_FAMILIES)} "
                             f"channels (one per pooled statistic), got {heads} of {width // heads}")
    rng = np.random.default_rng(seed)
    families = _filter_families(patch, rng)
    layout = NSSLayout(width, families, spread)
    std = np.asarray(OPENAI_CLIP_STD)

    # Patch embedding: conv on CLIP-normalised pixels x_c = (v_c - mean_c) / std_c, so v_c = std_c x_c + mean_c;
    # a kernel on v (zero-sum derivative, or a mean whose constant offset does not matter) is std_c * K on x.
    conv = torch.zeros_like(vision.embeddings.patch_embedding.weight)
    for row, (name, colour, kernel) in zip(layout.raw, layout.rows):
        conv[row] = torch.tensor(colour[:, None, None] * std[:, None, None] * kernel[None], dtype=conv.dtype)
    conv[layout.raw_balance] = -conv[layout.raw].sum(dim=0)
    vision.embeddings.patch_embedding.weight.copy_(conv)
    vision.embeddings.class_embedding.zero_()
    vision.embeddings.position_embedding.weight.zero_()
    vision.embeddings.position_embedding.weight[:, layout.const] = CONSTANT
    if spread:
        # The CLS token (no patch) marks itself, so that the pools across patches can leave it out.
        vision.embeddings.class_embedding[layout.cls_indicator] = 1.0
        vision.embeddings.class_embedding[layout.cls_balance] = -1.0
    _identity_layernorm(vision.pre_layrnorm, width)
    _identity_layernorm(vision.post_layernorm, width)
    for layer in vision.encoder.layers:
        _zero_block(layer)
        _identity_layernorm(layer.layer_norm1, width)
        _identity_layernorm(layer.layer_norm2, width)

    # Block 1 MLP: |response| per filter, averaged per family into its energy channel.
    block1 = vision.encoder.layers[0].mlp
    counts = {f: sum(1 for name, _, _ in layout.rows if name == f) for f in layout.energy_families}
    hidden = 0
    for row, (name, _, _) in zip(layout.raw, layout.rows):
        if name == "dc":
            continue
        for sign in (1.0, -1.0):
            block1.fc1.weight[hidden, row] = sign * ABS_GAIN
            block1.fc2.weight[layout.energy[name], hidden] = 1.0 / (ABS_GAIN * counts[name])
            block1.fc2.weight[layout.energy_balance, hidden] = -1.0 / (ABS_GAIN * counts[name])
            hidden += 1

    # Exposure units: relu(t - L) / relu(L - t) on the patch's mean luminance L (the "dc" row holds L - offset;
    # the CLS token, whose dc is 0, sits at L = offset ~0.45, between the shadow and the light thresholds).
    offset = float((LUMA * np.asarray(OPENAI_CLIP_MEAN)).sum())
    dc_row = layout.raw[[name for name, _, _ in layout.rows].index("dc")]
    k = EXPOSURE_SOFTNESS
    for family in layout.exposure_families:
        threshold = float(family.split("_")[1])
        sign = -1.0 if family.startswith("shadow") else 1.0
        block1.fc1.weight[hidden, dc_row] = sign * k
        block1.fc1.bias[hidden] = sign * k * (offset - threshold)
        block1.fc2.weight[layout.energy[family], hidden] = 1.0 / k
        block1.fc2.weight[layout.energy_balance, hidden] = -1.0 / k
        hidden += 1

    # Block 2 attention: uniform over the window's tokens (query, key 0), copies energies and colour means.
    attention = vision.encoder.layers[1].self_attn
    sources = [layout.energy[f] for f in layout.energy_families] + [layout.raw[k] for k, (name, _, _) in enumerate(layout.rows) if name in ("dc", "chroma_dc")]
    targets = [layout.pooled[f] for f in layout.energy_families] + layout.pooled_colour
    # The CLS token (no patch) holds zeros and is one of the averaged tokens: scale back to a mean over patches.
    tokens = (config.image_size // patch) ** 2
    for slot, (source, target) in enumerate(zip(sources, targets)):
        attention.v_proj.weight[slot, source] = 1.0
        gain = (tokens + 1) / tokens * (2.0 if target in layout.pooled_colour else 1.0)
        attention.out_proj.weight[target, slot] = gain
        attention.out_proj.weight[layout.pooled_balance, slot] = -gain

    # Block 2 MLP: piecewise-linear log of every pooled energy (relu ~ quick_gelu(s z) / s with s = 8 / knot).
    mlp = vision.encoder.layers[1].mlp
    hidden = 0
    for family in layout.energy_families:
        hidden = _write_log(mlp, hidden, layout.pooled[family], layout.log[family], layout.log_balance)
    if spread:
        # The same log of each patch's own energy (the energy channels still hold the token's value).
        for family in SPREAD_FAMILIES:
            hidden = _write_log(mlp, hidden, layout.energy[family], layout.patch_log[family], layout.patch_log_balance)
    if luminance_normalised:
        # minus log(L + c): the pooled colour channel holds 2 x the mean over patches of (L - offset), the dc row the
        # patch's own L - offset (offset and dc_row as for the exposure units above).
        pooled_energies = [layout.log[f] for f in layout.energy_families if f not in layout.exposure_families]
        hidden = _write_log(mlp, hidden, layout.pooled_colour[0], pooled_energies, layout.log_balance, scale=0.5,
                            shift=offset + WEBER_CONSTANT, sign=-1.0)
        if spread:
            hidden = _write_log(mlp, hidden, dc_row, [layout.patch_log[f] for f in SPREAD_FAMILIES], layout.patch_log_balance,
                                shift=offset + WEBER_CONSTANT, sign=-1.0)

    if calibration_images is not None:
        logs = _cls_channels(model, calibration_images, [layout.log[f] for f in layout.energy_families])
        # A floor on the spread: a feature that is nearly constant on the calibration crops (e.g. no patch over
        # 0.92 luminance) must not be blown up by a tiny standard deviation on other pictures.
        mean, sd = logs.mean(dim=0), logs.std(dim=0).clamp_min(0.5)
        for i, family in enumerate(layout.energy_families):
            channel = layout.log[family]
            mlp.fc2.weight[channel] /= sd[i]
            mlp.fc2.bias[channel] = (mlp.fc2.bias[channel] - mean[i]) / sd[i]
        rows = [layout.log[f] for f in layout.energy_families]
        mlp.fc2.weight[layout.log_balance] = -mlp.fc2.weight[rows].sum(dim=0)
        mlp.fc2.bias[layout.log_balance] = -mlp.fc2.bias[rows].sum()

    if spread:
        if calibration_images is not None:
            _standardise_rows(mlp.fc2, layout, [layout.patch_log[f] for f in SPREAD_FAMILIES], layout.patch_log_balance,
                              _token_channels(model, calibration_images, [layout.patch_log[f] for f in SPREAD_FAMILIES], 2, patches_only=True))
        _spread_pooling(vision.encoder.layers[2].self_attn, layout, heads, width // heads, dc_row)
        if calibration_images is not None:
            channels = [layout.spread_pooled[k] for k in layout.spread_features]
            _standardise_rows(vision.encoder.layers[2].self_attn.out_proj, layout, channels, layout.spread_balance,
                              _token_channels(model, calibration_images, channels, 3))

    generator = torch.Generator().manual_seed(seed)
    features = layout.features()
    # The block after the fixed front (block 3, or block 4 with spread; when there is one): a randomly initialised
    # MLP head on the standardised features, writing into free channels, so that training can fit nonlinear
    # combinations of them (its attention stays off).
    head_channels = []
    if config.num_hidden_layers > layout.front_layers:
        free = list(range(layout.used, width))
        head_channels = free[: min(len(free), 48)]
        mlp3 = vision.encoder.layers[layout.front_layers].mlp
        hidden3 = min(mlp3.fc1.weight.shape[0], 256)
        mlp3.fc1.weight[:hidden3, features] = torch.randn(hidden3, len(features), generator=generator) / math.sqrt(len(features))
        mlp3.fc1.bias[:hidden3] = 0.5 * torch.randn(hidden3, generator=generator)
        mlp3.fc2.weight[head_channels, :hidden3] = torch.randn(len(head_channels), hidden3, generator=generator) / math.sqrt(hidden3)
    layout.head_channels = head_channels

    # Visual projection: a random map of the standardised features (and of the head's channels).
    projection = model.clip.visual_projection.weight
    projection.zero_()
    read = features + head_channels
    projection[:, read] = torch.randn(projection.shape[0], len(read), generator=generator) / math.sqrt(len(read))
    return layout


def _write_log(mlp, hidden, source, target, balance, scale=1.0, shift=0.0, sign=1.0):
    """MLP units from `hidden` on: channel `target` (or each channel of a list) += `sign` x the piecewise-linear log
    of `scale` x channel `source` + `shift` (knots LOG_KNOTS; relu ~ quick_gelu(s z) / s with s = 8 / knot),
    `balance` = minus what the targets get. Returns the next free hidden unit."""
    targets = list(target) if isinstance(target, (list, tuple)) else [target]
    slopes = [math.log(2.0) / t for t in LOG_KNOTS]
    for k, knot in enumerate(LOG_KNOTS):
        s = 8.0 / knot
        weight = sign * (slopes[k] - (slopes[k - 1] if k else 0.0))
        mlp.fc1.weight[hidden, source] = s * scale
        mlp.fc1.bias[hidden] = s * (shift - knot)
        for channel in targets:
            mlp.fc2.weight[channel, hidden] = weight / s
        mlp.fc2.weight[balance, hidden] -= len(targets) * weight / s
        hidden += 1
    for channel in targets:
        mlp.fc2.bias[channel] += sign * math.log(LOG_KNOTS[0])
    mlp.fc2.bias[balance] -= len(targets) * sign * math.log(LOG_KNOTS[0])
    return hidden


def _spread_pooling(attention, layout, heads, head_dim, dc_row):
    """Block 3's attention (spread=True): head 0 averages the patches' log energies; each further head is a soft
    maximum or minimum of one per-patch value (logit = +-SPREAD_SHARPNESS x value). In every head the query's
    second channel meets the CLS indicator at -CLS_EXCLUSION, so only patches are pooled."""
    # CLIP's attention scales q.k by head_dim ** -0.5; the query reads the constant channel (~CONSTANT after the
    # near-identity LayerNorm).
    unit = math.sqrt(head_dim) / CONSTANT
    sources = {f: (layout.patch_log[f], 1.0) for f in SPREAD_FAMILIES}
    sources["luminance"] = (dc_row, SPREAD_LUMINANCE_GAIN)

    def exclude_cls(head):
        attention.q_proj.weight[head * head_dim + 1, layout.const] = unit
        attention.k_proj.weight[head * head_dim + 1, layout.cls_indicator] = -CLS_EXCLUSION

    def write(head, slot, source, gain, target):
        attention.v_proj.weight[head * head_dim + slot, source] = gain
        attention.out_proj.weight[target, head * head_dim + slot] = 1.0
        attention.out_proj.weight[layout.spread_balance, head * head_dim + slot] = -1.0

    exclude_cls(0)
    for slot, family in enumerate(SPREAD_FAMILIES):
        write(0, slot, layout.patch_log[family], 1.0, layout.spread_pooled[("mean", family)])
    head = 1
    for statistic, source_name in layout.spread_features:
        if statistic == "mean":
            continue
        source, gain = sources[source_name]
        sign = 1.0 if statistic == "max" else -1.0
        attention.q_proj.weight[head * head_dim, layout.const] = sign * SPREAD_SHARPNESS * unit
        attention.k_proj.weight[head * head_dim, source] = gain
        exclude_cls(head)
        write(head, 0, source, gain, layout.spread_pooled[(statistic, source_name)])
        head += 1


def _standardise_rows(linear, layout, rows, balance, values):
    """Make the output rows `rows` of `linear` (a Linear writing those channels) zero-mean, unit-spread on
    `values` (N, len(rows)), and rewrite the balance row so the channels still sum to zero."""
    mean, sd = values.mean(dim=0), values.std(dim=0).clamp_min(0.25)
    for i, row in enumerate(rows):
        linear.weight[row] /= sd[i]
        linear.bias[row] = (linear.bias[row] - mean[i]) / sd[i]
    linear.weight[balance] = -linear.weight[rows].sum(dim=0)
    linear.bias[balance] = -linear.bias[rows].sum()
    return mean, sd


@torch.no_grad()
def _token_channels(model, pixel_values, channels, after_layers, patches_only=False):
    """`channels` of the tokens after the first `after_layers` blocks: the CLS token's (N, C), or every patch
    token's (N * patches, C)."""
    hidden = model.clip.vision_model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[after_layers]
    if patches_only:
        return hidden[:, 1:, channels].reshape(-1, len(channels)).float()
    return hidden[:, 0, channels].float()


@torch.no_grad()
def _cls_channels(model, pixel_values, channels):
    out = model.clip.vision_model(pixel_values=pixel_values).last_hidden_state[:, 0]
    return out[:, channels].float()


def nss_features(model, pixel_values, layout):
    """The CLS token's standardised log energies and colour means, (N, features) (for tests and analyses)."""
    return _cls_channels(model, pixel_values, layout.features())


__all__ = ["nss_init_", "nss_features", "NSSLayout"]
