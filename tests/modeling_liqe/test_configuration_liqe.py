"""LIQEConfig: what it carries (label axes, prompts, quality labels) and what it no longer does (window geometry)."""

import json

import torch

from modeling_liqe import LIQEConfig, LIQEModel
from modeling_liqe.configuration_liqe import QUALITY_LEVELS
from modeling_liqe.geometries import init_random_model
from tests.conftest import FIXTURES

OLD_KEYS = {
    "patch_size": 224,
    "num_test_patches": 15,
    "num_train_patches": 3,
    "stride": 32,
    "large_stride": 48,
    "large_image_side": 1024,
    "resize_short_side": 768,
    "distortion_fine_to_class": {"white noise": "noise"},
}


def test_config_has_no_window_geometry_or_fine_label_map():
    config = LIQEConfig()
    for key in OLD_KEYS:
        assert not hasattr(config, key), key
        assert key not in config.to_dict()
    assert config.id2label == dict(enumerate(QUALITY_LEVELS))
    assert config.label2id == {label: i for i, label in enumerate(QUALITY_LEVELS)}
    assert LIQEConfig(variant=None, label_axes=[{"name": "quality", "labels": ["lo", "hi"], "weights": [0, 1]}],
                      prompt_template="{quality}").id2label == {0: "lo", 1: "hi"}


def test_an_older_folder_with_the_moved_keys_still_loads_and_scores(tmp_path):
    folder = tmp_path / "old"
    model, processor = init_random_model("tiny", output_dir=folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    # As written before the geometry moved to the image processor (and with transformers' default labels).
    config.update(OLD_KEYS, id2label={"0": "LABEL_0", "1": "LABEL_1"}, label2id={"LABEL_0": 0, "LABEL_1": 1})
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    loaded = LIQEModel.from_pretrained(folder).eval()
    for key in OLD_KEYS:
        assert not hasattr(loaded.config, key), key
    assert loaded.config.id2label == dict(enumerate(QUALITY_LEVELS))
    inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).score, model(**inputs).score, atol=1e-6, rtol=0)
    loaded.save_pretrained(tmp_path / "resaved")
    assert not set(OLD_KEYS) & set(json.loads((tmp_path / "resaved" / "config.json").read_text(encoding="utf-8")))
