"""The bundled CLIP BPE tokenizer reproduces the reference CLIP token ids (golden fixtures)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, CLIPTokenizer, CLIPTokenizerFast

from modeling_liqe.clip_bpe import (
    CLIP_BOS_TOKEN_ID,
    CLIP_BPE_DIR,
    CLIP_EOS_TOKEN_ID,
    CLIP_PAD_TOKEN_ID,
    CLIP_VOCAB_SIZE,
    load_clip_tokenizer,
)
from modeling_liqe.configuration_liqe import LIQEConfig
from tests.conftest import FIXTURES, REPO_ROOT

CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]


@pytest.fixture(scope="module")
def golden():
    with open(FIXTURES / "golden_expected.json", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def tok():
    return load_clip_tokenizer()


def test_asset_files_shape():
    vocab = json.loads((CLIP_BPE_DIR / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == CLIP_VOCAB_SIZE
    assert sorted(vocab.values()) == list(range(CLIP_VOCAB_SIZE))
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    lines = (CLIP_BPE_DIR / "merges.txt").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "#version: 0.2"
    assert lines[-1] == "" and len(lines) - 2 == 48894
    for name in ("LICENSE", "README.md"):
        assert (CLIP_BPE_DIR / name).is_file()
    assert "MIT" in (CLIP_BPE_DIR / "LICENSE").read_text(encoding="utf-8")


def test_readme_checksums_match_files():
    readme = (CLIP_BPE_DIR / "README.md").read_text(encoding="utf-8")
    for name in ("vocab.json", "merges.txt"):
        digest = hashlib.sha256((CLIP_BPE_DIR / name).read_bytes()).hexdigest()
        assert f"SHA-256 of `{name}`: `{digest}`" in readme


def test_basic_ids_and_special_tokens(tok):
    assert isinstance(tok, CLIPTokenizer)
    assert len(tok) == CLIP_VOCAB_SIZE
    assert tok("a photo of a cat")["input_ids"] == CAT_IDS
    assert tok.bos_token_id == CLIP_BOS_TOKEN_ID == 49406
    assert tok.eos_token_id == CLIP_EOS_TOKEN_ID == 49407
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id == CLIP_PAD_TOKEN_ID
    assert tok.model_max_length == 77
    assert load_clip_tokenizer(model_max_length=32).model_max_length == 32


def test_golden_prompts(tok, golden):
    t = golden["tokens"]
    assert t["sot"] == CLIP_BOS_TOKEN_ID and t["eot"] == CLIP_EOS_TOKEN_ID and t["context_length"] == 77
    prompts = golden["prompts"]
    assert prompts == LIQEConfig().prompts()
    assert len(prompts) == len(t["prompts"]) == 495
    ids = tok(prompts)["input_ids"]
    for i, (got, want) in enumerate(zip(ids, t["prompts"])):
        assert got == want, (i, prompts[i])
    assert max(len(x) for x in ids) == t["max_len"] == 24
    for text, want in t["extra"].items():
        assert tok(text)["input_ids"] == want, text


def test_batch_padding_longest(tok, golden):
    t = golden["tokens"]
    enc = tok(golden["prompts"], padding="longest", return_tensors="pt")
    assert enc["input_ids"].shape == (495, 24) and enc["input_ids"].dtype == torch.long
    for i, want in enumerate(t["prompts"]):
        n = len(want)
        assert enc["input_ids"][i, :n].tolist() == want
        assert (enc["input_ids"][i, n:] == CLIP_PAD_TOKEN_ID).all()
        assert enc["attention_mask"][i].tolist() == [1] * n + [0] * (24 - n)
    # The first end-of-text position is where CLIP pools the text feature.
    first_eot = (enc["input_ids"] == CLIP_EOS_TOKEN_ID).int().argmax(-1)
    assert first_eot.tolist() == [len(w) - 1 for w in t["prompts"]]


def test_truncation_to_context_length(tok):
    ids = tok(" ".join(["cat"] * 200), truncation=True, padding="max_length")["input_ids"]
    assert len(ids) == 77 and ids[0] == CLIP_BOS_TOKEN_ID and ids[-1] == CLIP_EOS_TOKEN_ID


@pytest.mark.parametrize("cls", [CLIPTokenizer, CLIPTokenizerFast])
def test_class_from_bundled_folder(cls, golden):
    t = cls.from_pretrained(str(CLIP_BPE_DIR))
    assert len(t) == CLIP_VOCAB_SIZE
    assert t("a photo of a cat")["input_ids"] == CAT_IDS
    assert t(golden["prompts"][:50])["input_ids"] == golden["tokens"]["prompts"][:50]


@pytest.mark.parametrize("source", ["load_clip_tokenizer", "CLIPTokenizer", "CLIPTokenizerFast"])
def test_save_pretrained_autotokenizer_round_trip(source, tok, golden, tmp_path):
    if source == "load_clip_tokenizer":
        src = tok
    else:
        cls = CLIPTokenizer if source == "CLIPTokenizer" else CLIPTokenizerFast
        src = cls.from_pretrained(str(CLIP_BPE_DIR), model_max_length=77)
    src.save_pretrained(tmp_path)
    if source == "load_clip_tokenizer":
        config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
        assert "local_files_only" not in config and "is_local" not in config
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert len(reloaded) == CLIP_VOCAB_SIZE
    assert reloaded.model_max_length == 77
    assert reloaded.pad_token_id == CLIP_PAD_TOKEN_ID
    assert reloaded.bos_token_id == CLIP_BOS_TOKEN_ID and reloaded.eos_token_id == CLIP_EOS_TOKEN_ID
    assert reloaded(golden["prompts"])["input_ids"] == golden["tokens"]["prompts"]
    for text, want in golden["tokens"]["extra"].items():
        assert reloaded(text)["input_ids"] == want
    a = reloaded(golden["prompts"], padding="longest", return_tensors="pt")["input_ids"]
    b = tok(golden["prompts"], padding="longest", return_tensors="pt")["input_ids"]
    assert torch.equal(a, b)


# The wheel the bundled files were built from (their README names it); scripts/setup.sh downloads it here.
OPEN_CLIP_WHEEL = "open_clip_torch-3.3.0-py3-none-any.whl"
WHEEL_DIR = Path(os.environ.get("LIQE_WHEEL_DIR", REPO_ROOT / ".cache" / "wheels"))


def test_build_script_is_reproducible(tmp_path):
    assert f"the wheel `{OPEN_CLIP_WHEEL}`" in (CLIP_BPE_DIR / "README.md").read_text(encoding="utf-8")
    wheel = WHEEL_DIR / OPEN_CLIP_WHEEL
    if not wheel.is_file():
        pytest.skip(f"{wheel} is missing: scripts/setup.sh downloads it with `pip download --no-deps "
                    f"open_clip_torch==3.3.0 -d {WHEEL_DIR}`, which failed or was not run here")
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build_clip_bpe.py"), wheel, "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("vocab.json", "merges.txt", "LICENSE", "README.md"):
        assert (tmp_path / name).read_bytes() == (CLIP_BPE_DIR / name).read_bytes(), name
