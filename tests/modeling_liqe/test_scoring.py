"""LIQEScorer: golden scores through a saved folder, batching, per-file errors, variants, devices.

`tiny_model_dir` (also used by test_cli.py) converts the golden tiny random CLIP once per session.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_liqe.scoring import RESULT_KEYS, LIQEScorer, resolve_device
from tests.conftest import FIXTURES
from tests.openai_clip_recipe import TINY_CHECKSUM, build_openai_clip_state_dict, state_dict_checksum

GOLDEN_IMAGES = FIXTURES / "images"
SCORE_TOLERANCE = 1e-4

_SESSION_CACHE = {}


def golden_state_dict():
    """The golden tiny random OpenAI-format CLIP (built once per session; ~4 s)."""
    if "state" not in _SESSION_CACHE:
        state = build_openai_clip_state_dict(seed=1234)
        assert state_dict_checksum(state) == TINY_CHECKSUM
        _SESSION_CACHE["state"] = state
    return _SESSION_CACHE["state"]


def tiny_model_dir(tmp_path_factory):
    """A model folder converted from the golden checkpoint, shared by the test modules of a session."""
    if "model_dir" not in _SESSION_CACHE:
        from modeling_liqe.convert_liqe_checkpoint import convert_checkpoint

        root = tmp_path_factory.mktemp("tiny-liqe")
        source = root / "tiny_openai_clip.pt"
        torch.save(golden_state_dict(), source)
        convert_checkpoint(source, root / "model")
        _SESSION_CACHE["model_dir"] = root / "model"
    return _SESSION_CACHE["model_dir"]


def load_golden():
    with open(FIXTURES / "golden_expected.json", encoding="utf-8") as f:
        return json.load(f)["images"]


@pytest.fixture(scope="module")
def golden():
    return load_golden()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def scorer(model_dir):
    return LIQEScorer(model_dir, device="cpu", batch_size=4)


def _small_images(tmp_path):
    """Images with different window counts (1, 4 and 15+) so that batches need padding."""
    rng = np.random.default_rng(0)
    paths = []
    for name, (w, h) in {"one_window.png": (224, 224), "four_windows.png": (256, 256), "small.png": (10, 10)}.items():
        path = tmp_path / name
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_golden_scores_through_saved_folder(scorer, golden):
    # a few golden images (test_cli.py runs all nine through `liqe convert` + `liqe score`): RGB, RGBA, gray
    # with a resize to 768, and a 1000x872 image whose long side is truncated by the resize
    names = ["astronaut.png", "chelsea_rgba.png", "coins_gray_600x1200.png", "hubble_deep_field.png"]
    rows = list(scorer.score_paths([GOLDEN_IMAGES / name for name in names]))
    assert [row["path"] for row in rows] == [str(GOLDEN_IMAGES / name) for name in names]
    for name, row in zip(names, rows):
        expected = golden[name]
        assert set(row) == set(RESULT_KEYS)
        assert row["error"] is None
        assert row["score"] == pytest.approx(expected["score"], abs=SCORE_TOLERANCE), name
        assert row["scene"] == expected["scene"], name
        assert row["distortion"] == expected["distortion"], name
        assert list(row["quality_probs"]) == ["bad", "poor", "fair", "good", "perfect"]
        np.testing.assert_allclose(list(row["quality_probs"].values()), expected["quality_probs"], atol=1e-5)
        np.testing.assert_allclose(list(row["scene_probs"].values()), expected["scene_probs"], atol=1e-5)
        np.testing.assert_allclose(list(row["distortion_probs"].values()), expected["distortion_probs"], atol=1e-5)
        assert sum(row["scene_probs"].values()) == pytest.approx(1.0, abs=1e-5)


def test_batching_and_padding_do_not_change_results(scorer, tmp_path):
    paths = _small_images(tmp_path) + [str(GOLDEN_IMAGES / "astronaut.png")]
    one = list(LIQEScorer(scorer.model, batch_size=1, processor=scorer.processor).score_paths(paths))
    together = list(LIQEScorer(scorer.model, batch_size=8, processor=scorer.processor).score_paths(paths))
    for a, b in zip(one, together):
        assert a["path"] == b["path"] and a["error"] is None and b["error"] is None
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert a["scene"] == b["scene"] and a["distortion"] == b["distortion"]


def test_preparing_threads_keep_order_results_and_error_rows(scorer, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_text("not an image\n")
    paths = _small_images(tmp_path) + [str(bad), str(GOLDEN_IMAGES / "astronaut.png")] + _small_images(tmp_path)
    inline = list(LIQEScorer(scorer.model, batch_size=2, processor=scorer.processor, num_workers=0).score_paths(paths))
    threaded = list(LIQEScorer(scorer.model, batch_size=2, processor=scorer.processor, num_workers=3).score_paths(paths))
    assert [row["path"] for row in threaded] == paths
    assert threaded == inline
    assert threaded[3]["error"].startswith(str(bad))


def test_prompts_are_encoded_once_not_per_batch(tmp_path):
    # A model whose prompt features are not cached yet: the first batch runs the text tower, later batches
    # must not. (Counted at the text tower itself, so a cache that misses on every batch fails here.)
    from modeling_liqe.geometries import init_random_model

    model, processor = init_random_model("tiny", seed=5)
    text_forwards = []
    hook = model.clip.text_model.register_forward_hook(lambda *args: text_forwards.append(1))
    try:
        rows = LIQEScorer(model, processor=processor, batch_size=4).score_paths(_small_images(tmp_path) * 4)
        first_batch = [next(rows) for _ in range(4)]
        after_first_batch = len(text_forwards)
        rest = list(rows)  # two more model calls
    finally:
        hook.remove()
    assert len(first_batch + rest) == 12 and all(row["error"] is None for row in first_batch + rest)
    assert after_first_batch > 0  # the counter sees the encoding
    assert len(text_forwards) == after_first_batch


def test_a_loaded_folder_uses_its_shipped_prompt_features(scorer, tmp_path):
    text_forwards = []
    hook = scorer.model.clip.text_model.register_forward_hook(lambda *args: text_forwards.append(1))
    try:
        rows = list(scorer.score_paths(_small_images(tmp_path) * 3))  # 9 images, batch size 4: three model calls
    finally:
        hook.remove()
    assert len(rows) == 9 and all(row["error"] is None for row in rows)
    assert text_forwards == []


def test_bad_file_gives_an_error_row_and_the_batch_goes_on(scorer, tmp_path):
    good = str(GOLDEN_IMAGES / "astronaut.png")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = str(tmp_path / "missing.png")
    paths = [str(text), good, missing, str(empty), good]
    rows = list(scorer.score_paths(paths))
    assert [row["path"] for row in rows] == paths
    for row, path in zip(rows, paths):
        if path == good:
            assert row["error"] is None and 1.0 <= row["score"] <= 5.0
        else:
            assert row["error"].startswith(path), row["error"]
            assert row["score"] is None and row["scene"] is None and row["quality_probs"] is None
    assert rows[1]["score"] == rows[4]["score"]
    assert "empty" in rows[3]["error"] and "no such file" in rows[2]["error"]


def test_score_images_matches_score_paths(scorer):
    path = GOLDEN_IMAGES / "rocket_left_900x600.png"
    [from_path] = scorer.score_paths([path])
    image = Image.open(path)
    rows = scorer.score_images([image, np.asarray(image.convert("RGB"))], names=["a", "b"])
    assert [row["path"] for row in rows] == ["a", "b"]
    for row in rows:
        assert row["score"] == pytest.approx(from_path["score"], abs=1e-6)
    [unnamed] = scorer.score_images([image])
    assert unnamed["path"] is None and unnamed["error"] is None
    [bad] = scorer.score_images(["not a picture"])  # a string is taken as a path
    assert bad["error"].startswith("not a picture")


def test_variant_without_an_axis_gives_none():
    # (the quality-only variant is scored in test_cli.py::test_convert_to_float16_folder)
    from modeling_liqe.geometries import init_random_model

    model, processor = init_random_model("tiny", variant="quality_distortion", seed=0)
    scorer = LIQEScorer(model, processor=processor)
    [row] = scorer.score_paths([GOLDEN_IMAGES / "astronaut.png"])
    assert row["error"] is None and 1.0 <= row["score"] <= 5.0
    assert len(row["quality_probs"]) == 5 and len(row["distortion_probs"]) == 11
    assert row["distortion"] in row["distortion_probs"]
    assert row["scene"] is None and row["scene_probs"] is None


def test_devices_and_arguments(model_dir):
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="batch_size"):
        LIQEScorer(model_dir, batch_size=0)
    with pytest.raises(ValueError, match="processor"):
        LIQEScorer(torch.nn.Linear(1, 1))


def test_max_image_pixels(scorer, tmp_path):
    path = tmp_path / "big enough.png"
    Image.new("RGB", (300, 300), "gray").save(path)
    processor = scorer.processor
    assert processor.image_processor.max_image_pixels is None
    limited = LIQEScorer(scorer.model, processor=processor, max_image_pixels=300 * 300 - 1)
    assert limited.processor.image_processor is limited.image_processor is not processor.image_processor
    assert limited.processor.tokenizer is processor.tokenizer
    [row] = limited.score_paths([path])
    assert row["error"] == (f"{path}: 300x300 = 90000 pixels exceeds the pixel limit of 89999 (possible decompression "
                            "bomb); raise max_image_pixels to accept it")
    # the caller's processor is not edited: a scorer built on it later has the default limit again
    assert processor.image_processor.max_image_pixels is None
    [row] = LIQEScorer(scorer.model, processor=processor).score_paths([path])
    assert row["error"] is None
    # the limit also bounds the size after the upscale to the window size (a sliver), named in the caller's terms
    sliver = tmp_path / "sliver.png"
    Image.new("RGB", (2000, 3), "gray").save(sliver)
    cli_like = LIQEScorer(scorer.model, processor=processor, max_image_pixels=10**6,
                          pixel_limit_option="--max-image-pixels")
    [row] = cli_like.score_paths([sliver])
    assert row["error"] == (f"{sliver}: 2000x3 would be resized to 149333x224 = 33450592 pixels (short side 224), "
                            "over the pixel limit of 1000000; raise --max-image-pixels to accept it")
    [row] = cli_like.score_images([Image.open(sliver)], names=["in memory"])
    assert row["error"].startswith("in memory: 2000x3 would be resized to 149333x224")


def test_tf32_flags_are_set_around_the_scorers_forwards_only(scorer):
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    seen = []
    forward = scorer.model.forward

    def recording(*args, **kwargs):
        seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return forward(*args, **kwargs)

    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True  # the caller's choice
        scorer.model.forward = recording
        strict = LIQEScorer(scorer.model, processor=scorer.processor)
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)
        [row] = strict.score_paths([GOLDEN_IMAGES / "astronaut.png"])
        assert row["error"] is None and seen == [(False, False)]  # true float32 inside the scorer's forward
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)  # restored
        # a forward that raises restores them too
        scorer.model.forward = lambda *args, **kwargs: 1 / 0
        with pytest.raises(ZeroDivisionError):
            list(strict.score_paths([GOLDEN_IMAGES / "astronaut.png"]))
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)
        # allow_tf32=True leaves the flags as the caller set them
        scorer.model.forward = recording
        lenient = LIQEScorer(scorer.model, processor=scorer.processor, allow_tf32=True)
        list(lenient.score_paths([GOLDEN_IMAGES / "astronaut.png"]))
        assert seen[-1] == (True, True)
    finally:
        del scorer.model.forward
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _folder_with_code_that_announces_itself(model_dir, tmp_path):
    """A copy of a model folder whose shipped configuration_liqe.py appends a line to $LIQE_TEST_MARKER when
    imported, under a model type this package does not register (so only the folder's code can load it)."""
    import shutil

    # a name of its own: a module already imported from the Hub module cache would not run (and announce) again
    folder = tmp_path / f"folder-with-code-{tmp_path.name}"
    shutil.copytree(model_dir, folder)
    code = folder / "configuration_liqe.py"
    code.write_text('import os\nopen(os.environ["LIQE_TEST_MARKER"], "a").write("folder code ran\\n")\n'
                    + code.read_text(encoding="utf-8"), encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["model_type"] = "liqe-with-own-code"
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_a_folder_loads_with_the_packages_classes_and_never_runs_its_code(model_dir, tmp_path, monkeypatch, golden,
                                                                          capsys):
    import sys

    from modeling_liqe.modeling_liqe import LIQEModel
    from modeling_liqe.processing_liqe import LIQEProcessor

    marker = tmp_path / "marker.txt"
    monkeypatch.setenv("LIQE_TEST_MARKER", str(marker))
    folder = _folder_with_code_that_announces_itself(model_dir, tmp_path)
    own = LIQEScorer(folder)
    assert type(own.model) is LIQEModel and type(own.processor) is LIQEProcessor
    assert not marker.exists()
    assert "custom code" not in capsys.readouterr().out  # not even a "run the custom code? [y/N]" prompt
    [row] = own.score_paths([GOLDEN_IMAGES / "astronaut.png"])
    assert row["score"] == pytest.approx(golden["astronaut.png"]["score"], abs=SCORE_TOLERANCE)
    # trust_remote_code=True: the folder's own code is what loads (and runs)
    remote = LIQEScorer(folder, trust_remote_code=True)
    assert "folder code ran" in marker.read_text()
    assert type(remote.model).__module__.startswith("transformers_modules")
    assert any(name.startswith("transformers_modules") for name in sys.modules)


def test_max_image_pixels_can_be_raised_above_pillows_own_limit(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from modeling_liqe.image_processing_liqe import load_image

    path = tmp_path / "large.png"
    Image.new("RGB", (300, 300), "gray").save(path)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)  # Pillow alone would refuse (> 2x its limit)
    with pytest.raises(Exception, match="decompression bomb"):
        load_image(path)  # default: Pillow's limit applies
    assert load_image(path, max_image_pixels=300 * 300).size == (300, 300)
    assert PILImage.MAX_IMAGE_PIXELS == 1000  # the global is restored


def test_non_finite_score_is_an_error_row_not_nan(scorer, monkeypatch):
    forward = scorer.model.forward

    def overflowing(*args, **kwargs):
        output = forward(*args, **kwargs)
        output.score = torch.full_like(output.score, float("nan"))
        return output

    monkeypatch.setattr(scorer.model, "forward", overflowing)
    [row] = scorer.score_paths([GOLDEN_IMAGES / "astronaut.png"])
    assert row["score"] is None and row["quality_probs"] is None and "non-finite" in row["error"]
