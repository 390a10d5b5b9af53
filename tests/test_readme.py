"""The README's examples run as written: the quick start's commands after its two installs, and every
```python block (in one folder holding what the quick start makes and a small synthetic corpus).

A python block can opt out with a line `<!-- readme-test: skip (why) -->` just before it.
"""

import re
import shlex

import pytest

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^(<!-- readme-test: skip[^\n]*-->\n)?```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language, text=README):
    """The code of every fenced block of `language` that is not marked to skip."""
    return [code for skip, lang, code in BLOCK.findall(text) if lang == language and not skip]


def set_up_commands():
    section = README[README.index("## Set up"): README.index("\n## ", README.index("## Set up") + 1)]
    return [line for code in blocks("bash", section) for line in code.strip().splitlines()]


def test_set_up_is_exactly_two_commands_with_torch_installed_first():
    quick_start, tests = set_up_commands()
    steps = quick_start.split(" && ")
    assert steps[:4] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install torch==2.13.0",
                         "pip install -e ."]
    assert tests == "bash scripts/test.sh"
    assert "--index-url https://download.pytorch.org/whl/cpu" in " ".join(README.split())  # how to get the CPU build


@pytest.mark.slow
def test_readme_examples_run_as_written(tmp_path, monkeypatch, capsys):
    from datasets_scripts.synthetic import build_synthetic_corpus
    from modeling_liqe.cli import main

    for name in ("tests", "checkpoints"):  # the README's paths are relative to a checkout
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    monkeypatch.chdir(tmp_path)

    # the quick start after its installs: `liqe score tests/fixtures/images` with the default model, the demo
    # checkpoint (run in this process; tests/modeling_liqe/test_cli.py runs `liqe` as a real process)
    monkeypatch.delenv("LIQE_MODEL", raising=False)
    quick_start = set_up_commands()[0].split(" && ")[4:]
    assert [step.split()[:2] for step in quick_start] == [["liqe", "score"]]
    for step in quick_start:
        capsys.readouterr()
        assert main(shlex.split(step)[1:]) == 0, (step, capsys.readouterr().err)
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["path", "score", "scene", "distortion", "error"] and len(table) == 1 + 9

    # the corpus the load_session example reads, small: 7 photos x 2 distortions x 1 level
    build_synthetic_corpus(out_dir=tmp_path / "synthetic-corpus", levels=1, distortions=[1, 10], image_size=64)

    examples = blocks("python")
    assert len(examples) >= 3 and all(code.strip() for code in examples)
    assert sum("torch.no_grad()" in code for code in examples) == 1
    # Run in this process, as one script in a fresh namespace (each block's own imports are needed; a child
    # interpreter only repeated the torch + transformers + datasets start-up, the slowest part of this test).
    capsys.readouterr()
    exec(compile("\n\n".join(examples), "README.md (python blocks)", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert re.search(r"^tensor\(\[[1-5]\.\d+\]\)$", out, re.M), out  # the API example's score
    assert re.search(r"^tests/fixtures/images/chelsea_rgba\.png [1-5]\.\d+ \S+ .+ None$", out, re.M), out  # LIQEScorer
    assert re.search(r"^\{'train': \d+, 'validation': \d+, 'test': \d+\}$", out, re.M), out  # load_session
