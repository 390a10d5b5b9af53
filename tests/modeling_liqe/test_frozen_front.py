import pytest
import torch

from modeling_liqe.configuration_liqe import LIQEConfig
from modeling_liqe.frozen_front import (
    FrontCachedLIQE,
    FrozenFront,
    check_front_cache_exact,
    front_freeze_patterns,
    separability_problems,
)
from modeling_liqe.geometries import clip_config_for_geometry
from modeling_liqe.model_folder import prepare_model_and_processor
from modeling_liqe.modeling_liqe import LIQEModel
from modeling_liqe.nss_init import nss_init_

IMAGE = 64


def _nss_model(layers=3, variant="quality_distortion", seed=0):
    import re

    config = LIQEConfig(clip_config=clip_config_for_geometry("demo", image=IMAGE, vision_layers=layers), variant=variant,
                        patch_size=IMAGE)
    torch.manual_seed(seed)
    model, _ = prepare_model_and_processor(LIQEModel(config))  # prompts tokenised
    model.train()
    calibration = torch.randn(12, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(1))
    nss_init_(model, seed=seed, calibration_images=calibration)
    patterns = [re.compile(p) for p in front_freeze_patterns()]
    for name, parameter in model.named_parameters():
        if any(p.search(name) for p in patterns):
            parameter.requires_grad_(False)
    return model


def _windows(n, seed=2):
    return torch.randn(n, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(seed)).clamp(-1.8, 2.1)


@pytest.mark.parametrize("layers", [3, 4])
def test_training_from_the_cached_front_is_liqe_forward_in_value_and_gradient(layers):
    model = _nss_model(layers)
    # Move the trainable part off its start, so the check covers a trained model too.
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn_like(parameter))
    pixels = _windows(12)
    labels = dict(mos=torch.tensor([5.0, 4.1, 3.2, 2.3, 1.4, 1.0] * 2), corpus_ids=torch.tensor([0] * 6 + [1] * 6),
                  distortion_labels=torch.tensor([-1, 3, 3, 3, 3, 3, -1, 7, 7, 7, 7, 7]))
    wrapper = FrontCachedLIQE(model)
    states = FrozenFront(model)(pixels)
    assert states.shape == (12, model.config.clip_config.vision_config.hidden_size)

    direct = model(pixel_values=pixels[:, None], **labels)
    cached = wrapper(states[:, None], **labels)
    for key in ("logits", "score", "loss_quality", "loss_distortion"):
        assert torch.allclose(getattr(direct, key), getattr(cached, key), atol=1e-4, rtol=1e-5), key

    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert {n.split(".")[1] for n, _ in trainable} >= {"vision_model", "visual_projection", "text_model"}
    grads = []
    for output in (direct, cached):
        model.zero_grad()
        (output.loss_quality + output.loss_distortion).backward()
        grads.append({n: p.grad.clone() for n, p in trainable if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 0
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-5, rtol=1e-4), name
    assert check_front_cache_exact(model, _windows(3, seed=9)) <= 1e-6


def test_the_front_copy_does_not_follow_later_edits_of_the_model_and_is_picklable():
    import pickle

    model = _nss_model()
    front = FrozenFront(model)
    before = front(_windows(2))
    with torch.no_grad():
        model.clip.vision_model.embeddings.patch_embedding.weight.mul_(2)
    assert torch.equal(front(_windows(2)), before)
    assert torch.equal(pickle.loads(pickle.dumps(front))(_windows(2)), before)  # DataLoader workers get a copy


def test_a_tower_that_is_not_separable_is_refused_naming_why():
    model = _nss_model()
    assert separability_problems(model) == []

    trains = _nss_model()
    trains.clip.vision_model.encoder.layers[1].mlp.fc1.weight.requires_grad_(True)
    with pytest.raises(ValueError, match=r"encoder\.layers\.1 trains"):
        FrontCachedLIQE(trains)

    mixes = _nss_model()
    with torch.no_grad():
        mixes.clip.vision_model.encoder.layers[2].self_attn.v_proj.weight.fill_(0.01)
    with pytest.raises(ValueError, match=r"layers\.2\.self_attn is not zero"):
        FrontCachedLIQE(mixes)

    shallow = _nss_model(layers=2)
    with pytest.raises(ValueError, match="needs more than 2"):
        FrontCachedLIQE(shallow)

    random = LIQEModel(LIQEConfig(clip_config=clip_config_for_geometry("demo", image=IMAGE), variant="quality",
                                  patch_size=IMAGE))
    problems = separability_problems(random)
    assert any("embeddings trains" in p for p in problems) and any("is not zero" in p for p in problems)
