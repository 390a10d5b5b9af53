"""LIQEImageProcessor against the reference: RGB conversion, resize, window grid and selection."""

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_liqe.image_processing_liqe import LIQEImageError, LIQEImageProcessor, select_test_windows, window_grid
from tests.conftest import FIXTURES

GOLDEN = json.loads((FIXTURES / "golden_expected.json").read_text())
IMAGES = sorted(GOLDEN["images"])


def _sha(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def processor():
    return LIQEImageProcessor()


@pytest.mark.parametrize("name", IMAGES)
def test_rgb_resize_and_windows_match_reference(processor, name):
    expected = GOLDEN["images"][name]
    rgb = processor.prepare_image(FIXTURES / expected["file"])
    assert _sha(np.asarray(rgb)) == expected["rgb_sha256"]
    resized = processor.resize(rgb)
    assert [resized.size[1], resized.size[0]] == expected["resized_size_hw"]
    assert _sha(np.asarray(resized)) == expected["resized_rgb_sha256"]
    stride, rows, cols = window_grid(resized.size[1], resized.size[0])
    assert stride == expected["stride"] and [rows, cols] == expected["grid_rows_cols"]
    assert select_test_windows(rows * cols) == expected["selected_indices"]

    batch = processor(str(FIXTURES / expected["file"]), return_window_boxes=True)
    assert batch["pixel_values"].shape == (1, 15, 3, 224, 224)
    boxes = batch["window_boxes"][0].tolist()
    assert [[top, left] for left, top, _, _ in boxes] == expected["selected_top_left"]
    sums = batch["pixel_values"][0].double().sum(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(sums, expected["window_sums"], rtol=1e-9, atol=1e-6)
    assert batch["processed_sizes"][0].tolist() == expected["resized_size_hw"]
    assert batch["original_sizes"][0].tolist() == expected["original_size_hw"]


def test_long_side_is_truncated_not_rounded(processor):
    # 1150 wide x 1650 high: 768 * 1650 / 1150 = 1101.9 -> 1101 (rounding would give 1102)
    assert processor.resize(Image.new("RGB", (1150, 1650))).size == (768, 1101)
    # short side exactly 768: untouched (same object)
    image = Image.new("RGB", (1024, 768))
    assert processor.resize(image) is image
    # one side under 768: kept as it is
    assert processor.resize(Image.new("RGB", (1200, 600))).size == (1200, 600)


def test_small_images_are_upscaled_to_one_window(processor):
    batch = processor(Image.new("RGB", (10, 10), (200, 10, 10)), return_window_boxes=True)
    assert batch["processed_sizes"][0].tolist() == [224, 224]
    assert batch["pixel_values"].shape == (1, 1, 3, 224, 224)
    assert batch["patch_mask"].tolist() == [[1]]


def test_fewer_than_15_windows_uses_each_once_and_pads_the_batch(processor):
    wide = Image.new("RGB", (224 + 32 * 3, 224))  # 4 windows
    full = Image.new("RGB", (512, 512))  # 100 windows
    batch = processor([wide, full], return_window_boxes=True)
    assert batch["pixel_values"].shape == (2, 15, 3, 224, 224)
    assert batch["patch_mask"].sum(dim=1).tolist() == [4, 15]
    assert [box[0] for box in batch["window_boxes"][0][:4].tolist()] == [0, 32, 64, 96]


def test_training_windows_are_seeded_random_with_replacement(processor):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (400, 600, 3), dtype=np.uint8))
    first = processor(image, training=True, seed=7, return_window_boxes=True)
    again = processor(image, training=True, seed=7, return_window_boxes=True)
    other = processor(image, training=True, seed=8, return_window_boxes=True)
    assert first["pixel_values"].shape == (1, 3, 3, 224, 224)
    assert torch.equal(first["pixel_values"], again["pixel_values"])
    assert not torch.equal(first["pixel_values"], other["pixel_values"])
    stride = 32
    for left, top, _, _ in first["window_boxes"][0].tolist():
        assert left % stride == 0 and top % stride == 0 and left + 224 <= 600 and top + 224 <= 400


def test_training_flip_happens_about_half_the_time(processor):
    # A left-dark / right-bright image and a single window covering all of it: the flip shows in the mean.
    pixels = np.zeros((224, 224, 3), dtype=np.uint8)
    pixels[:, 112:] = 255
    generator = np.random.default_rng(3)
    flips = 0
    for _ in range(200):
        window = processor(Image.fromarray(pixels), training=True, generator=generator)["pixel_values"][0, 0]
        flips += int(window[:, :, :112].mean() > window[:, :, 112:].mean())
    assert 70 < flips < 130


# Upscaled shapes (short side < 224), with their transposes: 1 px, slivers, one px short of a window, odd sizes.
UPSCALED_SHAPES = [(1, 1), (2, 400), (1, 224), (3, 500), (5, 3), (223, 224), (223, 223), (100, 37), (150, 999),
                   (7, 1300), (60, 5000)]


