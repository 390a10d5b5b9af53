import numpy as np
import pytest
import torch

from modeling_liqe.image_processing_liqe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from modeling_liqe.ladder_data import LadderBatches, calibration_windows, ladder_dataloader

CROP = 64  # small windows: ladder generation dominates these tests


def _batches(**overrides):
    values = dict(ladders_per_batch=3, new_per_batch=1, pool=4, seed=5, rank=0, crop_size=CROP,
                  image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, type_ids=[1, 10, 11])
    values.update(overrides)
    return LadderBatches(**values)


def _equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_ladder_ids_new_then_redrawn_from_the_recent_pool_without_repeats():
    data = _batches(ladders_per_batch=4, new_per_batch=2, pool=5)
    assert data.ladder_ids(0) == [0, 1, 2, 3]
    seen_new = set()
    for batch in range(1, 30):
        ids = data.ladder_ids(batch)
        new, old = ids[:2], ids[2:]
        assert new == [4 + 2 * (batch - 1), 5 + 2 * (batch - 1)]
        assert not seen_new & set(new)
        seen_new |= set(new)
        assert len(set(ids)) == 4
        assert all(max(0, new[0] - 5) <= i < new[0] for i in old)  # only the 5 ladders made just before
    assert data.ladder_ids(7) == data.ladder_ids(7)


def test_a_batch_is_a_function_of_seed_rank_and_index_not_of_history_or_workers():
    in_order = _batches()
    batches = [in_order[b] for b in range(5)]
    cold = _batches()
    _equal(cold[4], batches[4])  # a cold cache (a resumed run) regenerates the same ladders
    assert cold.generated == 3  # only the ladders batch 4 holds
    loader = ladder_dataloader(_batches(), 0, 5, num_workers=2)
    for ours, theirs in zip(loader, batches):
        _equal(ours, theirs)
    other_rank, other_seed = _batches(rank=1)[4], _batches(seed=6)[4]
    assert not torch.equal(other_rank["pixel_values"], batches[4]["pixel_values"])
    assert not torch.equal(other_seed["pixel_values"], batches[4]["pixel_values"])


def test_batch_layout_ladders_in_order_with_their_labels():
    batch = _batches()[2]
    n = 3 * 6
    assert batch["pixel_values"].shape == (n, 1, 3, CROP, CROP) and batch["pixel_values"].dtype == torch.float32
    assert batch["patch_mask"].shape == (n, 1) and bool(batch["patch_mask"].all())
    assert batch["corpus_ids"].tolist() == [g for g in range(3) for _ in range(6)]
    for ladder in range(3):
        rows = slice(6 * ladder, 6 * ladder + 6)
        mos = batch["mos"][rows]
        assert mos[0] == 5.0 and bool((mos[:-1] > mos[1:]).all())  # pristine first, then worse and worse
        labels = batch["distortion_labels"][rows].tolist()
        assert labels[0] == -1 and len(set(labels[1:])) == 1 and labels[1] >= 0
    # the windows are the processor's normalisation of uint8 pixels
    mean, std = torch.tensor(OPENAI_CLIP_MEAN)[:, None, None], torch.tensor(OPENAI_CLIP_STD)[:, None, None]
    pixels = batch["pixel_values"][:, 0] * std + mean
    assert float(pixels.min()) >= -1e-6 and float(pixels.max()) <= 1 + 1e-6
    assert torch.allclose(pixels * 255, (pixels * 255).round(), atol=1e-3)


def test_the_cache_stays_bounded():
    data = _batches(pool=4)
    for batch in range(12):
        data[batch]
        assert len(data._cache) <= 4 + 3
    assert data.generated == 3 + 11  # every ladder made once: re-draws come from the cache


