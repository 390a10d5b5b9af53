import numpy as np
import pytest

from datasets_scripts.ladders import (
    COLOUR_ONLY_TYPE_IDS,
    PRISTINE_MOS,
    TRAINING_PHOTOS,
    UNSEEN_PHOTOS,
    LINEAR_DARKEN_GAINS,
    LadderSampler,
    composite_sky,
    duotone,
    load_photos,
    scale_exposure,
)
from datasets_scripts.synthetic import DISTORTIONS_BY_ID
from modeling_liqe.configuration_liqe import DISTORTION_CLASSES


def _photo(name, size=(80, 96), grey=False, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth content plus texture, so every distortion visibly changes it.
    yy, xx = np.mgrid[: size[0], : size[1]]
    base = 127 + 60 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 5.0)[..., None] + rng.normal(0, 10, (*size, 3))
    if grey:
        base = np.repeat(base.mean(axis=2, keepdims=True), 3, axis=2)
    return {"name": name, "image": np.clip(base, 0, 255).astype(np.uint8), "grey": grey, "source": "test", "licence": "test"}


@pytest.mark.parametrize("type_id", [1, 10, 11, 17, 21])
def test_ladder_is_pristine_then_levels_in_order(type_id):
    sampler = LadderSampler([_photo("a")], crop_size=48, seed=3)
    ladder = sampler.sample(type_id=type_id)
    assert ladder.images.shape == (6, 48, 48, 3) and ladder.images.dtype == np.uint8
    assert ladder.mos[0] == PRISTINE_MOS
    assert np.all(np.diff(ladder.mos) < 0)  # strictly worse with every level
    class_id = DISTORTION_CLASSES.index(DISTORTIONS_BY_ID[type_id].distortion_class)
    assert ladder.distortion_class.tolist() == [-1] + [class_id] * 5
    # The error against the pristine crop grows with the level (same crop position for the whole ladder).
    errors = [np.abs(ladder.images[k].astype(int) - ladder.images[0]).mean() for k in range(1, 6)]
    assert errors[0] > 0 and errors[-1] > errors[0]


def test_stream_is_seeded_and_varies():
    photos = [_photo("a"), _photo("b", seed=1)]
    first = [LadderSampler(photos, crop_size=32, seed=7).sample() for _ in range(1)][0]
    again = LadderSampler(photos, crop_size=32, seed=7).sample()
    assert np.array_equal(first.images, again.images) and first.type_id == again.type_id
    sampler = LadderSampler(photos, crop_size=32, seed=7)
    crops = [sampler.sample(type_id=10).images[0] for _ in range(4)]
    assert len({c.tobytes() for c in crops}) == 4  # new crop / flip / channels every time


def test_scale_exposure_is_a_gain_in_linear_light():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    assert np.array_equal(scale_exposure(levels, 1.0), levels)  # the sRGB round trip loses nothing
    darker, brighter = scale_exposure(levels, 0.5), scale_exposure(levels, 2.0)
    assert np.all(darker <= levels) and np.all(np.diff(darker.ravel()[::3].astype(int)) >= 0)
    assert np.all(brighter >= levels) and brighter.max() == 255 and (brighter == 255).sum() > 3 * 40  # clipped
    # sRGB 128 is 0.2158 linear; half of it is 0.1079, i.e. sRGB 92.3
    assert scale_exposure(np.full((1, 1, 3), 128, np.uint8), 0.5)[0, 0, 0] == 92


