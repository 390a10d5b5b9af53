"""LIQEModel: parity with the authors' code on the golden set, the text-feature cache, masks, variants."""

import copy
import json
import os

import numpy as np
import pytest
import torch

from modeling_liqe import LIQEConfig, LIQEModel, LIQEProcessor
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
    output = model(
        **inputs, mos=torch.tensor([3.0]), corpus_ids=torch.zeros(1, dtype=torch.long),
        scene_labels=torch.eye(9)[:1], distortion_labels=torch.tensor([2]),
    )
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


@pytest.fixture(scope="module")
def one_model(openai_state, tmp_path_factory):
    """The golden model converted once (the behaviour tests below do not depend on the checkpoint packaging)."""
    folder = tmp_path_factory.mktemp("tiny-one")
    torch.save(openai_state, folder / "source.pt")
    return convert_checkpoint(folder / "source.pt")


# -- the prompt cache cannot go stale (issue 6, item 1) ---------------------------------------------------------


def _encode_counter(monkeypatch):
    calls = []
    original = LIQEModel._encode_prompts
    monkeypatch.setattr(LIQEModel, "_encode_prompts", lambda self, *a: calls.append(1) or original(self, *a))
    return calls


def _rebuilt(model):
    """A model built from `model`'s weights that never saw a cache or shipped features."""
    fresh = _fresh_model_from(model)
    fresh.prompt_text_fingerprint.zero_()
    return fresh


def _in_place_edits():
    # Edits that do not move the parameters' version counters (`.data`), as a LoRA merge or a hand-written EMA do.
    def projection(model):
        weight = model.clip.text_projection.weight
        weight.data.add_(0.05 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))

    def encoder_copy(model):
        weight = model.clip.text_model.encoder.layers[0].mlp.fc1.weight
        weight.data.copy_(weight.data.flip(0))

    def single_element(model):  # the smallest edit: one element, one step of its float32 bits
        weight = model.clip.text_model.final_layer_norm.weight
        weight.data[3] = torch.nextafter(weight.data[3], torch.tensor(10.0)) * 1.5

    def replaced_data(model):
        bias = model.clip.text_model.final_layer_norm.bias
        bias.data = bias.data + 0.1

    return {"projection .data.add_": projection, "encoder .data.copy_": encoder_copy,
            "one element": single_element, "param.data = ...": replaced_data}


@pytest.mark.parametrize("edit", list(_in_place_edits()))
def test_data_edit_rescores_like_a_fresh_model_also_after_save_and_reload(one_model, tmp_path, edit):
    model, processor = one_model
    model = _fresh_model_from(model)
    inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
    with torch.no_grad():
        before = model(**inputs).score  # fills the cache
        _in_place_edits()[edit](model)
        after = model(**inputs).score
        expected = _rebuilt(model)(**inputs).score
    torch.testing.assert_close(after, expected, atol=0, rtol=0)
    if edit != "one element":  # a one-ulp change moves the score below float32 resolution
        assert not torch.equal(before, after)
    model.save_pretrained(tmp_path / "saved")
    reloaded = LIQEModel.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).score, expected, atol=1e-6, rtol=0)
    assert reloaded._shipped_features_match()  # what it ships belongs to the weights it ships


def test_save_pretrained_never_ships_the_cache(one_model, tmp_path, monkeypatch):
    model, processor = one_model
    model = _fresh_model_from(model)
    inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
    with torch.no_grad():
        expected = model(**inputs).score
    # A cache that claims to be current but is wrong (as a stale cache would be): save re-encodes anyway.
    model._text_cache = torch.nn.functional.normalize(torch.randn_like(model._text_cache), dim=-1)
    calls = _encode_counter(monkeypatch)
    model.save_pretrained(tmp_path / "saved")
    assert calls == [1]
    with torch.no_grad():
        torch.testing.assert_close(
            LIQEModel.from_pretrained(tmp_path / "saved").eval()(**inputs).score, expected, atol=1e-6, rtol=0
        )