def test_with_a_front_the_batch_holds_its_output_computed_once_per_ladder():
    calls = []

    def front(pixels):
        calls.append(len(pixels))
        return pixels.mean(dim=(2, 3))  # (images, 3): any per-image function

    data = _batches(front=front)
    plain = _batches()
    for batch in range(4):
        got, windows = data[batch], plain[batch]
        assert "pixel_values" not in got
        assert torch.allclose(got["front_states"], windows["pixel_values"].mean(dim=(3, 4)), atol=1e-6)
        assert torch.equal(got["mos"], windows["mos"])
    assert calls == [6] * data.generated


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(new_per_batch=0), "new_per_batch must be in 1..ladders_per_batch"),
        (dict(new_per_batch=4), "new_per_batch must be in 1..ladders_per_batch"),
        (dict(ladders_per_batch=0), "ladders_per_batch must be >= 1"),
        (dict(pool=1), r"pool \(1\) must hold at least"),
        (dict(photo_set="mine"), "unknown ladder photo set 'mine'"),
        (dict(dead_leaves=-1), "dead_leaves must be a count >= 0"),
        (dict(dead_leaves=1.5), "dead_leaves must be a count >= 0"),
        (dict(exposure_jitter=-0.5), r"exposure_jitter must be in \[0, 2\]"),
        (dict(exposure_jitter=3.0), r"exposure_jitter must be in \[0, 2\]"),
        (dict(dead_leaves_texture=2.0), r"dead_leaves_texture must be in \[0, 1\]"),
        (dict(tint_grey=-0.2), r"tint_grey must be a probability in \[0, 1\]"),
        (dict(tint_grey=1.01), r"tint_grey must be a probability in \[0, 1\]"),
        (dict(linear_darken=1.5), r"linear_darken must be a probability in \[0, 1\]"),
        (dict(sky_composite=-0.5), r"sky_composite must be a probability in \[0, 1\]"),
        (dict(sky_composite=2), r"sky_composite must be a probability in \[0, 1\]"),
        (dict(sky_dead_leaves=-2), "sky_dead_leaves must be a count >= 0, got -2"),
        (dict(sky_dead_leaves=0.5), "sky_dead_leaves must be a count >= 0, got 0.5"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(overrides, message):
    with pytest.raises(ValueError, match=message):
        _batches(**overrides)


def test_calibration_windows_are_normalised_ladders():
    windows = calibration_windows(2, CROP, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, seed=3, type_ids=[1])
    assert windows.shape == (12, 3, CROP, CROP)
    assert torch.equal(windows, calibration_windows(2, CROP, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, seed=3, type_ids=[1]))
    assert not np.allclose(windows[0].numpy(), windows[5].numpy())  # pristine vs level 5 blur


def test_the_bundled_plus_photo_set_adds_photos_kept_out_of_every_test_set():
    from datasets_scripts.ladders import EXTRA_TRAINING_PHOTOS, TRAINING_PHOTOS, UNSEEN_PHOTOS
    from modeling_liqe.ladder_data import _photos

    names = [p["name"] for p in _photos("bundled+")]
    assert names == list(TRAINING_PHOTOS) + list(EXTRA_TRAINING_PHOTOS)
    held_out = {"chelsea", "retina", "immunohistochemistry", *UNSEEN_PHOTOS}  # the synthetic corpus's val/test, unseen
    assert not held_out & set(names)
    assert all(len(entry) == 3 and entry[2] for entry in EXTRA_TRAINING_PHOTOS.values())  # source and licence stated
    more = _batches(photo_set="bundled+", seed=11)
    assert more[0]["pixel_values"].shape[0] == 18


def test_dead_leaves_references_join_the_photos_and_ladders_are_drawn_from_them():
    from datasets_scripts.dead_leaves import dead_leaves_image
    from datasets_scripts.ladders import TRAINING_PHOTOS
    from modeling_liqe.ladder_data import _photos

    photos = _photos("bundled", dead_leaves=3)
    assert [p["name"] for p in photos] == list(TRAINING_PHOTOS) + [f"dead_leaves_0_{i}" for i in range(3)]
    assert np.array_equal(photos[-1]["image"], dead_leaves_image(512, seed=[0, 2]))
    textured = _batches(dead_leaves=3, dead_leaves_texture=0.3, ladders_per_batch=2, pool=2)
    textured[0]
    assert np.array_equal(textured._photos[-1]["image"], dead_leaves_image(512, seed=[0, 2], texture=0.3))
    data = _batches(dead_leaves=3, ladders_per_batch=2, pool=2)
    assert torch.equal(data[4]["pixel_values"], _batches(dead_leaves=3, ladders_per_batch=2, pool=2)[4]["pixel_values"])
    assert len(data._photos) == len(TRAINING_PHOTOS) + 3  # the batches above drew from the joined set
    from datasets_scripts.ladders import LadderSampler

    drawn = {LadderSampler(photos, crop_size=CROP, type_ids=[1], seed=[5, 0, i]).sample().reference for i in range(40)}
    assert any(name.startswith("dead_leaves_") for name in drawn) and drawn & set(TRAINING_PHOTOS)


def test_exposure_jitter_reaches_every_ladder_and_is_seeded():
    plain, jittered = _batches(seed=2), _batches(seed=2, exposure_jitter=0.5)
    again = _batches(seed=2, exposure_jitter=0.5)
    for batch in (0, 3):
        assert torch.equal(jittered[batch]["pixel_values"], again[batch]["pixel_values"])
        # the same crops at other exposures: every ladder's windows differ from the plain stream's
        a, b = plain[batch]["pixel_values"], jittered[batch]["pixel_values"]
        assert a.shape == b.shape
        assert all(not torch.equal(a[k], b[k]) for k in range(0, a.shape[0], 6))


def test_tint_grey_reaches_the_ladders_of_grey_photos_and_is_seeded():
    from datasets_scripts.ladders import TRAINING_PHOTOS, load_photos

    grey = {p["name"] for p in load_photos(TRAINING_PHOTOS) if p["grey"]}
    plain, tinted = _batches(seed=3, ladders_per_batch=8, pool=8), _batches(seed=3, ladders_per_batch=8, pool=8, tint_grey=1.0)
    again = _batches(seed=3, ladders_per_batch=8, pool=8, tint_grey=1.0)
    assert torch.equal(tinted[0]["pixel_values"], again[0]["pixel_values"])
    from datasets_scripts.ladders import LadderSampler

    references = [LadderSampler(plain._photos or load_photos(TRAINING_PHOTOS), crop_size=CROP, type_ids=[1, 10, 11],
                                seed=[3, 0, i]).sample().reference for i in range(8)]
    assert set(references) & grey and set(references) - grey  # both kinds in batch 0
    a, b = plain[0]["pixel_values"], tinted[0]["pixel_values"]
    for k, name in enumerate(references):
        pristine_a, pristine_b = a[6 * k], b[6 * k]
        if name in grey:  # grey before (equal channels after un-normalising), coloured now
            assert not torch.equal(pristine_a, pristine_b)
            assert _channel_spread(pristine_a) < 1e-3 < _channel_spread(pristine_b)
        else:
            assert torch.equal(pristine_a, pristine_b)


def _channel_spread(window):
    """The largest difference between the colour channels of a (..., 3, S, S) normalised window, in 0..1 pixels."""
    mean = torch.tensor(OPENAI_CLIP_MEAN)[:, None, None]
    std = torch.tensor(OPENAI_CLIP_STD)[:, None, None]
    pixels = window * std + mean
    return float((pixels.max(dim=-3).values - pixels.min(dim=-3).values).max())


def test_linear_darken_reaches_the_darken_ladders():
    from datasets_scripts.ladders import LINEAR_DARKEN_GAINS

    plain = _batches(seed=4, type_ids=[17], ladders_per_batch=2, pool=2)
    linear = _batches(seed=4, type_ids=[17], ladders_per_batch=2, pool=2, linear_darken=1.0)
    a, b = plain[0]["pixel_values"], linear[0]["pixel_values"]
    for k in (0, 6):  # each ladder: the same pristine window, other darker levels
        assert torch.equal(a[k], b[k]) and not torch.equal(a[k + 5], b[k + 5])
    mean = torch.tensor(OPENAI_CLIP_MEAN)[:, None, None]
    std = torch.tensor(OPENAI_CLIP_STD)[:, None, None]
    pixels = b * std + mean
    assert float(pixels[5].mean()) < float(pixels[0].mean()) * LINEAR_DARKEN_GAINS[4] ** (1 / 2.4) * 1.2
    mixed = _batches(seed=4, type_ids=[1, 17], ladders_per_batch=2, pool=2, linear_darken=1.0)
    assert mixed[0]["pixel_values"].shape == a.shape


def test_sky_composite_reaches_the_ladders_and_is_seeded():
    plain = _batches(seed=6, type_ids=[1], ladders_per_batch=2, pool=2)
    sky = _batches(seed=6, type_ids=[1], ladders_per_batch=2, pool=2, sky_composite=1.0)
    again = _batches(seed=6, type_ids=[1], ladders_per_batch=2, pool=2, sky_composite=1.0)
    assert torch.equal(sky[0]["pixel_values"], again[0]["pixel_values"])
    mean = torch.tensor(OPENAI_CLIP_MEAN)[:, None, None]
    std = torch.tensor(OPENAI_CLIP_STD)[:, None, None]
    for batch in (plain, sky):
        assert batch[0]["pixel_values"].shape == plain[0]["pixel_values"].shape
    top_rows = lambda batch: float((batch[0]["pixel_values"] * std + mean)[..., :3, :].mean())  # noqa: E731
    assert top_rows(sky) > 0.7 and top_rows(sky) > top_rows(plain) + 0.05


def test_the_colour_photo_set_adds_the_four_sporco_photos_and_nothing_held_out():
    from datasets_scripts.ladders import EXTRA_TRAINING_PHOTOS, MORE_COLOUR_PHOTOS, TRAINING_PHOTOS, UNSEEN_PHOTOS
    from modeling_liqe.ladder_data import PHOTO_SETS, _photos

    assert "bundled+colour" in PHOTO_SETS
    photos = _photos("bundled+colour", dead_leaves=1)
    names = [p["name"] for p in photos]
    assert names == list(TRAINING_PHOTOS) + ["sail", "tulips", "monarch", "kodim23", "dead_leaves_0_0"]
    held_out = set(UNSEEN_PHOTOS) | set(EXTRA_TRAINING_PHOTOS) | {"chelsea", "retina", "immunohistochemistry"}
    assert not set(names) & held_out
    for photo in photos[len(TRAINING_PHOTOS):-1]:
        assert photo["image"].shape == (512, 768, 3) and photo["image"].dtype == np.uint8 and not photo["grey"]
        assert np.ptp(photo["image"].astype(int), axis=2).mean() > 20  # colour photos, not grey ones
        assert MORE_COLOUR_PHOTOS[photo["name"]][2]  # a stated licence for each
    data = _batches(photo_set="bundled+colour", ladders_per_batch=2, pool=2)
    data[0]
    assert [p["name"] for p in data._photos] == list(TRAINING_PHOTOS) + list(MORE_COLOUR_PHOTOS)


def test_sky_dead_leaves_join_the_photos_after_the_plain_ones():
    from datasets_scripts.dead_leaves import dead_leaves_image
    from datasets_scripts.ladders import TRAINING_PHOTOS
    from modeling_liqe.ladder_data import _photos

    photos = _photos("bundled", dead_leaves=2, sky_dead_leaves=3)
    assert [p["name"] for p in photos] == (list(TRAINING_PHOTOS) + ["dead_leaves_0_0", "dead_leaves_0_1"]
                                           + [f"dead_leaves_sky_0_{i}" for i in range(3)])
    assert np.array_equal(photos[-1]["image"], dead_leaves_image(512, seed=[0, 2], sky=True))
    assert [p["name"] for p in _photos("bundled", sky_dead_leaves=1)][-1] == "dead_leaves_sky_0_0"  # without plain ones
    data = _batches(sky_dead_leaves=2, ladders_per_batch=2, pool=2)
    data[0]
    assert len(data._photos) == len(TRAINING_PHOTOS) + 2
