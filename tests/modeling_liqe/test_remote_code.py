"""Hub remote-code round trip, in fresh Python processes where the package cannot be imported.

convert (this process) -> folder -> `AutoModel` / `AutoProcessor.from_pretrained(folder, trust_remote_code=True)`
in a child interpreter (cwd and HF_HOME in a temporary folder, offline, `import modeling_liqe` checked to fail)
-> the same outputs as in this process, and the golden scores -> `save_pretrained` of what the child loaded ->
a third process loads that folder -> the same outputs again. And a folder saved under transformers 4.x loads under 5.

The child runs under this interpreter (transformers 5) and, when available, under transformers 4.x interpreters:
the newest 4.x (`$LIQE_TF4_PYTHON`, else `<repo>/.venv-tf4/bin/python`) and the declared floor 4.50
(`$LIQE_TF450_PYTHON`, else `<repo>/.venv-tf450/bin/python`); `.ci/run` creates both venvs. A variable that is
set must point at a Python (failure, not skip).

The first child of each interpreter is run once a session and shared: by the round trip, by the saved-under-4.x
test, and by test_pipeline_liqe.py (the child runs its `pipeline(...)` check first). One transformers-5 child loads,
in turn, every folder a first child saved: the transformers-5 round trip's third process and the 4.x-saved folders'
loads under 5.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modeling_liqe.configuration_liqe import REMOTE_CODE_FILES
from modeling_liqe.convert_liqe_checkpoint import convert_checkpoint
from tests.conftest import FIXTURES, REPO_ROOT
from tests.openai_clip_recipe import TINY_CHECKSUM, build_openai_clip_state_dict, state_dict_checksum

IMAGES = sorted(path.name for path in (FIXTURES / "images").glob("*.png"))
OUTPUT_KEYS = ("score", "logits", "joint_probs", "quality_probs", "scene_probs", "distortion_probs", "patch_logits")
CHILD_TIMEOUT_S = 300

# Runs in the child interpreter. Standalone: it must not need anything from this repository.
CHILD_SCRIPT = r'''
import importlib.util
import json
import os
import sys

repo_root, folders, images_dir, result_paths = sys.argv[1:5]
folders, result_paths = folders.split(os.pathsep), result_paths.split(os.pathsep)
folder = folders[0]
save_dir = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
pipeline_names = sys.argv[6].split(",") if len(sys.argv) > 6 else []

# An editable install (`pip install -e .`) would make the package importable from anywhere: drop the repo
# from sys.path and setuptools' editable finders, then PROVE that the package cannot be imported.
repo = os.path.realpath(repo_root)
def _editable(obj):  # setuptools installs its finder class itself (not an instance) on sys.meta_path
    return "__editable__" in getattr(obj if isinstance(obj, type) else type(obj), "__module__", "")


sys.path[:] = [p for p in sys.path if "__editable__" not in p and os.path.realpath(p or os.getcwd()) != repo]
sys.meta_path[:] = [f for f in sys.meta_path if not _editable(f)]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
sys.path_importer_cache.clear()
for name in ("modeling_liqe", "datasets_scripts"):
    if importlib.util.find_spec(name) is not None:
        sys.exit(f"CHILD-SETUP-ERROR: {name} is importable here ({importlib.util.find_spec(name).origin})")
try:
    import modeling_liqe  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    sys.exit("CHILD-SETUP-ERROR: import modeling_liqe succeeded")

import torch
import transformers
from transformers import AutoModel, AutoProcessor

pipeline_result = None
if pipeline_names:
    # test_pipeline_liqe.py's check, first thing in this fresh process (before any Auto class has loaded the
    # folder's code): `pipeline("image-quality-assessment", model=folder, trust_remote_code=True)` on paths, http
    # URLs served by a real local HTTP server, and PIL images.
    import functools
    import http.server
    import threading

    from PIL import Image
    from transformers import pipeline

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=images_dir)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    assess = pipeline("image-quality-assessment", model=folder, trust_remote_code=True)
    paths = [os.path.join(images_dir, name) for name in pipeline_names]
    pipeline_result = {
        "pipeline_class": f"{type(assess).__module__}.{type(assess).__qualname__}",
        "paths": assess(paths),
        "urls": assess([base + name for name in pipeline_names]),
        "pil": [assess(Image.open(path)) for path in paths],
        "single": assess(paths[0]),
    }
    server.shutdown()
    del assess

# Each folder in turn (one interpreter start-up for several folders of one transformers: their code files are
# imported under a hash of their content, so a folder whose code differs is imported afresh).
for job, (folder, result_path) in enumerate(zip(folders, result_paths)):
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    keys = ("score", "logits", "joint_probs", "quality_probs", "scene_probs", "distortion_probs", "patch_logits")
    names = sorted(name for name in os.listdir(images_dir) if name.endswith(".png"))
    inputs = {name: processor(images=os.path.join(images_dir, name)) for name in names}

    def score_all():
        # every output the variant has (a quality_distortion model has no scene_probs)
        with torch.no_grad():
            outputs = {name: model(**inputs[name]) for name in names}
        return {name: {key: getattr(out, key)[0].tolist() for key in keys if getattr(out, key) is not None}
                for name, out in outputs.items()}

    # The folder ships the prompt text features (used while their fingerprint matches the text weights): count the
    # prompt encodings while scoring (0: the shipped features were used), then score again with the fingerprint
    # cleared, so that THIS transformers' text tower encodes the prompts.
    encodings = []
    encode = model._encode_prompts
    model._encode_prompts = lambda *args: encodings.append(1) or encode(*args)
    images = score_all()
    shipped_features_used = not encodings
    with torch.no_grad():
        fingerprint = model.prompt_text_fingerprint.clone()
        model.prompt_text_fingerprint.zero_()
        reencoded = score_all()
        model.prompt_text_fingerprint.copy_(fingerprint)
    del model._encode_prompts
    if save_dir and job == 0:
        model.save_pretrained(save_dir)
        processor.save_pretrained(save_dir)
    result = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": sys.executable,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "processor_class": f"{type(processor).__module__}.{type(processor).__qualname__}",
        "image_processor_class": f"{type(processor.image_processor).__module__}.{type(processor.image_processor).__qualname__}",
        "tokenizer_class": type(processor.tokenizer).__name__,
        "images": images,
        "images_reencoded": reencoded,
        "shipped_features_used": shipped_features_used,
        "pipeline": pipeline_result if job == 0 else None,
    }
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
'''


# name -> (environment variable, default venv under the repo, required transformers version prefix)
INTERPRETERS = {
    "transformers5": (None, None, "5."),
    "transformers4": ("LIQE_TF4_PYTHON", ".venv-tf4", "4."),  # newest 4.x (.ci/run: "transformers>=4.50,<5")
    "transformers4.50": ("LIQE_TF450_PYTHON", ".venv-tf450", "4.50."),  # the floor declared in setup.cfg
}


def _available_interpreter(name):
    """The python of `name`, or None when it is absent."""
    variable, venv, _ = INTERPRETERS[name]
    if variable is None:
        return sys.executable
    python = os.environ.get(variable) or str(REPO_ROOT / venv / "bin" / "python")
    return python if os.path.isfile(python) and os.access(python, os.X_OK) else None


def _interpreter(name):
    """(python, required version prefix); skips when an optional interpreter is absent."""
    variable, venv, version = INTERPRETERS[name]
    if variable is None:
        return sys.executable, version
    explicit = os.environ.get(variable)
    python = _available_interpreter(name)
    if python:
        return python, version
    if explicit:
        pytest.fail(f"${variable}={explicit} is not an executable Python")
    pytest.skip(
        f"no transformers {version}x interpreter: set ${variable} or create {venv} (see .ci/run: python3 -m venv "
        f"{venv} && {venv}/bin/pip install torch==2.13.0 && {venv}/bin/pip install 'transformers...' safetensors "
        "pillow numpy)"
    )


@pytest.fixture(scope="module")
def golden():
    with open(FIXTURES / "golden_expected.json", encoding="utf-8") as f:
        return json.load(f)


_SESSION_CACHE = {}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return converted_folder(tmp_path_factory)


def converted_folder(tmp_path_factory):
    """The tiny golden model converted into a Hub folder, and its outputs in this process (once a session: also
    the folder of test_pipeline_liqe.py)."""
    if "converted" not in _SESSION_CACHE:
        _SESSION_CACHE["converted"] = _convert(tmp_path_factory)
    return _SESSION_CACHE["converted"]


def _convert(tmp_path_factory):
    root = tmp_path_factory.mktemp("liqe-remote-code")
    state = build_openai_clip_state_dict()
    assert state_dict_checksum(state) == TINY_CHECKSUM
    source = root / "tiny_openai_clip.pt"
    torch.save(state, source)
    folder = root / "liqe-tiny"
    model, processor = convert_checkpoint(source, folder)
    outputs = {}
    with torch.no_grad():
        for name in IMAGES:
            output = model.eval()(**processor(images=str(FIXTURES / "images" / name)))
            outputs[name] = {key: getattr(output, key)[0].tolist() for key in OUTPUT_KEYS if getattr(output, key) is not None}
    return folder, outputs


# The images test_pipeline_liqe.py scores through `pipeline(...)` in the first child of each interpreter.
PIPELINE_IMAGES = ["astronaut.png", "chelsea_rgba.png", "coins_gray_600x1200.png"]


def first_load(interpreter, python, tmp_path_factory):
    """(result, re-saved folder) of the first fresh process of `interpreter` on the converted folder: it runs
    test_pipeline_liqe.py's pipeline on PIPELINE_IMAGES, then loads the folder with the Auto classes, scores,
    and saves what it loaded. Once a session per interpreter: the round trip, the saved-under-4-loads-under-5
    test and the pipeline test each need this child, and each starting its own only repeated the interpreter
    and transformers start-up."""
    key = ("first", interpreter)
    if key not in _SESSION_CACHE:
        folder, _ = converted_folder(tmp_path_factory)
        workdir = tmp_path_factory.mktemp(f"first-{interpreter}")
        resaved = workdir / "resaved"
        result = _run_child(python, folder, workdir / "result.json", save_dir=resaved, workdir=workdir,
                            pipeline_images=PIPELINE_IMAGES)
        _SESSION_CACHE[key] = (result, resaved)
    return _SESSION_CACHE[key]


@pytest.fixture(scope="module")
def first_loads(tmp_path_factory):
    return lambda interpreter, python: first_load(interpreter, python, tmp_path_factory)


def loads_under_5(tmp_path_factory):
    """{interpreter: result} of ONE transformers-5 process that loads, in turn, the folder each available
    interpreter's first child saved: "transformers5"'s is the round trip's third process, the 4.x ones are the
    saved-under-4-loads-under-5 test's. Once a session: a child each only repeated the interpreter and
    transformers start-up (~12 s a child on 2 cores)."""
    key = "under-5"
    if key not in _SESSION_CACHE:
        saved = {}
        for interpreter in sorted(INTERPRETERS):
            python = _available_interpreter(interpreter)
            if python:
                saved[interpreter] = first_load(interpreter, python, tmp_path_factory)[1]
        workdir = tmp_path_factory.mktemp("under-5")
        names = list(saved)
        results = _run_child(sys.executable, [saved[name] for name in names],
                             [workdir / f"{name}.json" for name in names], workdir=workdir)
        _SESSION_CACHE[key] = dict(zip(names, results))
    return _SESSION_CACHE[key]


def _max_abs_diff(a, b):
    a, b = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != {tuple(b.shape)}"
    return float((a - b).abs().max()) if a.numel() else 0.0


def _assert_same_outputs(actual, expected, what, tolerance=1e-6):
    assert sorted(actual) == sorted(expected), f"{what}: images {sorted(actual)} != {sorted(expected)}"
    for name in expected:
        assert sorted(actual[name]) == sorted(expected[name]), f"{what}: {name} outputs {sorted(actual[name])} != {sorted(expected[name])}"
        for key in expected[name]:
            diff = _max_abs_diff(actual[name][key], expected[name][key])
            assert diff <= tolerance, f"{what}: {name} {key} max abs diff {diff:.3g} > {tolerance}"


# The tolerances promised against the authors' code (README): probabilities 1e-5, score 1e-4.
GOLDEN_TOLERANCES = {"score": 1e-4, "joint_probs": 1e-5, "quality_probs": 1e-5, "scene_probs": 1e-5, "distortion_probs": 1e-5}


def _assert_golden(images, golden, what):
    for name in IMAGES:
        expected = golden["images"][name]
        for key, tolerance in GOLDEN_TOLERANCES.items():
            diff = _max_abs_diff(images[name][key], expected[key])
            assert diff <= tolerance, f"{what}: {name} {key} differs from the golden output by {diff:.3g} > {tolerance}"


def _check_hub_folder(folder):
    files = {path.name for path in folder.iterdir()}
    for name in REMOTE_CODE_FILES + ("config.json", "model.safetensors", "tokenizer_config.json"):
        assert name in files, f"{folder}: {name} missing (has {sorted(files)})"
    assert "tokenizer.json" in files or {"vocab.json", "merges.txt"} <= files, f"{folder}: no tokenizer files"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "liqe"
    assert config["auto_map"]["AutoConfig"] == "configuration_liqe.LIQEConfig"
    assert config["auto_map"]["AutoModel"] == "modeling_liqe.LIQEModel"
    # transformers 4 reads the image processor from preprocessor_config.json, 5 from processor_config.json
    # (nested) when there: every auto_map that one of them finds must point at our classes.
    image_processor_maps, processor_maps = [], []
    for name in ("preprocessor_config.json", "processor_config.json"):
        if name in files:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
            for section in (data, data.get("image_processor") or {}):
                auto_map = section.get("auto_map") or {}
                if "AutoImageProcessor" in auto_map:
                    image_processor_maps.append(auto_map["AutoImageProcessor"])
                if "AutoProcessor" in auto_map:
                    processor_maps.append(auto_map["AutoProcessor"])
    assert "preprocessor_config.json" in files, f"{folder}: no preprocessor_config.json (transformers 4 needs it)"
    assert image_processor_maps and set(image_processor_maps) == {"image_processing_liqe.LIQEImageProcessor"}
    assert processor_maps and set(processor_maps) == {"processing_liqe.LIQEProcessor"}
    return files


def _run_child(python, folder, result_path, save_dir=None, workdir=None, pipeline_images=()):
    """The child's result; `folder` and `result_path` may be lists (the folders loaded in turn by one child, the
    first one saved to `save_dir`): then the list of results."""
    many = isinstance(folder, (list, tuple))
    folders, result_paths = (folder, result_path) if many else ([folder], [result_path])
    assert len(folders) == len(result_paths) and folders
    workdir = Path(workdir)
    script = workdir / "liqe_remote_code_child.py"
    script.write_text(CHILD_SCRIPT, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(workdir / "hf_home"),
        TOKENIZERS_PARALLELISM="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("HF_MODULES_CACHE", None)
    command = [python, str(script), str(REPO_ROOT), os.pathsep.join(map(str, folders)), str(FIXTURES / "images"),
               os.pathsep.join(map(str, result_paths))]
    command.append("" if save_dir is None else str(save_dir))
    if pipeline_images:
        command.append(",".join(pipeline_images))
    completed = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, stdin=subprocess.DEVNULL
    )
    assert completed.returncode == 0, (
        f"child {python} failed ({completed.returncode})\n--- stdout\n{completed.stdout[-4000:]}\n"
        f"--- stderr\n{completed.stderr[-8000:]}"
    )
    results = [json.loads(Path(path).read_text(encoding="utf-8")) for path in result_paths]
    return results if many else results[0]


def test_converted_folder_is_a_hub_remote_code_folder(converted):
    folder, _ = converted
    files = _check_hub_folder(folder)
    assert "README.md" in files
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "trust_remote_code=True" in card


@pytest.mark.slow
@pytest.mark.parametrize("interpreter", sorted(INTERPRETERS))
def test_fresh_process_round_trip(interpreter, converted, first_loads, golden, tmp_path, tmp_path_factory):
    python, expected_version = _interpreter(interpreter)
    folder, in_process = converted

    # 1. Fresh process loads the converted folder through the Auto classes (and saves what it loaded).
    first, resaved = first_loads(interpreter, python)
    assert first["transformers"].startswith(expected_version), f"{python} has transformers {first['transformers']}"
    # The classes came from the folder's code (transformers_modules), not from an installed package.
    for key in ("model_class", "processor_class", "image_processor_class"):
        assert first[key].startswith("transformers_modules."), first[key]
    _assert_same_outputs(first["images"], in_process, f"{interpreter} fresh process vs in-process")
    assert first["shipped_features_used"] is True, f"{interpreter}: the shipped prompt features were not used"
    _assert_same_outputs(first["images_reencoded"], in_process, f"{interpreter} prompts re-encoded vs in-process")
    _assert_golden(first["images"], golden, interpreter)
    _assert_golden(first["images_reencoded"], golden, f"{interpreter} (prompts re-encoded)")

    # 2. What the child loaded, saved again, is a remote-code folder that a third process loads (for transformers 5,
    # the process that also loads the folders saved under 4.x).
    _check_hub_folder(resaved)
    if interpreter == "transformers5":
        second = loads_under_5(tmp_path_factory)[interpreter]
    else:
        second_dir = tmp_path / "second"
        second_dir.mkdir()
        second = _run_child(python, resaved, second_dir / "result.json", workdir=second_dir)
    assert second["transformers"] == first["transformers"]
    _assert_same_outputs(second["images"], first["images"], f"{interpreter} re-saved folder vs first load")
    assert second["shipped_features_used"] is True, f"{interpreter}: re-saved features not used"


@pytest.mark.slow
@pytest.mark.parametrize("interpreter", ["transformers4", "transformers4.50"])
def test_folder_saved_under_transformers4_loads_under_transformers5(interpreter, converted, first_loads, golden,
                                                                   tmp_path_factory):
    """A user on transformers 4.x saves (e.g. after fine-tuning); another on 5.x loads that folder."""
    python, expected_version = _interpreter(interpreter)
    folder, in_process = converted
    # the 4.x process that loaded the converted folder and saved it (the same child as the round trip's first)
    four, saved_by_4 = first_loads(interpreter, python)
    assert four["transformers"].startswith(expected_version)
    _check_hub_folder(saved_by_4)
    # the transformers-5 process that loads every first child's saved folder in turn
    five = loads_under_5(tmp_path_factory)[interpreter]
    assert five["transformers"].startswith("5.")
    assert five["model_class"].startswith("transformers_modules.")
    _assert_same_outputs(five["images"], in_process, f"saved by {interpreter}, loaded by transformers 5")
    _assert_same_outputs(five["images_reencoded"], in_process, f"saved by {interpreter}, re-encoded by transformers 5")
    assert five["shipped_features_used"] is True, "features shipped by transformers 4 were not used by 5"
    _assert_golden(five["images"], golden, f"saved by {interpreter}, loaded by transformers 5")
