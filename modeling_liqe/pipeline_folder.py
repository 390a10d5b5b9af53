# coding=utf-8
# Copyright 2026 The liqe authors.
"""Ship the `image-quality-assessment` pipeline in a model folder: the flat `pipeline_liqe.py`, its registration
(`custom_pipelines` in config.json, read by `transformers.pipeline(..., trust_remote_code=True)`) and a model
card section. Called by `model_folder.save_model_folder` (so `liqe convert` and `liqe init` folders have it).

Not part of the Hub remote code.
"""

import json
import shutil
from pathlib import Path

from . import pipeline_liqe

PIPELINE_FILE = "pipeline_liqe.py"
CUSTOM_PIPELINES = {
    pipeline_liqe.TASK: {
        "impl": "pipeline_liqe.LIQEImageQualityPipeline",
        "pt": ["AutoModel"],
        "tf": [],
        "type": "image",
    }
}
CARD_SECTION = f"""
## Pipeline

```python
from transformers import pipeline

assess = pipeline("{pipeline_liqe.TASK}", model="<this repo>", trust_remote_code=True)
assess("photo.jpg")  # or an http(s) URL, a PIL image, a list of them
# {{'score': 3.41, 'label': 'good', 'quality_probs': {{...}}, 'scene_probs': {{...}}, 'distortion_probs': {{...}}}}
```

`label` is the most likely quality level; `score` is the expected level (1 bad .. 5 perfect), as `liqe score`
gives. The pipeline is `{PIPELINE_FILE}` in this repository, registered under `custom_pipelines` in config.json.
"""


def add_pipeline_to_folder(folder):
    """Copy the pipeline file into `folder`, register it in config.json, list it on the model card."""
    folder = Path(folder)
    shutil.copyfile(pipeline_liqe.__file__, folder / PIPELINE_FILE)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["custom_pipelines"] = CUSTOM_PIPELINES
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card = folder / "README.md"
    if card.exists() and "## Pipeline" not in card.read_text(encoding="utf-8"):
        text = card.read_text(encoding="utf-8")
        marker = "\n## Citation"
        text = text.replace(marker, CARD_SECTION + marker, 1) if marker in text else text + CARD_SECTION
        card.write_text(text, encoding="utf-8")
    return folder / PIPELINE_FILE


__all__ = ["add_pipeline_to_folder", "CUSTOM_PIPELINES", "PIPELINE_FILE"]
