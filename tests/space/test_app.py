"""space/app.py: its handlers called directly and through a real Gradio server with gradio_client, each result
checked against the Python API (AutoModel + AutoProcessor on the same folder); bad inputs; the window grid."""

import csv
import math
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import norm

from tests.space.conftest import IMAGES, SPACE_DIR, load_app_module

QUALITIES = ["bad", "poor", "fair", "good", "perfect"]
# Several modes and sizes: RGB, RGBA, grey, above 768 px on both sides, under 1024, large stride.
SCORE_IMAGES = ["astronaut.png", "chelsea_rgba.png", "camera_gray_400x1024.png", "rocket_1650x1150.png"]


def reference(python_api, path):
    """Score, word, and marginals of one image by the Python API."""
    output = python_api(str(path))
    score = float(output.score[0])
    return {
        "score": score,
        "word": QUALITIES[min(max(int(math.floor(score + 0.5)) - 1, 0), 4)],
        "quality": dict(zip(QUALITIES, output.quality_probs[0].tolist())),
        "scene": dict(zip(python_api.model.config.axis("scene")["labels"], output.scene_probs[0].tolist())),
        "distortion": dict(zip(python_api.model.config.axis("distortion")["labels"],
                               output.distortion_probs[0].tolist())),
    }


def write_text_file(folder, name="notes.txt"):
    path = folder / name
    path.write_text("this is not an image\n")
    return path


