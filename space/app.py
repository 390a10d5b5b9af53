# Copyright 2026 The liqe authors. MIT licence.
"""LIQE on a Hugging Face Space: score, explain and compare image quality in the browser.

The model is reached only through `AutoModel` / `AutoProcessor` with `trust_remote_code=True` (the model
repository ships its own code), so this folder runs on its own: `pip install -r requirements.txt && python app.py`.

Which model: the environment variable LIQE_MODEL (a Hub id or a folder); else, when run from the liqe
repository, its demo checkpoint `../checkpoints/liqe-tiny-synthetic`; else the first `models:` entry of this
folder's README.md (the Space card). It is loaded once, on first use.

Limits (environment variables): LIQE_MAX_IMAGE_PIXELS (default 40,000,000), LIQE_MAX_IMAGE_BYTES (default
25 MiB), LIQE_MAX_BATCH_FILES (default 32), LIQE_QUEUE_SIZE (requests waiting, default 64),
LIQE_MAP_MAX_WINDOWS (windows of the quality map, default 48).

Each handler (`score_image`, `quality_map`, `compare_images`, `score_batch`) is a plain function; bad input
raises `gradio.Error` with a message that names the file and the problem.
"""

import csv
import math
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw, UnidentifiedImageError
from transformers import AutoModel, AutoProcessor

HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE / "examples"
# The demo checkpoint of the liqe repository, used when the app runs from a checkout (space/ beside checkpoints/).
REPO_DEMO_CHECKPOINT = HERE.parent / "checkpoints" / "liqe-tiny-synthetic"


def _env_int(name, default):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"environment variable {name} must be at least 1, got {number}")
    return number


MAX_IMAGE_PIXELS = _env_int("LIQE_MAX_IMAGE_PIXELS", 40_000_000)
MAX_IMAGE_BYTES = _env_int("LIQE_MAX_IMAGE_BYTES", 25 * 1024 * 1024)
MAX_BATCH_FILES = _env_int("LIQE_MAX_BATCH_FILES", 32)
QUEUE_SIZE = _env_int("LIQE_QUEUE_SIZE", 64)
# Quality map: the smallest stride (px, in the resized image the model sees; a multiple of 16, at least
# MAP_MIN_STRIDE) whose grid of 224-px windows has at most MAP_MAX_WINDOWS windows. The last row and column are
# moved to the image's edges so the map covers the whole image. A 768x1024 image gets stride 128 (6 x 8 windows),
# 600x900 stride 96 (5 x 9), 512x512 stride 64 (6 x 6). Measured on this project's 2-core CPU with a ViT-B/32,
# 48 windows cost 3.1x the 15 windows of one score, so about 2.7 s on an idle machine (the score: 0.88 s).
MAP_MAX_WINDOWS = _env_int("LIQE_MAP_MAX_WINDOWS", 48)
MAP_MIN_STRIDE = 32
# The map is drawn on the resized image: at most this many pixels (768 x 20,000), else a clear refusal.
MAP_MAX_PIXELS = 768 * 20_000
MAP_STRIDE_STEP = 16
MAP_WINDOWS_PER_FORWARD = 16
# Images whose windows go through the model together in the batch tab.
BATCH_IMAGES_PER_FORWARD = 8
IMAGE_TYPES = "JPEG, PNG, WebP, BMP, TIFF or GIF"


# -- model --------------------------------------------------------------------------------------------------
def _readme_models():
    """The `models:` list of this Space's README front matter (empty when absent)."""
    readme = HERE / "README.md"
    if not readme.is_file():
        return []
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return []
    import yaml

    front_matter = text.split("---", 2)[1]
    models = (yaml.safe_load(front_matter) or {}).get("models") or []
    return [str(model) for model in models]