def test_cache_is_reused_while_unchanged_and_invalidate_prompt_cache_forgets_it(one_model, monkeypatch):
    model, _ = one_model
    model = _rebuilt(model)
    calls = _encode_counter(monkeypatch)
    pixel_values = torch.randn(1, 2, 3, 224, 224)
    with torch.no_grad():
        model(pixel_values=pixel_values)
        model(pixel_values=pixel_values)
        assert len(calls) == 1
        model.invalidate_prompt_cache()
        model(pixel_values=pixel_values)
        assert len(calls) == 2
        model.prompt_input_ids.data[0, 1] += 1  # the prompts are part of what the cache depends on
        model(pixel_values=pixel_values)
        assert len(calls) == 3


# -- text-tower gradients (issue 6, item 2) ---------------------------------------------------------------------


def _text_parameters(model):
    return [(n, p) for n, p in model.named_parameters() if n.startswith(("clip.text_model.", "clip.text_projection."))]


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("frozen", ["nothing", "text_projection"])
def test_fine_tuning_moves_the_text_tower_in_any_mode(one_model, mode, frozen):
    model, processor = one_model
    model = _fresh_model_from(model)
    model.train(mode == "train")
    if frozen == "text_projection":
        model.clip.text_projection.requires_grad_(False)
    inputs = processor(images=[str(FIXTURES / "images" / name) for name in ("astronaut.png", "hubble_deep_field.png")])
    text_before = {n: p.detach().clone() for n, p in _text_parameters(model)}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    output = model(**inputs, mos=torch.tensor([4.0, 1.0]), corpus_ids=torch.zeros(2, dtype=torch.long),
                   distortion_labels=torch.tensor([3, 2]))
    output.loss.backward()
    trainable = [(n, p) for n, p in _text_parameters(model) if p.requires_grad]
    assert len(trainable) == len(_text_parameters(model)) - (frozen == "text_projection")
    without = [n for n, p in trainable if p.grad is None]
    assert without == [], f"{len(without)} of {len(trainable)} text parameters got no gradient: {without[:3]}"
    optimizer.step()
    moved = [n for n, p in trainable if not torch.equal(p.detach(), text_before[n])]
    assert len(moved) >= len(trainable) - 2  # (a bias whose gradient is exactly zero may stay)
    assert torch.equal(model.clip.text_projection.weight, text_before["clip.text_projection.weight"]) == (
        frozen == "text_projection"
    )


def test_no_grad_or_frozen_text_tower_uses_the_cache(one_model, monkeypatch):
    model, _ = one_model
    model = _rebuilt(model).train()
    calls = _encode_counter(monkeypatch)
    pixel_values = torch.randn(1, 1, 3, 224, 224)
    with torch.no_grad():
        model(pixel_values=pixel_values)
        model(pixel_values=pixel_values)
    assert len(calls) == 1
    for _, parameter in _text_parameters(model):
        parameter.requires_grad_(False)
    model(pixel_values=pixel_values).score.sum().backward()  # the vision tower trains, the text tower is frozen
    model(pixel_values=pixel_values)
    assert len(calls) == 1


# -- loss guards (issue 6, item 5) ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_scored(one_model):
    """A model and the marginals of 3 random images, for the label checks."""
    model, _ = one_model
    return _fresh_model_from(model), torch.randn(3, 1, 3, 224, 224, generator=torch.Generator().manual_seed(0))


def test_mos_without_corpus_ids_is_refused(tiny_scored):
    model, pixel_values = tiny_scored
    with pytest.raises(ValueError, match=r"pass corpus_ids .*torch\.zeros"):
        model(pixel_values=pixel_values, mos=torch.tensor([1.0, 2.0, 3.0]))
    output = model(pixel_values=pixel_values, mos=torch.tensor([1.0, 2.0, 3.0]), corpus_ids=torch.tensor([0, 0, 1]))
    from modeling_liqe.losses import quality_ranking_loss

    expected = quality_ranking_loss(output.score, torch.tensor([1.0, 2.0, 3.0]), group_ids=[0, 0, 1])
    torch.testing.assert_close(output.loss_quality, expected)


