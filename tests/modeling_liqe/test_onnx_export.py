"""`liqe export onnx` on the golden tiny model: the ONNX graph scores like the torch path, through the
package (`liqe score --backend onnx`) and through the copied torch-free scorer in a venv WITHOUT torch.

The torch-free venv is `$LIQE_ONNX_PYTHON`, else `<repo>/.venv-onnx/bin/python` (scripts/setup.sh makes it:
onnxruntime, numpy and Pillow only); the test skips visibly without it, and fails when the variable is set but
does not point at a Python.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from modeling_liqe.cli import main
from modeling_liqe.scoring import LIQEScorer
from tests.conftest import FIXTURES, REPO_ROOT
from tests.modeling_liqe.test_scoring import load_golden, tiny_model_dir

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

GOLDEN_IMAGES = sorted((FIXTURES / "images").glob("*.png"))
ONNX_FP32_TOLERANCE = 1e-4  # the target; measured 7e-7
# Measured on the golden tiny model, whose scores react strongly to any rounding of its weights (see
# test_fast_inference.py): max |delta| of ONNX Runtime's int8 graph vs the exact path.
ONNX_INT8_MAX_DELTA = 0.3
PROBS = ("quality_probs", "scene_probs", "distortion_probs")

pytestmark = pytest.mark.slow  # each export takes ~10-25 s on the shared CPUs


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def exact_rows(model_dir):
    return list(LIQEScorer(model_dir, batch_size=4).score_paths(GOLDEN_IMAGES))


@pytest.fixture(scope="module")
def exported(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny-onnx"
    assert main(["export", "onnx", str(model_dir), str(out)]) == 0
    return out


def _assert_rows_close(rows, expected, tolerance, probs_tolerance):
    assert [row["path"] for row in rows] == [row["path"] for row in expected]
    for row, want in zip(rows, expected):
        assert set(row) == set(want) and row["error"] is None, row
        assert abs(row["score"] - want["score"]) <= tolerance, (row["path"], row["score"], want["score"])
        for key in PROBS:
            assert list(row[key]) == list(want[key])
            np.testing.assert_allclose(list(row[key].values()), list(want[key].values()), atol=probs_tolerance)


def test_exported_folder(exported, model_dir):
    files = sorted(os.listdir(exported))
    assert files == ["README.md", "liqe_onnx.json", "liqe_onnx_scorer.py", "model.onnx"]
    card = (exported / "README.md").read_text()
    assert f"liqe export onnx {model_dir}" in card and "Quantisation: none (float32)" in card
    metadata = json.loads((exported / "liqe_onnx.json").read_text())
    assert metadata["input_format"] == "uint8" and metadata["quantization"] == "none"
    import onnx

    graph = onnx.load(str(exported / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["pixel_values", "patch_mask"]
    assert [o.name for o in graph.output] == ["score", "logits", "joint_probs", "quality_probs", "scene_probs",
                                               "distortion_probs"]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    # Only the vision tower is in the graph: no token embedding (49408 x 64) — the prompt features are constants.
    assert not any(49408 in init.dims for init in graph.initializer)
    assert any(sorted(init.dims) == [32, 495] for init in graph.initializer)


def test_onnx_fp32_equals_the_torch_path(exported, exact_rows):
    from modeling_liqe.onnx_scorer import ONNXScorer

    for batch_size in (1, 4, 9):  # dynamic batch and window counts (padding with the mask)
        rows = list(ONNXScorer(exported, batch_size=batch_size).score_paths(GOLDEN_IMAGES))
        _assert_rows_close(rows, exact_rows, ONNX_FP32_TOLERANCE, 1e-5)
        assert [r["scene"] for r in rows] == [r["scene"] for r in exact_rows]
        assert [r["distortion"] for r in rows] == [r["distortion"] for r in exact_rows]
    golden = load_golden()
    for path, row in zip(GOLDEN_IMAGES, rows):
        assert row["score"] == pytest.approx(golden[path.name]["score"], abs=ONNX_FP32_TOLERANCE)


def test_cli_backend_onnx_rows_and_error_rows(exported, model_dir, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_text("no image")
    small = tmp_path / "small.png"
    from PIL import Image

    Image.new("RGB", (100, 60), (200, 10, 10)).save(small)
    paths = [str(GOLDEN_IMAGES[0]), str(broken), str(small), str(GOLDEN_IMAGES[5])]
    onnx_out, torch_out = tmp_path / "onnx.json", tmp_path / "torch.json"
    assert main(["score", "--backend", "onnx", "--model", str(exported), "--format", "json", "--output",
                 str(onnx_out), *paths]) == 1
    assert main(["score", "--model", str(model_dir), "--format", "json", "--output", str(torch_out), *paths]) == 1
    onnx_rows, torch_rows = json.loads(onnx_out.read_text()), json.loads(torch_out.read_text())
    assert onnx_rows[1]["error"] == torch_rows[1]["error"] and onnx_rows[1]["error"].startswith(str(broken))
    good = [0, 2, 3]
    _assert_rows_close([onnx_rows[i] for i in good], [torch_rows[i] for i in good], ONNX_FP32_TOLERANCE, 1e-5)
    capsys.readouterr()
    assert main(["score", "--backend", "onnx", "--model", str(model_dir), str(GOLDEN_IMAGES[0])]) == 1
    assert "not an exported LIQE ONNX folder" in capsys.readouterr().err


def test_float32_input_graph(model_dir, exact_rows, tmp_path):
    from modeling_liqe.onnx_export import export_onnx
    from modeling_liqe.onnx_scorer import ONNXScorer

    export_onnx(model_dir, tmp_path / "f32", input_format="float32")
    rows = list(ONNXScorer(tmp_path / "f32", batch_size=4).score_paths(GOLDEN_IMAGES))
    _assert_rows_close(rows, exact_rows, ONNX_FP32_TOLERANCE, 1e-5)


def test_int8_export(model_dir, exact_rows, tmp_path, exported):
    from modeling_liqe.onnx_scorer import ONNXScorer

    assert main(["export", "onnx", str(model_dir), str(tmp_path / "int8"), "--quantize", "int8"]) == 0
    assert "dynamic int8 quantisation" in (tmp_path / "int8" / "README.md").read_text()
    assert (tmp_path / "int8" / "model.onnx").stat().st_size < (exported / "model.onnx").stat().st_size
    import onnx

    graph = onnx.load(str(tmp_path / "int8" / "model.onnx")).graph
    # The 12 weight products of the 2 vision layers are int8; the prompt features stay a float32 constant.
    assert sum(node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for node in graph.node) == 12
    prompt_features = [init for init in graph.initializer if sorted(init.dims) == [32, 495]]
    assert len(prompt_features) == 1 and prompt_features[0].data_type == onnx.TensorProto.FLOAT
    rows = list(ONNXScorer(tmp_path / "int8", batch_size=4).score_paths(GOLDEN_IMAGES))
    deltas = [abs(r["score"] - e["score"]) for r, e in zip(rows, exact_rows)]
    assert 0 < max(deltas) <= ONNX_INT8_MAX_DELTA


def _onnx_python():
    explicit = os.environ.get("LIQE_ONNX_PYTHON")
    python = explicit or str(REPO_ROOT / ".venv-onnx" / "bin" / "python")
    if os.path.isfile(python) and os.access(python, os.X_OK):
        return python
    if explicit:
        pytest.fail(f"$LIQE_ONNX_PYTHON={explicit} is not an executable Python")
    pytest.skip("no torch-free venv: set $LIQE_ONNX_PYTHON or create .venv-onnx (scripts/setup.sh: python3 -m venv "
                ".venv-onnx && .venv-onnx/bin/pip install onnxruntime numpy pillow)")


def test_scores_in_a_venv_without_torch(exported, exact_rows, tmp_path):
    python = _onnx_python()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    probe = subprocess.run(
        [python, "-c", "import importlib.util as u; print([n for n in ('torch', 'transformers', 'modeling_liqe') "
                       "if u.find_spec(n)])"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    blocked = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert blocked.returncode != 0 and "No module named 'torch'" in blocked.stderr
    # The scorer copied into the exported folder, run by path from elsewhere, on the golden folder.
    result = subprocess.run(
        [python, str(exported / "liqe_onnx_scorer.py"), str(exported), str(FIXTURES / "images"), "--format", "json",
         "--batch-size", "4"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    _assert_rows_close(rows, [dict(r, path=str(FIXTURES / "images" / os.path.basename(r["path"])))
                              for r in exact_rows], ONNX_FP32_TOLERANCE, 1e-5)