@pytest.mark.parametrize("width, height", UPSCALED_SHAPES + [(h, w) for w, h in UPSCALED_SHAPES if w != h])
def test_resampled_windows_equal_the_full_resize_bit_for_bit(processor, monkeypatch, width, height):
    from modeling_liqe import image_processing_liqe

    pixels = np.random.default_rng(width * 7919 + height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    monkeypatch.setattr(image_processing_liqe, "MATERIALISED_UPSCALE_MAX_PIXELS", 1 << 62)
    built = [processor(image, return_window_boxes=True)]
    built += [processor(image, training=True, seed=seed, return_window_boxes=True) for seed in (0, 2)]
    monkeypatch.setattr(image_processing_liqe, "MATERIALISED_UPSCALE_MAX_PIXELS", 0)
    resampled = [processor(image, return_window_boxes=True)]
    resampled += [processor(image, training=True, seed=seed, return_window_boxes=True) for seed in (0, 2)]
    # test windows, then training windows without (seed 0) and with (seed 2) the flip
    for full, windows in zip(built, resampled):
        assert torch.equal(full["window_boxes"], windows["window_boxes"])
        assert torch.equal(full["processed_sizes"], windows["processed_sizes"])
        assert torch.equal(full["pixel_values"], windows["pixel_values"])  # bit for bit, not approximately


def test_extreme_slivers_are_scored_from_the_original_within_the_pixel_limit():
    # 40000x2: a gigapixel once upscaled; refused by default, with the file's sizes and the limit named
    sliver = Image.fromarray(np.random.default_rng(0).integers(0, 256, (2, 40000, 3), dtype=np.uint8))
    for image, resized in ((sliver, "4480000x224"), (sliver.transpose(Image.Transpose.TRANSPOSE), "224x4480000")):
        with pytest.raises(LIQEImageError, match=f"would be resized to {resized} = 1003520000 pixels") as refused:
            LIQEImageProcessor()(image)
        assert refused.value.pixel_limit == Image.MAX_IMAGE_PIXELS and str(Image.MAX_IMAGE_PIXELS) in str(refused.value)
        # with the limit raised it is scored, 15 windows resampled straight from the 80000-pixel original
        batch = LIQEImageProcessor(max_image_pixels=1_003_520_000)(image, return_window_boxes=True)
        assert batch["pixel_values"].shape == (1, 15, 3, 224, 224)
        assert batch["processed_sizes"][0].tolist() == [int(x) for x in resized.split("x")[::-1]]
    # the limit is on the resized size: exactly at it passes, one pixel under it refuses
    assert LIQEImageProcessor(max_image_pixels=224 * 373333)(Image.new("RGB", (3, 5000)))["pixel_values"].shape[1] == 15
    with pytest.raises(LIQEImageError, match="over the pixel limit of 83626591"):
        LIQEImageProcessor(max_image_pixels=224 * 373333 - 1)(Image.new("RGB", (3, 5000)))
    assert LIQEImageProcessor(max_image_pixels=0)(Image.new("RGB", (1, 1)))["pixel_values"].shape == (1, 1, 3, 224, 224)


def test_a_refused_file_is_named(tmp_path):
    path = tmp_path / "sliver 40000x2.png"
    Image.new("RGB", (40000, 2), "gray").save(path)
    with pytest.raises(LIQEImageError) as refused:
        LIQEImageProcessor()(str(path))
    assert str(refused.value).startswith(f"{path}: 40000x2 would be resized to 4480000x224")


def test_wide_samples_convert_exactly_as_rint_of_the_float_division():
    from modeling_liqe.image_processing_liqe import _wide_samples_to_uint8, to_rgb

    every16 = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    expected = np.clip(np.rint(every16.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(to_rgb(Image.fromarray(every16)))[..., 0], expected)  # I;16, every value
    wide = np.random.default_rng(0).integers(-70000, 70000, (7, 3_000_001 // 7), dtype=np.int64)
    assert np.array_equal(_wide_samples_to_uint8(wide, True),  # several bands of rows
                          np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8))
    floats = np.array([[-3.5, 0.5, 1.5, 2.49, 254.5, 255.5, 1e9]], dtype=np.float32)
    assert _wide_samples_to_uint8(floats, False).tolist() == [[0, 0, 2, 2, 254, 255, 255]]
    small_i = np.array([[0, 7, 255]], dtype=np.int32)  # mode "I" holding 8-bit values: not rescaled
    assert np.asarray(to_rgb(Image.fromarray(small_i, mode="I")))[..., 0].tolist() == [[0, 7, 255]]


def test_save_and_reload_keeps_settings(tmp_path):
    processor = LIQEImageProcessor(stride=16, num_test_patches=5, apply_exif_orientation=False)
    processor.save_pretrained(tmp_path)
    again = LIQEImageProcessor.from_pretrained(tmp_path)
    assert (again.stride, again.num_test_patches, again.apply_exif_orientation) == (16, 5, False)
