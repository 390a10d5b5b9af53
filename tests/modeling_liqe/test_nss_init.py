import numpy as np
import pytest
import torch

from modeling_liqe.configuration_liqe import LIQEConfig
from modeling_liqe.convert_liqe_checkpoint import clip_config_from_openai_state_dict
from modeling_liqe.geometries import _shape_only_state_dict
from modeling_liqe.image_processing_liqe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from modeling_liqe.modeling_liqe import LIQEModel
from modeling_liqe.nss_init import nss_features, nss_init_


def _model(width=192, patch=32, image=96, layers=2):
    geometry = {"embed": 16, "vision_width": width, "vision_layers": layers, "patch": patch, "image": image,
                "text_width": 64, "text_layers": 1, "context": 77, "vocab": 49408}
    config = LIQEConfig(clip_config=clip_config_from_openai_state_dict(_shape_only_state_dict(geometry)), variant="quality_distortion", patch_size=image)
    torch.manual_seed(0)
    return LIQEModel(config).eval()


def _normalise(images):
    x = (np.asarray(images, np.float32) / 255.0 - np.asarray(OPENAI_CLIP_MEAN, np.float32)) / np.asarray(OPENAI_CLIP_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _photo(size, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    base = 120 + 50 * np.sin(xx / 6.0 + yy / 9.0) + 30 * np.cos(yy / 4.0)
    image = base[..., None] + np.array([10, 0, -10]) + rng.normal(0, 2, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("patch", [16, 32])
def test_features_follow_noise_blur_and_exposure(patch):
    from scipy import ndimage

    model = _model(patch=patch)
    calibration = _normalise([_photo(96, seed) for seed in range(4)])
    layout = nss_init_(model, seed=0, calibration_images=calibration)
    photo = _photo(96)
    rng = np.random.default_rng(1)
    noisy = [np.clip(photo + rng.normal(0, s, photo.shape), 0, 255).astype(np.uint8) for s in (0, 4, 12)]
    blurred = [ndimage.gaussian_filter(photo, (s, s, 0)) for s in (0.01, 1.0, 2.5)]
    dark = [(photo * f).astype(np.uint8) for f in (1.0, 0.6, 0.3)]
    names = layout.energy_families + ["luminance", "rg", "yb"]
    laplacian, luminance = names.index("laplacian"), names.index("luminance")
    f_noise = nss_features(model, _normalise(noisy), layout).numpy()
    f_blur = nss_features(model, _normalise(blurred), layout).numpy()
    f_dark = nss_features(model, _normalise(dark), layout).numpy()
    assert np.all(np.diff(f_noise[:, laplacian]) > 0)  # more noise, more fine-scale energy
    assert np.all(np.diff(f_blur[:, laplacian]) < 0)  # more blur, less
    assert np.all(np.diff(f_dark[:, luminance]) < 0)  # darker, lower mean luminance
    shadow = names.index("shadow_0.35")
    assert np.all(np.diff(f_dark[:, shadow]) > 0)  # darker, more of the window in the shadows


def test_layernorms_are_near_identity_and_model_still_scores():
    model = _model()
    nss_init_(model, seed=0)
    x = _normalise([_photo(96)])
    vision = model.clip.vision_model
    embeddings = vision.embeddings(x)
    assert torch.allclose(vision.pre_layrnorm(embeddings), embeddings, rtol=1e-3, atol=1e-3)
    # Still a plain LIQEModel: scores come out of the joint softmax.
    model.set_prompt_tokens(torch.full((model.config.num_prompts, 4), 49407))
    with torch.no_grad():
        score = model(pixel_values=x).score
    assert score.shape == (1,) and 1.0 <= float(score) <= 5.0


def test_too_narrow_or_too_shallow_is_refused():
    with pytest.raises(ValueError, match="width"):
        nss_init_(_model(width=64))
    with pytest.raises(ValueError, match="2 vision layers"):
        nss_init_(_model(layers=1))
