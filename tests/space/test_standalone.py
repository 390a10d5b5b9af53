"""space/ works on its own: copied to an empty folder, run by a venv made from its requirements.txt alone (the CPU
torch first, nothing of this repository installed), with a model folder as the model, `python app.py` serves
and scores like the Python API.

The venv is cached in .venv-space/ (git-ignored), rebuilt only when space/requirements.txt changes; .ci/run
builds it beforehand (scripts/setup_space_venv.sh), so here it costs seconds on a second run.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO_ROOT
from tests.space.conftest import SPACE_DIR

SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup_space_venv.sh"
VENV = REPO_ROOT / ".venv-space"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def space_python():
    """The cached Space venv's interpreter, (re)built by scripts/setup_space_venv.sh when needed."""
    base = getattr(sys, "_base_executable", None) or shutil.which("python3")
    result = subprocess.run(["bash", str(SETUP_SCRIPT), str(VENV)], env=dict(os.environ, PYTHON=base),
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"building the Space venv failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return VENV / "bin" / "python"


def wait_for_server(url, process, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(1)
    return False


@pytest.mark.slow
def test_space_folder_runs_alone_in_its_own_venv(space_model_dir, python_api, tmp_path):
    python = space_python()
    alone = tmp_path / "my-space"
    shutil.copytree(SPACE_DIR, alone, ignore=shutil.ignore_patterns("__pycache__"))
    model = tmp_path / "model"
    shutil.copytree(space_model_dir, model)

    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "LIQE_", "VIRTUAL_ENV"))}
    env.update(LIQE_MODEL=str(model), HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"),
               GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(free_port()), GRADIO_ANALYTICS_ENABLED="False",
               OMP_NUM_THREADS="1")
    # Nothing of this repository is importable there.
    probe = subprocess.run([str(python), "-c", "import modeling_liqe"], cwd=alone, env=env, capture_output=True,
                           text=True)
    assert probe.returncode != 0 and "No module named 'modeling_liqe'" in probe.stderr

    log = open(tmp_path / "app.log", "w")
    process = subprocess.Popen([str(python), "app.py"], cwd=alone, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['GRADIO_SERVER_PORT']}/"
    try:
        assert wait_for_server(url, process), (tmp_path / "app.log").read_text()[-3000:]
        from gradio_client import Client, handle_file

        client = Client(url, verbose=False, httpx_kwargs={"timeout": 120})
        photo = SPACE_DIR / "examples" / "chelsea_noise.jpg"
        score, verdict, *_ = client.predict(handle_file(str(photo)), api_name="/score")
        assert score == pytest.approx(float(python_api(str(photo)).score[0]), abs=1e-6)
        assert verdict.startswith(f"{score:.3f} / 5: ")
        _, summary = client.predict(handle_file(str(photo)), api_name="/quality_map")
        assert "windows of 224 px" in summary
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
