"""Fixtures of the Space tests: a tiny random model folder, the app module (space/app.py), a running server.

The app is imported from its file (space/ is not a package) with LIQE_MODEL pointing at the tiny folder that
`liqe init --geometry tiny` writes; one server per test session serves every test that needs one.
"""

import importlib.util
import os

import pytest

from tests.conftest import REPO_ROOT

SPACE_DIR = REPO_ROOT / "space"
IMAGES = REPO_ROOT / "tests" / "fixtures" / "images"


def load_app_module(model_dir, name="liqe_space_app"):
    """space/app.py as a fresh module called `name`, its model read from LIQE_MODEL=model_dir."""
    os.environ["LIQE_MODEL"] = str(model_dir)
    spec = importlib.util.spec_from_file_location(name, SPACE_DIR / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def space_model_dir(tmp_path_factory):
    from modeling_liqe.geometries import init_random_model

    folder = tmp_path_factory.mktemp("space-model") / "liqe-tiny"
    init_random_model("tiny", output_dir=str(folder))
    return folder


@pytest.fixture(scope="session")
def app(space_model_dir):
    previous = os.environ.get("LIQE_MODEL")
    module = load_app_module(space_model_dir)
    yield module
    if previous is None:
        os.environ.pop("LIQE_MODEL", None)
    else:
        os.environ["LIQE_MODEL"] = previous


@pytest.fixture(scope="session")
def python_api(space_model_dir):
    """The Python API on the same folder: score(path or list of paths) -> LIQEOutput."""
    import torch
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(str(space_model_dir), trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(str(space_model_dir), trust_remote_code=True)

    def score(images):
        with torch.inference_mode():
            return model(**processor(images=images))

    score.model, score.processor = model, processor
    return score


@pytest.fixture(scope="session")
def server(app):
    """The app launched in-process on 127.0.0.1; yields its URL."""
    demo = app.build_demo()
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **app.launch_options())
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)
