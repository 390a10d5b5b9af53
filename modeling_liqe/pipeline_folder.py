# coding=utf-8
# Copyright 2026 The liqe authors.
"""The `image-quality-assessment` pipeline's section of a model card. The pipeline itself ships with every saved
folder: `pipeline_liqe.py` is one of `configuration_liqe.REMOTE_CODE_FILES`, and every `LIQEConfig` carries its
`custom_pipelines` entry (read by `transformers.pipeline(..., trust_remote_code=True)`). Called by
`model_folder.save_model_folder` (so `liqe convert` and `liqe init` cards list it).

Not part of the Hub remote code.
"""

from pathlib import Path

from . import pipeline_liqe
from .configuration_liqe import CUSTOM_PIPELINES

PIPELINE_FILE = "pipeline_liqe.py"
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
    """List the pipeline on the model card of a saved `folder` (its file and config entry are already there)."""
    folder = Path(folder)
    if not (folder / PIPELINE_FILE).is_file() or "custom_pipelines" not in (folder / "config.json").read_text("utf-8"):
        raise FileNotFoundError(f"{folder}: no {PIPELINE_FILE} / custom_pipelines; save the model with save_pretrained")
    card = folder / "README.md"
    if card.exists() and "## Pipeline" not in card.read_text(encoding="utf-8"):
        text = card.read_text(encoding="utf-8")
        marker = "\n## Citation"
        text = text.replace(marker, CARD_SECTION + marker, 1) if marker in text else text + CARD_SECTION
        card.write_text(text, encoding="utf-8")
    return folder / PIPELINE_FILE


__all__ = ["add_pipeline_to_folder", "CUSTOM_PIPELINES", "PIPELINE_FILE"]
