# coding=utf-8
# Copyright 2026 The liqe authors.
"""The `image-quality-assessment` pipeline of LIQE, shipped as Hub remote code with the model.

```python
from transformers import pipeline

assess = pipeline("image-quality-assessment", model="org/liqe", trust_remote_code=True)
assess("photo.jpg")
# {'score': 3.41, 'label': 'good', 'quality_probs': {'bad': ..., ...}, 'scene_probs': {...}, 'distortion_probs': {...}}
```

Inputs: a file path, an http(s) URL, a PIL image or a uint8 array (or a list of them: one result each). A model
folder registers it through `custom_pipelines` in config.json and carries this file beside the other remote-code
files; it imports only transformers, torch, Pillow and its sibling files.
"""

import io
import urllib.request

from transformers import AutoImageProcessor, Pipeline

TASK = "image-quality-assessment"
URL_TIMEOUT_S = 30


def _fetch(url):
    """A PIL image from an http(s) URL (bytes read whole, then decoded by the processor's rules)."""
    from PIL import Image

    with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:  # noqa: S310 (http/https checked)
        data = response.read()
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as error:
        raise ValueError(f"{url}: cannot decode image ({error})") from None
    return image


class LIQEImageQualityPipeline(Pipeline):
    """Blind image quality assessment with LIQE: score (1 bad .. 5 perfect), the quality word, and the
    quality, scene and distortion distributions (None for an axis the model variant does not have)."""

    _load_image_processor = True
    _load_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if getattr(self, "image_processor", None) is None:
            # transformers 4.50 does not load the image processor of a remote-code model for a custom pipeline.
            source = getattr(self.model, "name_or_path", None) or self.model.config._name_or_path
            self.image_processor = AutoImageProcessor.from_pretrained(source, trust_remote_code=True)
        config = self.model.config
        self.axis_labels = {axis["name"]: list(axis["labels"]) for axis in config.label_axes}
        self.quality_axis = config.quality_axis

    def _sanitize_parameters(self, **kwargs):
        return {}, {}, {}

    def preprocess(self, image):
        if isinstance(image, str) and image.startswith(("http://", "https://")):
            image = _fetch(image)
        return dict(self.image_processor(image))

    def _forward(self, model_inputs):
        output = self.model(pixel_values=model_inputs["pixel_values"], patch_mask=model_inputs["patch_mask"])
        return {"score": output.score, "axis_probs": output.axis_probs}

    def postprocess(self, model_outputs):
        names = list(self.axis_labels)
        probs = {
            name: dict(zip(self.axis_labels[name], values[0].float().tolist()))
            for name, values in zip(names, model_outputs["axis_probs"])
        }
        quality = probs[self.quality_axis]
        return {
            "score": float(model_outputs["score"][0]),
            "label": max(quality, key=quality.get),
            "quality_probs": quality,
            "scene_probs": probs.get("scene"),
            "distortion_probs": probs.get("distortion"),
        }


__all__ = ["LIQEImageQualityPipeline", "TASK"]