def test_exposure_jitter_scales_the_whole_ladder_reference_and_leaves_the_plain_stream_alone():
    photos = [_photo("a"), _photo("b", seed=1)]
    plain = LadderSampler(photos, crop_size=32, seed=5).sample(type_id=10)
    assert np.array_equal(LadderSampler(photos, crop_size=32, seed=5, exposure_jitter=0.0).sample(type_id=10).images,
                          plain.images)
    gains = []
    for seed in range(6):
        # The crop is drawn before the gain: the same seed gives the same crop, then its exposure changes.
        base = LadderSampler(photos, crop_size=32, seed=seed).sample(type_id=10).images[0]
        jittered = LadderSampler(photos, crop_size=32, seed=seed, exposure_jitter=0.5).sample(type_id=10).images[0]
        grid = np.exp(np.linspace(-0.5, 0.5, 201))
        errors = [np.abs(scale_exposure(base, g).astype(int) - jittered).max() for g in grid]
        best = int(np.argmin(errors))
        assert errors[best] <= 1, (seed, errors[best])
        gains.append(grid[best])
    assert min(gains) < 0.9 and max(gains) > 1.1  # both ways, within exp(+-0.5)
    with pytest.raises(ValueError, match="exposure_jitter"):
        LadderSampler(photos, crop_size=32, exposure_jitter=-0.1)


@pytest.mark.parametrize("size", [(1, 1), (33, 47), (96, 80)])
def test_duotone_colours_a_grey_image_by_a_ramp_that_follows_its_luminance(size):
    rng = np.random.default_rng(size[0])
    grey = np.repeat(rng.integers(0, 256, (*size, 1), dtype=np.uint8), 3, axis=2)
    grey[0, 0] = 0  # both ends of the ramp present
    if grey.size > 3:
        grey[-1, -1] = 255
    for seed in range(5):
        tinted = duotone(grey, np.random.default_rng(seed))
        assert tinted.shape == grey.shape and tinted.dtype == np.uint8
        y = grey[..., 0].astype(int).ravel()
        order = np.argsort(y, kind="stable")
        for channel in range(3):  # each channel a monotone ramp of the grey level: chroma follows luminance
            values = tinted[..., channel].astype(int).ravel()[order]
            steps = np.diff(values)
            assert np.all(steps >= -1) or np.all(steps <= 1), (seed, channel)
        if grey.size > 3:
            assert (tinted[-1, -1].astype(int) - tinted[0, 0]).sum() > 3 * 100  # white end light, black end dark
    # a real colour, not grey, and another colour for another draw
    big = np.repeat(np.linspace(0, 255, 64 * 64).reshape(64, 64, 1).astype(np.uint8), 3, axis=2)
    colours = [duotone(big, np.random.default_rng(seed)).reshape(-1, 3).mean(axis=0) for seed in range(6)]
    assert max(np.ptp(c) for c in colours) > 10
    assert len({tuple(np.round(c)) for c in colours}) == 6


def test_tint_grey_colours_grey_crops_only_when_asked_and_allows_colour_distortions():
    grey_photo, colour_photo = _photo("g", grey=True), _photo("c", seed=2)
    for photos in ([grey_photo], [colour_photo, grey_photo]):
        for seed in range(3):  # probability 0 is the plain stream, draw for draw
            plain = LadderSampler(photos, crop_size=32, seed=seed).sample()
            zero = LadderSampler(photos, crop_size=32, seed=seed, tint_grey=0.0).sample()
            assert np.array_equal(plain.images, zero.images) and plain.type_id == zero.type_id
    # A colour photo is never tinted: probability 1 changes nothing in its crops.
    for seed in range(3):
        plain = LadderSampler([colour_photo], crop_size=32, seed=seed).sample(type_id=10)
        assert np.array_equal(LadderSampler([colour_photo], crop_size=32, seed=seed, tint_grey=1.0).sample(type_id=10).images,
                              plain.images)
    tinted = LadderSampler([grey_photo], crop_size=32, seed=4, tint_grey=1.0)
    ladders = [tinted.sample() for _ in range(60)]
    assert all(np.ptp(ladder.images[0].astype(int), axis=2).max() > 0 for ladder in ladders)  # coloured
    assert {ladder.type_id for ladder in ladders} & set(COLOUR_ONLY_TYPE_IDS)  # now counts as a colour photo
    half = LadderSampler([grey_photo], crop_size=32, seed=4, tint_grey=0.5)
    coloured = [np.ptp(half.sample(type_id=1).images[0].astype(int), axis=2).max() > 0 for _ in range(60)]
    assert 10 < sum(coloured) < 50
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"tint_grey must be a probability in \[0, 1\]"):
            LadderSampler([grey_photo], crop_size=32, tint_grey=bad)


