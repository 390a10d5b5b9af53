"""The torch-free scorer's pre-processing equals LIQEImageProcessor's, and the file imports without torch.

(Scoring through ONNX graphs is in test_onnx_export.py, which exports the tiny golden model.)
"""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_liqe import onnx_scorer
from modeling_liqe.image_processing_liqe import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, LIQEImageProcessor
from modeling_liqe.input_pipeline import uint8_windows
from tests.conftest import FIXTURES

GOLDEN_IMAGES = sorted((FIXTURES / "images").glob("*.png"))


def _odd_images(folder):
    """Neighbours of the golden cases: modes, EXIF, sizes around the resize and window thresholds."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (300, 410, 3), dtype=np.uint8)
    paths = {}

    def save(name, image, **kwargs):
        paths[name] = folder / name
        image.save(paths[name], **kwargs)

    save("rgb.png", Image.fromarray(rgb))
    save("gray16.png", Image.fromarray((rng.integers(0, 65536, (260, 300))).astype(np.uint16)))
    palette = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE)
    palette.info["transparency"] = 3
    save("palette_transparency.png", palette, transparency=3)
    save("la.png", Image.fromarray(rgb).convert("LA"))
    save("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    save("exif_rotated.jpg", Image.fromarray(rgb), exif=exif, quality=95)
    save("small_100x300.png", Image.fromarray(rgb[:100, :300]))  # upscaled to short side 224
    save("one_window.png", Image.fromarray(rgb[:224, :224]))
    save("big_800x1100.jpg", Image.fromarray(rgb).resize((1100, 800)), quality=90)  # resized + large stride
    save("exactly_768.png", Image.fromarray(rgb).resize((900, 768)))
    return paths


@pytest.mark.parametrize("exif", [True, False])
def test_windows_equal_the_image_processors(tmp_path, exif):
    processor = LIQEImageProcessor(apply_exif_orientation=exif)
    cutter = onnx_scorer.WindowCutter(apply_exif_orientation=exif)
    sources = [str(p) for p in GOLDEN_IMAGES] + [str(p) for p in _odd_images(tmp_path).values()]
    for source in sources:
        expected = processor(source)["pixel_values"][0]
        windows = cutter(source)
        assert windows.dtype == np.uint8 and windows.shape[1:] == (3, 224, 224), source
        # The same uint8 windows as the package's accelerator pipeline, and bit-identical once normalised.
        np.testing.assert_array_equal(windows, uint8_windows(processor, source).numpy(), err_msg=source)
        normalised = onnx_scorer.normalise(windows, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
        assert normalised.dtype == np.float32
        np.testing.assert_array_equal(normalised, expected.numpy(), err_msg=source)


def test_pil_images_and_arrays_give_the_same_windows():
    cutter = onnx_scorer.WindowCutter()
    path = GOLDEN_IMAGES[0]
    from_path = cutter(str(path))
    with Image.open(path) as image:
        image.load()
        np.testing.assert_array_equal(cutter(image), from_path)
        np.testing.assert_array_equal(cutter(np.asarray(image.convert("RGB"))), from_path)
    with pytest.raises(TypeError, match="unsupported image type"):
        cutter(torch.zeros(3, 224, 224))


def test_bad_files_get_named_errors(tmp_path):
    cutter = onnx_scorer.WindowCutter(max_image_pixels=1000)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("no image")
    big = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(big)
    for path, message in ((empty, "empty file"), (text, "not an image file"), (tmp_path / "none.png", "no such file"),
                          (big, "exceeds the limit of 1000")):
        with pytest.raises(onnx_scorer.LIQEImageError, match=message) as error:
            cutter(str(path))
        assert str(error.value).startswith(str(path))


def test_pad_windows_matches_the_package():
    from modeling_liqe.image_processing_liqe import pad_windows

    windows = [np.full((n, 3, 4, 4), n, dtype=np.uint8) for n in (1, 3, 2)]
    batch, mask = onnx_scorer.pad_windows(windows)
    expected_batch, expected_mask = pad_windows([torch.from_numpy(w) for w in windows])
    np.testing.assert_array_equal(batch, expected_batch.numpy())
    np.testing.assert_array_equal(mask, expected_mask.numpy())
    assert mask.dtype == np.int64


def test_the_scorer_file_imports_without_torch_or_transformers():
    # torch and transformers are made unimportable (None in sys.modules); the file is loaded by path, alone.
    code = (
        "import sys, importlib.util\n"
        "for name in ('torch', 'transformers', 'modeling_liqe'): sys.modules[name] = None\n"
        f"spec = importlib.util.spec_from_file_location('liqe_onnx_scorer', {str(onnx_scorer.__file__)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(module.WindowCutter()(module.Image.new('RGB', (300, 260))).shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(6, 3, 224, 224)"  # a 3 x 2 grid


def test_a_folder_that_is_not_an_export_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    with pytest.raises(FileNotFoundError, match="not an exported LIQE ONNX folder"):
        onnx_scorer.ONNXScorer(tmp_path)