def write_truncated_png(folder):
    path = folder / "truncated.png"
    Image.new("RGB", (300, 300), (10, 200, 30)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_png_header(folder, width, height):
    """A PNG whose header claims width x height (no pixel data): the pixel limit must refuse it unread."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    path = folder / f"huge_{width}x{height}.png"
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


# -- direct calls -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCORE_IMAGES)
def test_score_image_equals_python_api(app, python_api, name):
    expected = reference(python_api, IMAGES / name)
    score, verdict, quality_table, scenes, distortions = app.score_image(str(IMAGES / name))
    assert score == pytest.approx(expected["score"], abs=1e-6)
    assert verdict == f"{expected['score']:.3f} / 5: {expected['word']}"
    assert list(quality_table["quality"]) == QUALITIES
    np.testing.assert_allclose(quality_table["probability"], list(expected["quality"].values()), atol=1e-6)
    assert set(scenes) == set(expected["scene"]) and len(scenes) == 9
    np.testing.assert_allclose([scenes[k] for k in expected["scene"]], list(expected["scene"].values()), atol=1e-6)
    np.testing.assert_allclose([distortions[k] for k in expected["distortion"]], list(expected["distortion"].values()),
                               atol=1e-6)


def test_score_image_of_nothing_is_blank(app):
    assert app.score_image(None) == (None, "", None, None, None)
    assert app.quality_map(None) == (None, "")


@pytest.mark.parametrize(
    "score, word",
    [(1.0, "bad"), (1.49, "bad"), (1.5, "poor"), (2.51, "fair"), (3.4, "fair"), (4.5, "perfect"), (5.0, "perfect"),
     (0.2, "bad"), (5.7, "perfect")],
)
def test_quality_word_is_the_nearest_level(app, score, word):
    assert app.quality_word(score, QUALITIES) == word


@pytest.mark.parametrize("height, width", [(224, 224), (225, 224), (256, 256), (600, 900), (768, 1101), (768, 1024),
                                           (224, 3000), (768, 4000), (3000, 768)])
def test_map_grid_covers_the_image_within_the_window_budget(app, height, width):
    stride, tops, lefts = app.map_grid(height, width, 224, max_windows=48)
    assert stride >= 32 and stride % 16 == 0
    assert tops[0] == 0 and lefts[0] == 0
    assert tops[-1] == height - 224 and lefts[-1] == width - 224  # the last row / column on the edges
    assert all(b - a <= stride for seq in (tops, lefts) for a, b in zip(seq, seq[1:]))  # no gap between windows
    assert len(tops) * len(lefts) <= 48 or (len(tops) <= 2 and len(lefts) <= 2)
    if stride > 32:  # the smallest stride that fits: one step smaller would not have
        smaller = stride - 16
        count = lambda side: len(range(0, side - 224 + 1, smaller)) + ((side - 224) % smaller != 0)
        assert count(height) * count(width) > 48


def test_quality_map_windows_are_scored_alone(app, python_api, tmp_path):
    """Each window's quality equals the Python API's score of that 224x224 crop on its own (one window, whose
    own softmax gives the score), and the picture is the image (as the model sees it) under the colours."""
    path = tmp_path / "photo.png"
    Image.open(IMAGES / "astronaut.png").convert("RGB").resize((420, 300)).save(path)
    image, stride, positions, qualities = app.window_quality_grid(Image.open(path))
    assert image.size == (420, 300) and stride == 32
    assert len(positions) == len(qualities) == 4 * 8  # tops 0, 32, 64, 76; lefts 0 .. 192 by 32, then 196
    crops = [Image.open(path).convert("RGB").crop((left, top, left + 224, top + 224)) for top, left in positions]
    expected = python_api(crops).score.numpy()
    np.testing.assert_allclose(qualities, expected, atol=1e-5)

    array, summary = app.quality_map(str(path))
    assert array.shape == (300 + 28, 420, 3) and array.dtype == np.uint8
    assert summary.startswith("32 windows of 224 px, stride 32 px, on the 420x300 image")
    rendered, (low, high) = app.render_quality_map(image, positions, qualities, 224, QUALITIES)
    np.testing.assert_array_equal(rendered, array)
    assert high - low >= 1.0 - 1e-9
    # The top-left pixel lies in window (0, 0) only: half the photo, half that window's colour.
    colour = app._colour(np.array([(qualities[0] - low) / (high - low)]))[0]
    photo = np.asarray(image)[0, 0]
    np.testing.assert_allclose(array[0, 0], (0.5 * photo + 0.5 * colour), atol=0.51)


def test_colour_scale_runs_from_red_to_green(app):
    red, yellow, green = app._colour(np.array([0.0, 0.5, 1.0]))
    assert red[0] > 200 and red[1] < 60 and green[1] > 140 and green[0] < 40 and yellow[0] > 240 and yellow[1] > 200


def test_compare_equals_python_api_and_thurstone(app, python_api):
    first, second = IMAGES / "astronaut.png", IMAGES / "coffee_1100x1600.png"
    q1 = float(python_api(str(first)).score[0])
    q2 = float(python_api(str(second)).score[0])
    s1, s2, difference, probability, verdict = app.compare_images(str(first), str(second))
    assert s1 == pytest.approx(q1, abs=1e-5) and s2 == pytest.approx(q2, abs=1e-5)
    assert difference == pytest.approx(s1 - s2, abs=1e-12)
    assert probability == pytest.approx(norm.cdf(s1 - s2), abs=1e-12)
    assert f"P(first better) = Phi(q1 - q2) = {probability:.3f}" in verdict
    swapped = app.compare_images(str(second), str(first))
    assert swapped[3] == pytest.approx(1 - probability, abs=1e-9)


@pytest.mark.parametrize("q1, q2", [(3.0, 3.0), (4.0, 2.0), (1.0, 5.0), (2.5, 2.3)])
def test_thurstone_probability_is_phi_of_the_difference(app, q1, q2):
    assert app.thurstone_probability(q1, q2) == pytest.approx(norm.cdf(q1 - q2), abs=1e-12)


def test_compare_verdict_names_the_better_image(app, monkeypatch):
    class Output:
        def __init__(self, scores):
            self.score = torch.tensor(scores)

    monkeypatch.setattr(app, "_forward", lambda loaded, images: Output([2.0, 3.5]))
    path = str(IMAGES / "astronaut.png")
    *_, verdict = app.compare_images(path, path)
    assert verdict.startswith("The second image is better by 1.500 on the 1-5 scale: 2.000 (poor) vs 3.500 (good).")


def test_score_batch_rows_in_order_with_errors_and_csv(app, python_api, tmp_path):
    names = ["astronaut.png", "chelsea_rgba.png", "camera_gray_400x1024.png", "coins_gray_600x1200.png",
             "hubble_deep_field.png", "retina_768x1024.png", "rocket_left_900x600.png", "rocket_1650x1150.png",
             "coffee_1100x1600.png"]  # 9 images: two forwards of up to 8
    text = write_text_file(tmp_path)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    truncated = write_truncated_png(tmp_path)
    paths = [str(IMAGES / n) for n in names[:2]] + [str(text)] + [str(IMAGES / n) for n in names[2:]]
    paths += [str(empty), str(truncated)]
    table, csv_path = app.score_batch(paths)
    assert list(table["file"]) == names[:2] + ["notes.txt"] + names[2:] + ["empty.jpg", "truncated.png"]
    for name in names:
        row = table[table["file"] == name].iloc[0]
        expected = reference(python_api, IMAGES / name)
        assert row["score"] == pytest.approx(expected["score"], abs=1e-5)
        assert row["quality"] == expected["word"] and row["error"] == ""
        assert row["scene"] == max(expected["scene"], key=expected["scene"].get)
        assert row["distortion"] == max(expected["distortion"], key=expected["distortion"].get)
    errors = dict(zip(table["file"], table["error"]))
    assert "notes.txt is not an image file" in errors["notes.txt"]
    assert "empty.jpg: the file is empty" in errors["empty.jpg"]
    assert "truncated.png: the image is damaged or truncated" in errors["truncated.png"]
    assert table[table["error"] != ""]["score"].isna().all()

    with open(csv_path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["file"] for r in rows] == list(table["file"])
    for r, score in zip(rows, table["score"]):
        assert (r["score"] == "") == (score is None or (isinstance(score, float) and math.isnan(score)))
        if r["score"]:
            assert float(r["score"]) == score
            assert sum(float(r[f"quality.{q}"]) for q in QUALITIES) == pytest.approx(1, abs=1e-5)
    assert len([c for c in rows[0] if c.startswith("distortion.")]) == 11


def test_score_batch_limits(app, monkeypatch):
    import gradio as gr

    with pytest.raises(gr.Error, match="Upload one or more image files"):
        app.score_batch([])
    monkeypatch.setattr(app, "MAX_BATCH_FILES", 2)
    with pytest.raises(gr.Error, match="3 files: this Space scores at most 2 files at a time"):
        app.score_batch([str(IMAGES / "astronaut.png")] * 3)


def test_bad_inputs_get_clear_messages(app, tmp_path, monkeypatch):
    import gradio as gr

    with pytest.raises(gr.Error, match=r"notes.txt is not an image file \(Pillow cannot identify it\)"):
        app.score_image(str(write_text_file(tmp_path)))
    with pytest.raises(gr.Error, match="truncated.png: the image is damaged or truncated"):
        app.quality_map(str(write_truncated_png(tmp_path)))
    bomb = write_png_header(tmp_path, 30000, 30000)
    with pytest.raises(gr.Error, match=r"huge_30000x30000.png: 30000x30000 = 900,000,000 pixels is over this Space's "
                                       r"limit of 40,000,000 pixels"):
        app.score_image(str(bomb))
    monkeypatch.setattr(app, "MAX_IMAGE_PIXELS", 300 * 300 - 1)
    with pytest.raises(gr.Error, match=r"astronaut.png: 512x512 = 262,144 pixels is over .* limit of 89,999 pixels"):
        app.score_image(str(IMAGES / "astronaut.png"))
    monkeypatch.setattr(app, "MAX_IMAGE_PIXELS", 300 * 300)
    assert app.score_image(str(write_png(tmp_path, 300, 300)))[0] is not None  # exactly at the limit: accepted
    monkeypatch.setattr(app, "MAX_IMAGE_BYTES", 1000)
    with pytest.raises(gr.Error, match=r"astronaut.png: the file is 0.4 MiB, over this Space's limit of 0.0 MiB"):
        app.compare_images(str(IMAGES / "astronaut.png"), str(IMAGES / "astronaut.png"))
    with pytest.raises(gr.Error, match="Upload two images"):
        app.compare_images(str(IMAGES / "astronaut.png"), None)
    with pytest.raises(gr.Error, match="missing.png: the uploaded file cannot be found"):
        app.score_image(str(tmp_path / "missing.png"))


def write_png(folder, width, height):
    path = folder / f"plain_{width}x{height}.png"
    Image.new("RGB", (width, height), (120, 80, 40)).save(path)
    return path


def test_gradio_payloads_and_pasted_images_reach_the_handlers(app, python_api, tmp_path):
    """Events run with preprocess=False: the handler gets Gradio's file payload, or a data URL when pasted."""
    import base64

    path = IMAGES / "astronaut.png"
    expected = float(python_api(str(path)).score[0])
    assert app.score_image({"path": str(path), "orig_name": "astronaut.png"})[0] == pytest.approx(expected, abs=1e-6)
    url = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    assert app.score_image({"path": None, "url": url})[0] == pytest.approx(expected, abs=1e-6)


def test_limits_come_from_the_environment(space_model_dir, monkeypatch):
    monkeypatch.setenv("LIQE_MAX_IMAGE_PIXELS", "1234")
    monkeypatch.setenv("LIQE_MAX_IMAGE_BYTES", "5678")
    monkeypatch.setenv("LIQE_QUEUE_SIZE", "7")
    monkeypatch.setenv("LIQE_MAP_MAX_WINDOWS", "9")
    module = load_app_module(space_model_dir, "liqe_space_app_limits")
    limits = (module.MAX_IMAGE_PIXELS, module.MAX_IMAGE_BYTES, module.QUEUE_SIZE, module.MAP_MAX_WINDOWS)
    assert limits == (1234, 5678, 7, 9)
    assert module.build_demo()._queue.max_size == 7
    monkeypatch.setenv("LIQE_QUEUE_SIZE", "many")
    with pytest.raises(ValueError, match="LIQE_QUEUE_SIZE must be an integer, got 'many'"):
        load_app_module(space_model_dir, "liqe_space_app_limits")


def test_model_id_from_env_then_repo_checkpoint_then_space_card(app, monkeypatch, tmp_path):
    assert app.REPO_DEMO_CHECKPOINT == SPACE_DIR.parent / "checkpoints" / "liqe-tiny-synthetic"
    monkeypatch.setenv("LIQE_MODEL", "org/some-liqe")
    assert app.resolve_model_id() == "org/some-liqe"
    monkeypatch.delenv("LIQE_MODEL")
    monkeypatch.setattr(app, "REPO_DEMO_CHECKPOINT", tmp_path)
    assert app.resolve_model_id() == str(tmp_path)
    monkeypatch.setattr(app, "REPO_DEMO_CHECKPOINT", tmp_path / "absent")
    assert app.resolve_model_id() == "liqe/liqe-tiny-synthetic"  # space/README.md's models: entry


def test_model_description_hides_server_paths(app, monkeypatch):
    assert app.model_description() == "Model: `liqe-tiny` (a local folder)"
    monkeypatch.setattr(app.get_model(), "model_id", "org/liqe-koniq")
    assert app.model_description() == "Model: [org/liqe-koniq](https://huggingface.co/org/liqe-koniq)"


def test_model_is_loaded_once(app, monkeypatch):
    first = app.get_model()
    from transformers import AutoModel

    monkeypatch.setattr(AutoModel, "from_pretrained", lambda *a, **k: pytest.fail("model loaded twice"))
    app.score_image(str(IMAGES / "astronaut.png"))
    assert app.get_model() is first


def test_app_imports_nothing_from_this_repository():
    source = (SPACE_DIR / "app.py").read_text()
    assert "modeling_liqe" not in source and "datasets_scripts" not in source
    assert "trust_remote_code=True" in source


def test_space_card_front_matter():
    import yaml

    gradio = pytest.importorskip("gradio")
    text = (SPACE_DIR / "README.md").read_text(encoding="utf-8")
    card = yaml.safe_load(text.split("---", 2)[1])
    assert card["sdk"] == "gradio" and card["app_file"] == "app.py"
    assert card["sdk_version"] == gradio.__version__  # the gradio the tests run
    assert str(card["python_version"]).startswith("3.") and card["models"] and card["license"] and card["title"]
    requirements = (SPACE_DIR / "requirements.txt").read_text()
    assert f"gradio=={gradio.__version__}" in requirements.split()
    examples = list((SPACE_DIR / "examples").glob("*.jpg"))
    assert len(examples) >= 8 and sum(p.stat().st_size for p in SPACE_DIR.rglob("*") if p.is_file()) < 3 * 2**20


# -- through a real server ----------------------------------------------------------------------------------
def test_client_every_tab_equals_python_api(app, client, python_api, tmp_path):
    from gradio_client import handle_file

    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/score", "/quality_map", "/compare", "/batch"} <= set(api)

    for name in ("astronaut.png", "rocket_left_900x600.png"):
        expected = reference(python_api, IMAGES / name)
        score, verdict, quality_plot, scenes, distortions = client.predict(handle_file(str(IMAGES / name)),
                                                                           api_name="/score")
        assert score == pytest.approx(expected["score"], abs=1e-6)
        assert verdict.endswith(expected["word"])
        assert [row[0] for row in quality_plot["data"]] == QUALITIES
        np.testing.assert_allclose([row[1] for row in quality_plot["data"]], list(expected["quality"].values()),
                                   atol=1e-6)
        top_scenes = sorted(expected["scene"], key=expected["scene"].get, reverse=True)[:3]
        assert [c["label"] for c in scenes["confidences"]] == top_scenes
        shown = {c["label"]: c["confidence"] for c in distortions["confidences"]}
        assert shown == pytest.approx(expected["distortion"],
                                                                                                  abs=1e-6)

    map_path, summary = client.predict(handle_file(str(IMAGES / "rocket_left_900x600.png")), api_name="/quality_map")
    shown = np.asarray(Image.open(map_path).convert("RGB"))
    direct, direct_summary = app.quality_map(str(IMAGES / "rocket_left_900x600.png"))
    assert summary == direct_summary
    np.testing.assert_array_equal(shown, direct)  # PNG: lossless

    first, second = IMAGES / "chelsea_rgba.png", IMAGES / "coins_gray_600x1200.png"
    q1, q2, difference, probability, verdict = client.predict(handle_file(str(first)), handle_file(str(second)),
                                                              api_name="/compare")
    e1, e2 = (reference(python_api, p)["score"] for p in (first, second))
    assert (q1, q2) == (pytest.approx(e1, abs=1e-5), pytest.approx(e2, abs=1e-5))
    assert probability == pytest.approx(norm.cdf(q1 - q2), abs=1e-9) and difference == pytest.approx(q1 - q2)

    text = write_text_file(tmp_path)
    table, csv_file = client.predict([handle_file(str(IMAGES / "astronaut.png")), handle_file(str(text)),
                                      handle_file(str(IMAGES / "retina_768x1024.png"))], api_name="/batch")
    rows = table["data"]
    assert [r[0] for r in rows] == ["astronaut.png", "notes.txt", "retina_768x1024.png"]
    assert rows[0][1] == pytest.approx(reference(python_api, IMAGES / "astronaut.png")["score"], abs=1e-5)
    assert rows[2][1] == pytest.approx(reference(python_api, IMAGES / "retina_768x1024.png")["score"], abs=1e-5)
    assert rows[1][1] is None and "notes.txt is not an image file" in rows[1][5]
    with open(csv_file, newline="", encoding="utf-8") as stream:
        assert [r["file"] for r in csv.DictReader(stream)] == ["astronaut.png", "notes.txt", "retina_768x1024.png"]


def test_client_gets_the_error_message(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"notes.txt is not an image file"):
        client.predict(handle_file(str(write_text_file(tmp_path))), api_name="/score")
    with pytest.raises(AppError, match=r"truncated.png: the image is damaged or truncated"):
        client.predict(handle_file(str(write_truncated_png(tmp_path))), handle_file(str(IMAGES / "astronaut.png")),
                       api_name="/compare")


@pytest.mark.parametrize("width, height", [(224, 224), (100, 1500), (1500, 100), (223, 223), (767, 800), (768, 768),
                                           (800, 2000), (3000, 769), (1, 5)])
def test_resized_size_is_the_processor_resize(app, python_api, width, height):
    image_processor = python_api.processor.image_processor
    expected = image_processor.resize(Image.new("RGB", (width, height))).size
    assert app.resized_size(image_processor, width, height) == expected
    for_fallback = type("Plain", (), {"patch_size": 224, "resize_short_side": 768})()  # a processor without it
    assert app.resized_size(for_fallback, width, height) == expected


def test_elongated_images_score_map_or_are_refused_clearly(app, python_api, tmp_path, monkeypatch):
    import gradio as gr

    strip = tmp_path / "strip_100x1500.png"
    Image.open(IMAGES / "rocket_left_900x600.png").convert("RGB").resize((100, 1500)).save(strip)
    assert app.score_image(str(strip))[0] == pytest.approx(float(python_api(str(strip)).score[0]), abs=1e-6)
    array, summary = app.quality_map(str(strip))
    assert array.shape == (3360 + 28, 224, 3) and "on the 224x3360 image" in summary

    sliver = tmp_path / "sliver_2x6000.png"
    Image.new("RGB", (2, 6000), (90, 90, 90)).save(sliver)
    with pytest.raises(gr.Error, match=r"sliver_2x6000.png: 2x6000 would be resized to 224x672000 = 150,528,000 pixels"
                                       r" .* over this Space's limit of 40,000,000"):
        app.score_image(str(sliver))
    monkeypatch.setattr(app, "MAP_MAX_PIXELS", 224 * 3000)
    with pytest.raises(gr.Error, match=r"strip_100x1500.png: 100x1500 would be resized to 224x3360 = 752,640 pixels"):
        app.quality_map(str(strip))
