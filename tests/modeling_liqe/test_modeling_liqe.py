"""LIQEModel: parity with the authors' code on the golden set, the text-feature cache, masks, variants."""

import copy
import json

import numpy as np
import pytest
import torch

from modeling_liqe import LIQEConfig, LIQEModel
from modeling_liqe.convert_liqe_checkpoint import convert_checkpoint
from tests.conftest import FIXTURES
from tests.openai_clip_recipe import TINY_CHECKSUM, build_openai_clip_state_dict, state_dict_checksum

GOLDEN = json.loads((FIXTURES / "golden_expected.json").read_text())
IMAGES = sorted(GOLDEN["images"])


@pytest.fixture(scope="module")
def openai_state():
    state = build_openai_clip_state_dict(seed=1234)
    assert state_dict_checksum(state) == TINY_CHECKSUM  # the golden weights, bit for bit
    return state


@pytest.fixture(scope="module", params=["openai", "pyiqa"])
def converted(request, openai_state, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tiny-{request.param}")
    if request.param == "openai":
        payload = openai_state
    else:  # the pyiqa packaging of the same tensors
        payload = {"params": {f"clip_model.{key}": value for key, value in openai_state.items()}}
    torch.save(payload, folder / "source.pt")
    return convert_checkpoint(folder / "source.pt", folder / "model")


@pytest.mark.parametrize("name", IMAGES)
def test_golden_parity(converted, name):
    model, processor = converted
    expected = GOLDEN["images"][name]
    with torch.no_grad():
        output = model(**processor(images=str(FIXTURES / expected["file"])))
    np.testing.assert_allclose(output.joint_probs[0].numpy(), expected["joint_probs"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(output.logits[0].numpy(), expected["logits"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(output.quality_probs[0].numpy(), expected["quality_probs"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(output.scene_probs[0].numpy(), expected["scene_probs"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(output.distortion_probs[0].numpy(), expected["distortion_probs"], atol=1e-5, rtol=0)
    assert abs(output.score.item() - expected["score"]) <= 1e-4
    assert int(output.scene_probs.argmax()) == expected["scene_argmax"]
    assert int(output.distortion_probs.argmax()) == expected["distortion_argmax"]


def test_batch_equals_single_images(converted):
    model, processor = converted
    files = [str(FIXTURES / GOLDEN["images"][name]["file"]) for name in IMAGES[:4]]
    with torch.no_grad():
        batched = model(**processor(images=files)).score
        single = torch.cat([model(**processor(images=f)).score for f in files])
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=0)


def test_output_shapes_and_patch_mask(converted):
    model, _ = converted
    pixel_values = torch.randn(2, 4, 3, 224, 224)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    with torch.no_grad():
        output = model(pixel_values=pixel_values, patch_mask=mask)
        first_two = model(pixel_values=pixel_values[:1, :2])
    assert output.score.shape == (2,)
    assert output.logits.shape == output.joint_probs.shape == (2, 495)
    assert output.patch_logits.shape == (2, 4, 495)
    assert output.quality_probs.shape == (2, 5) and output.scene_probs.shape == (2, 9)
    assert output.distortion_probs.shape == (2, 11)
    torch.testing.assert_close(output.joint_probs.sum(-1), torch.ones(2))
    assert ((output.score >= 1) & (output.score <= 5)).all()
    # Padded windows are ignored: image 0 with a 2-window mask equals its first two windows alone.
    torch.testing.assert_close(output.logits[:1], first_two.logits, atol=1e-4, rtol=1e-5)  # logits are x100 cosines


def test_logit_scale_is_frozen_and_everything_else_trains(converted):
    model, _ = converted
    assert not model.clip.logit_scale.requires_grad
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert any(name.startswith("clip.text_model") for name in trainable)
    assert any(name.startswith("clip.vision_model") for name in trainable)


def _fresh_model_from(model):
    clone = LIQEModel(copy.deepcopy(model.config))
    clone.load_state_dict(model.state_dict())
    return clone.eval()


def test_text_cache_is_reused_and_invalidated_by_an_optimizer_step(converted):
    model, processor = converted
    model = _fresh_model_from(model)
    inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
    with torch.no_grad():
        before = model(**inputs).score
        cached = model.prompt_features()
        assert model.prompt_features() is cached  # reused, not re-encoded

    # One real training step on the text tower (both towers train).
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    output = model(**inputs, mos=torch.tensor([3.0]), scene_labels=torch.zeros(1, 9), distortion_labels=torch.tensor([2]))
    output.loss.backward()
    optimizer.step()
    model.eval()

    with torch.no_grad():
        after = model(**inputs).score
        fresh = _fresh_model_from(model)(**inputs).score
    assert not torch.allclose(before, after)  # the step changed the scores ...
    torch.testing.assert_close(after, fresh, atol=0, rtol=0)  # ... exactly as a model built from the new weights


def test_text_cache_is_invalidated_by_load_state_dict(converted):
    model, processor = converted
    model = _fresh_model_from(model)
    inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
    other = _fresh_model_from(model)
    with torch.no_grad():
        for parameter in other.clip.text_model.encoder.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
        model(**inputs)  # fills the cache with the old text tower
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(model(**inputs).score, other(**inputs).score, atol=0, rtol=0)


def test_model_without_prompt_tokens_says_so():
    config = LIQEConfig(clip_config=_tiny_clip_config())
    with pytest.raises(RuntimeError, match="prompt tokens are not set"):
        LIQEModel(config)(pixel_values=torch.zeros(1, 1, 3, 224, 224))


def _tiny_clip_config():
    from modeling_liqe.convert_liqe_checkpoint import clip_config_from_openai_state_dict

    return clip_config_from_openai_state_dict(build_openai_clip_state_dict(seed=0))


@pytest.mark.parametrize("variant,sizes", [("quality", [5]), ("quality_scene", [5, 9]), ("quality_distortion", [5, 11])])
def test_variants_are_configuration(openai_state, tmp_path, variant, sizes):
    torch.save(openai_state, tmp_path / "source.pt")
    model, processor = convert_checkpoint(tmp_path / "source.pt", variant=variant)
    assert len(processor.build_prompts()) == int(np.prod(sizes))
    with torch.no_grad():
        output = model(**processor(images=str(FIXTURES / "images" / "astronaut.png")))
    assert [p.shape[1] for p in output.axis_probs] == sizes
    assert output.quality_probs.shape == (1, 5)
    assert (output.scene_probs is None) == ("scene" not in variant)
    assert (output.distortion_probs is None) == ("distortion" not in variant)


def test_user_defined_axes(openai_state, tmp_path):
    from modeling_liqe.clip_bpe import load_clip_tokenizer

    axes = [
        {"name": "quality", "labels": ["low", "high"], "weights": [0.0, 1.0]},
        {"name": "style", "labels": ["photo", "painting", "render"]},
    ]
    config = LIQEConfig(
        clip_config=_tiny_clip_config(), variant=None, label_axes=axes, prompt_template="a {style} of {quality} quality"
    )
    assert config.prompts()[:3] == ["a photo of low quality", "a painting of low quality", "a render of low quality"]
    model = LIQEModel(config).eval()
    model.set_prompt_tokens_from_tokenizer(load_clip_tokenizer())
    with torch.no_grad():
        output = model(pixel_values=torch.randn(2, 3, 3, 224, 224))
    assert output.joint_probs.shape == (2, 6)
    assert [p.shape[1] for p in output.axis_probs] == [2, 3]
    torch.testing.assert_close(output.score, output.axis_probs[0][:, 1])


def test_config_rejects_inconsistent_axes():
    with pytest.raises(ValueError, match="no \\{scene\\} field"):
        LIQEConfig(variant=None, label_axes=[{"name": "quality", "labels": ["a"], "weights": [1]}, {"name": "scene", "labels": ["x"]}], prompt_template="{quality}")
    with pytest.raises(ValueError, match="needs 'weights'"):
        LIQEConfig(variant=None, label_axes=[{"name": "quality", "labels": ["a"]}], prompt_template="{quality}")
    with pytest.raises(ValueError, match="Unknown LIQE variant"):
        LIQEConfig(variant="nope")


def test_saved_folder_ships_prompt_features_and_they_are_trusted_only_for_the_same_weights(converted, tmp_path, monkeypatch):
    model, processor = converted
    model.save_pretrained(tmp_path / "saved")
    inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
    with torch.no_grad():
        expected = model(**inputs).score

    calls = []
    original = LIQEModel._encode_prompts
    monkeypatch.setattr(LIQEModel, "_encode_prompts", lambda self: calls.append(1) or original(self))

    loaded = LIQEModel.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).score, expected, atol=1e-6, rtol=0)
    assert calls == []  # the shipped features were used, no prompt was encoded

    # Change the text tower: the shipped features no longer match and are recomputed.
    with torch.no_grad():
        loaded.clip.text_projection.weight.mul_(1.5).add_(0.01)
        rescored = loaded(**inputs).score
        fresh = _fresh_model_from(loaded)
        fresh.prompt_text_fingerprint.zero_()  # a model that has never seen shipped features
        torch.testing.assert_close(rescored, fresh(**inputs).score, atol=0, rtol=0)
    assert len(calls) >= 1


def test_from_clip_starts_from_a_transformers_clip_folder(converted, tmp_path):
    model, processor = converted
    model.clip.save_pretrained(tmp_path / "clip")  # a plain transformers CLIP checkpoint, no tokenizer
    started = LIQEModel.from_clip(str(tmp_path / "clip")).eval()
    assert started.config.num_prompts == 495
    assert not started.clip.logit_scale.requires_grad
    with torch.no_grad():
        inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
        torch.testing.assert_close(started(**inputs).score, model(**inputs).score, atol=1e-6, rtol=0)
    quality_only = LIQEModel.from_clip(str(tmp_path / "clip"), variant="quality")
    assert quality_only.config.num_prompts == 5
    # A checkpoint that ships its tokenizer is tokenised with it (same ids here).
    processor.tokenizer.save_pretrained(tmp_path / "clip")
    with_tokenizer = LIQEModel.from_clip(str(tmp_path / "clip"))
    assert torch.equal(with_tokenizer.prompt_input_ids, started.prompt_input_ids)
