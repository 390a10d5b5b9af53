# coding=utf-8
# Copyright 2026 The liqe authors. Method: Zhang et al., "Blind Image Quality Assessment via
# Vision-Language Correspondence: A Multitask Learning Perspective", CVPR 2023 (MIT-licensed code).
"""LIQE model configuration: a CLIP backbone plus the label axes whose joint the prompts describe."""

import copy
import itertools
import os
import shutil

from transformers import CLIPConfig, PretrainedConfig

# Imported so that transformers fetches pipeline_liqe.py together with this file when a folder is loaded as
# remote code: config.custom_pipelines names it, and a re-saved folder must ship it again.
from .pipeline_liqe import LIQEImageQualityPipeline  # noqa: F401  (transformers parses "from .x import")

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
# The 33 fine labels of the corpora's label files, folded onto the 11 prompt classes (used by the corpus
# converters; the model only knows the 11 classes).
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


# Keys that LIQEConfig carried before the window geometry and the fine-label map moved out of it.
_MOVED_TO_IMAGE_PROCESSOR = (
    "patch_size",
    "num_test_patches",
    "num_train_patches",
    "stride",
    "large_stride",
    "large_image_side",
    "resize_short_side",
    "distortion_fine_to_class",
)


def _is_default_id2label(id2label):
    return all(str(label) == f"LABEL_{int(key)}" for key, label in dict(id2label).items())


CUSTOM_PIPELINES = {
    "image-quality-assessment": {
        "impl": "pipeline_liqe.LIQEImageQualityPipeline",
        "pt": ["AutoModel"],
        "tf": [],
        "type": "image",
    }
}

# The Hub remote code: exactly these modules are shipped in a saved folder, flat, importing only each other
# (relatively). `ship_remote_code` copies them and refuses a relative import of anything else.
REMOTE_CODE_FILES = (
    "configuration_liqe.py",
    "modeling_liqe.py",
    "image_processing_liqe.py",
    "processing_liqe.py",
    "losses.py",
    "pipeline_liqe.py",  # the image-quality-assessment pipeline (config.json custom_pipelines)
)


def ship_remote_code(save_directory, module_file):
    """Copy the remote-code files that sit beside `module_file` into `save_directory`; check the list is closed.

    transformers copies a saved class's module and whatever it imports relatively; a relative import of a module
    not in `REMOTE_CODE_FILES` would silently ship it (or, when absent, break the folder): refused here. In an
    installed package all listed files sit together; loaded as remote code, only those already loaded do.
    """
    from transformers.dynamic_module_utils import get_relative_imports

    source_dir = os.path.dirname(os.path.abspath(module_file))
    os.makedirs(save_directory, exist_ok=True)
    for name in REMOTE_CODE_FILES:
        source = os.path.join(source_dir, name)
        if not os.path.isfile(source):
            continue
        imported = {f"{module}.py" for module in get_relative_imports(source)}
        stray = sorted(imported - set(REMOTE_CODE_FILES))
        if stray:
            raise RuntimeError(
                f"{name} imports {', '.join(stray)} relatively, which is not Hub remote code (REMOTE_CODE_FILES in "
                "configuration_liqe.py): import it lazily from the installed package instead"
            )
        destination = os.path.join(save_directory, name)
        if not (os.path.exists(destination) and os.path.samefile(source, destination)):
            shutil.copyfile(source, destination)


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
            Name of the axis whose weighted marginal is the score. Its labels are also the config's `id2label`
            (bad .. perfect for the paper's variants).
        text_chunk_size (`int`, *optional*, defaults to 128): prompts encoded at once (bounds peak memory).

    The window geometry (224-px windows, strides, the 768-px resize) belongs to [`LIQEImageProcessor`], the only
    code that reads it; `config.json` files written before it moved there still load (those keys are dropped).

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
        text_chunk_size=128,
        **kwargs,
    ):
        for key in _MOVED_TO_IMAGE_PROCESSOR:
            kwargs.pop(key, None)
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
        self.text_chunk_size = text_chunk_size
        self._validate_axes()
        # The quality levels name the labels (not transformers' LABEL_0, LABEL_1), also when an older config.json
        # stored those defaults.
        levels = self.label_axes[self.axis_names.index(quality_axis)]["labels"]
        id2label = kwargs.pop("id2label", None)
        if id2label is None or _is_default_id2label(id2label):
            id2label = dict(enumerate(levels))
            kwargs.pop("label2id", None)
            kwargs.pop("num_labels", None)
        if kwargs.get("label2id") is None:
            kwargs["label2id"] = {label: int(key) for key, label in dict(id2label).items()}
        # `pipeline("image-quality-assessment", model=folder, trust_remote_code=True)` finds the pipeline shipped
        # with the remote code (pipeline_liqe.py, in REMOTE_CODE_FILES) through this entry.
        kwargs.setdefault("custom_pipelines", dict(CUSTOM_PIPELINES))
        super().__init__(id2label=id2label, **kwargs)

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


__all__ = ["LIQEConfig", "build_prompts", "REMOTE_CODE_FILES", "ship_remote_code"]
