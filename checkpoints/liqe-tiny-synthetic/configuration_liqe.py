# coding=utf-8
# Copyright 2026 The liqe authors. Method: Zhang et al., "Blind Image Quality Assessment via
# Vision-Language Correspondence: A Multitask Learning Perspective", CVPR 2023 (MIT-licensed code).
"""LIQE model configuration: a CLIP backbone plus the label axes whose joint the prompts describe."""

import copy
import itertools

from transformers import CLIPConfig, PretrainedConfig

# Label vocabularies of the paper. Order matters: it fixes the prompt order and the label ids.
QUALITY_LEVELS = ["bad", "poor", "fair", "good", "perfect"]
QUALITY_WEIGHTS = [1.0, 2.0, 3.0, 4.0, 5.0]
SCENES = ["animal", "cityscape", "human", "indoor", "landscape", "night", "plant", "still_life", "others"]
DISTORTION_CLASSES = [
    "jpeg2000 compression",
    "jpeg compression",
    "noise",
    "blur",
    "color",
    "contrast",
    "overexposure",
    "underexposure",
    "spatial",
    "quantization",
    "other",
]
# The 33 fine labels of the corpora's label files, folded onto the 11 prompt classes.
FINE_DISTORTION_TO_CLASS = {
    "jpeg2000 compression": "jpeg2000 compression",
    "fastfading": "jpeg2000 compression",
    "jpeg compression": "jpeg compression",
    "white noise": "noise",
    "fnoise": "noise",
    "white with color": "noise",
    "impulse": "noise",
    "multiplicative": "noise",
    "white noise with denoise": "noise",
    "realistic noise": "noise",
    "gaussian blur": "blur",
    "lens": "blur",
    "motion": "blur",
    "shifting": "blur",
    "realistic blur": "blur",
    "diffusion": "color",
    "oversaturation": "color",
    "desaturation": "color",
    "contrast": "contrast",
    "sharpness": "contrast",
    "realistic contrast change": "contrast",
    "brighten": "overexposure",
    "overexposure": "overexposure",
    "darken": "underexposure",
    "underexposure": "underexposure",
    "jitter": "spatial",
    "noneccentricity patch": "spatial",
    "pixelate": "spatial",
    "color blocking": "spatial",
    "color quantization": "quantization",
    "quantization": "quantization",
    "shifting the mean": "other",
    "other realistic": "other",
}

QUALITY_AXIS = {"name": "quality", "labels": QUALITY_LEVELS, "weights": QUALITY_WEIGHTS}
SCENE_AXIS = {"name": "scene", "labels": SCENES}
DISTORTION_AXIS = {"name": "distortion", "labels": DISTORTION_CLASSES}

# The prompt sets of the paper and its releases. "quality" is the KonIQ-only release.
VARIANTS = {
    "full": {
        "label_axes": [QUALITY_AXIS, SCENE_AXIS, DISTORTION_AXIS],
        "prompt_template": "a photo of a {scene} with {distortion} artifacts, which is of {quality} quality",
    },
    "quality_scene": {
        "label_axes": [QUALITY_AXIS, SCENE_AXIS],
        "prompt_template": "a photo of a {scene}, which is of {quality} quality",
    },
    "quality_distortion": {
        "label_axes": [QUALITY_AXIS, DISTORTION_AXIS],
        "prompt_template": "a photo with {distortion} artifacts, which is of {quality} quality",
    },
    "quality": {
        "label_axes": [QUALITY_AXIS],
        "prompt_template": "a photo with {quality} quality",
    },
}


def build_prompts(label_axes, prompt_template):
    """One prompt per combination of the axes' labels, first axis outermost (row-major Cartesian product)."""
    names = [axis["name"] for axis in label_axes]
    return [
        prompt_template.format(**dict(zip(names, combination)))
        for combination in itertools.product(*(axis["labels"] for axis in label_axes))
    ]


