# coding=utf-8
# Copyright 2026 The liqe authors. Method: Zhang et al., CVPR 2023 (MIT-licensed reference code).
"""PyTorch LIQE: CLIP scores each image window against one prompt per (quality, scene, distortion)."""

import hashlib
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import CLIPModel, PreTrainedModel
from transformers.modeling_outputs import ModelOutput
from transformers.models.clip.modeling_clip import CLIPPreTrainedModel

from .configuration_liqe import LIQEConfig
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
    cached per set of text-tower weights: any in-place change of those weights (an optimizer step,
    `load_state_dict`, `.to()`) invalidates the cache, and in training mode with gradients they are
    recomputed every forward so the text tower trains.

    Example:

    ```python
    >>> from transformers import AutoModel, AutoProcessor
    >>> model = AutoModel.from_pretrained("org/liqe", trust_remote_code=True)
    >>> processor = AutoProcessor.from_pretrained("org/liqe", trust_remote_code=True)
    >>> model(**processor(images="photo.jpg")).score
    ```
    """

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

        `config_kwargs` go to [`LIQEConfig`] (e.g. `variant="quality"`). The prompts are tokenised with the
        checkpoint's own tokenizer when it has one, else with the CLIP BPE bundled with this package.
        """
        clip = CLIPModel.from_pretrained(clip_name_or_path)
        config = LIQEConfig(clip_config=clip.config.to_dict(), **config_kwargs)
        model = cls(config)
        model.clip.load_state_dict(clip.state_dict())
        model.clip.logit_scale.requires_grad_(False)
        if tokenizer is None:
            tokenizer = _checkpoint_tokenizer(clip_name_or_path, config.clip_config.text_config)
        if tokenizer is None:
            # importlib, not a relative import statement: the bundled vocabulary is package data of the
            # installed package, and save_pretrained must not copy clip_bpe.py into Hub folders.
            import importlib

            tokenizer = importlib.import_module(".clip_bpe", __package__).load_clip_tokenizer()
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

    def _text_weights_key(self):
        # Parameter version counters move on every in-place update (optimizer step, load_state_dict, copy_).
        tensors = list(self.clip.text_model.parameters()) + list(self.clip.text_projection.parameters())
        tensors += [self.prompt_input_ids, self.prompt_attention_mask, self.prompt_text_features, self.prompt_text_fingerprint]
        return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)

    def _encode_prompts(self):
        lengths = self.prompt_attention_mask.sum(dim=1)
        if int(lengths.min()) == 0:
            raise RuntimeError(
                "the prompt tokens are not set: load a converted checkpoint with from_pretrained, start from "
                "LIQEModel.from_clip(...), or call model.set_prompt_tokens_from_tokenizer(tokenizer)"
            )
        # Causal text tower: features at the end-of-text token do not depend on padding after it, so the
        # prompts only need the longest prompt's length (24 tokens, not 77).
        length = int(lengths.max())
        input_ids = self.prompt_input_ids[:, :length]
        attention_mask = self.prompt_attention_mask[:, :length]
        chunk = max(1, int(self.config.text_chunk_size))
        features = []
        for start in range(0, input_ids.shape[0], chunk):
            pooled = self.clip.text_model(
                input_ids=input_ids[start : start + chunk],
                attention_mask=attention_mask[start : start + chunk],
            ).pooler_output
            features.append(self.clip.text_projection(pooled))
        features = torch.cat(features)
        return features / features.norm(dim=-1, keepdim=True)

    def _text_fingerprint(self):
        """BLAKE2 digest of every tensor the prompt features depend on (text tower, projection, prompts)."""
        digest = hashlib.blake2b(digest_size=32)
        tensors = list(self.clip.text_model.state_dict().items()) + list(self.clip.text_projection.state_dict().items())
        tensors += [("prompt_input_ids", self.prompt_input_ids), ("prompt_attention_mask", self.prompt_attention_mask)]
        for name, tensor in tensors:
            tensor = tensor.detach().contiguous().cpu()
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        return torch.frombuffer(bytearray(digest.digest()), dtype=torch.uint8)

    def prompt_features(self):
        """L2-normalised text features of all prompts, (num_prompts, projection_dim)."""
        trains_text = self.training and torch.is_grad_enabled() and self.clip.text_projection.weight.requires_grad
        if trains_text:
            self._text_cache_key = self._text_cache = None
            return self._encode_prompts()
        key = self._text_weights_key()
        if key != self._text_cache_key:
            with torch.no_grad():
                shipped = self.prompt_text_fingerprint.cpu()
                if bool(shipped.any()) and torch.equal(shipped, self._text_fingerprint()):
                    self._text_cache = self.prompt_text_features.clone()
                else:
                    self._text_cache = self._encode_prompts()
            self._text_cache_key = key
        return self._text_cache

    def store_prompt_features(self):
        """Write the current prompt features and their fingerprint into the buffers that get saved."""
        with torch.no_grad():
            features = self.prompt_features() if not self.training else self._encode_prompts()
            self.prompt_text_features.copy_(features)
            self.prompt_text_fingerprint.copy_(self._text_fingerprint().to(self.prompt_text_fingerprint.device))
        # The buffers just changed version: keep the cache valid without re-encoding.
        self._text_cache_key = self._text_weights_key()
        self._text_cache = features

    def save_pretrained(self, *args, **kwargs):
        """As `PreTrainedModel.save_pretrained`, shipping the prompt features with the weights."""
        if int(self.prompt_attention_mask.sum()) > 0:
            self.store_prompt_features()
        return super().save_pretrained(*args, **kwargs)

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
                quality ranking loss, whose pairs stay within a corpus (`corpus_ids`, default: one corpus).
            scene_labels (`torch.Tensor` of shape `(batch, scenes)`, *optional*): multi-hot scene targets.
            distortion_labels (`torch.Tensor` of shape `(batch,)`, *optional*): distortion class ids; -1 for
                images without a label (they are left out of that loss).
        """
        return_dict = return_dict if return_dict is not None else getattr(self.config, "return_dict", True)
        if pixel_values.dim() == 4:
            pixel_values = pixel_values.unsqueeze(1)
        batch, patches = pixel_values.shape[:2]
        text = self.prompt_features()
        images = self.image_features(pixel_values.to(self.clip.visual_projection.weight.dtype))
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

        losses = {}
        if mos is not None:
            losses["loss_quality"] = quality_ranking_loss(score, mos.to(score.device), group_ids=corpus_ids)
        if scene_labels is not None and "scene" in marginals:
            losses["loss_scene"] = multilabel_fidelity_loss(marginals["scene"], scene_labels.to(score.device))
        if distortion_labels is not None and "distortion" in marginals:
            labelled = distortion_labels.to(score.device) >= 0
            if bool(labelled.any()):
                losses["loss_distortion"] = single_label_fidelity_loss(
                    marginals["distortion"][labelled], distortion_labels.to(score.device)[labelled]
                )
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