@pytest.mark.parametrize(
    "labels,message",
    [
        ({"mos": torch.ones(2), "corpus_ids": torch.zeros(3)}, r"mos must have shape \(3,\)"),
        ({"mos": torch.ones(3), "corpus_ids": torch.zeros(3, 1)}, r"corpus_ids must have shape \(3,\)"),
        ({"scene_labels": torch.zeros(3, 8)}, r"scene_labels must be multi-hot of shape \(3, 9\)"),
        ({"scene_labels": torch.zeros(9)}, r"scene_labels must be multi-hot of shape \(3, 9\)"),
        ({"distortion_labels": torch.tensor([0, 11, 2])}, r"distortion_labels must be class ids in \[0, 11\).*got 11"),
        ({"distortion_labels": torch.tensor([0, -2, 2])}, r"got -2"),
        ({"distortion_labels": torch.zeros(3, 11)}, r"distortion_labels must have shape \(3,\)"),
    ],
)
def test_mis_shaped_labels_are_named(tiny_scored, labels, message):
    model, pixel_values = tiny_scored
    with pytest.raises(ValueError, match=message):
        model(pixel_values=pixel_values, **labels)


def test_scene_loss_leaves_out_rows_without_a_scene_label(tiny_scored):
    model, pixel_values = tiny_scored
    from modeling_liqe.losses import multilabel_fidelity_loss

    scenes = torch.zeros(3, 9)
    scenes[0, 2] = scenes[0, 4] = 1
    scenes[2, 8] = 1
    output = model(pixel_values=pixel_values, scene_labels=scenes)
    expected = multilabel_fidelity_loss(output.scene_probs[[0, 2]], scenes[[0, 2]])
    torch.testing.assert_close(output.loss_scene, expected)
    unmasked = multilabel_fidelity_loss(output.scene_probs, scenes)
    assert not torch.allclose(output.loss_scene, unmasked)
    # No row labelled: no scene loss at all (not a loss pulling towards uniform).
    none = model(pixel_values=pixel_values, scene_labels=torch.zeros(3, 9))
    assert none.loss_scene is None and none.loss is None
    # Distortion -1 rows are left out the same way; all -1: no distortion loss.
    assert model(pixel_values=pixel_values, distortion_labels=torch.full((3,), -1)).loss_distortion is None


# -- sharded and offloaded models (issue 6, item 6) -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from modeling_liqe.geometries import init_random_model

    folder = tmp_path_factory.mktemp("liqe-init") / "model"
    model, processor = init_random_model("tiny", output_dir=folder)
    with torch.no_grad():
        inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
        return folder, inputs, model(**inputs).score


@pytest.mark.parametrize("projection", ["disk", "cpu"])
def test_text_tower_offloaded_by_a_device_map(tiny_folder, tmp_path, projection, monkeypatch):
    # (On a CPU-only machine "cpu" is the execution device: only "disk" offloads. The GPU case, text tower in CPU
    # RAM, takes the same path: the weights are on the meta device between forwards.)
    folder, inputs, expected = tiny_folder
    device_map = {"clip.vision_model": "cpu", "clip.visual_projection": "cpu", "clip.text_model": "disk",
                  "clip.text_projection": projection, "clip.logit_scale": "cpu"}
    device_map.update({name: "cpu" for name, _ in LIQEModel.from_pretrained(folder).named_buffers() if "." not in name})
    model = LIQEModel.from_pretrained(folder, device_map=device_map, offload_folder=str(tmp_path / "offload")).eval()
    offloaded = [n for n, p in model.named_parameters() if p.is_meta]
    assert offloaded and all(n.startswith(("clip.text_model.", "clip.text_projection.")) for n in offloaded)
    calls = _encode_counter(monkeypatch)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).score, expected, atol=1e-6, rtol=0)
        # Its weights cannot be read here, so nothing proves them unchanged: encoded on every call.
        torch.testing.assert_close(model(**inputs).score, expected, atol=1e-6, rtol=0)
    assert len(calls) == 2
    model.save_pretrained(tmp_path / "saved")
    reloaded = LIQEModel.from_pretrained(tmp_path / "saved").eval()
    assert not bool(reloaded.prompt_text_fingerprint.any())  # no fingerprint shipped: re-encoded after loading
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).score, expected, atol=1e-6, rtol=0)


