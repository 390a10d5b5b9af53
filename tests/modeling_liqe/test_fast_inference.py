"""`--fast` (calibrated int8 dynamic quantisation of the vision tower) against the exact path.

On the demo checkpoint (checkpoints/liqe-tiny-synthetic), whose hand-built vision tower carries a constant channel
of ~300 next to responses of 1e-4 .. 1e-1, int8 everywhere destroys the scores (max |delta| 3.5 on the golden
images); the calibration keeps the layers that read that channel in float32. On the tiny golden model (random
weights, a sharp softmax) the calibration keeps most layers float32 too.
"""

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_liqe.cli import main
from modeling_liqe.fast_inference import (
    LAYER_TOLERANCE,
    calibration_windows,
    layer_errors,
    quantize_vision_tower,
)
from modeling_liqe.metrics import srcc
from modeling_liqe.scoring import LIQEScorer
from tests.conftest import FIXTURES, REPO_ROOT
from tests.modeling_liqe.test_scoring import load_golden, tiny_model_dir

GOLDEN_IMAGES = sorted((FIXTURES / "images").glob("*.png"))
DEMO = REPO_ROOT / "checkpoints" / "liqe-tiny-synthetic"
# Issue 7's accuracy targets for --fast against the exact path.
TARGET_MAX_DELTA = 0.02
TARGET_MIN_SRCC = 0.999


def _scores(scorer, sources, names=None):
    rows = list(scorer.score_paths(sources)) if names is None else scorer.score_images(sources, names)
    assert all(row["error"] is None for row in rows), [row["error"] for row in rows]
    return rows, np.array([row["score"] for row in rows])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def exact_and_fast(model_dir):
    return LIQEScorer(model_dir, batch_size=9), LIQEScorer(model_dir, batch_size=9, fast=True)


@pytest.fixture(scope="module")
def demo():
    return LIQEScorer(DEMO, batch_size=9), LIQEScorer(DEMO, batch_size=9, fast=True)


def test_fast_meets_the_accuracy_targets_on_the_demo_checkpoint(demo):
    exact, fast = demo
    exact_rows, exact_scores = _scores(exact, GOLDEN_IMAGES)
    fast_rows, fast_scores = _scores(fast, GOLDEN_IMAGES)
    assert np.abs(fast_scores - exact_scores).max() <= TARGET_MAX_DELTA
    assert srcc(fast_scores, exact_scores) >= TARGET_MIN_SRCC
    for e, f in zip(exact_rows, fast_rows):
        assert set(e) == set(f)
        assert (f["scene"], f["distortion"]) == (e["scene"], e["distortion"])
        for key in ("quality_probs", "distortion_probs"):
            assert list(f[key]) == list(e[key])
            np.testing.assert_allclose(list(f[key].values()), list(e[key].values()), atol=0.02)


def test_int8_everywhere_destroys_the_demo_checkpoint_and_the_calibration_keeps_those_layers_float(demo):
    exact, fast = demo
    # The layers reading the constant channel are measured as far beyond the tolerance and stay float32.
    errors = fast.model.fast_layer_errors
    assert max(errors.values()) > 10 * LAYER_TOLERANCE
    assert {name for name, error in errors.items() if error > LAYER_TOLERANCE} <= set(fast.model.fast_float_layers)
    assert fast.model.fast_float_layers and set(fast.model.fast_int8_layers).isdisjoint(fast.model.fast_float_layers)
    quantized_types = {type(m) for m in fast.model.clip.vision_model.modules()}
    assert (torch.ao.nn.quantized.dynamic.Linear in quantized_types) == bool(fast.model.fast_int8_layers)
    # Without the calibration (every linear layer int8, the earlier --fast) the scores are meaningless.
    everything = LIQEScorer(exact.model, processor=exact.processor, batch_size=9)
    everything.model = quantize_vision_tower(exact.model, calibrate=False)
    everything.fast = True
    assert everything.model.fast_float_layers == []
    _, exact_scores = _scores(exact, GOLDEN_IMAGES)
    _, broken = _scores(everything, GOLDEN_IMAGES)
    assert np.abs(broken - exact_scores).max() > 0.5


