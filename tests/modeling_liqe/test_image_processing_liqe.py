"""LIQEImageProcessor against the reference: RGB conversion, resize, window grid and selection."""

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_liqe.image_processing_liqe import LIQEImageProcessor, select_test_windows, window_grid
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


def test_only_chosen_windows_are_cut_from_a_large_image(processor):
    import tracemalloc

    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8))
    tracemalloc.start()
    batch = processor(image)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert batch["pixel_values"].shape == (1, 15, 3, 224, 224)
    # The whole grid of this image would be ~190 windows x 600 KB = 115 MB; 15 windows are 9 MB.
    assert peak < 40e6, peak


def test_save_and_reload_keeps_settings(tmp_path):
    processor = LIQEImageProcessor(stride=16, num_test_patches=5, apply_exif_orientation=False)
    processor.save_pretrained(tmp_path)
    again = LIQEImageProcessor.from_pretrained(tmp_path)
    assert (again.stride, again.num_test_patches, again.apply_exif_orientation) == (16, 5, False)
