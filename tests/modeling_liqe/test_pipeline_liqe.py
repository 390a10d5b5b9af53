"""`pipeline("image-quality-assessment", model=FOLDER, trust_remote_code=True)` in a fresh process where this
package is NOT importable, under transformers 5 and 4.5x: the same scores as `liqe score`, for paths, http URLs
(served by a real local HTTP server) and PIL images.

The 4.x interpreters are those of test_remote_code.py ($LIQE_TF4_PYTHON / .venv-tf4, $LIQE_TF450_PYTHON /
.venv-tf450); each skips visibly when absent. The folder is test_remote_code.py's converted golden model, and the
pipeline runs first thing in that file's first child process of each interpreter (one interpreter and
transformers start-up serves both files' checks).
"""

import json

import pytest

from modeling_liqe.pipeline_folder import CUSTOM_PIPELINES, PIPELINE_FILE
from modeling_liqe.scoring import LIQEScorer
from tests.conftest import FIXTURES
from tests.modeling_liqe.test_remote_code import PIPELINE_IMAGES, _interpreter, converted_folder, first_load

IMAGES = PIPELINE_IMAGES


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    # the golden tiny model's Hub folder of test_remote_code.py (converted once a session)
    return converted_folder(tmp_path_factory)[0]


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
def test_pipeline_in_a_fresh_process_without_the_package(interpreter, model_dir, expected, tmp_path_factory):
    # The pipeline runs first thing in test_remote_code.py's first child of this interpreter (a fresh process
    # where this package is not importable; shared with the remote-code round trip, one start-up for both).
    python, version = _interpreter(interpreter)
    child, _ = first_load(interpreter, python, tmp_path_factory)
    result = dict(child["pipeline"], transformers=child["transformers"])
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