@pytest.mark.parametrize(
    "size, mode",
    [((100, 60), "RGB"),  # upscaled to a 224 short side: 1 window
     ((300, 250), "L"),  # greyscale, a few windows (fewer than 15)
     ((520, 400), "RGB"),  # 8 x 6 windows: the 15-window selection
     ((1400, 900), "RGBA")],  # resized, stride 48
)
def test_fast_on_other_sizes_and_modes_of_the_demo_checkpoint(demo, size, mode):
    exact, fast = demo
    rng = np.random.default_rng(sum(size))
    base = rng.integers(0, 256, (size[1] // 20 + 1, size[0] // 20 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize(size, Image.BICUBIC).convert(mode)
    noisy = Image.fromarray(np.clip(np.asarray(image.convert("RGB"), dtype=np.int16)
                                    + rng.integers(-40, 40, (size[1], size[0], 3)), 0, 255).astype(np.uint8))
    _, exact_scores = _scores(exact, [image, noisy], ["smooth", "noisy"])
    _, fast_scores = _scores(fast, [image, noisy], ["smooth", "noisy"])
    np.testing.assert_allclose(fast_scores, exact_scores, atol=TARGET_MAX_DELTA)


def test_calibration_is_deterministic_and_measures_rounding(demo, model_dir):
    exact, _ = demo
    windows = calibration_windows(exact.image_processor)
    assert windows.shape == (6, 3, 224, 224) and torch.isfinite(windows).all()
    assert torch.equal(windows, calibration_windows(exact.image_processor))
    assert not torch.equal(windows[0], windows[1])
    errors = layer_errors(exact.model, windows)
    assert set(errors) == {n for n, m in exact.model.clip.vision_model.named_modules() if type(m) is torch.nn.Linear}
    assert errors == layer_errors(exact.model, windows)
    # The tiny random model: ordinary weights, int8 error of a few percent per layer.
    tiny = LIQEScorer(model_dir).model
    tiny_errors = layer_errors(tiny, calibration_windows(LIQEScorer(model_dir).image_processor))
    assert 0 < min(tiny_errors.values()) and max(tiny_errors.values()) < LAYER_TOLERANCE


def test_fast_scores_stay_close_to_the_exact_path_on_the_tiny_model(exact_and_fast):
    exact, fast = exact_and_fast
    exact_rows, exact_scores = _scores(exact, GOLDEN_IMAGES)
    fast_rows, fast_scores = _scores(fast, GOLDEN_IMAGES)
    assert np.abs(fast_scores - exact_scores).max() <= TARGET_MAX_DELTA
    assert srcc(fast_scores, exact_scores) >= TARGET_MIN_SRCC
    for e, f in zip(exact_rows, fast_rows):
        for key in ("quality_probs", "scene_probs", "distortion_probs"):
            assert list(f[key]) == list(e[key])


def test_fast_quantises_the_layers_that_pass_and_stays_close(model_dir):
    # The tiny random model with a logit scale of 1 (not 100): a soft softmax, so every layer's int8 rounding
    # (measured 0.017 .. 0.024 of its output's spread) passes the calibration; the quantised tower then really
    # runs, and scores stay within the target.
    exact = LIQEScorer(model_dir, batch_size=9)
    with torch.no_grad():
        exact.model.clip.logit_scale.fill_(0.0)
    fast = LIQEScorer(exact.model, processor=exact.processor, batch_size=9, fast=True)
    assert fast.model.fast_float_layers == [] and len(fast.model.fast_int8_layers) == 12
    assert torch.ao.nn.quantized.dynamic.Linear in {type(m) for m in fast.model.clip.vision_model.modules()}
    _, exact_scores = _scores(exact, GOLDEN_IMAGES)
    _, fast_scores = _scores(fast, GOLDEN_IMAGES)
    delta = np.abs(fast_scores - exact_scores)
    assert 0 < delta.max() <= TARGET_MAX_DELTA


def test_fast_scores_do_not_depend_on_the_batch(demo):
    _, fast = demo
    together = [row["score"] for row in fast.score_paths(GOLDEN_IMAGES)]
    alone = LIQEScorer(fast.model, processor=fast.processor, batch_size=1)
    alone.fast = True
    assert [row["score"] for row in alone.score_paths(GOLDEN_IMAGES)] == together


def test_the_exact_path_is_unchanged(exact_and_fast):
    exact, fast = exact_and_fast
    golden = load_golden()
    rows = list(exact.score_paths(GOLDEN_IMAGES))
    for path, row in zip(GOLDEN_IMAGES, rows):
        assert row["score"] == pytest.approx(golden[path.name]["score"], abs=1e-4)
    # Building the fast scorer from a loaded model leaves that model exact (bit for bit).
    before = [row["score"] for row in rows]
    quantize_vision_tower(exact.model)
    quantize_vision_tower(exact.model, calibrate=False)
    LIQEScorer(exact.model, processor=exact.processor, fast=True)
    assert [row["score"] for row in exact.score_paths(GOLDEN_IMAGES)] == before
    linear_types = lambda model: {type(m) for m in model.clip.vision_model.modules() if type(m).__name__ == "Linear"}
    assert linear_types(exact.model) == {torch.nn.Linear}
    expected = {torch.ao.nn.quantized.dynamic.Linear} if fast.model.fast_int8_layers else set()
    if fast.model.fast_float_layers:
        expected.add(torch.nn.Linear)
    assert linear_types(fast.model) == expected
    assert linear_types(quantize_vision_tower(exact.model, calibrate=False)) == {torch.ao.nn.quantized.dynamic.Linear}


def test_fast_is_cpu_only(model_dir):
    model = LIQEScorer(model_dir).model.to("meta")
    with pytest.raises(ValueError, match="CPU only"):
        quantize_vision_tower(model)


def test_cli_fast_and_its_usage_errors(tmp_path, capsys):
    out = tmp_path / "fast.json"
    assert main(["score", "--model", str(DEMO), "--format", "json", "--output", str(tmp_path / "exact.json"),
                 str(GOLDEN_IMAGES[0])]) == 0
    assert main(["score", "--model", str(DEMO), "--fast", "--format", "json", "--output", str(out),
                 str(GOLDEN_IMAGES[0])]) == 0
    rows = json.loads(out.read_text())
    exact = json.loads((tmp_path / "exact.json").read_text())
    assert rows[0]["error"] is None
    assert abs(rows[0]["score"] - exact[0]["score"]) <= TARGET_MAX_DELTA
    assert main(["score", "--model", str(DEMO), "--fast", "--backend", "onnx", str(GOLDEN_IMAGES[0])]) == 2
    assert "--fast applies to the torch backend" in capsys.readouterr().err


@pytest.mark.parametrize("geometry", ["tiny", "demo"])
def test_class_token_last_layer_is_exact_and_computes_one_token(tmp_path, geometry):
    # `liqe init` geometries (random weights) and the demo geometry (patch 32, 2 layers): the pooled vision
    # features with the last layer for the class token only equal the full tower's (float rounding apart), and
    # that layer's query, out_proj and MLP really see one token per window.
    from modeling_liqe.fast_inference import ClassTokenLastLayer, class_token_last_layer
    from modeling_liqe.geometries import init_random_model

    init_random_model(geometry, output_dir=tmp_path / "model")
    exact = LIQEScorer(tmp_path / "model")
    model = class_token_last_layer(copy.deepcopy(exact.model))
    layer = model.clip.vision_model.encoder.layers[-1]
    assert isinstance(layer, ClassTokenLastLayer)
    assert class_token_last_layer(model).clip.vision_model.encoder.layers[-1] is layer  # idempotent
    seen = {}
    for name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.out_proj", "mlp.fc1"):
        layer.layer.get_submodule(name).register_forward_hook(
            lambda module, args, out, name=name: seen.__setitem__(name, tuple(args[0].shape)))
    windows = calibration_windows(exact.image_processor, count=3)
    with torch.inference_mode():
        full = exact.model.clip.vision_model(pixel_values=windows).pooler_output
        short = model.clip.vision_model(pixel_values=windows).pooler_output
    tokens = (exact.image_processor.patch_size // exact.model.config.clip_config.vision_config.patch_size) ** 2 + 1
    assert seen["self_attn.k_proj"][:2] == (3, tokens)
    assert seen["self_attn.q_proj"][:2] == seen["self_attn.out_proj"][:2] == seen["mlp.fc1"][:2] == (3, 1)
    assert not torch.equal(full[0], full[1])
    torch.testing.assert_close(short, full, rtol=1e-5, atol=1e-5 * float(full.abs().max()))


def test_fast_runs_the_last_layer_for_the_class_token_only(demo):
    from modeling_liqe.fast_inference import ClassTokenLastLayer

    exact, fast = demo
    assert isinstance(fast.model.clip.vision_model.encoder.layers[-1], ClassTokenLastLayer)
    assert not isinstance(exact.model.clip.vision_model.encoder.layers[-1], ClassTokenLastLayer)  # exact untouched
    # On the demo checkpoint every layer stays float32: --fast is then the exact arithmetic with less work.
    if not fast.model.fast_int8_layers:
        _, exact_scores = _scores(exact, GOLDEN_IMAGES)
        _, fast_scores = _scores(fast, GOLDEN_IMAGES)
        np.testing.assert_allclose(fast_scores, exact_scores, atol=1e-4)