def test_linear_darken_scales_the_linear_light_of_darken_ladders_only():
    photos = [_photo("a"), _photo("g", grey=True, seed=3)]
    assert all(0 < b < a < 1 for a, b in zip(LINEAR_DARKEN_GAINS, LINEAR_DARKEN_GAINS[1:]))
    assert LINEAR_DARKEN_GAINS[0] < 1
    for seed in range(4):
        gamma = LadderSampler(photos, crop_size=32, seed=seed).sample(type_id=17)
        linear = LadderSampler(photos, crop_size=32, seed=seed, linear_darken=1.0).sample(type_id=17)
        assert np.array_equal(gamma.images[0], linear.images[0])  # the same pristine crop
        assert np.array_equal(gamma.mos, linear.mos) and np.array_equal(gamma.distortion_class, linear.distortion_class)
        for level, gain in enumerate(LINEAR_DARKEN_GAINS, start=1):
            assert np.array_equal(linear.images[level], scale_exposure(linear.images[0], gain))
        # white stays white under the gamma curve, not under the camera's exposure
        assert not np.array_equal(gamma.images[1:], linear.images[1:])
    white = {"name": "w", "image": np.full((40, 40, 3), 255, np.uint8), "grey": False, "source": "t", "licence": "t"}
    assert LadderSampler([white], crop_size=32, seed=0).sample(type_id=17).images[5].min() == 255
    assert LadderSampler([white], crop_size=32, seed=0, linear_darken=1.0).sample(type_id=17).images[5].max() < 255 // 2
    # other types, and probability 0, are the plain stream draw for draw
    for seed in range(3):
        for type_id in (None, 10):
            plain = LadderSampler(photos, crop_size=32, seed=seed).sample(type_id=type_id)
            other = LadderSampler(photos, crop_size=32, seed=seed, linear_darken=1.0 if type_id else 0.0).sample(type_id=type_id)
            assert np.array_equal(plain.images, other.images) and plain.type_id == other.type_id
    half = LadderSampler(photos, crop_size=32, seed=1, linear_darken=0.5)
    made_linear = []
    for _ in range(40):
        ladder = half.sample(type_id=17)
        made_linear.append(np.array_equal(ladder.images[5], scale_exposure(ladder.images[0], LINEAR_DARKEN_GAINS[4])))
    assert 8 < sum(made_linear) < 32
    for bad in (-1.0, 2.0):
        with pytest.raises(ValueError, match=r"linear_darken must be a probability in \[0, 1\]"):
            LadderSampler(photos, crop_size=32, linear_darken=bad)


