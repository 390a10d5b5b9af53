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


# -- spread=True: a third fixed block pools per-patch statistics across the window ------------------------------------
def _spread_model(width=224, heads=14, layers=4, image=96):
    geometry = {"embed": 16, "vision_width": width, "vision_layers": layers, "patch": 32, "image": image,
                "text_width": 64, "text_layers": 1, "context": 77, "vocab": 49408}
    state = _shape_only_state_dict(geometry)
    config = LIQEConfig(clip_config=clip_config_from_openai_state_dict(state, vision_heads=heads), variant="quality_distortion", patch_size=image)
    torch.manual_seed(0)
    return LIQEModel(config).eval()


def _half_flat(size, seed=0):
    """Fine texture on the left half, a flat grey right half (like foliage beside sky)."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 128.0)
    image[:, : size // 2] += rng.normal(0, 25, (size, size // 2, 1))
    return np.clip(image, 0, 255).astype(np.uint8)


def test_spread_pools_patches_only_as_soft_extremes_and_mean():
    model = _spread_model()
    layout = nss_init_(model, seed=0, spread=True)  # unstandardised: the raw logs, comparable across statistics
    assert layout.front_layers == 3
    names = layout.feature_names()

    def feature(images, name):
        return nss_features(model, _normalise(images), layout)[:, names.index(name)].numpy()

    # A uniform window: every patch alike, so the soft maximum, minimum and mean agree -- which they would not if
    # the CLS token (no patch: zero energy, mid-grey luminance) were pooled too.
    for level in (40, 230):
        flat = [np.full((96, 96, 3), level, np.uint8)]
        assert feature(flat, "max_luminance") == pytest.approx(feature(flat, "min_luminance"), abs=1e-3)
        for family in ("laplacian", "box2"):
            values = [feature(flat, f"{stat}_{family}") for stat in ("max", "mean", "min")]
            assert np.ptp(values) < 1e-3
    # Half textured, half flat: the soft maximum sits above the mean, the soft minimum below it.
    mixed = [_half_flat(96)]
    for family in ("laplacian", "box2", "box4"):
        top, mean, bottom = (feature(mixed, f"{stat}_{family}")[0] for stat in ("max", "mean", "min"))
        assert top > mean + 0.5 and mean > bottom + 0.5, family
    # Noise lifts the quietest patches; texture alone does not: the same photo's soft minimum rises with noise.
    rng = np.random.default_rng(1)
    noisy = [np.clip(mixed[0] + rng.normal(0, s, mixed[0].shape), 0, 255).astype(np.uint8) for s in (0, 3, 10)]
    assert np.all(np.diff(feature(noisy, "min_laplacian")) > 0.5)
    # A pasted saturated block in a grey window lifts the loudest chroma patch far more than the mean.
    grey = np.full((96, 96, 3), 128, np.uint8)
    blocked = grey.copy()
    blocked[40:60, 40:60] = (220, 30, 30)
    gain_max = feature([blocked], "max_chroma_diff")[0] - feature([grey], "max_chroma_diff")[0]
    gain_mean = feature([blocked], "mean_chroma_diff")[0] - feature([grey], "mean_chroma_diff")[0]
    assert gain_max > gain_mean + 1.0


def test_spread_standardises_on_calibration_and_keeps_the_cached_front_exact():
    from modeling_liqe.frozen_front import FrontCachedLIQE, check_front_cache_exact

    model = _spread_model()
    calibration = _normalise([_photo(96, seed) for seed in range(3)] + [_half_flat(96, seed) for seed in range(3)])
    layout = nss_init_(model, seed=0, calibration_images=calibration, spread=True)
    features = nss_features(model, calibration, layout).numpy()
    spread = [layout.feature_names().index(f"{stat}_{source}") for stat, source in layout.spread_features]
    # standardised on the calibration windows (the spread floor 0.25 only binds for a near-constant feature)
    assert np.abs(features[:, spread].mean(axis=0)).max() < 1e-3
    model.set_prompt_tokens(torch.full((model.config.num_prompts, 4), 49407))
    model.requires_grad_(False)
    for p in model.clip.vision_model.encoder.layers[3].mlp.parameters():
        p.requires_grad_(True)
    assert check_front_cache_exact(model, calibration, front_layers=layout.front_layers) <= 1e-6
    # a two-block cache would skip the pooling block: refused, naming it
    with pytest.raises(ValueError, match=r"layers\.2\.self_attn is not zero"):
        FrontCachedLIQE(model, front_layers=2)


def test_spread_needs_a_fourth_block_and_enough_heads():
    with pytest.raises(ValueError, match="at least 4 vision layers"):
        nss_init_(_spread_model(layers=3), spread=True)
    with pytest.raises(ValueError, match=">= 11 vision attention heads"):
        nss_init_(_spread_model(heads=7), spread=True)
    with pytest.raises(ValueError, match="width >= 187"):
        nss_init_(_spread_model(width=176, heads=16), spread=True)


EXPOSURE_FEATURES = ("luminance", "rg", "yb", "max_luminance", "min_luminance")


def _energy_columns(layout):
    return [i for i, name in enumerate(layout.feature_names())
            if not (name.startswith(("shadow", "light")) or name in EXPOSURE_FEATURES)]


@pytest.mark.parametrize("spread", [False, True])
@pytest.mark.parametrize("size", [96, 160])
def test_luminance_normalised_energies_keep_still_when_the_light_is_scaled(spread, size):
    from modeling_liqe.frozen_front import check_front_cache_exact

    images = [_photo(size, seed) for seed in range(2)] + [_half_flat(size, seed) for seed in range(2)]
    calibration = _normalise(images)
    scaled = [np.clip(np.rint(image.astype(np.float32) * k), 0, 255).astype(np.uint8) for image in images for k in (0.6, 0.35)]
    changes = {}
    for normalised in (False, True):
        model = _spread_model(image=size) if spread else _model(image=size)
        layout = nss_init_(model, seed=0, calibration_images=calibration, spread=spread, luminance_normalised=normalised)
        base = nss_features(model, calibration, layout).numpy()
        darker = nss_features(model, _normalise(scaled), layout).numpy()
        energy = _energy_columns(layout)
        changes[normalised] = np.abs(darker[:, energy] - np.repeat(base[:, energy], 2, axis=0)).mean()
        # the exposure features still see the darkening
        names = layout.feature_names()
        assert np.all(darker[:, names.index("luminance")] < np.repeat(base[:, names.index("luminance")], 2) - 0.1)
        if normalised and spread:
            model.set_prompt_tokens(torch.full((model.config.num_prompts, 4), 49407))
            model.requires_grad_(False)
            for p in model.clip.vision_model.encoder.layers[3].mlp.parameters():
                p.requires_grad_(True)
            assert check_front_cache_exact(model, calibration, front_layers=layout.front_layers) <= 1e-6
    assert changes[True] < 0.35 * changes[False], changes


def test_luminance_normalised_energies_still_follow_noise_and_blur():
    from scipy import ndimage

    model = _spread_model()
    photo = _photo(96, seed=3)
    calibration = _normalise([_photo(96, seed) for seed in range(4)])
    layout = nss_init_(model, seed=0, calibration_images=calibration, spread=True, luminance_normalised=True)
    names = layout.feature_names()
    rng = np.random.default_rng(0)
    noisy = [np.clip(photo + rng.normal(0, s, photo.shape), 0, 255).astype(np.uint8) for s in (0, 8, 20)]
    blurred = [photo] + [ndimage.gaussian_filter(photo, sigma=(s, s, 0)) for s in (1.0, 2.5)]
    noise_features = nss_features(model, _normalise(noisy), layout).numpy()
    blur_features = nss_features(model, _normalise(blurred), layout).numpy()
    assert np.all(np.diff(noise_features[:, names.index("min_laplacian")]) > 0.3)
    assert np.all(np.diff(blur_features[:, names.index("laplacian")]) < -0.3)