def resolve_model_id():
    """LIQE_MODEL, else the repository's demo checkpoint folder, else the Space card's first model."""
    model_id = os.environ.get("LIQE_MODEL", "").strip()
    if model_id:
        return model_id
    if REPO_DEMO_CHECKPOINT.is_dir():
        return str(REPO_DEMO_CHECKPOINT)
    models = _readme_models()
    if models:
        return models[0]
    raise RuntimeError("no model: set LIQE_MODEL to a LIQE model folder or Hub id")


@dataclass
class LoadedModel:
    model_id: str
    model: torch.nn.Module
    processor: object
    quality_labels: list
    quality_weights: list
    axis_names: list
    axis_sizes: list
    labels: dict  # axis name -> labels

    @property
    def quality_axis(self):
        return self.model.config.quality_axis


_MODEL_LOCK = threading.Lock()
_MODEL = None


def get_model():
    """The model and processor, loaded once (thread-safe) from `resolve_model_id()`."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            model_id = resolve_model_id()
            model = AutoModel.from_pretrained(model_id, trust_remote_code=True).eval()
            processor = AutoProcessor.from_pretrained(model_id, trust_remote_code=True)
            config = model.config
            labels = {axis["name"]: list(axis["labels"]) for axis in config.label_axes}
            quality = next(axis for axis in config.label_axes if axis["name"] == config.quality_axis)
            _MODEL = LoadedModel(
                model_id=model_id,
                model=model,
                processor=processor,
                quality_labels=list(quality["labels"]),
                quality_weights=[float(w) for w in quality["weights"]],
                axis_names=[axis["name"] for axis in config.label_axes],
                axis_sizes=[len(axis["labels"]) for axis in config.label_axes],
                labels=labels,
            )
        return _MODEL


# -- input checks -------------------------------------------------------------------------------------------
def _display_name(path):
    return Path(str(path)).name


_PILLOW_LIMIT_LOCK = threading.Lock()


def open_image(path):
    """A decoded PIL image from an uploaded file, or `gradio.Error` naming the file and the problem."""
    if path is None:
        raise gr.Error("No image: upload, paste or pick an image first.")
    path = os.fspath(path)
    name = _display_name(path)
    try:
        size = os.path.getsize(path)
    except OSError:
        raise gr.Error(f"{name}: the uploaded file cannot be found on the server; upload it again.") from None
    if size == 0:
        raise gr.Error(f"{name}: the file is empty (0 bytes).")
    if size > MAX_IMAGE_BYTES:
        raise gr.Error(
            f"{name}: the file is {size / 2**20:.1f} MiB, over this Space's limit of {MAX_IMAGE_BYTES / 2**20:.1f} MiB."
        )
    try:
        # Read the header with Pillow's own bomb check lifted (under a lock: the limit is process-wide) so that our
        # limit, checked below before any pixel is decoded, applies and the message can give the size.
        with _PILLOW_LIMIT_LOCK:
            pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = pillow_limit
    except UnidentifiedImageError:
        raise gr.Error(
            f"{name} is not an image file (Pillow cannot identify it). Upload a {IMAGE_TYPES} image."
        ) from None
    except OSError as error:
        raise gr.Error(f"{name}: the file cannot be read ({error}).") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise gr.Error(
            f"{name}: {width}x{height} = {width * height:,} pixels is over this Space's limit of "
            f"{MAX_IMAGE_PIXELS:,} pixels; downsize it first."
        )
    check_resized(image, name, MAX_IMAGE_PIXELS)
    try:
        image.seek(0)  # animated images: the first frame
        image.load()  # decode now, so a damaged or truncated file fails here with its name
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise gr.Error(f"{name}: the image is damaged or truncated and cannot be decoded ({error}).") from None
    image.info["liqe_name"] = name  # for later messages
    return image


# -- scoring ------------------------------------------------------------------------------------------------
def resized_size(image_processor, width, height):
    """(width, height) of the image the model sees: the processor's resize rule (images under 224 px are
    upscaled, both sides >= 768 downscaled to a short side of 768)."""
    if hasattr(image_processor, "resized_size"):
        return tuple(image_processor.resized_size(width, height))
    patch, target = image_processor.patch_size, image_processor.resize_short_side
    short, long = min(width, height), max(width, height)
    if short < patch:
        target_short = patch
    elif short >= target:
        target_short = target
    else:
        return width, height
    target_long = int(target_short * long / short)
    return (target_short, target_long) if width <= height else (target_long, target_short)


def check_resized(image, name, limit):
    """Refuse an image whose resized size (a 2x6000 sliver becomes 224x672000) exceeds `limit` pixels."""
    image_processor = get_model().processor.image_processor
    width, height = resized_size(image_processor, *image.size)
    if width * height > limit:
        raise gr.Error(
            f"{name}: {image.width}x{image.height} would be resized to {width}x{height} = {width * height:,} pixels "
            f"(short side {image_processor.patch_size} px for the model), over this Space's limit of {limit:,}; "
            "crop it to a less elongated shape."
        )
    return width, height


def quality_word(score, labels):
    """The quality label nearest to a score on the 1..len(labels) scale (3.4 -> labels[2], 'fair')."""
    index = int(math.floor(float(score) + 0.5)) - 1
    return labels[min(max(index, 0), len(labels) - 1)]


def _forward(loaded, images):
    inputs = loaded.processor(images=images)
    with torch.inference_mode():
        return loaded.model(pixel_values=inputs["pixel_values"], patch_mask=inputs["patch_mask"])


def _marginal_rows(loaded, output, row):
    """{axis name: {label: probability}} of one image of a model output."""
    return {
        name: dict(zip(loaded.labels[name], probs[row].float().tolist()))
        for name, probs in zip(loaded.axis_names, output.axis_probs)
    }


def _empty_score_outputs():
    return None, "", None, None, None


def score_image(image_path):
    """Score tab: (score, verdict, quality distribution table, top scenes, distortion distribution).

    The tables are what the charts show: `quality` (DataFrame quality/probability, in level order), `scenes`
    and `distortions` ({label: probability}, shown as bars sorted by probability; None for a model variant
    without that axis).
    """
    image_path = _input_path(image_path)
    if image_path is None:
        return _empty_score_outputs()
    image = open_image(image_path)
    loaded = get_model()
    output = _forward(loaded, image)
    score = float(output.score[0])
    marginals = _marginal_rows(loaded, output, 0)
    quality = marginals[loaded.quality_axis]
    word = quality_word(score, loaded.quality_labels)
    verdict = f"{score:.3f} / {len(loaded.quality_labels)}: {word}"
    quality_table = pd.DataFrame({"quality": list(quality), "probability": list(quality.values())})
    return score, verdict, quality_table, marginals.get("scene"), marginals.get("distortion")


def map_grid(height, width, patch_size=224, max_windows=None):
    """(stride, tops, lefts) of the quality map's window grid over a (height, width) image.

    The stride is the smallest multiple of MAP_STRIDE_STEP, at least MAP_MIN_STRIDE, for which the grid has at
    most `max_windows` windows; the last row and column are moved to the image's bottom and right edges.
    """
    max_windows = MAP_MAX_WINDOWS if max_windows is None else max_windows

    def starts(side, stride):
        positions = list(range(0, side - patch_size + 1, stride))
        if positions[-1] != side - patch_size:
            positions.append(side - patch_size)
        return positions

    stride = MAP_MIN_STRIDE
    while True:
        tops, lefts = starts(height, stride), starts(width, stride)
        if len(tops) * len(lefts) <= max_windows or (len(tops) <= 2 and len(lefts) <= 2):
            return stride, tops, lefts
        stride += MAP_STRIDE_STEP


def window_qualities(loaded, patch_logits):
    """Expected quality of each window from its own softmax: (windows, prompts) logits -> (windows,)."""
    probs = patch_logits.float().softmax(dim=-1).reshape(-1, *loaded.axis_sizes)
    axis = loaded.axis_names.index(loaded.quality_axis)
    others = tuple(1 + k for k in range(len(loaded.axis_sizes)) if k != axis)
    quality_probs = probs.sum(dim=others) if others else probs
    return quality_probs @ torch.tensor(loaded.quality_weights, dtype=quality_probs.dtype)


def _colour(values):
    """Red (bad) - yellow - green (good) for values in [0, 1]: (..., 3) uint8."""
    stops = np.array([[215, 48, 39], [254, 224, 139], [26, 152, 80]], dtype=np.float64)
    position = np.clip(values, 0.0, 1.0) * 2
    low = np.minimum(position.astype(int), 1)
    fraction = (position - low)[..., None]
    return (stops[low] * (1 - fraction) + stops[low + 1] * fraction).round().astype(np.uint8)


def _legend(width, low, high, labels):
    """A strip under the map: the colour scale from `low` to `high` (quality) with the words at its ends."""
    strip = Image.new("RGB", (width, 28), "white")
    ramp = _colour(np.linspace(0, 1, width))[None].repeat(12, axis=0)
    strip.paste(Image.fromarray(ramp), (0, 0))
    draw = ImageDraw.Draw(strip)
    draw.text((4, 14), f"{low:.2f} ({quality_word(low, labels)})", fill="black")
    text = f"{high:.2f} ({quality_word(high, labels)})"
    draw.text((max(4, width - 6 * len(text) - 4), 14), text, fill="black")
    return strip


def window_quality_grid(image):
    """The quality map's numbers for a PIL image: (resized image, stride, [(top, left)], qualities (windows,)).

    The image is prepared and resized as the model sees it; every window of the `map_grid` grid is scored on its
    own: its own softmax over the prompts, then the expected quality (LIQE's score of that window alone).
    """
    loaded = get_model()
    image_processor = loaded.processor.image_processor
    check_resized(image, image.info.get("liqe_name", "the image"), MAP_MAX_PIXELS)
    image = image_processor.resize(image_processor.prepare_image(image))
    width, height = image.size
    stride, tops, lefts = map_grid(height, width, image_processor.patch_size)
    positions = [(top, left) for top in tops for left in lefts]
    qualities = []
    for start in range(0, len(positions), MAP_WINDOWS_PER_FORWARD):
        windows = image_processor.cut_windows(image, positions[start : start + MAP_WINDOWS_PER_FORWARD])
        with torch.inference_mode():
            output = loaded.model(pixel_values=windows.unsqueeze(0))
        qualities.append(window_qualities(loaded, output.patch_logits[0]))
    return image, stride, positions, torch.cat(qualities).numpy().astype(np.float64)


def render_quality_map(image, positions, qualities, patch_size, labels):
    """The map as a uint8 array: the image half-blended with the colour of each pixel's mean window quality,
    above a strip with the colour scale. The colours span the windows' range of qualities, widened to at least
    one quality level (so that a uniform image stays uniform); returns (array, (low, high))."""
    width, height = image.size
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for (top, left), value in zip(positions, qualities):
        total[top : top + patch_size, left : left + patch_size] += value
        count[top : top + patch_size, left : left + patch_size] += 1
    heat = total / np.maximum(count, 1)
    low, high = float(qualities.min()), float(qualities.max())
    centre = (low + high) / 2
    low, high = min(low, centre - 0.5), max(high, centre + 0.5)
    colours = _colour((heat - low) / (high - low))
    overlay = (0.5 * np.asarray(image, dtype=np.float64) + 0.5 * colours).round().astype(np.uint8)
    canvas = Image.new("RGB", (width, height + 28), "white")
    canvas.paste(Image.fromarray(overlay), (0, 0))
    canvas.paste(_legend(width, low, high, labels), (0, height))
    return np.asarray(canvas), (low, high)


def quality_map(image_path):
    """Score tab, quality map: (overlay image as a uint8 array, one-line summary); see `window_quality_grid`."""
    image_path = _input_path(image_path)
    if image_path is None:
        return None, ""
    loaded = get_model()
    image, stride, positions, qualities = window_quality_grid(open_image(image_path))
    patch = loaded.processor.image_processor.patch_size
    array, _ = render_quality_map(image, positions, qualities, patch, loaded.quality_labels)
    worst = positions[int(qualities.argmin())]
    summary = (
        f"{len(positions)} windows of {patch} px, stride {stride} px, on the {image.width}x{image.height} image the "
        f"model sees; window quality {qualities.min():.2f} to {qualities.max():.2f}; the worst window's top-left "
        f"corner is at x={worst[1]}, y={worst[0]}."
    )
    return array, summary


def thurstone_probability(first_score, second_score):
    """P(first better) = Phi(q1 - q2), the pair probability of LIQE's quality loss (Thurstone case V)."""
    return 0.5 * (1.0 + math.erf((float(first_score) - float(second_score)) / math.sqrt(2.0)))


def compare_images(first_path, second_path):
    """Compare tab: (first score, second score, difference q1 - q2, P(first better), verdict)."""
    first_path, second_path = _input_path(first_path), _input_path(second_path)
    if first_path is None or second_path is None:
        raise gr.Error("Upload two images to compare.")
    first, second = open_image(first_path), open_image(second_path)
    loaded = get_model()
    output = _forward(loaded, [first, second])  # both images' windows in one forward
    q1, q2 = (float(s) for s in output.score)
    probability = thurstone_probability(q1, q2)
    labels = loaded.quality_labels
    difference = q1 - q2
    if abs(difference) < 0.05:
        verdict = (f"About the same quality: {q1:.3f} ({quality_word(q1, labels)}) vs {q2:.3f} "
                   f"({quality_word(q2, labels)}).")
    else:
        better, worse = ("first", "second") if difference > 0 else ("second", "first")
        verdict = (
            f"The {better} image is better by {abs(difference):.3f} on the 1-{len(labels)} scale: "
            f"{q1:.3f} ({quality_word(q1, labels)}) vs {q2:.3f} ({quality_word(q2, labels)})."
        )
    verdict += f" P(first better) = Phi(q1 - q2) = {probability:.3f}."
    return q1, q2, difference, probability, verdict


BATCH_COLUMNS = ["file", "score", "quality", "scene", "distortion", "error"]


def score_batch(file_paths):
    """Batch tab: (table of one row per file, in upload order, path of the CSV with every probability).

    A file that is not an image, unreadable or too large gets a row with its error; the others are scored,
    BATCH_IMAGES_PER_FORWARD images per model call.
    """
    paths = [os.fspath(p) for p in _file_paths(file_paths)]
    if not paths:
        raise gr.Error("Upload one or more image files.")
    if len(paths) > MAX_BATCH_FILES:
        raise gr.Error(f"{len(paths)} files: this Space scores at most {MAX_BATCH_FILES} files at a time.")
    loaded = get_model()
    rows, ready = [], []
    for path in paths:
        row = {"file": _display_name(path), "score": None, "quality": "", "scene": "", "distortion": "", "error": ""}
        try:
            ready.append((row, open_image(path)))
        except gr.Error as error:
            row["error"] = error.message
        rows.append(row)
    for start in range(0, len(ready), BATCH_IMAGES_PER_FORWARD):
        chunk = ready[start : start + BATCH_IMAGES_PER_FORWARD]
        output = _forward(loaded, [image for _, image in chunk])
        for index, (row, _) in enumerate(chunk):
            marginals = _marginal_rows(loaded, output, index)
            row["score"] = float(output.score[index])
            row["quality"] = quality_word(row["score"], loaded.quality_labels)
            for axis in ("scene", "distortion"):
                if axis in marginals:
                    row[axis] = max(marginals[axis], key=marginals[axis].get)
            row["probabilities"] = marginals
    csv_path = Path(tempfile.mkdtemp(prefix="liqe-batch-")) / "liqe_scores.csv"
    probability_columns = [f"{axis}.{label}" for axis in loaded.axis_names for label in loaded.labels[axis]]
    with open(csv_path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(BATCH_COLUMNS + probability_columns)
        for row in rows:
            probabilities = row.get("probabilities") or {}
            flat = {f"{axis}.{label}": value
                    for axis, values in probabilities.items() for label, value in values.items()}
            writer.writerow(
                [row["file"], "" if row["score"] is None else repr(row["score"]), row["quality"], row["scene"],
                 row["distortion"], row["error"]]
                + ["" if column not in flat else repr(flat[column]) for column in probability_columns]
            )
    table = pd.DataFrame([{column: row[column] for column in BATCH_COLUMNS} for row in rows], columns=BATCH_COLUMNS)
    return table, str(csv_path)


# -- interface ----------------------------------------------------------------------------------------------
def _input_path(value):
    """The file path of an image input: a path (direct calls), or Gradio's file payload (events run with
    `preprocess=False`, so that `open_image`, not gr.Image's own Pillow call, checks the file and explains what
    is wrong with a text file or an oversized image)."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return value
    if isinstance(value, dict):
        if value.get("path"):
            return value["path"]
        url = value.get("url") or ""
        if url.startswith("data:"):  # an image pasted as a data URL
            import base64

            header, _, data = url.partition(",")
            suffix = "." + header.split("/")[1].split(";")[0] if "/" in header else ".png"
            handle, path = tempfile.mkstemp(prefix="liqe-pasted-", suffix=suffix)
            with os.fdopen(handle, "wb") as stream:
                stream.write(base64.b64decode(data))
            return path
    raise gr.Error(f"unexpected image input of type {type(value).__name__}")


def _file_paths(value):
    return [_input_path(item if not hasattr(item, "name") else item.name) for item in (value or [])]


def example_images():
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))


COMPARE_EXAMPLES = [("coffee.jpg", "coffee_blur.jpg"), ("chelsea_noise.jpg", "chelsea.jpg"),
                    ("astronaut.jpg", "astronaut_jpeg.jpg")]

DESCRIPTION = """# LIQE: blind image quality assessment
Upload a photo: [LIQE](https://github.com/zwx8981/LIQE) (CVPR 2023) rates it from 1 (bad) to 5 (perfect) by
matching 224-px windows of it with CLIP against 495 prompts *"a photo of a {scene} with {distortion} artifacts,
which is of {quality} quality"*, and names its likely scene and distortion. The quality map scores each window on
its own and shows where the image is poor."""


def model_description():
    """The model line under the title: a Hub id as a link, a local folder by its name only (no server paths)."""
    model_id = get_model().model_id
    if os.path.isdir(model_id):
        return f"Model: `{Path(model_id).name}` (a local folder)"
    return f"Model: [{model_id}](https://huggingface.co/{model_id})"


def build_demo():
    """The Blocks app, with a bounded queue; launch it with `demo.launch(**launch_options())`."""
    examples = example_images()
    quality_labels = get_model().quality_labels  # the chart's x order (loads the model, once)
    with gr.Blocks(title="LIQE image quality") as demo:
        gr.Markdown(DESCRIPTION)
        model_note = gr.Markdown()
        with gr.Tab("Score"):
            with gr.Row():
                with gr.Column():
                    image = gr.Image(label="Image", type="filepath", sources=["upload", "clipboard"], height=360,
                                     elem_id="score-image")
                    score_button = gr.Button("Score", variant="primary")
                    if examples:
                        gr.Examples(examples=examples, inputs=image, label="Examples (CC0 photos and distorted copies)",
                                    examples_per_page=12)
                with gr.Column():
                    score = gr.Number(value=None, label="Quality score (1 = bad ... 5 = perfect)", interactive=False,
                                      elem_id="score")
                    verdict = gr.Textbox(label="Verdict", interactive=False, elem_id="verdict")
                    quality_chart = gr.BarPlot(x="quality", y="probability", title="Quality distribution",
                                               y_lim=[0, 1], sort=quality_labels, height=220, elem_id="quality-chart")
                    scenes = gr.Label(label="Top scenes", num_top_classes=3, elem_id="scenes")
            with gr.Row():
                distortions = gr.Label(label="Distortion distribution", num_top_classes=11, elem_id="distortions")
                with gr.Column():
                    heat_map = gr.Image(label="Quality map (red = worse, green = better)", type="numpy", format="png",
                                        interactive=False, elem_id="quality-map")
                    map_summary = gr.Textbox(label="Quality map", interactive=False, elem_id="map-summary")
        with gr.Tab("Compare"):
            with gr.Row():
                first = gr.Image(label="First image", type="filepath", sources=["upload", "clipboard"], height=300,
                                 elem_id="first-image")
                second = gr.Image(label="Second image", type="filepath", sources=["upload", "clipboard"], height=300,
                                  elem_id="second-image")
            compare_button = gr.Button("Compare", variant="primary", elem_id="compare-button")
            pairs = [[str(EXAMPLES_DIR / a), str(EXAMPLES_DIR / b)] for a, b in COMPARE_EXAMPLES
                     if (EXAMPLES_DIR / a).is_file() and (EXAMPLES_DIR / b).is_file()]
            if pairs:
                gr.Examples(examples=pairs, inputs=[first, second], label="Examples (a photo and a distorted copy)")
            with gr.Row():
                first_score = gr.Number(value=None, label="First score", interactive=False)
                second_score = gr.Number(value=None, label="Second score", interactive=False)
                difference = gr.Number(value=None, label="Difference (first - second)", interactive=False)
                probability = gr.Number(value=None, label="P(first better) = Phi(q1 - q2)", interactive=False)
            comparison = gr.Textbox(label="Verdict", interactive=False, elem_id="comparison")
        with gr.Tab("Batch"):
            files = gr.File(label="Images", file_count="multiple", type="filepath", elem_id="batch-files")
            batch_button = gr.Button("Score all", variant="primary", elem_id="batch-button")
            table = gr.Dataframe(headers=BATCH_COLUMNS, label="Scores (click a column header to sort)",
                                 interactive=False, elem_id="batch-table")
            download = gr.File(label="CSV (all probabilities)", interactive=False, elem_id="batch-csv")

        score_outputs = [score, verdict, quality_chart, scenes, distortions]
        # One model worker for every event (a 2-core Space gains nothing from two forwards at once); image inputs
        # reach the handlers unopened (preprocess=False, see _input_path).
        model_events = {"concurrency_id": "model", "concurrency_limit": 1, "preprocess": False}
        # A new image clears the previous map at once (so an error never leaves the last image's map on show).
        image.change(lambda: (None, ""), None, [heat_map, map_summary], queue=False, api_name=False)
        for trigger in (image.change, score_button.click):
            event = trigger(score_image, image, score_outputs, api_name="score" if trigger == image.change else False,
                            **model_events)
            event.success(quality_map, image, [heat_map, map_summary],
                          api_name="quality_map" if trigger == image.change else False, **model_events)
        compare_button.click(compare_images, [first, second], [first_score, second_score, difference, probability,
                                                                comparison], api_name="compare", **model_events)
        batch_button.click(score_batch, files, [table, download], api_name="batch", **model_events)
        demo.load(model_description, None, model_note, api_name=False)
    demo.queue(max_size=QUEUE_SIZE)
    return demo


def launch_options():
    """Options for `demo.launch` (Gradio 6 takes the theme there); byte limit with some headroom."""
    return {"theme": gr.themes.Soft(), "max_file_size": 4 * MAX_IMAGE_BYTES}


if __name__ == "__main__":
    get_model()  # fail at start, not on the first visitor's request
    build_demo().launch(**launch_options())
