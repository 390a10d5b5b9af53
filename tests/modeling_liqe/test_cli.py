"""The `liqe` command line: golden scores end to end, output formats, folders, bad inputs, convert, init."""

import csv
import io
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from modeling_liqe import cli, scoring
from modeling_liqe.cli import main
from modeling_liqe.scoring import LIQEScorer
from tests.conftest import REPO_ROOT
from tests.modeling_liqe.test_scoring import (
    GOLDEN_IMAGES,
    _folder_with_code_that_announces_itself,
    golden_state_dict,
    load_golden,
    tiny_model_dir,
)
from tests.peak_rss import run_with_peak_rss

QUALITIES = ["bad", "poor", "fair", "good", "perfect"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_model_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def golden():
    return load_golden()


@pytest.fixture
def shared_scorer(model_dir, monkeypatch):
    """In-process runs of `liqe score --model <the tiny model>` reuse one loaded model (loading is tested by
    the golden test and the real process run); other arguments still reach LIQEScorer."""
    loaded = LIQEScorer(model_dir)
    real = scoring.LIQEScorer

    def factory(model, trust_remote_code=False, **kwargs):
        if os.fspath(model) != model_dir or trust_remote_code:
            return real(model, trust_remote_code=trust_remote_code, **kwargs)
        return real(loaded.model, processor=loaded.processor, **kwargs)

    monkeypatch.setattr(scoring, "LIQEScorer", factory)
    return loaded


def run_json(capsys, *argv):
    """main([...]) with --format json to stdout → (exit status, rows, stderr)."""
    capsys.readouterr()
    status = main(list(argv) + ["--format", "json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out.strip() else None, captured.err


def _png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_bomb_png(path, side=30000):
    """A real, valid 1-bit PNG of side x side pixels (0.9 G pixels) that is only ~100 KB on disk."""
    compressor = zlib.compressobj(1)
    rows = (b"\x00" * (1 + (side + 7) // 8)) * 1000
    data = b"".join(compressor.compress(rows) for _ in range(side // 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
                     + _png_chunk(b"IEND", b""))


# -- golden, end to end ---------------------------------------------------------------------------------------
def test_convert_then_score_gives_the_golden_figures(tmp_path, capsys, golden):
    source = tmp_path / "tiny_openai_clip.pt"
    torch.save(golden_state_dict(), source)
    assert main(["convert", str(source), str(tmp_path / "model")]) == 0
    assert "wrote" in capsys.readouterr().err
    names = sorted(golden)
    paths = [str(GOLDEN_IMAGES / name) for name in names]
    status, rows, err = run_json(capsys, "score", "--model", str(tmp_path / "model"), *paths)
    assert status == 0, err
    assert [row["path"] for row in rows] == paths
    for name, row in zip(names, rows):
        assert row["error"] is None
        assert row["score"] == pytest.approx(golden[name]["score"], abs=1e-4), name
        assert row["scene"] == golden[name]["scene"], name
        assert row["distortion"] == golden[name]["distortion"], name
        assert list(row["quality_probs"]) == QUALITIES


# -- output formats --------------------------------------------------------------------------------------------
def test_every_output_format_parses(model_dir, shared_scorer, tmp_path, capsys, golden):
    paths = [str(GOLDEN_IMAGES / "astronaut.png"), str(tmp_path / "missing file.png"),
             str(GOLDEN_IMAGES / "hubble_deep_field.png")]
    status, rows, _ = run_json(capsys, "score", "--model", model_dir, *paths)
    assert status == 1 and [row["path"] for row in rows] == paths
    assert rows[1]["error"].startswith(paths[1]) and rows[1]["score"] is None
    assert rows[0]["score"] == pytest.approx(golden["astronaut.png"]["score"], abs=1e-4)

    # jsonl: one object per line, the same rows
    assert main(["score", "--model", model_dir, "--format", "jsonl", *paths]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == rows

    # csv (to a file): probabilities flattened to columns
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", model_dir, "--format", "csv", "--output", str(out), *paths]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"liqe score: error: {rows[1]['error']}",
                                "liqe score: error: 1 of 3 file(s) could not be scored"]
    with open(out, newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["path"] for r in table] == paths
    assert float(table[0]["score"]) == pytest.approx(rows[0]["score"], abs=1e-7)
    assert float(table[0]["quality_probs.perfect"]) == pytest.approx(rows[0]["quality_probs"]["perfect"], abs=1e-7)
    assert float(table[2]["scene_probs.still_life"]) == pytest.approx(rows[2]["scene_probs"]["still_life"], abs=1e-7)
    assert float(table[2]["distortion_probs.jpeg2000 compression"]) == pytest.approx(
        rows[2]["distortion_probs"]["jpeg2000 compression"], abs=1e-7)
    assert table[1]["score"] == "" and table[1]["error"] == rows[1]["error"]
    assert len(table[0]) == 5 + 5 + 9 + 11

    # table: aligned columns, score with 4 decimals, error in its column
    assert main(["score", "--model", model_dir, *paths]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["path", "score", "scene", "distortion", "error"]
    assert f"{rows[0]['score']:.4f}" in lines[1] and rows[0]["scene"] in lines[1]
    assert rows[1]["error"] in lines[2]
    score_end = lines[0].index("score") + len("score")
    assert lines[1][:score_end].endswith(f"{rows[0]['score']:.4f}")
    assert lines[3][:score_end].endswith(f"{rows[2]['score']:.4f}")
    assert lines[1].index(rows[0]["scene"]) == lines[0].index("scene")


def test_progress_bar_only_on_a_terminal(model_dir, shared_scorer, capsys, monkeypatch):
    paths = [str(GOLDEN_IMAGES / "astronaut.png")] * 2
    monkeypatch.setattr(cli, "PROGRESS_MIN_IMAGES", 2)
    assert main(["score", "--model", model_dir, "--format", "jsonl", *paths]) == 0
    assert "liqe score" not in capsys.readouterr().err  # captured stderr is no terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["score", "--model", model_dir, "--format", "jsonl", *paths]) == 0
    captured = capsys.readouterr()
    assert "liqe score" in captured.err and "2/2" in captured.err
    assert len([json.loads(line) for line in captured.out.splitlines()]) == 2


# -- folders ---------------------------------------------------------------------------------------------------
def test_folder_recursion_and_the_path_rule(model_dir, shared_scorer, tmp_path, capsys, monkeypatch):
    root = tmp_path / "photos"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    picture = Image.open(GOLDEN_IMAGES / "astronaut.png").convert("RGB").resize((240, 240))
    for relative in ["z.PNG", "a/x.JpG", "b/deep/y.jpeg", "b/w.webp", "b/v.TIFF", "a/u.bmp", "a/t.gif"]:
        picture.save(root / relative)
    (root / "a" / "notes.txt").write_text("skip me")
    (root / "b" / "no_extension").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)

    status, rows, err = run_json(capsys, "score", "--model", model_dir, "photos/", "./photos/a/x.JpG", "empty")
    assert status == 0, err
    # a folder's files: the folder as given joined with the path inside it, walked in sorted order, top down;
    # a file argument keeps its spelling
    inside = ["z.PNG", "a/t.gif", "a/u.bmp", "a/x.JpG", "b/v.TIFF", "b/w.webp", "b/deep/y.jpeg"]
    assert [row["path"] for row in rows] == [os.path.join("photos/", p) for p in inside] + ["./photos/a/x.JpG"]
    assert all(row["error"] is None for row in rows)
    assert "no image files in folder empty" in err

    assert main(["score", "--model", model_dir, "empty"]) == 1
    assert "no image files to score" in capsys.readouterr().err


# -- bad inputs --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """One folder holding every awkward input of the issue; name → (path, expectation)."""
    root = tmp_path_factory.mktemp("bad inputs")
    photo = Image.open(GOLDEN_IMAGES / "rocket_left_900x600.png").convert("RGB")
    small = photo.resize((300, 200))
    files = {}

    def add(name, expect):
        files[name] = (root / name, expect)
        return root / name

    add("zero bytes.jpg", "error").write_bytes(b"")
    add("text.jpg", "error").write_text("this is not a JPEG\n")
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    add("truncated.jpg", "error").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    gray = np.asarray(small.convert("L"))
    Image.fromarray(gray).save(add("gray8.png", "score"))
    Image.fromarray(gray.astype(np.uint16) * 257).save(add("gray16.png", "score"))  # 16-bit PNG
    small.convert("CMYK").save(add("cmyk.jpg", "score"), quality=95)
    palette = small.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 0
    palette.save(add("palette_transparent.png", "score"), transparency=0)
    frames = [small.rotate(angle).convert("P", palette=Image.Palette.ADAPTIVE, colors=64) for angle in (0, 30, 60)]
    frames[0].save(add("animated.gif", "score"), save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].convert("RGB").save(add("animated_first_frame.png", "score"))
    small.resize((10, 10)).save(add("tiny 10x10.png", "score"))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (60, 5000, 3), dtype=np.uint8)).save(add("wide 5000x60.png", "score"))
    # EXIF orientation 6: the file stores the picture sideways; a viewer (and LIQE) shows it upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    small.transpose(Image.Transpose.ROTATE_90).save(add("exif_rotated.jpg", "score"), quality=95, exif=exif)
    decoded = Image.open(root / "exif_rotated.jpg")
    ImageOps.exif_transpose(decoded).save(add("exif_upright_pixels.png", "score"))
    decoded.convert("RGB").save(add("exif_sideways_pixels.png", "score"))
    (root / "dir with spaces").mkdir()
    small.save(add("dir with spaces/ünïcödé 画像 photo.png", "score"))
    write_bomb_png(add("bomb 30000x30000.png", "error"))
    # extreme aspect ratios: slivers whose upscale to 224 px would be a gigapixel (refused by the pixel limit),
    # slivers within it (windows resampled from the original), one pixel, one pixel short of a window, and an
    # image that escapes the resize (short side 700: scored at its own 14 M pixels)
    for width, height, expect in [(40000, 2, "error"), (2, 40000, "error"), (1, 1, "score"), (3, 5000, "score"),
                                  (5000, 3, "score"), (224, 223, "score"), (223, 224, "score")]:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(add(f"extreme {width}x{height}.png", expect))
    tile = rng.integers(0, 256, (500, 700, 3), dtype=np.uint8)
    Image.fromarray(np.tile(tile, (40, 1, 1))).save(add("extreme 700x20000.png", "score"))
    return root, files


@pytest.mark.slow
def test_bad_inputs_never_stop_the_batch(model_dir, shared_scorer, bad_inputs, tmp_path):
    # one real `liqe score` process (the installed console script where there is one) over every awkward file at
    # once, its peak resident memory measured; a second folder argument, "my photos", is the plain real-process run
    # (a broken PNG and a photo: both rows, in folder order) -- one process start-up (~10 s) serves both
    root, files = bad_inputs
    folder = tmp_path / "my photos"
    folder.mkdir()
    shutil.copy(GOLDEN_IMAGES / "astronaut.png", folder / "été 1.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    script = shutil.which("liqe")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}
    command = ([script] if script else [sys.executable, "-m", "modeling_liqe.cli"]) + [
        "score", "--model", model_dir, "--format", "jsonl", "--device", "cpu", "--batch-size", "4", str(root),
        str(folder)]
    status, out, err, peak = run_with_peak_rss(command, env=env, cwd=tmp_path, timeout=120)
    print(f"peak RSS of liqe score over {len(files)} bad inputs: {peak / 1e6:.0f} MB")
    assert status == 1, err
    # measured 641 MB (tiny model; `liqe score` on one 300x200 photo: 505 MB); 0.9 GB leaves ~250 MB for run-to-run
    # spread (the same ViT-B/32 run varies by 0.2 GB). Decoding the 30000x30000 bomb or upscaling a 40000x2 sliver
    # whole would cost 2.7-3 GB.
    assert peak <= 0.9e9, f"{peak / 1e9:.2f} GB"
    assert "Traceback" not in err
    everything = [json.loads(line) for line in out.splitlines()]
    mine = [row for row in everything if row["path"].startswith(str(folder) + os.sep)]
    assert [row["path"] for row in mine] == [str(folder / "broken.png"), str(folder / "été 1.png")]
    assert mine[0]["error"].startswith(str(folder / "broken.png")) and mine[1]["error"] is None
    assert f"error: {folder / 'broken.png'}" in err
    assert everything[-2:] == mine  # the arguments in their order, each folder's files together
    rows = everything[:-2]
    by_name = {os.path.relpath(row["path"], root): row for row in rows}
    assert len(rows) == len(files) and set(by_name) == set(files)  # every row present, once
    assert all(line.startswith("liqe score: error: ") for line in err.splitlines()), err
    for name, (path, expect) in files.items():
        row = by_name[name]
        assert row["path"] == os.path.join(str(root), name)
        if expect == "error":
            assert row["score"] is None and row["error"].startswith(str(path)), (name, row["error"])
            assert f"liqe score: error: {path}" in err
        else:
            assert row["error"] is None, row["error"]
            assert 1.0 <= row["score"] <= 5.0 and row["scene"] and row["distortion"], name
    errors = {name: by_name[name]["error"] for name, (_, expect) in files.items() if expect == "error"}
    assert "empty file" in errors["zero bytes.jpg"]
    assert "not an image" in errors["text.jpg"]
    assert "truncated" in errors["truncated.jpg"] or "cannot decode" in errors["truncated.jpg"]
    assert "decompression bomb" in errors["bomb 30000x30000.png"]
    assert "900000000" in errors["bomb 30000x30000.png"]
    for name, resized in (("extreme 40000x2.png", "4480000x224"), ("extreme 2x40000.png", "224x4480000")):
        assert errors[name] == (f"{files[name][0]}: {name[8:-4]} would be resized to {resized} = 1003520000 pixels "
                                "(short side 224), over the pixel limit of 89478485; raise --max-image-pixels to "
                                "accept it")
        assert "max_image_pixels" not in errors[name]
    assert errors["bomb 30000x30000.png"].endswith("raise --max-image-pixels to accept it")

    score = {name: row["score"] for name, row in by_name.items()}
    # 16-bit samples are scaled, not clipped to white as Image.convert("RGB") would do
    assert score["gray16.png"] == pytest.approx(score["gray8.png"], abs=1e-3)
    [white] = shared_scorer.score_images([Image.new("RGB", (300, 200), "white")])
    assert abs(white["score"] - score["gray16.png"]) > 0.05
    # animated GIF: the first frame
    assert score["animated.gif"] == pytest.approx(score["animated_first_frame.png"], abs=1e-5)
    # EXIF orientation applied: scored as the upright picture, not the stored sideways pixels
    assert score["exif_rotated.jpg"] == pytest.approx(score["exif_upright_pixels.png"], abs=1e-5)
    assert abs(score["exif_rotated.jpg"] - score["exif_sideways_pixels.png"]) > 1e-3


def test_exit_status_is_zero_when_every_file_scores(model_dir, shared_scorer, bad_inputs, capsys):
    root, files = bad_inputs
    good = [str(path) for path, expect in files.values() if expect == "score"]
    status, rows, err = run_json(capsys, "score", "--model", model_dir, *good)
    assert status == 0, err
    assert [row["path"] for row in rows] == good and all(row["error"] is None for row in rows)


# -- usage and model errors --------------------------------------------------------------------------------------
def test_usage_errors_exit_2(model_dir, capsys):
    image = str(GOLDEN_IMAGES / "astronaut.png")
    assert main([]) == 2
    assert main(["score"]) == 2
    assert main(["score", "--format", "xml", image]) == 2
    assert main(["score", "--batch-size", "0", image]) == 2
    assert main(["frobnicate"]) == 2
    if not torch.cuda.is_available():
        assert main(["score", "--model", model_dir, "--device", "cuda", image]) == 2
        assert "CUDA" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert main(["score", "--help"]) == 0
    out = capsys.readouterr().out
    assert "$LIQE_MODEL" in out and "--trust-remote-code" in out and "--max-image-pixels" in out
    assert cli.build_parser().parse_args(["score", image]).device == "auto"
    # where the shipped demo checkpoint is looked for: the repository's checkpoints/ (an editable install)
    assert REPO_ROOT / "checkpoints" / "liqe-tiny-synthetic" in cli.DEMO_MODEL_DIRS


@pytest.fixture
def no_default_model(monkeypatch, tmp_path):
    """No $LIQE_MODEL and no demo checkpoint where `liqe score` looks for one."""
    monkeypatch.delenv("LIQE_MODEL", raising=False)
    monkeypatch.setattr(cli, "DEMO_MODEL_DIRS", (tmp_path / "no checkpoints" / "liqe-tiny-synthetic",))


def test_without_a_model_the_message_says_how_to_get_one(no_default_model, capsys):
    assert main(["score", str(GOLDEN_IMAGES / "astronaut.png")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("liqe score: error: no model given (--model, $LIQE_MODEL)")
    for needle in ("checkpoints/liqe-tiny-synthetic/", "liqe convert", "liqe init", "--model FOLDER"):
        assert needle in line, needle


def test_default_model_from_the_environment_then_the_demo_checkpoint(no_default_model, model_dir, shared_scorer,
                                                                     tmp_path, capsys, monkeypatch, golden):
    image = str(GOLDEN_IMAGES / "astronaut.png")
    monkeypatch.setenv("LIQE_MODEL", model_dir)
    status, rows, err = run_json(capsys, "score", image)
    assert status == 0 and rows[0]["score"] == pytest.approx(golden["astronaut.png"]["score"], abs=1e-4), err
    monkeypatch.setenv("LIQE_MODEL", str(tmp_path / "gone"))
    assert main(["score", image]) == 2
    assert capsys.readouterr().err.startswith(f"liqe score: error: $LIQE_MODEL {tmp_path / 'gone'}: no such model")

    # the shipped demo checkpoint, once the folder exists (here one made by `liqe init`)
    monkeypatch.delenv("LIQE_MODEL")
    demo = tmp_path / "checkpoints" / "liqe-tiny-synthetic"
    monkeypatch.setattr(cli, "DEMO_MODEL_DIRS", (tmp_path / "installed" / "liqe-tiny-synthetic", demo))
    assert main(["init", str(demo), "--seed", "3"]) == 0
    status, rows, err = run_json(capsys, "score", image)
    assert status == 0 and 1.0 <= rows[0]["score"] <= 5.0, err
    [expected] = LIQEScorer(demo, device="cpu").score_paths([image])
    assert rows[0]["score"] == pytest.approx(expected["score"], abs=1e-6)
    assert rows[0]["score"] != pytest.approx(golden["astronaut.png"]["score"], abs=1e-4)  # not the other model


def test_model_names_that_name_nothing_are_clear_errors(tmp_path, capsys, monkeypatch):
    image = str(GOLDEN_IMAGES / "astronaut.png")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.pt").write_bytes(b"not a folder")
    (tmp_path / "photos").mkdir()
    cases = {
        "liqe-modle": "liqe-modle: neither a model folder here nor a Hugging Face Hub id (OWNER/NAME)",
        "./liqe-model": "./liqe-model: no such model folder",
        str(tmp_path / "nowhere"): f"{tmp_path / 'nowhere'}: no such model folder",
        "models/liqe/v1": "models/liqe/v1: no such model folder",
        "weights.pt": "weights.pt: a file, not a model folder",
        "photos": "photos: a folder without config.json, not a model folder",
    }
    for model, message in cases.items():
        assert main(["score", "--model", model, image]) == 2, model
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith(f"liqe score: error: --model {message}"), line
    # a Hub id is tried; offline (the tests' HF_HUB_OFFLINE=1) it is one clear line, exit 1
    assert main(["score", "--model", "someone/no-such-liqe", image]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("liqe score: error: cannot load model someone/no-such-liqe: ") and "Traceback" not in line


def test_trust_remote_code_is_opt_in(model_dir, tmp_path, capsys, monkeypatch):
    marker = tmp_path / "marker.txt"
    monkeypatch.setenv("LIQE_TEST_MARKER", str(marker))
    folder = str(_folder_with_code_that_announces_itself(model_dir, tmp_path))
    image = str(GOLDEN_IMAGES / "astronaut.png")
    status, rows, err = run_json(capsys, "score", "--model", folder, image)
    assert status == 0 and rows[0]["error"] is None, err
    assert not marker.exists()  # the folder's own code never ran
    status, rows, err = run_json(capsys, "score", "--model", folder, "--trust-remote-code", image)
    assert status == 0 and rows[0]["error"] is None, err
    assert "folder code ran" in marker.read_text()


def test_output_format_follows_the_file_extension(model_dir, shared_scorer, tmp_path, capsys):
    image = str(GOLDEN_IMAGES / "astronaut.png")
    base = ["score", "--model", model_dir]
    for name, check in {
        "out.jsonl": lambda text: json.loads(text.splitlines()[0])["path"] == image,
        "out.JSON": lambda text: json.loads(text)[0]["path"] == image,
        "out.csv": lambda text: next(csv.DictReader(io.StringIO(text)))["path"] == image,
        "out.txt": lambda text: text.split()[:5] == ["path", "score", "scene", "distortion", "error"],
    }.items():
        assert main(base + ["--output", str(tmp_path / name), image]) == 0, name
        assert check((tmp_path / name).read_text(encoding="utf-8")), name
    assert main(base + ["--format", "jsonl", "--output", str(tmp_path / "again.jsonl"), image]) == 0
    assert main(base + ["--format", "table", "--output", str(tmp_path / "scores.txt"), image]) == 0
    capsys.readouterr()
    assert main(base + ["--format", "csv", "--output", str(tmp_path / "mismatch.jsonl"), image]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("liqe score: error: --format csv contradicts --output") and "jsonl" in line
    assert not (tmp_path / "mismatch.jsonl").exists()


class CustomCheckpoint:
    """A class a pickled checkpoint may hold; torch.load(weights_only=True) refuses it."""


# -- convert -------------------------------------------------------------------------------------------------------
def test_convert_errors_are_clear(tmp_path, capsys):
    state = golden_state_dict()
    text = tmp_path / "notes.pt"
    text.write_text("hello, not a checkpoint")
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], listed)
    missing = tmp_path / "missing_key.pt"
    torch.save({k: v for k, v in state.items() if k != "visual.ln_post.bias"}, missing)
    wrong = tmp_path / "wrong_shape.pt"
    torch.save({**state, "ln_final.bias": torch.zeros(65)}, wrong)
    custom = tmp_path / "custom_class.pt"
    torch.save({"model": CustomCheckpoint()}, custom)  # torch's refusal is paragraphs with terminal escape codes
    cases = {
        text: ["not a PyTorch checkpoint"],
        listed: ["holds a list"],
        missing: ["missing", "visual.ln_post.bias"],
        wrong: ["'ln_final.bias'", "(65,)", "(64,)"],
        tmp_path / "absent.pt": ["no such file"],
        custom: ["an object of class tests.modeling_liqe.test_cli.CustomCheckpoint", "weights-only",
                 "torch.save(model.state_dict()"],
    }
    for source, needles in cases.items():
        capsys.readouterr()
        assert main(["convert", str(source), str(tmp_path / "out")]) == 1, source
        err = capsys.readouterr().err
        assert err.startswith(f"liqe convert: error: {source}"), err
        assert len(err.splitlines()) == 1, err
        assert "Traceback" not in err and "\x1b" not in err
        for needle in needles:
            assert needle in err, (needle, err)
    assert not (tmp_path / "out" / "config.json").exists()


def test_every_checkpoint_packaging_converts_to_the_same_scores(model_dir, tmp_path, capsys, golden):
    from safetensors.torch import load_file, save_file

    from modeling_liqe.convert_liqe_checkpoint import convert_checkpoint

    state = golden_state_dict()
    half = {key: value.half() for key, value in state.items()}
    sources = {
        "pyiqa.pt": {"params": {f"clip_model.{key}": value for key, value in state.items()}},
        "training.pt": {"model_state_dict": state, "optimizer_state_dict": {"state": {}}, "epoch": 7,
                        "all_results": [0.5, 0.6]},
        "fp16.pt": half,
    }
    for name, obj in sources.items():
        torch.save(obj, tmp_path / name)
    save_file({key: value.contiguous() for key, value in state.items()}, tmp_path / "openai.safetensors")
    for name in list(sources) + ["openai.safetensors"]:
        assert main(["convert", str(tmp_path / name), str(tmp_path / f"model-{name}")]) == 0, capsys.readouterr().err

    # the fp32 packagings hold the golden weights: the same folder as the plain .pt, hence the same scores
    reference = load_file(os.path.join(model_dir, "model.safetensors"))
    for name in ("pyiqa.pt", "training.pt", "openai.safetensors"):
        converted = load_file(str(tmp_path / f"model-{name}" / "model.safetensors"))
        assert converted.keys() == reference.keys(), name
        assert all(torch.equal(converted[key], reference[key]) for key in reference), name
    image = GOLDEN_IMAGES / "astronaut.png"
    [row] = LIQEScorer(tmp_path / "model-openai.safetensors").score_paths([image])
    assert row["score"] == pytest.approx(golden[image.name]["score"], abs=1e-4)
    # an fp16 file scores exactly like its values stored in fp32, and close to the fp32 original
    [fp16] = LIQEScorer(tmp_path / "model-fp16.pt").score_paths([image])
    torch.save({key: value.float() for key, value in half.items()}, tmp_path / "fp16_values_in_fp32.pt")
    model, processor = convert_checkpoint(tmp_path / "fp16_values_in_fp32.pt")  # in memory, nothing saved
    [expected] = LIQEScorer(model, processor=processor).score_paths([image])
    assert fp16["score"] == pytest.approx(expected["score"], abs=1e-6)
    assert fp16["score"] == pytest.approx(golden[image.name]["score"], abs=0.05)


def test_convert_to_float16_folder(tmp_path, capsys, golden):
    from safetensors import safe_open

    source = tmp_path / "tiny.pt"
    torch.save(golden_state_dict(), source)
    assert main(["convert", str(source), str(tmp_path / "fp16"), "--dtype", "float16", "--variant", "quality"]) == 0
    with safe_open(str(tmp_path / "fp16" / "model.safetensors"), "pt") as f:
        assert f.get_tensor("clip.visual_projection.weight").dtype == torch.float16
    [row] = LIQEScorer(tmp_path / "fp16").score_paths([GOLDEN_IMAGES / "astronaut.png"])
    assert row["error"] is None and 1.0 <= row["score"] <= 5.0
    assert row["scene"] is None and row["scene_probs"] is None and len(row["quality_probs"]) == 5


# -- init ------------------------------------------------------------------------------------------------------------
def test_init_writes_a_loadable_seeded_random_model(tmp_path, capsys, model_dir):
    from safetensors.torch import load_file

    from modeling_liqe.geometries import clip_config_for_geometry, init_random_model

    assert main(["init", str(tmp_path / "a"), "--seed", "3", "--geometry", "tiny", "--variant", "full"]) == 0
    assert "RANDOM" in capsys.readouterr().err
    saved = load_file(str(tmp_path / "a" / "model.safetensors"))
    again = init_random_model("tiny", seed=3)[0].state_dict()  # the same seed gives the same weights
    weights = [key for key in saved if key.startswith("clip.") or key.startswith("prompt_input_ids")]
    assert len(weights) > 50 and all(torch.equal(saved[key], again[key]) for key in weights)
    other = init_random_model("tiny", seed=4)[0].state_dict()
    assert not torch.equal(other["clip.visual_projection.weight"], saved["clip.visual_projection.weight"])
    card = (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    assert "RANDOMLY INITIALISED" in card and "--seed 3" in card
    status, rows, err = run_json(capsys, "score", "--model", str(tmp_path / "a"), str(GOLDEN_IMAGES / "astronaut.png"))
    assert status == 0 and 1.0 <= rows[0]["score"] <= 5.0, err

    # the tiny geometry is the golden checkpoint's, as the converter reads it
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        converted = json.load(f)["clip_config"]
    with open(tmp_path / "a" / "config.json", encoding="utf-8") as f:
        initialised = json.load(f)["clip_config"]
    for tower in ("vision_config", "text_config"):
        for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "patch_size",
                    "image_size", "max_position_embeddings", "vocab_size", "hidden_act", "layer_norm_eps",
                    "bos_token_id", "eos_token_id", "pad_token_id", "projection_dim"):
            assert initialised[tower].get(key) == converted[tower].get(key), (tower, key)
    assert initialised["projection_dim"] == converted["projection_dim"] == 32

    vit = clip_config_for_geometry("vit-b-32")
    assert (vit.projection_dim, vit.vision_config.hidden_size, vit.vision_config.num_hidden_layers,
            vit.vision_config.num_attention_heads, vit.vision_config.patch_size) == (512, 768, 12, 12, 32)
    assert (vit.text_config.hidden_size, vit.text_config.num_hidden_layers, vit.text_config.num_attention_heads,
            vit.text_config.hidden_act, vit.text_config.eos_token_id) == (512, 12, 8, "quick_gelu", 49407)
