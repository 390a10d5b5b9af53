"""`liqe space push`: everything up to the network call, with huggingface_hub's HfApi replaced by a recorder."""

import pytest
import yaml

from modeling_liqe import cli_space
from modeling_liqe.cli import main
from tests.conftest import REPO_ROOT

SPACE_DIR = REPO_ROOT / "space"


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi: records the calls and what upload_folder would upload."""

    calls = []
    uploaded = {}
    fail_with = None

    def __init__(self, token=None):
        self.calls.append(("init", token))

    def create_repo(self, repo_id, **kwargs):
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/spaces/{repo_id}"

    def add_space_variable(self, repo_id, key, value, **kwargs):
        self.calls.append(("add_space_variable", repo_id, key, value))

    def upload_folder(self, folder_path, repo_id, **kwargs):
        from pathlib import Path

        self.calls.append(("upload_folder", repo_id, kwargs))
        root = Path(folder_path)
        type(self).uploaded = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub

    RecordingHfApi.calls, RecordingHfApi.uploaded, RecordingHfApi.fail_with = [], {}, None
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHfApi)
    return RecordingHfApi


def test_push_creates_a_gradio_space_and_uploads_the_folder(hub, capsys):
    assert main(["space", "push", "my-org/liqe-demo", "--model", "my-org/liqe-koniq", "--token", "hf_x"]) == 0
    names = [call[0] for call in hub.calls]
    assert names == ["init", "create_repo", "add_space_variable", "upload_folder"]
    assert hub.calls[0] == ("init", "hf_x")
    assert hub.calls[1] == ("create_repo", "my-org/liqe-demo",
                            {"repo_type": "space", "space_sdk": "gradio", "private": False, "exist_ok": True})
    assert hub.calls[2] == ("add_space_variable", "my-org/liqe-demo", "LIQE_MODEL", "my-org/liqe-koniq")
    upload = hub.calls[3][2]
    assert upload["repo_type"] == "space" and "__pycache__/*" in upload["ignore_patterns"]
    # Every file of space/ is uploaded, byte for byte, except the card whose models: now names --model.
    expected = {str(p.relative_to(SPACE_DIR)) for p in SPACE_DIR.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert set(hub.uploaded) == expected
    assert hub.uploaded["app.py"] == (SPACE_DIR / "app.py").read_bytes()
    card_text = hub.uploaded["README.md"].decode()
    card = yaml.safe_load(card_text.split("---", 2)[1])
    original = yaml.safe_load((SPACE_DIR / "README.md").read_text().split("---", 2)[1])
    assert card["models"] == ["my-org/liqe-koniq"]
    assert {k: v for k, v in card.items() if k != "models"} == {k: v for k, v in original.items() if k != "models"}
    assert list(card) == list(original)  # key order kept
    assert card_text.split("---", 2)[2] == (SPACE_DIR / "README.md").read_text().split("---", 2)[2]  # body kept
    published = "published https://huggingface.co/spaces/my-org/liqe-demo (model my-org/liqe-koniq)"
    assert published in capsys.readouterr().err


def test_push_without_model_keeps_the_card_and_sets_no_variable(hub):
    assert main(["space", "push", "org/name", "--private"]) == 0
    assert [call[0] for call in hub.calls] == ["init", "create_repo", "upload_folder"]
    assert hub.calls[1][2]["private"] is True
    assert hub.uploaded["README.md"] == (SPACE_DIR / "README.md").read_bytes()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["space", "push", "no-slash"], "the Space id must be a Hugging Face Hub id ORG/NAME, got 'no-slash'"),
        (["space", "push", "org/name", "--model", "./checkpoints/liqe"], "a Space cannot read a local folder"),
        (["space", "push", "a/b/c"], "got 'a/b/c'"),
    ],
)
def test_bad_ids_are_usage_errors(hub, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert hub.calls == []  # refused before any Hub call


def test_folder_without_the_space_files_is_refused(hub, tmp_path, capsys):
    (tmp_path / "app.py").write_text("print('hi')\n")
    assert main(["space", "push", "org/name", "--space-dir", str(tmp_path)]) == 2
    assert "is not a Space folder: missing requirements.txt, README.md" in capsys.readouterr().err


def test_hub_errors_exit_1_with_a_message(hub, capsys):
    hub.fail_with = OSError("401 Unauthorized: invalid token")
    assert main(["space", "push", "org/name"]) == 1
    message = "liqe space: error: could not publish the Space org/name: OSError: 401 Unauthorized: invalid token"
    assert message in capsys.readouterr().err


def test_set_card_models_needs_front_matter():
    with pytest.raises(ValueError, match="no YAML front matter"):
        cli_space.set_card_models("# just a title\n", ["a/b"])
    text = cli_space.set_card_models("---\ntitle: T\nemoji: 🔍\nmodels:\n  - old/one\n---\n\nbody\n", ["new/two"])
    assert text == "---\ntitle: T\nemoji: 🔍\nmodels:\n- new/two\n---\n\nbody\n"
