# coding=utf-8
# Copyright 2026 The liqe authors. Method: Zhang et al., CVPR 2023 (MIT-licensed reference code).
"""PyTorch LIQE: CLIP scores each image window against one prompt per (quality, scene, distortion)."""

import hashlib
import itertools
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import CLIPModel, PreTrainedModel
from transformers.modeling_outputs import ModelOutput
from transformers.models.clip.modeling_clip import CLIPPreTrainedModel

from .configuration_liqe import LIQEConfig, ship_remote_code
from .losses import multilabel_fidelity_loss, quality_ranking_loss, single_label_fidelity_loss


@dataclass
class LIQEOutput(ModelOutput):
    """
    Output of [`LIQEModel`]. C is the number of prompts (495 for the full variant), P the windows per image.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when labels are given):
            Unweighted sum of the task losses that could be computed (weight them with DWA in training).
        loss_quality, loss_scene, loss_distortion (`torch.FloatTensor` of shape `()`, *optional*):
            The pairwise quality fidelity loss, the multi-label scene loss and the single-label distortion loss.
        score (`torch.FloatTensor` of shape `(batch,)`):
            Quality score, sum_i w_i P(quality level i): in [1, 5] for the paper's weights, higher is better.
        logits (`torch.FloatTensor` of shape `(batch, C)`):
            Logit scale x cosine(window, prompt), averaged over the windows, before the softmax.
        joint_probs (`torch.FloatTensor` of shape `(batch, C)`):
            One softmax over all C combinations.
        quality_probs (`torch.FloatTensor` of shape `(batch, 5)`), scene_probs (`(batch, 9)`),
        distortion_probs (`(batch, 11)`): marginals of the joint (None when the variant has no such axis).
        axis_probs (`tuple(torch.FloatTensor)`): the marginal of every label axis, in the config's axis order.
        patch_logits (`torch.FloatTensor` of shape `(batch, P, C)`):
            Per-window logits (for heatmaps); padded windows hold zeros.
    """

    loss: Optional[torch.FloatTensor] = None
    loss_quality: Optional[torch.FloatTensor] = None
    loss_scene: Optional[torch.FloatTensor] = None
    loss_distortion: Optional[torch.FloatTensor] = None
    score: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    joint_probs: Optional[torch.FloatTensor] = None
    quality_probs: Optional[torch.FloatTensor] = None
    scene_probs: Optional[torch.FloatTensor] = None
    distortion_probs: Optional[torch.FloatTensor] = None
    axis_probs: Optional[tuple] = None
    patch_logits: Optional[torch.FloatTensor] = None


_CHECKSUM_CHUNK = 1 << 20
_CHECKSUM_WEIGHTS = {}  # (device, dtype) -> fixed pseudo-random odd multipliers, one per position in a chunk


def _checksum_weights(device, dtype):
    key = (str(device), dtype)
    if key not in _CHECKSUM_WEIGHTS:
        generator = torch.Generator().manual_seed(20230601)
        bits = 31 if dtype == torch.int32 else 62
        weights = torch.randint(-(2**bits), 2**bits, (_CHECKSUM_CHUNK,), generator=generator, dtype=torch.int64)
        _CHECKSUM_WEIGHTS[key] = (weights | 1).to(dtype).to(device)
    return _CHECKSUM_WEIGHTS[key]