def _luma(image):
    return np.asarray(image, dtype=np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0


@pytest.mark.parametrize("side", [32, 64, 224, 301])
def test_composite_sky_puts_a_bright_smooth_sky_above_an_unchanged_foreground(side):
    for seed in range(6):
        for fill in (0, 90, 200):  # a black, a mid-grey and a light foreground
            rng = np.random.default_rng(seed)
            image = np.clip(fill + rng.normal(0, 25, (side, side, 3)), 0, 255).astype(np.uint8)
            out = composite_sky(image, np.random.default_rng(seed))
            assert out.shape == image.shape and out.dtype == np.uint8
            # the horizon lies between ~12 % and ~85 % of the height: the top rows are sky, the bottom ones photo
            top, bottom = int(0.1 * side), int(0.9 * side) + 1
            assert np.array_equal(out[bottom:], image[bottom:])
            sky = _luma(out[: max(top, 1)])
            assert 0.70 < sky.mean() < 0.99, sky.mean()  # bright, not clipped white
            assert np.abs(np.diff(sky, axis=1)).mean() < 0.02  # smooth: no texture or noise to speak of
            assert (out[..., 2].astype(int) - out[..., 0])[: max(top, 1)].mean() >= -1  # pale blue or grey, never warm
            changed = np.any(out != image, axis=2).mean()
            assert 0.1 < changed < 0.9
    # another draw, another sky
    image = np.zeros((64, 64, 3), np.uint8)
    assert not np.array_equal(composite_sky(image, np.random.default_rng(0)), composite_sky(image, np.random.default_rng(1)))


def test_sky_composite_reaches_every_image_of_a_ladder_only_when_asked():
    photos = [_photo("a", size=(96, 96)), _photo("g", size=(96, 96), grey=True, seed=3)]
    for seed in range(3):  # probability 0 is the plain stream, draw for draw
        plain = LadderSampler(photos, crop_size=48, seed=seed).sample()
        zero = LadderSampler(photos, crop_size=48, seed=seed, sky_composite=0.0).sample()
        assert np.array_equal(plain.images, zero.images) and plain.type_id == zero.type_id
    for type_id in (1, 10, 17):  # blur, noise, darken: the sky is part of the pristine crop and of every level
        ladder = LadderSampler(photos, crop_size=48, seed=2, sky_composite=1.0).sample(type_id=type_id)
        assert ladder.mos[0] == PRISTINE_MOS and ladder.distortion_class[0] == -1
        assert _luma(ladder.images[0][:4]).mean() > 0.7 > _luma(photos[0]["image"]).mean()
        assert _luma(ladder.images[1][:4]).mean() > 0.55
    half = LadderSampler(photos, crop_size=48, seed=5, sky_composite=0.5)
    with_sky = [_luma(half.sample(type_id=1).images[0][:3]).mean() > 0.7 for _ in range(60)]
    assert 10 < sum(with_sky) < 50
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"sky_composite must be a probability in \[0, 1\]"):
            LadderSampler(photos, crop_size=48, sky_composite=bad)


def test_a_missing_sporco_wheel_names_the_photo_and_the_install(monkeypatch):
    import importlib.util

    from datasets_scripts.ladders import MORE_COLOUR_PHOTOS

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sporco" else real(name, *a))
    with pytest.raises(ImportError, match=r"photo 'tulips.png' comes from the sporco wheel: pip install sporco"):
        load_photos({"tulips": MORE_COLOUR_PHOTOS["tulips"]})


def test_grey_photos_never_get_colour_only_distortions():
    sampler = LadderSampler([_photo("g", grey=True)], crop_size=32, seed=0)
    drawn = {sampler.sample().type_id for _ in range(40)}
    assert drawn and not drawn & set(COLOUR_ONLY_TYPE_IDS)


def test_levels_subset_and_bad_inputs():
    ladder = LadderSampler([_photo("a")], crop_size=32, levels=(1, 5), seed=0).sample(type_id=11)
    assert ladder.images.shape[0] == 3 and ladder.mos.shape == (3,)
    with pytest.raises(ValueError, match="crop_size"):
        LadderSampler([_photo("small", size=(20, 20))], crop_size=32)
    with pytest.raises(ValueError, match="unknown distortion"):
        LadderSampler([_photo("a")], crop_size=32, type_ids=[99])
    with pytest.raises(ValueError, match="at least one photo"):
        LadderSampler([], crop_size=32)


def test_training_and_unseen_photo_sources_are_disjoint():
    assert not set(TRAINING_PHOTOS) & set(UNSEEN_PHOTOS)
    # The synthetic corpus's validation / test photos (seed 0) are never trained on.
    assert not {"chelsea", "retina", "immunohistochemistry"} & set(TRAINING_PHOTOS)
    for registry in (TRAINING_PHOTOS, UNSEEN_PHOTOS):
        for name, (_, source, licence) in registry.items():
            assert source and licence, name


def test_bundled_training_photos_load():
    pytest.importorskip("skimage")
    pytest.importorskip("pywt")
    photos = load_photos(TRAINING_PHOTOS)
    assert [p["name"] for p in photos] == list(TRAINING_PHOTOS)
    for p in photos:
        assert p["image"].ndim == 3 and p["image"].shape[2] == 3 and p["image"].dtype == np.uint8
        assert min(p["image"].shape[:2]) >= 224, p["name"]
