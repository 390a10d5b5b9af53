"""Named geometries, their overrides, and the initial logit scale."""

import math

import pytest

from modeling_liqe.geometries import CLIP_LOGIT_SCALE, clip_config_for_geometry, init_random_model, set_logit_scale


def test_init_sets_the_logit_scale_clip_checkpoints_carry(tmp_path):
    from modeling_liqe import LIQEModel

    assert CLIP_LOGIT_SCALE == pytest.approx(math.log(100))
    model, _ = init_random_model("tiny", seed=0, output_dir=tmp_path / "m")
    assert model.clip.logit_scale.item() == pytest.approx(math.log(100), abs=1e-6)
    assert not model.clip.logit_scale.requires_grad
    loaded = LIQEModel.from_pretrained(tmp_path / "m")
    assert loaded.clip.logit_scale.item() == pytest.approx(math.log(100), abs=1e-6)
    assert loaded.clip.logit_scale.exp().item() == pytest.approx(100.0, rel=1e-5)


def test_set_logit_scale_value_and_learnability():
    model, _ = init_random_model("tiny", seed=0)
    set_logit_scale(model, 2.5, learnable=True)
    assert model.clip.logit_scale.item() == 2.5 and model.clip.logit_scale.requires_grad
    set_logit_scale(model)
    assert model.clip.logit_scale.item() == pytest.approx(CLIP_LOGIT_SCALE) and not model.clip.logit_scale.requires_grad


def test_geometry_overrides_and_errors():
    small = clip_config_for_geometry("small")
    assert (small.vision_config.hidden_size, small.vision_config.num_hidden_layers, small.vision_config.patch_size,
            small.projection_dim, small.text_config.hidden_size) == (128, 4, 32, 64, 64)
    custom = clip_config_for_geometry("small", vision_width=192, vision_layers=2, patch=16, text_layers=1, embed=48)
    assert (custom.vision_config.hidden_size, custom.vision_config.num_attention_heads, custom.vision_config.num_hidden_layers,
            custom.vision_config.patch_size, custom.vision_config.image_size, custom.text_config.num_hidden_layers,
            custom.projection_dim) == (192, 3, 2, 16, 224, 1, 48)
    assert custom.logit_scale_init_value == pytest.approx(CLIP_LOGIT_SCALE)
    with pytest.raises(ValueError, match="unknown geometry 'huge'"):
        clip_config_for_geometry("huge")
    with pytest.raises(ValueError, match="unknown geometry key 'depth'"):
        clip_config_for_geometry("tiny", depth=3)
    with pytest.raises(ValueError, match="multiple of the patch size 48"):
        clip_config_for_geometry("tiny", patch=48)


def test_the_cli_offers_every_named_geometry():
    from modeling_liqe.cli import GEOMETRY_NAMES
    from modeling_liqe.geometries import GEOMETRIES

    assert sorted(GEOMETRY_NAMES) == sorted(GEOMETRIES)


def test_the_demo_spread_geometry_is_the_shipped_checkpoints_backbone():
    import json

    from tests.conftest import REPO_ROOT

    shipped = json.loads((REPO_ROOT / "checkpoints" / "liqe-tiny-synthetic" / "config.json").read_text())["clip_config"]
    built = clip_config_for_geometry("demo-spread")
    for tower, ours in (("vision_config", built.vision_config), ("text_config", built.text_config)):
        for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            assert shipped[tower][key] == getattr(ours, key), (tower, key)
    assert shipped["vision_config"]["patch_size"] == built.vision_config.patch_size == 32
    assert shipped["projection_dim"] == built.projection_dim


def test_demo_spread_has_the_heads_it_names_and_a_wrong_count_is_refused():
    built = clip_config_for_geometry("demo-spread")
    assert (built.vision_config.hidden_size, built.vision_config.num_attention_heads, built.vision_config.num_hidden_layers) == (224, 14, 4)
    # the other geometries keep OpenAI's width / 64
    assert clip_config_for_geometry("demo").vision_config.num_attention_heads == 3
    assert clip_config_for_geometry("demo", vision_heads=6).vision_config.num_attention_heads == 6
    with pytest.raises(ValueError, match="vision width 224 must be a multiple of the heads 5"):
        clip_config_for_geometry("demo-spread", vision_heads=5)
