"""`pipeline("image-quality-assessment", model=FOLDER, trust_remote_code=True)` in a fresh process where this
package is NOT importable, under transformers 5 and 4.5x: the same scores as `liqe score`, for paths, http URLs
(served by a real local HTTP server) and PIL images.

The 4.x interpreters are those of test_remote_code.py ($LIQE_TF4_PYTHON / .venv-tf4, $LIQE_TF450_PYTHON /
.venv-tf450); each skips visibly when absent.
"""

import json
import os
import subprocess

import pytest

from modeling_liqe.pipeline_folder import CUSTOM_PIPELINES, PIPELINE_FILE
from modeling_liqe.scoring import LIQEScorer
from tests.conftest import FIXTURES, REPO_ROOT
from tests.modeling_liqe.test_remote_code import _interpreter
from tests.modeling_liqe.test_scoring import tiny_model_dir

IMAGES = ["astronaut.png", "chelsea_rgba.png", "coins_gray_600x1200.png"]
CHILD_TIMEOUT_S = 300

# Runs in the child interpreter; must not need anything from this repository.
CHILD_SCRIPT = r'''
import functools
import http.server
import importlib.util
import json
import os
import sys
import threading

repo_root, folder, images_dir, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
repo = os.path.realpath(repo_root)


def _editable(obj):
    return "__editable__" in getattr(obj if isinstance(obj, type) else type(obj), "__module__", "")


sys.path[:] = [p for p in sys.path if "__editable__" not in p and os.path.realpath(p or os.getcwd()) != repo]
sys.meta_path[:] = [f for f in sys.meta_path if not _editable(f)]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
sys.path_importer_cache.clear()
if importlib.util.find_spec("modeling_liqe") is not None:
    sys.exit("CHILD-SETUP-ERROR: modeling_liqe is importable here")

import transformers
from PIL import Image
from transformers import pipeline

handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=images_dir)
handler.log_message = lambda *args: None
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{server.server_address[1]}/"

assess = pipeline("image-quality-assessment", model=folder, trust_remote_code=True)
paths = [os.path.join(images_dir, name) for name in names]
result = {
    "transformers": transformers.__version__,
    "pipeline_class": f"{type(assess).__module__}.{type(assess).__qualname__}",
    "paths": assess(paths),
    "urls": assess([base + name for name in names]),
    "pil": [assess(Image.open(path)) for path in paths],
    "single": assess(paths[0]),
}
server.shutdown()
print("RESULT " + json.dumps(result))
'''


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def expected(model_dir):
    return list(LIQEScorer(model_dir).score_paths([FIXTURES / "images" / name for name in IMAGES]))


def test_converted_folder_ships_the_pipeline(model_dir):
    assert (model_dir / PIPELINE_FILE).is_file()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["custom_pipelines"] == CUSTOM_PIPELINES
    assert 'pipeline("image-quality-assessment"' in (model_dir / "README.md").read_text()
    # The shipped file imports only transformers and its siblings (no package-only module).
    source = (model_dir / PIPELINE_FILE).read_text()
    assert "modeling_liqe" not in source and "scoring" not in source


@pytest.mark.slow
@pytest.mark.parametrize("interpreter", ["transformers5", "transformers4", "transformers4.50"])
def test_pipeline_in_a_fresh_process_without_the_package(interpreter, model_dir, expected, tmp_path):
    python, version = _interpreter(interpreter)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"), TOKENIZERS_PARALLELISM="false")
    env.pop("HF_MODULES_CACHE", None)
    child = subprocess.run(
        [python, "-c", CHILD_SCRIPT, str(REPO_ROOT), str(model_dir), str(FIXTURES / "images"), ",".join(IMAGES)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=CHILD_TIMEOUT_S,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    line = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    assert result["transformers"].startswith(version)
    assert result["pipeline_class"].endswith("pipeline_liqe.LIQEImageQualityPipeline")
    assert "modeling_liqe" not in result["pipeline_class"].split("pipeline_liqe")[0].split(".")
    for kind in ("paths", "urls", "pil"):
        for got, want in zip(result[kind], expected):
            assert set(got) == {"score", "label", "quality_probs", "scene_probs", "distortion_probs"}
            assert got["score"] == pytest.approx(want["score"], abs=1e-5), (kind, want["path"])
            assert got["label"] == max(want["quality_probs"], key=want["quality_probs"].get)
            for key in ("quality_probs", "scene_probs", "distortion_probs"):
                assert list(got[key]) == list(want[key])
                assert list(got[key].values()) == pytest.approx(list(want[key].values()), abs=1e-5)
    assert result["single"] == result["paths"][0]