class LIQEConfig(PretrainedConfig):
    r"""
    Configuration of a [`LIQEModel`]: a CLIP backbone and the label axes (quality, scene, distortion, or any
    user-defined set) whose Cartesian product the text prompts enumerate.

    Args:
        clip_config (`dict` or `CLIPConfig`, *optional*):
            The CLIP backbone. Defaults to transformers' CLIP ViT-B/32 geometry.
        variant (`str`, *optional*, defaults to `"full"`):
            One of `"full"`, `"quality_scene"`, `"quality_distortion"`, `"quality"`: fills `label_axes` and
            `prompt_template` when those are not given.
        label_axes (`list[dict]`, *optional*):
            Ordered axes, each `{"name": str, "labels": list[str]}`; the quality axis also has `"weights"`. The
            first axis is outermost in the prompt order (flat index = q*99 + s*11 + d for the full variant).
        prompt_template (`str`, *optional*):
            A `str.format` template with one `{name}` field per axis.
        quality_axis (`str`, *optional*, defaults to `"quality"`):
            Name of the axis whose weighted marginal is the score.
        distortion_fine_to_class (`dict`, *optional*):
            Map from the corpora's fine distortion labels to the distortion axis' classes.
        patch_size (`int`, *optional*, defaults to 224): side of a square window.
        num_test_patches (`int`, *optional*, defaults to 15): windows per image at test time.
        num_train_patches (`int`, *optional*, defaults to 3): random windows per image at training time.
        stride (`int`, *optional*, defaults to 32): grid stride for images under `large_image_side`.
        large_stride (`int`, *optional*, defaults to 48): grid stride when a side is >= `large_image_side`.
        large_image_side (`int`, *optional*, defaults to 1024): the inclusive threshold for `large_stride`.
        resize_short_side (`int`, *optional*, defaults to 768): images with both sides >= this are resized so
            that the short side equals it.
        text_chunk_size (`int`, *optional*, defaults to 128): prompts encoded at once (bounds peak memory).

    Example:

    ```python
    >>> from modeling_liqe import LIQEConfig, LIQEModel

    >>> config = LIQEConfig()  # full multitask variant on a ViT-B/32 backbone
    >>> config.num_prompts
    495
    >>> model = LIQEModel(config)
    ```
    """

    model_type = "liqe"
    sub_configs = {"clip_config": CLIPConfig}

    def __init__(
        self,
        clip_config=None,
        variant="full",
        label_axes=None,
        prompt_template=None,
        quality_axis="quality",
        distortion_fine_to_class=None,
        patch_size=224,
        num_test_patches=15,
        num_train_patches=3,
        stride=32,
        large_stride=48,
        large_image_side=1024,
        resize_short_side=768,
        text_chunk_size=128,
        **kwargs,
    ):
        if clip_config is None:
            clip_config = CLIPConfig()
        elif isinstance(clip_config, dict):
            clip_config = CLIPConfig(**clip_config)
        self.clip_config = clip_config

        if variant is not None and variant not in VARIANTS and (label_axes is None or prompt_template is None):
            raise ValueError(f"Unknown LIQE variant {variant!r}; expected one of {sorted(VARIANTS)}")
        preset = VARIANTS.get(variant, {})
        self.variant = variant
        self.label_axes = copy.deepcopy(label_axes if label_axes is not None else preset["label_axes"])
        self.prompt_template = prompt_template if prompt_template is not None else preset["prompt_template"]
        self.quality_axis = quality_axis
        self.distortion_fine_to_class = dict(
            distortion_fine_to_class if distortion_fine_to_class is not None else FINE_DISTORTION_TO_CLASS
        )
        self.patch_size = patch_size
        self.num_test_patches = num_test_patches
        self.num_train_patches = num_train_patches
        self.stride = stride
        self.large_stride = large_stride
        self.large_image_side = large_image_side
        self.resize_short_side = resize_short_side
        self.text_chunk_size = text_chunk_size
        self._validate_axes()
        super().__init__(**kwargs)

    def _validate_axes(self):
        names = [axis["name"] for axis in self.label_axes]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"label_axes must have distinct names, got {names}")
        for axis in self.label_axes:
            if not axis.get("labels"):
                raise ValueError(f"label axis {axis['name']!r} has no labels")
            if "weights" in axis and len(axis["weights"]) != len(axis["labels"]):
                raise ValueError(f"label axis {axis['name']!r}: {len(axis['weights'])} weights for {len(axis['labels'])} labels")
        if self.quality_axis not in names:
            raise ValueError(f"quality_axis {self.quality_axis!r} is not among the label axes {names}")
        quality = self.label_axes[names.index(self.quality_axis)]
        if "weights" not in quality:
            raise ValueError(f"the quality axis {self.quality_axis!r} needs 'weights' (the score of each level)")
        for name in names:
            if "{" + name + "}" not in self.prompt_template:
                raise ValueError(f"prompt_template {self.prompt_template!r} has no {{{name}}} field")

    @property
    def axis_names(self):
        return [axis["name"] for axis in self.label_axes]

    @property
    def axis_sizes(self):
        return [len(axis["labels"]) for axis in self.label_axes]

    @property
    def num_prompts(self):
        total = 1
        for size in self.axis_sizes:
            total *= size
        return total

    def axis(self, name):
        """The axis dict called `name`, or None when this variant has no such axis."""
        for axis in self.label_axes:
            if axis["name"] == name:
                return axis
        return None

    def prompts(self):
        """All prompts, first axis outermost (row-major over the Cartesian product of the axes)."""
        return build_prompts(self.label_axes, self.prompt_template)


__all__ = ["LIQEConfig", "build_prompts"]
