"""The shipped demo checkpoint: a loadable Hub folder under 25 MB whose scores fall with blur and noise levels
on a photo it was never trained on (the synthetic corpus's held-out test photo 'chelsea')."""

import json

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

CHECKPOINT = REPO_ROOT / "checkpoints" / "liqe-tiny-synthetic"

pytestmark = pytest.mark.skipif(not (CHECKPOINT / "model.safetensors").exists(), reason=f"{CHECKPOINT} is not there")


def test_folder_is_a_small_safetensors_hub_folder_with_remote_code():
    files = {p.name: p.stat().st_size for p in CHECKPOINT.iterdir() if p.is_file()}
    assert sum(files.values()) <= 25 * 1024 * 1024
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pth", ".pkl"))]
    config = json.loads((CHECKPOINT / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_liqe.LIQEModel"
    for name in ("modeling_liqe.py", "configuration_liqe.py", "processor_config.json", "README.md"):
        assert name in files, name


@pytest.fixture(scope="module")
def scorer():
    import torch
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(CHECKPOINT, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(CHECKPOINT, trust_remote_code=True)

    def score(images):
        with torch.no_grad():
            out = model(**processor(images=images, return_tensors="pt"))
        return out.score.numpy()

    return score


def _chelsea():
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.chelsea()


def test_scores_fall_with_blur_on_an_unseen_photo(scorer):
    from PIL import Image, ImageFilter

    photo = Image.fromarray(_chelsea())
    scores = scorer([photo] + [photo.filter(ImageFilter.GaussianBlur(r)) for r in (1.5, 4.0)])
    assert np.all(np.diff(scores) < 0), scores


def test_scores_fall_with_noise_on_an_unseen_photo(scorer):
    photo = _chelsea().astype(np.float32)
    rng = np.random.default_rng(0)
    noisy = [np.clip(photo + rng.normal(0, s, photo.shape), 0, 255).astype(np.uint8) for s in (0.01, 12, 35)]
    scores = scorer(noisy)
    assert np.all(np.diff(scores) < 0), scores
    assert np.all((scores >= 1) & (scores <= 5))