def _content_checksum(tensors):
    """A checksum of the tensors' bits, computed on their device; one host sync for all of them.

    Each element's bit pattern (as an integer) is multiplied by a fixed odd multiplier of its position and the
    products are summed with wrap-around, per chunk of 2^20 elements, the chunks folded by a multiply-add. A change
    of any single element always changes the result (an odd multiplier is invertible modulo a power of two); several
    changes leave it unchanged with probability about 2^-32 or less. Cost: one read of the text weights per forward,
    about 1/20 of a cached ViT-B/32 forward on one CPU thread, under 1/90 of encoding the 495 prompts
    (benchmarks/bench_prompt_cache_check.py).
    """
    sums = []
    for tensor in tensors:
        flat = tensor.detach().reshape(-1)
        if flat.numel() == 0:
            continue
        size = flat.element_size()
        as_int = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[size]
        flat = flat.view(as_int) if flat.dtype != torch.bool else flat.to(torch.uint8)
        # 32-bit words multiply in int32 (wrapping mod 2^32, no widened copy of the weights); others in int64.
        work = torch.int32 if size == 4 else torch.int64
        weights = _checksum_weights(flat.device, work)
        total = torch.zeros((), dtype=torch.int64, device=flat.device)
        for start in range(0, flat.numel(), _CHECKSUM_CHUNK):
            part = flat[start : start + _CHECKSUM_CHUNK].to(work)
            chunk_sum = (part * weights[: part.numel()]).sum(dtype=torch.int64)
            total = total * 1000003 + chunk_sum
        sums.append(total)
    return tuple(torch.stack(sums).tolist()) if sums else ()