def test_text_tower_on_meta_without_a_loader_is_a_clear_error(tiny_folder):
    folder, inputs, _ = tiny_folder
    model = LIQEModel.from_pretrained(folder).eval()
    model.clip.text_model.to("meta")
    with pytest.raises(RuntimeError, match="on the meta device and nothing loads them"), torch.no_grad():
        model(**inputs)


def test_fsdp_sharded_text_tower_scores_and_saves_from_the_gathered_state_dict(tiny_folder, tmp_path):
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.fsdp import fully_shard

    folder, inputs, expected = tiny_folder
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        model = LIQEModel.from_pretrained(folder).eval()
        fully_shard(model.clip.text_model)  # (FSDP2 cannot shard the scalar logit_scale: the text tower alone)
        assert "FSDP" in model._text_weights_unreadable()
        with torch.no_grad():
            torch.testing.assert_close(model(**inputs).score, expected, atol=1e-6, rtol=0)
        with pytest.raises(RuntimeError, match=r"accelerator\.get_state_dict\(model\).*state_dict=state"):
            model.save_pretrained(tmp_path / "refused")
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        model.save_pretrained(tmp_path / "saved", state_dict=state)
    finally:
        dist.destroy_process_group()
    reloaded = LIQEModel.from_pretrained(tmp_path / "saved").eval()
    assert reloaded._shipped_features_match()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).score, expected, atol=1e-6, rtol=0)


def test_features_cached_under_inference_mode_serve_vision_training(one_model):
    model, _ = one_model
    model = _rebuilt(model)
    pixel_values = torch.randn(1, 1, 3, 224, 224)
    with torch.inference_mode():
        model(pixel_values=pixel_values)
    for _, parameter in _text_parameters(model):
        parameter.requires_grad_(False)
    model(pixel_values=pixel_values).score.sum().backward()  # the cached features are saved for backward
    assert model.clip.visual_projection.weight.grad is not None


# The ranks are forked from a parent that has done the imports (torch, transformers, this package: ~9 s of a
# 2-core machine per interpreter) and nothing else; spawned ranks each paid them again.
FSDP_TWO_RANKS = r'''
import os, sys, torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard
from modeling_liqe import LIQEModel, LIQEProcessor


def run(rank, folder, image, rendezvous, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    model = LIQEModel.from_pretrained(folder).eval()
    fully_shard(model.clip.text_model)
    inputs = LIQEProcessor.from_pretrained(folder)(images=image)
    with torch.no_grad():
        scores = [model(**inputs).score.item() for _ in range(2)]  # every rank encodes (a collective) alike
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:  # as accelerate's examples: only the main process writes, from the gathered weights
        model.save_pretrained(out, state_dict=state)
    dist.barrier()
    torch.save(torch.tensor(scores), f"{out}-rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.start_processes(run, args=tuple(sys.argv[1:5]), nprocs=2, start_method="fork")
'''


@pytest.mark.slow
def test_fsdp_two_ranks_score_and_save_without_hanging(tiny_folder, tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    folder, _, expected = tiny_folder
    script = tmp_path / "fsdp_two_ranks.py"
    script.write_text(FSDP_TWO_RANKS, encoding="utf-8")
    out = tmp_path / "saved"
    image = str(FIXTURES / "images" / "astronaut.png")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    completed = subprocess.run(
        [sys.executable, str(script), str(folder), image, str(tmp_path / "rendezvous"), str(out)],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    for rank in (0, 1):
        torch.testing.assert_close(torch.load(f"{out}-rank{rank}.pt"), expected.repeat(2), atol=1e-6, rtol=0)
    reloaded = LIQEModel.from_pretrained(out).eval()
    assert reloaded._shipped_features_match()
    with torch.no_grad():
        inputs = LIQEProcessor.from_pretrained(folder)(images=image)
        torch.testing.assert_close(reloaded(**inputs).score, expected, atol=1e-6, rtol=0)
