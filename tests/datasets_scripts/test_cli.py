"""The shared command line and ``python -m datasets_scripts <corpus>``."""

import subprocess
import sys

import pytest

from datasets_scripts import __main__ as entry
from datasets_scripts import kadid10k
from datasets_scripts.cli import build_parser
from tests.conftest import REPO_ROOT

from .fabricate import fabricate_kadid


def test_parser_options():
    args = build_parser(kadid10k.SPEC).parse_args(["--root", "r", "--out", "o", "--liqe-labels", "L", "--push-to-hub", "org/x", "--seed", "3"])
    assert (args.root, args.out, args.liqe_labels, args.push_to_hub, args.seed, args.public) == ("r", "o", "L", "org/x", 3, False)
    with pytest.raises(SystemExit):
        build_parser(kadid10k.SPEC).parse_args(["--out", "o"])


def test_package_entry_point(tmp_path, capsys):
    release = fabricate_kadid(tmp_path / "kadid10k", [("I01_01_01.png", 4.0, 0.1), ("I02_01_01.png", 3.0, 0.1), ("I03_01_01.png", 2.0, 0.1)])
    assert entry.main(["kadid10k", "--root", str(release), "--out", str(tmp_path / "out")]) == 0
    assert "kadid10k: 3 rows written" in capsys.readouterr().out
    assert entry.main(["nope"]) == 2


def test_runs_as_a_module(tmp_path):
    release = fabricate_kadid(tmp_path / "kadid10k", [("I01_01_01.png", 4.0, 0.1)], extra_lines=["bad"])
    done = subprocess.run([sys.executable, "-m", "datasets_scripts.kadid10k", "--root", str(release), "--out", str(tmp_path / "o")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "dmos.csv:3: expected 4 columns, got 1" in done.stderr


def test_without_the_datasets_extra_a_program_says_so_in_one_line(tmp_path):
    # A `datasets` package that fails to import as a missing one does stands in for an environment without the
    # extra (this venv has it).
    (tmp_path / "without-extra" / "datasets").mkdir(parents=True)
    (tmp_path / "without-extra" / "datasets" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'datasets'\", name='datasets')\n")
    env = {"PYTHONPATH": f"{tmp_path / 'without-extra'}:{REPO_ROOT}", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    for command in (["datasets_scripts.synthetic", "--out", str(tmp_path / "out")],
                    ["datasets_scripts", "live", "--root", str(tmp_path), "--out", str(tmp_path / "out")]):
        result = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, env=env,
                                cwd=tmp_path, timeout=120)
        assert result.returncode == 1, result.stderr
        assert result.stderr.splitlines() == [
            "datasets_scripts: error: the corpus tools need the `datasets` extra (datasets is not installed): "
            "pip install -e '.[datasets]'"
        ], command


def test_importing_the_package_leaves_the_excepthook_alone():
    import importlib

    import datasets_scripts

    hook = sys.excepthook
    importlib.reload(datasets_scripts)
    assert sys.excepthook is hook