def _checkpoint_tokenizer(clip_name_or_path, text_config):
    """The CLIP checkpoint's own tokenizer when it has a usable one, else None.

    transformers 5 builds an EMPTY CLIP vocabulary from a folder without vocabulary files instead of failing,
    so the tokenizer is checked: full vocabulary, and the end-of-text id the text tower pools at.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(clip_name_or_path)
    except (OSError, ValueError, TypeError):
        return None
    eos = text_config.eos_token_id
    ids = tokenizer("a photo")["input_ids"]
    if len(tokenizer) != text_config.vocab_size or (eos != 2 and ids[-1:] != [eos]):
        return None
    return tokenizer


class LIQEPreTrainedModel(PreTrainedModel):
    config_class = LIQEConfig
    base_model_prefix = "liqe"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _no_split_modules = ["CLIPTextEmbeddings", "CLIPEncoderLayer", "CLIPVisionEmbeddings"]
    _supports_sdpa = True

    def _init_weights(self, module):
        # The backbone initialises itself the CLIP way; LIQE adds no weights of its own.
        if isinstance(module, LIQEModel) or not hasattr(self, "clip"):
            return
        CLIPPreTrainedModel._init_weights(self.clip, module)


class LIQEModel(LIQEPreTrainedModel):
    r"""
    LIQE on a transformers [`CLIPModel`]. The prompt token ids are a buffer of the model (saved with the
    weights), so a loaded model scores images with `pixel_values` alone. Text features of the prompts are
    cached while the text weights are provably unchanged (their version counters AND a checksum of their contents,
    so edits through `.data` count too); `invalidate_prompt_cache()` drops the cache by hand. With grad mode on and
    any text parameter requiring grad (train or eval mode) they are encoded every forward, so the text tower
    trains: score under `torch.no_grad()` for speed.

    Example:

    ```python
    >>> from transformers import AutoModel, AutoProcessor
    >>> model = AutoModel.from_pretrained("org/liqe", trust_remote_code=True)
    >>> processor = AutoProcessor.from_pretrained("org/liqe", trust_remote_code=True)
    >>> model(**processor(images="photo.jpg")).score
    ```
    """

    # A zero-argument callable giving the tokenizer for checkpoints without one. The installed package sets it to its
    # bundled CLIP BPE (modeling_liqe/__init__.py); the Hub remote code ships no vocabulary and leaves it None.
    default_prompt_tokenizer = None

    def __init__(self, config: LIQEConfig):
        super().__init__(config)
        self.clip = CLIPModel(config.clip_config)
        # Only the logit scale stays frozen at its pretrained value (ln 100 for CLIP).
        self.clip.logit_scale.requires_grad_(False)
        context_length = config.clip_config.text_config.max_position_embeddings
        self.register_buffer("prompt_input_ids", torch.zeros(config.num_prompts, context_length, dtype=torch.long))
        self.register_buffer(
            "prompt_attention_mask", torch.zeros(config.num_prompts, context_length, dtype=torch.long)
        )
        # Prompt text features shipped with the weights (written by save_pretrained), with a fingerprint of
        # the text weights they were computed from: a loaded model skips encoding 495 prompts when the
        # fingerprint still matches, and recomputes them when it does not.
        self.register_buffer("prompt_text_features", torch.zeros(config.num_prompts, config.clip_config.projection_dim))
        self.register_buffer("prompt_text_fingerprint", torch.zeros(32, dtype=torch.uint8))
        self._text_cache_key = None
        self._text_cache = None
        self.post_init()

    @classmethod
    def from_clip(cls, clip_name_or_path, tokenizer=None, **config_kwargs):
        """Start from any transformers CLIP checkpoint (a Hub id or a folder), e.g. to train LIQE.

        `config_kwargs` go to [`LIQEConfig`] (e.g. `variant="quality"`). The prompts are tokenised with
        `tokenizer`, else the checkpoint's own tokenizer when it has one, else `default_prompt_tokenizer()` (the
        CLIP BPE bundled with the installed package).
        """
        clip = CLIPModel.from_pretrained(clip_name_or_path)
        config = LIQEConfig(clip_config=clip.config.to_dict(), **config_kwargs)
        model = cls(config)
        model.clip.load_state_dict(clip.state_dict())
        model.clip.logit_scale.requires_grad_(False)
        if tokenizer is None:
            tokenizer = _checkpoint_tokenizer(clip_name_or_path, config.clip_config.text_config)
        if tokenizer is None and cls.default_prompt_tokenizer is not None:
            tokenizer = cls.default_prompt_tokenizer()
        if tokenizer is None:
            raise ValueError(
                f"{clip_name_or_path} has no usable CLIP tokenizer: pass tokenizer= (the liqe package bundles one: "
                "modeling_liqe.clip_bpe.load_clip_tokenizer())"
            )
        model.set_prompt_tokens_from_tokenizer(tokenizer)
        return model

    # -- prompts ---------------------------------------------------------------------------------------------
    def set_prompt_tokens(self, input_ids, attention_mask=None):
        """Store the tokenised prompts (num_prompts, length <= context); pads to the context length."""
        input_ids = torch.as_tensor(input_ids, dtype=torch.long)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        num_prompts, context = self.prompt_input_ids.shape
        if input_ids.shape[0] != num_prompts or input_ids.shape[1] > context:
            raise ValueError(f"expected prompt ids of shape ({num_prompts}, <= {context}), got {tuple(input_ids.shape)}")
        eos = self.config.clip_config.text_config.eos_token_id
        if eos != 2 and not bool((input_ids == eos).any(dim=1).all()):
            raise ValueError(f"every prompt must contain the text config's eos_token_id {eos} (CLIP pools there)")
        with torch.no_grad():
            self.prompt_input_ids.zero_()
            self.prompt_attention_mask.zero_()
            self.prompt_input_ids[:, : input_ids.shape[1]] = input_ids.to(self.prompt_input_ids.device)
            self.prompt_attention_mask[:, : input_ids.shape[1]] = attention_mask.to(self.prompt_input_ids.device)

    def set_prompt_tokens_from_tokenizer(self, tokenizer):
        encoded = tokenizer(self.config.prompts(), padding="longest", return_tensors="pt")
        self.set_prompt_tokens(encoded["input_ids"], encoded["attention_mask"])

    # -- prompt-feature cache -------------------------------------------------------------------------------
    def _text_tensors(self):
        """(name, tensor) of everything the prompt features depend on, in the state dict's names and order."""
        items = [(f"clip.text_model.{name}", t) for name, t in self.clip.text_model.named_parameters()]
        items += [(f"clip.text_projection.{name}", t) for name, t in self.clip.text_projection.named_parameters()]
        return items + [("prompt_input_ids", self.prompt_input_ids), ("prompt_attention_mask", self.prompt_attention_mask)]

    def _text_weights_sharded(self):
        """Why the text weights are sharded across processes (FSDP, ZeRO-3), or None."""
        for name, tensor in self._text_tensors():
            if hasattr(tensor, "ds_id") or hasattr(tensor, "ds_shape"):
                return f"{name} is partitioned by DeepSpeed ZeRO-3"
            if getattr(tensor, "_is_flat_param", False) or type(tensor).__name__ == "DTensor":
                return f"{name} is sharded by FSDP"
        sharded = {"FullyShardedDataParallel", "FSDPModule"}  # FSDP1 wrappers, FSDP2 (fully_shard) modules
        if any(sharded & {c.__name__ for c in type(module).__mro__} for module in self.modules()):
            return "the model holds FSDP-sharded modules"
        return None

    def _text_weights_unreadable(self):
        """Why the text weights cannot be read on this process (sharded, offloaded or not materialised), or None."""
        for name, tensor in self._text_tensors():
            if tensor.device.type == "meta":
                return f"{name} is on the meta device (offloaded by a device_map, or never loaded)"
        return self._text_weights_sharded()

    def _text_weights_key(self):
        """A key that changes whenever the text weights or prompts change, or None when that cannot be told.

        Version counters miss in-place edits through `.data` (a LoRA merge, a hand-written EMA): the key also holds
        a checksum of the tensors' contents, computed on their own device (see `_content_checksum`).
        """
        if self._text_weights_unreadable() is not None:
            return None
        tensors = [t for _, t in self._text_tensors()] + [self.prompt_text_features, self.prompt_text_fingerprint]
        layout = tuple((t.data_ptr(), t._version, t.dtype, t.device, tuple(t.shape)) for t in tensors)
        return layout, _content_checksum(tensors)

    def invalidate_prompt_cache(self):
        """Forget the cached prompt features: the next forward encodes the prompts again."""
        self._text_cache_key = self._text_cache = None

    def _encode_prompts(self, text_model=None, text_projection=None, input_ids=None, attention_mask=None):
        """Encode every prompt with this model's text tower (or the given modules and prompt tensors)."""
        text_model = self.clip.text_model if text_model is None else text_model
        text_projection = self.clip.text_projection if text_projection is None else text_projection
        input_ids = self.prompt_input_ids if input_ids is None else input_ids
        attention_mask = self.prompt_attention_mask if attention_mask is None else attention_mask
        lengths = attention_mask.sum(dim=1)
        if int(lengths.min()) == 0:
            raise RuntimeError(
                "the prompt tokens are not set: load a converted checkpoint with from_pretrained, start from "
                "LIQEModel.from_clip(...), or call model.set_prompt_tokens_from_tokenizer(tokenizer)"
            )
        # Causal text tower: features at the end-of-text token do not depend on padding after it, so the
        # prompts only need the longest prompt's length (24 tokens, not 77).
        length = int(lengths.max())
        towers = (text_model, text_projection)
        if any(p.is_meta for t in towers for p in t.parameters()) and not any(
            hasattr(m, "_hf_hook") for t in towers for m in t.modules()
        ):
            raise RuntimeError(
                "the text tower's weights are on the meta device and nothing loads them (no accelerate offload hook): "
                "load the model with from_pretrained(..., device_map=...) or materialise its weights first"
            )
        device = text_projection.weight.device
        if device.type == "meta":  # offloaded: accelerate's hooks move the inputs where the weights are loaded
            device = input_ids.device
        input_ids = input_ids[:, :length].to(device)
        attention_mask = attention_mask[:, :length].to(device)
        chunk = max(1, int(self.config.text_chunk_size))
        features = []
        for start in range(0, input_ids.shape[0], chunk):
            pooled = text_model(
                input_ids=input_ids[start : start + chunk],
                attention_mask=attention_mask[start : start + chunk],
            ).pooler_output
            features.append(text_projection(pooled))
        features = torch.cat(features)
        return features / features.norm(dim=-1, keepdim=True)

    @staticmethod
    def _fingerprint(items):
        """BLAKE2 digest of (name, tensor) items: every tensor the prompt features depend on."""
        digest = hashlib.blake2b(digest_size=32)
        for name, tensor in items:
            # The digest names modules as in the text tower's own state dict (the format of earlier folders).
            for prefix in ("clip.text_model.", "clip.text_projection."):
                if name.startswith(prefix):
                    name = name[len(prefix) :]
            tensor = tensor.detach().contiguous().cpu()
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        return torch.frombuffer(bytearray(digest.digest()), dtype=torch.uint8)

    def _text_fingerprint(self):
        """Fingerprint of this model's text weights and prompts (they must be readable on this process)."""
        return self._fingerprint(self._text_state_items())

    def _text_state_items(self, state_dict=None):
        """(name, tensor) of the text weights in the text tower's state dict order, from the model or a state dict."""
        if state_dict is None:
            names = [f"clip.text_model.{k}" for k in self.clip.text_model.state_dict()]
            names += [f"clip.text_projection.{k}" for k in self.clip.text_projection.state_dict()]
            state_dict = {name: tensor for name, tensor in self.state_dict().items() if name in set(names)}
            state_dict.update(prompt_input_ids=self.prompt_input_ids, prompt_attention_mask=self.prompt_attention_mask)
        else:
            names = [k for k in state_dict if k.startswith(("clip.text_model.", "clip.text_projection."))]
        missing = [name for name in ("prompt_input_ids", "prompt_attention_mask") if name not in state_dict]
        if missing or not names:
            raise ValueError(f"the state dict has no text tower / prompt tensors ({missing or 'clip.text_model.*'})")
        return [(name, state_dict[name]) for name in names] + [
            ("prompt_input_ids", state_dict["prompt_input_ids"]),
            ("prompt_attention_mask", state_dict["prompt_attention_mask"]),
        ]

    def _shipped_features_match(self):
        shipped = self.prompt_text_fingerprint.cpu()
        return bool(shipped.any()) and torch.equal(shipped, self._text_fingerprint())

    def _text_trains(self):
        text = list(self.clip.text_model.parameters()) + list(self.clip.text_projection.parameters())
        return torch.is_grad_enabled() and any(p.requires_grad for p in text)

    def prompt_features(self):
        """L2-normalised text features of all prompts, (num_prompts, projection_dim).

        With grad mode on and any text parameter requiring grad (train OR eval mode), they are encoded on every
        call so that the text tower gets gradients. Otherwise they are cached while `_text_weights_key` proves the
        text weights and prompts unchanged; a sharded or offloaded text tower cannot be checked and is encoded on
        every call (on every rank alike, so no rank waits for another in a collective).
        """
        if self._text_trains():
            self.invalidate_prompt_cache()
            return self._encode_prompts()
        key = self._text_weights_key()
        if key is not None and self._text_cache is not None and key == self._text_cache_key:
            if self._text_cache.is_inference() and not torch.is_inference_mode_enabled():
                # Cached under torch.inference_mode(): autograd may not save such a tensor (e.g. for a frozen text
                # tower while the vision tower trains); a normal copy may be.
                self._text_cache = self._text_cache.clone()
            return self._text_cache
        with torch.no_grad():
            if key is not None and self._shipped_features_match():
                features = self.prompt_text_features.clone()
            else:
                features = self._encode_prompts()
        self._text_cache_key, self._text_cache = (key, features) if key is not None else (None, None)
        return features

    def _standalone_text_tower(self, state_dict):
        """A hook-free text tower + projection holding the tensors of a (gathered) state dict, without copies."""
        # The text tower's own transformers class (CLIPTextTransformer in 4.x, CLIPTextModel in 5.x), not a wrapper
        # class that FSDP2 or DeepSpeed may have substituted.
        text_class = next(c for c in type(self.clip.text_model).__mro__ if c.__module__.startswith("transformers."))
        text_config = self.config.clip_config.text_config
        with torch.device("meta"):
            text_model = text_class(text_config)
            text_projection = nn.Linear(text_config.hidden_size, self.config.clip_config.projection_dim, bias=False)
        for module, prefix in ((text_model, "clip.text_model."), (text_projection, "clip.text_projection.")):
            own = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
            module.load_state_dict(own, strict=False, assign=True)
            left = [name for name, t in itertools.chain(module.named_parameters(), module.named_buffers()) if t.is_meta]
            left = [name for name in left if not name.endswith("position_ids")]
            if left:
                raise ValueError(f"the state dict lacks {prefix}{left[0]} (and {len(left) - 1} more text tensors)")
        positions = text_model.embeddings.position_embedding.weight.shape[0]
        device = text_projection.weight.device
        text_model.embeddings.register_buffer(
            "position_ids", torch.arange(positions, device=device).expand((1, -1)), persistent=False
        )
        return text_model.eval(), text_projection.eval()

    def store_prompt_features(self, state_dict=None):
        """Encode the prompts NOW (never from a cache) and write the features and their fingerprint to the buffers
        that get saved; with `state_dict` (e.g. `accelerator.get_state_dict(model)` of a sharded model), from the
        weights in that dict, written into a copy of it that is returned.

        A model whose text weights are sharded (FSDP, ZeRO-3) cannot encode its prompts on one process: pass the
        gathered `state_dict`. An offloaded text tower is encoded through accelerate's hooks and ships no
        fingerprint (its weights cannot be read here), so a loaded copy re-encodes its prompts once.
        """
        with torch.no_grad():
            if state_dict is not None:
                state_dict = dict(state_dict)
                for name in ("prompt_input_ids", "prompt_attention_mask"):
                    state_dict.setdefault(name, getattr(self, name))
                text_model, text_projection = self._standalone_text_tower(state_dict)
                features = self._encode_prompts(
                    text_model, text_projection, state_dict["prompt_input_ids"], state_dict["prompt_attention_mask"]
                )
                fingerprint = self._fingerprint(self._text_state_items(state_dict))
                target = state_dict.get("prompt_text_features", self.prompt_text_features)
                state_dict["prompt_text_features"] = features.to(target.device, target.dtype)
                state_dict["prompt_text_fingerprint"] = fingerprint
                return state_dict
            sharded = self._text_weights_sharded()
            if sharded is not None:
                raise RuntimeError(
                    f"cannot encode the prompts on one process: {sharded}. Save from the gathered weights: "
                    "state = accelerator.get_state_dict(model) on every rank, then model.save_pretrained(folder, "
                    "state_dict=state, is_main_process=accelerator.is_main_process); the prompt features are computed "
                    "from that state dict on the main process, with no collective call."
                )
            features = self._encode_prompts()
            if self._text_weights_unreadable() is None:
                fingerprint = self._text_fingerprint()
            else:  # offloaded: the weights cannot be read here, so nothing certifies the features
                fingerprint = torch.zeros_like(self.prompt_text_fingerprint)
            if self.prompt_text_features.device.type != "meta":
                self.prompt_text_features.copy_(features.to(self.prompt_text_features.device))
                self.prompt_text_fingerprint.copy_(fingerprint.to(self.prompt_text_fingerprint.device))
        # The buffers just changed: cache what was encoded, under the new key.
        self._text_cache_key = self._text_weights_key()
        self._text_cache = features if self._text_cache_key is not None else None
        return None

    def save_pretrained(self, save_directory, *args, state_dict=None, **kwargs):
        """As `PreTrainedModel.save_pretrained`, shipping prompt features encoded now from the weights saved.

        Exactly the remote-code files `REMOTE_CODE_FILES` are shipped beside the weights. Sharded models (FSDP,
        ZeRO-3): pass `state_dict=accelerator.get_state_dict(model)`; the features are computed from it.
        """
        main = kwargs.get("is_main_process", True)
        if main and int(self.prompt_attention_mask.sum()) > 0:
            state_dict = self.store_prompt_features(state_dict) if state_dict is not None else self.store_prompt_features()
        if state_dict is not None:
            kwargs["state_dict"] = state_dict
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if main:
            ship_remote_code(save_directory, __file__)
        return result

    # -- images ----------------------------------------------------------------------------------------------
    def image_features(self, pixel_values):
        """L2-normalised image features of windows (..., 3, H, W) → (..., projection_dim)."""
        shape = pixel_values.shape[:-3]
        # No `return_dict`: transformers 4.5x's later CLIP towers reject it; every version returns an output object.
        pooled = self.clip.vision_model(pixel_values=pixel_values.reshape(-1, *pixel_values.shape[-3:])).pooler_output
        features = self.clip.visual_projection(pooled)
        features = features / features.norm(dim=-1, keepdim=True)
        return features.reshape(*shape, -1)

    def marginals(self, joint_probs):
        """Marginal distribution of every label axis, as a dict name → (batch, axis size)."""
        joint = joint_probs.reshape(joint_probs.shape[0], *self.config.axis_sizes)
        result = {}
        for position, name in enumerate(self.config.axis_names):
            other = tuple(1 + k for k in range(len(self.config.axis_sizes)) if k != position)
            result[name] = joint.sum(dim=other) if other else joint
        return result

    def _task_losses(self, score, marginals, mos, corpus_ids, scene_labels, distortion_labels):
        """The task losses that the given labels allow, after checking the labels' shapes and values."""
        batch, device = score.shape[0], score.device

        def per_image(name, tensor):
            tensor = torch.as_tensor(tensor, device=device)
            if tensor.dim() != 1 or tensor.shape[0] != batch:
                raise ValueError(f"{name} must have shape ({batch},) (one value per image), got {tuple(tensor.shape)}")
            return tensor

        losses = {}
        if mos is not None:
            if corpus_ids is None:
                raise ValueError(
                    "mos was given without corpus_ids: pass corpus_ids (one corpus id per image; "
                    "torch.zeros(batch, dtype=torch.long) for a batch from one corpus) so that quality pairs stay "
                    "within a corpus"
                )
            mos, corpus_ids = per_image("mos", mos), per_image("corpus_ids", corpus_ids)
            losses["loss_quality"] = quality_ranking_loss(score, mos, group_ids=corpus_ids)
        if scene_labels is not None and "scene" in marginals:
            scene_labels = torch.as_tensor(scene_labels, device=device)
            num_scenes = marginals["scene"].shape[1]
            if scene_labels.dim() != 2 or tuple(scene_labels.shape) != (batch, num_scenes):
                raise ValueError(
                    f"scene_labels must be multi-hot of shape ({batch}, {num_scenes}) (batch, number of scenes of "
                    f"this variant), got {tuple(scene_labels.shape)}"
                )
            labelled = (scene_labels != 0).any(dim=1)
            if bool(labelled.any()):
                losses["loss_scene"] = multilabel_fidelity_loss(marginals["scene"][labelled], scene_labels[labelled])
        if distortion_labels is not None and "distortion" in marginals:
            distortion_labels = per_image("distortion_labels", distortion_labels).long()
            num_classes = marginals["distortion"].shape[1]
            bad = distortion_labels[(distortion_labels < -1) | (distortion_labels >= num_classes)]
            if bad.numel():
                raise ValueError(
                    f"distortion_labels must be class ids in [0, {num_classes}) or -1 (unlabelled), got {int(bad[0])}"
                )
            labelled = distortion_labels >= 0
            if bool(labelled.any()):
                losses["loss_distortion"] = single_label_fidelity_loss(
                    marginals["distortion"][labelled], distortion_labels[labelled]
                )
        return losses

    def forward(
        self,
        pixel_values: torch.FloatTensor,
        patch_mask: Optional[torch.Tensor] = None,
        mos: Optional[torch.Tensor] = None,
        corpus_ids: Optional[torch.Tensor] = None,
        scene_labels: Optional[torch.Tensor] = None,
        distortion_labels: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ):
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, patches, 3, 224, 224)`):
                Windows from [`LIQEImageProcessor`] (a 4-d tensor is taken as one window per image).
            patch_mask (`torch.Tensor` of shape `(batch, patches)`, *optional*):
                1 for real windows, 0 for padding; logits are averaged over real windows only.
            mos (`torch.Tensor` of shape `(batch,)`, *optional*): opinion scores (higher is better) for the
                quality ranking loss, whose pairs stay within a corpus. Needs `corpus_ids`.
            corpus_ids (`torch.Tensor` of shape `(batch,)`, *optional*): the corpus of each image (required with
                `mos`; zeros for a batch from one corpus): MOS scales of different corpora are never compared.
            scene_labels (`torch.Tensor` of shape `(batch, scenes)`, *optional*): multi-hot scene targets; a row
                of zeros means "no scene label" and is left out of the scene loss (absent when no row has one).
            distortion_labels (`torch.Tensor` of shape `(batch,)`, *optional*): distortion class ids; -1 for
                images without a label (they are left out of that loss).
            Labels for an axis the variant does not have (e.g. scenes for the "quality" variant) are ignored.
        """
        return_dict = return_dict if return_dict is not None else getattr(self.config, "return_dict", True)
        if pixel_values.dim() == 4:
            pixel_values = pixel_values.unsqueeze(1)
        batch, patches = pixel_values.shape[:2]
        images = self.image_features(pixel_values.to(self.clip.visual_projection.weight.dtype))
        return self.forward_from_image_features(
            images, patch_mask, mos=mos, corpus_ids=corpus_ids, scene_labels=scene_labels,
            distortion_labels=distortion_labels, return_dict=return_dict,
        )

    def forward_from_image_features(
        self, images, patch_mask=None, mos=None, corpus_ids=None, scene_labels=None, distortion_labels=None,
        return_dict=None,
    ):
        """The rest of `forward` from `image_features(pixel_values)` (batch, patches, projection_dim): logits
        against the prompts, one softmax, marginals, score and losses (for training code that computes the
        image features its own way, e.g. from a cached frozen front)."""
        return_dict = return_dict if return_dict is not None else getattr(self.config, "return_dict", True)
        # Under a device_map split the towers may sit on different devices: the (small) text features move.
        text = self.prompt_features().to(images.device)
        # Logits, softmax and marginals in float32 even for a half-precision model: x100 logit scale and a
        # 495-way softmax amplify half-precision rounding of the cosines (~1e-3) beyond any useful tolerance.
        scale = self.clip.logit_scale.float().exp()
        patch_logits = scale * images.float() @ text.float().t()  # (batch, patches, C)
        if patch_mask is None:
            logits = patch_logits.mean(dim=1)
        else:
            mask = patch_mask.to(patch_logits.dtype).unsqueeze(-1)
            patch_logits = patch_logits * mask
            logits = patch_logits.sum(dim=1) / mask.sum(dim=1).clamp_min(1)
        joint_probs = logits.softmax(dim=-1)
        marginals = self.marginals(joint_probs)
        quality = self.config.axis(self.config.quality_axis)
        weights = torch.tensor(quality["weights"], dtype=joint_probs.dtype, device=joint_probs.device)
        score = marginals[self.config.quality_axis] @ weights

        losses = self._task_losses(score, marginals, mos, corpus_ids, scene_labels, distortion_labels)
        loss = sum(losses.values()) if losses else None

        output = LIQEOutput(
            loss=loss,
            score=score,
            logits=logits,
            joint_probs=joint_probs,
            quality_probs=marginals.get("quality"),
            scene_probs=marginals.get("scene"),
            distortion_probs=marginals.get("distortion"),
            axis_probs=tuple(marginals[name] for name in self.config.axis_names),
            patch_logits=patch_logits,
            **losses,
        )
        return output if return_dict else output.to_tuple()


# Loaded as Hub remote code, older transformers 4.5x (4.50 checked; 4.57 and 5 do it themselves) do not register
# the class for AutoModel, and its save_pretrained would then neither copy this file nor write auto_map.AutoModel.
LIQEModel.register_for_auto_class("AutoModel")

__all__ = ["LIQEModel", "LIQEPreTrainedModel", "LIQEOutput"]
