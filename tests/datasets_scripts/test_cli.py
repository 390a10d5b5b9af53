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
