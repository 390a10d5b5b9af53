"""What a saved Hub folder holds (an exact manifest), its model card, and the check on the remote-code list."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import modeling_liqe
from modeling_liqe.configuration_liqe import REMOTE_CODE_FILES, ship_remote_code
from modeling_liqe.convert_liqe_checkpoint import convert_checkpoint
from modeling_liqe.geometries import init_random_model
from tests.openai_clip_recipe import build_openai_clip_state_dict

REMOTE_CODE = {"configuration_liqe.py", "modeling_liqe.py", "image_processing_liqe.py", "processing_liqe.py", "losses.py",
               "pipeline_liqe.py"}
PROCESSOR_FILES = {"preprocessor_config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json"}
MODEL_FILES = {"config.json", "model.safetensors"}


def _files(folder):
    return {path.name for path in Path(folder).iterdir()}


@pytest.fixture(scope="module")
def init_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("init") / "liqe-random"
    model, processor = init_random_model("tiny", output_dir=folder)
    return folder, model, processor


def test_the_remote_code_list_is_the_documented_one():
    assert set(REMOTE_CODE_FILES) == REMOTE_CODE
    package = Path(modeling_liqe.__file__).parent
    from transformers.dynamic_module_utils import get_relative_imports

    # Closed under relative imports: nothing else (cli, scoring, clip_bpe, ...) is pulled into a Hub folder.
    for name in REMOTE_CODE_FILES:
        assert {f"{m}.py" for m in get_relative_imports(str(package / name))} <= REMOTE_CODE, name


def test_init_folder_manifest_is_exact(init_folder):
    folder, _, _ = init_folder
    assert _files(folder) == REMOTE_CODE | PROCESSOR_FILES | MODEL_FILES | {"README.md"}


def test_convert_folder_manifest_is_exact(tmp_path):
    torch.save(build_openai_clip_state_dict(seed=0), tmp_path / "source.pt")
    convert_checkpoint(tmp_path / "source.pt", tmp_path / "converted")
    assert _files(tmp_path / "converted") == REMOTE_CODE | PROCESSOR_FILES | MODEL_FILES | {"README.md"}
    convert_checkpoint(tmp_path / "source.pt", tmp_path / "no-card", model_card=False)
    assert _files(tmp_path / "no-card") == REMOTE_CODE | PROCESSOR_FILES | MODEL_FILES


def test_model_and_processor_saved_alone_ship_the_whole_remote_code(init_folder, tmp_path):
    _, model, processor = init_folder
    processor.save_pretrained(tmp_path / "processor")
    assert _files(tmp_path / "processor") == REMOTE_CODE | PROCESSOR_FILES
    model.save_pretrained(tmp_path / "model")
    assert _files(tmp_path / "model") == REMOTE_CODE | MODEL_FILES
    # A processor saved into the model's folder adds exactly its own files.
    processor.save_pretrained(tmp_path / "model")
    assert _files(tmp_path / "model") == REMOTE_CODE | MODEL_FILES | PROCESSOR_FILES


def test_a_relative_import_outside_the_list_is_refused_on_save(tmp_path):
    package = Path(modeling_liqe.__file__).parent
    source = tmp_path / "source"
    source.mkdir()
    for name in REMOTE_CODE_FILES:
        shutil.copyfile(package / name, source / name)
    with open(source / "losses.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _helper():\n    from .scoring import LIQEScorer\n")
    with pytest.raises(RuntimeError, match=r"losses\.py imports scoring\.py relatively"):
        ship_remote_code(tmp_path / "out", source / "modeling_liqe.py")


def test_model_card_has_no_pipeline_tag_and_the_config_names_the_quality_levels(init_folder):
    folder, _, _ = init_folder
    card = (folder / "README.md").read_text(encoding="utf-8")
    front_matter = card.split("---\n")[1]
    assert "pipeline_tag" not in front_matter and "library_name: transformers" in front_matter
    assert "768 px" in card and "15 windows of 224 px" in card  # described from the image processor
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "bad", "1": "poor", "2": "fair", "3": "good", "4": "perfect"}
    assert config["label2id"] == {"bad": 0, "poor": 1, "fair": 2, "good": 3, "perfect": 4}
    for moved in ("patch_size", "stride", "large_stride", "num_test_patches", "resize_short_side", "distortion_fine_to_class"):
        assert moved not in config
