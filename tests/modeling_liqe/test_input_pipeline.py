"""The accelerator input pipeline (uint8 windows, normalised on the device) gives the exact path's results.

Tested on the CPU (no accelerator here): the same code runs, minus the pinned-memory step.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_liqe.input_pipeline import DeviceNormalizer, uint8_windows
from modeling_liqe.scoring import LIQEScorer
from tests.conftest import FIXTURES
from tests.modeling_liqe.test_scoring import tiny_model_dir

GOLDEN_IMAGES = sorted((FIXTURES / "images").glob("*.png"))


@pytest.fixture(scope="module")
def exact(tmp_path_factory):
    return LIQEScorer(tiny_model_dir(tmp_path_factory), batch_size=4)


def test_device_normalisation_is_bit_identical(exact):
    processor = exact.image_processor
    normalizer = DeviceNormalizer(processor, "cpu")
    for path in GOLDEN_IMAGES:
        windows = uint8_windows(processor, str(path))
        assert windows.dtype == torch.uint8
        assert torch.equal(normalizer(windows), processor(str(path))["pixel_values"][0]), path.name


def test_uint8_scorer_rows_equal_the_exact_rows(exact, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG nothing")
    small = tmp_path / "small.png"  # one window: padding in a batch with 15-window images
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 230, 3), dtype=np.uint8)).save(small)
    paths = [*GOLDEN_IMAGES[:3], broken, small, *GOLDEN_IMAGES[3:]]
    uint8 = LIQEScorer(exact.model, processor=exact.processor, batch_size=4, uint8_windows=True, num_workers=2)
    assert uint8.uint8_windows and not exact.uint8_windows  # CPU default: the float path, unchanged
    assert list(uint8.score_paths(paths)) == list(exact.score_paths(paths))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pinned_copy_on_cuda(exact):
    normalizer = DeviceNormalizer(exact.image_processor, "cuda")
    windows = uint8_windows(exact.image_processor, str(GOLDEN_IMAGES[0]))
    on_device = normalizer(windows)
    assert on_device.device.type == "cuda"
    torch.testing.assert_close(on_device.cpu(), exact.image_processor(str(GOLDEN_IMAGES[0]))["pixel_values"][0],
                               rtol=0, atol=1e-6)
