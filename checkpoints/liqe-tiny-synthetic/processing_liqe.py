# coding=utf-8
# Copyright 2026 The liqe authors.
"""Processor for LIQE: the image processor, the CLIP tokenizer and the prompt builder."""

import copy
import os

import transformers
from transformers.processing_utils import ProcessorMixin

from .configuration_liqe import build_prompts, ship_remote_code


class LIQEProcessor(ProcessorMixin):
    r"""
    Wraps a [`LIQEImageProcessor`] and a CLIP tokenizer, and builds LIQE's prompts: one per combination of
    the label axes (first axis outermost), written with `prompt_template`.

    `processor(images=...)` gives the model inputs (`pixel_values`, `patch_mask`); `processor(text=...)`
    tokenises text; `processor.tokenize_prompts()` tokenises all prompts for `LIQEModel.set_prompt_tokens`.
    """

    attributes = ["image_processor", "tokenizer"]
    # transformers 4 needs the sub-processor classes named here; transformers 5 resolves them through the Auto
    # mappings and logs a deprecation warning on every load when they are set.
    if int(transformers.__version__.split(".")[0]) < 5:
        image_processor_class = "AutoImageProcessor"
        tokenizer_class = "AutoTokenizer"

    def __init__(self, image_processor=None, tokenizer=None, label_axes=None, prompt_template=None, **kwargs):
        self.label_axes = copy.deepcopy(label_axes)
        self.prompt_template = prompt_template
        super().__init__(image_processor, tokenizer, **kwargs)

    # Read by transformers 4.5x < 4.57 only (to tell unused processor_config.json keys from ours).
    valid_kwargs = ["label_axes", "prompt_template"]

    @classmethod
    def from_args_and_dict(cls, args, processor_dict, **kwargs):
        # transformers 5 nests the image processor's settings in processor_config.json and drops them here itself;
        # 4.5x < 4.57 passes every key to __init__, where "image_processor" clashes with the loaded instance.
        processor_dict = {key: value for key, value in processor_dict.items() if key not in cls.attributes}
        return super().from_args_and_dict(args, processor_dict, **kwargs)

    @classmethod
    def from_liqe_config(cls, config, image_processor, tokenizer):
        return cls(image_processor, tokenizer, label_axes=config.label_axes, prompt_template=config.prompt_template)

    def __call__(self, images=None, text=None, **kwargs):
        """`images` → image processor kwargs (training, seed, return_window_boxes); `text` → tokenizer."""
        if images is None and text is None:
            raise ValueError("give images, text or both")
        image_keys = {"training", "seed", "generator", "return_window_boxes"}
        image_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in image_keys}
        kwargs.pop("return_tensors", None)
        output = {}
        if images is not None:
            output.update(self.image_processor(images, **image_kwargs))
        if text is not None:
            output.update(self.tokenizer(text, padding=kwargs.pop("padding", "longest"), return_tensors="pt", **kwargs))
        from transformers.feature_extraction_utils import BatchFeature

        return BatchFeature(data=output)

    def build_prompts(self):
        """All prompts, first axis outermost; needs `label_axes` and `prompt_template`."""
        if not self.label_axes or not self.prompt_template:
            raise ValueError("this processor has no label_axes / prompt_template (build it with from_liqe_config)")
        return build_prompts(self.label_axes, self.prompt_template)

    def tokenize_prompts(self):
        """(input_ids, attention_mask) of all prompts, padded to the longest."""
        encoded = self.tokenizer(self.build_prompts(), padding="longest", return_tensors="pt")
        return encoded["input_ids"], encoded["attention_mask"]

    def to_json_file(self, json_file_path):
        """Also write the image processor's own `preprocessor_config.json` beside `processor_config.json`.

        transformers 5 nests the image processor in `processor_config.json`; transformers 4.5x before 4.57 only
        read `preprocessor_config.json` (4.x writes it itself, with the same content). `save_pretrained` calls this
        between its snapshot and its upload, so `push_to_hub=True` uploads the file too.
        """
        super().to_json_file(json_file_path)
        if os.path.basename(json_file_path) == "processor_config.json" and self.image_processor is not None:
            self.image_processor.to_json_file(os.path.join(os.path.dirname(json_file_path), "preprocessor_config.json"))

    def save_pretrained(self, save_directory, *args, **kwargs):
        """As `ProcessorMixin.save_pretrained`, shipping exactly the remote-code files (`REMOTE_CODE_FILES`)."""
        result = super().save_pretrained(save_directory, *args, **kwargs)
        ship_remote_code(save_directory, __file__)
        return result

    @property
    def model_input_names(self):
        return ["pixel_values", "patch_mask"]


__all__ = ["LIQEProcessor"]
