# coding=utf-8
# Copyright 2026 The liqe authors.
"""What `liqe convert` and `liqe init` share: the processor that goes with a model, and the Hub-ready folder.

Not part of the Hub remote code.
"""

from pathlib import Path

import torch

from .clip_bpe import load_clip_tokenizer
from .image_processing_liqe import LIQEImageProcessor
from .pipeline_folder import add_pipeline_to_folder
from .processing_liqe import LIQEProcessor


def prepare_model_and_processor(model, tokenizer=None, dtype=torch.float32):
    """Build the processor matching `model.config`, set the model's prompt tokens with it; eval mode, `dtype`.

    `tokenizer` defaults to the CLIP BPE bundled with this package. Returns (model, processor).
    """
    config = model.config
    if tokenizer is None:
        tokenizer = load_clip_tokenizer(model_max_length=config.clip_config.text_config.max_position_embeddings)
    # The window geometry is the image processor's own (its defaults are the paper's).
    processor = LIQEProcessor.from_liqe_config(config, LIQEImageProcessor(), tokenizer)
    model.set_prompt_tokens(*processor.tokenize_prompts())
    return model.to(dtype).eval(), processor


def save_model_folder(output_dir, model, processor, card_text=None):
    """Write model (safetensors, remote code, shipped prompt features), processor and model card."""
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    if card_text is not None:
        (output_dir / "README.md").write_text(card_text, encoding="utf-8")
    add_pipeline_to_folder(output_dir)  # the pipeline section of the card (issue 7)
    return output_dir


def render_model_card(config, heading, intro, extra_tags=(), image_processor=None):
    """A model card: YAML front matter, `heading`, `intro` (a paragraph), the backbone, usage and citation.

    No `pipeline_tag`: no transformers pipeline runs a LIQE model (the Hub would offer a widget that fails).
    The window geometry is described from `image_processor` (default: `LIQEImageProcessor()`).
    """
    vision = config.clip_config.vision_config
    windows = image_processor if image_processor is not None else LIQEImageProcessor()
    tags = "".join(f"- {tag}\n" for tag in ("image-quality-assessment", "liqe", "clip", *extra_tags))
    axes = ", ".join(f"{a['name']} ({len(a['labels'])})" for a in config.label_axes)
    return f"""---
library_name: transformers
license: mit
tags:
{tags}---

# {heading}

{intro}

CLIP backbone: ViT, {vision.num_hidden_layers} layers, width {vision.hidden_size}, patch {vision.patch_size}.
{config.num_prompts} prompts over the axes {axes}.

```python
from transformers import AutoModel, AutoProcessor

model = AutoModel.from_pretrained("<this repo>", trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained("<this repo>", trust_remote_code=True)
print(model(**processor(images="photo.jpg")).score)  # 1 (bad) .. 5 (perfect)
```

The score is sum_i i * P(quality level i) over bad, poor, fair, good, perfect; the scene and the distortion are
the argmax of their marginals. Images with both sides >= {windows.resize_short_side} px are resized (short side \
{windows.resize_short_side}, Pillow bilinear), and the logits of {windows.num_test_patches} windows of \
{windows.patch_size} px are averaged.

## Citation

```bibtex
@inproceedings{{zhang2023liqe,
  title={{Blind Image Quality Assessment via Vision-Language Correspondence: A Multitask Learning Perspective}},
  author={{Zhang, Weixia and Zhai, Guangtao and Wei, Ying and Yang, Xiaokang and Ma, Kede}},
  booktitle={{IEEE Conference on Computer Vision and Pattern Recognition}},
  year={{2023}}
}}
```
"""


__all__ = ["prepare_model_and_processor", "save_model_folder", "render_model_card"]
