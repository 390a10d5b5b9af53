"""`liqe realign` end to end on two toy corpora with different MOS scales: reports, parameters, column, PNGs."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from modeling_liqe import metrics, realign
from modeling_liqe.cli import main

from .analysis_corpora import shared_setup


def test_realign_command(tmp_path, capsys):
    root, models, corpora = shared_setup()
    out = tmp_path / "realign"
    argv = ["realign", "--model", str(models[0]), "--dataset", str(corpora[0]), "--dataset", str(corpora[1]),
            "--output-dir", str(out), "--cache", str(tmp_path / "cache.sqlite"),
            "--write-datasets", str(tmp_path / "realigned")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "| **realigned MOS (after)** |" in captured.out and "per-corpus z-score" in captured.out
    report = json.loads((out / "realign.json").read_text())
    assert set(report["pooled"]) == {"raw_mos", "min_max", "z_score", "realigned"}
    assert report["pooled"]["realigned"]["num_images"] == 8 + 8  # the seeded test split: one photo of each corpus

    # The reported pooled SRCC is that of the CSV's realigned MOS (test split) against the scores.
    with open(out / "realigned_mos.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "test"]
    expected = metrics.srcc([float(r["score"]) for r in rows], [float(r["mos_realigned"]) for r in rows])
    assert report["pooled"]["realigned"]["srcc"] == pytest.approx(expected)
    params = json.loads((out / "realign_params.json").read_text())
    assert set(params["corpora"]) == {"toy_a", "toy_b"} and "MOS" in params["function"]
    for corpus in ("toy_a", "toy_b"):
        fitted = report["corpora"][corpus]
        assert fitted["params"][0] > fitted["params"][1]  # strictly increasing, even for a corpus ranked backwards
        assert fitted["increasing_fit"] == (fitted["params"][0] - fitted["params"][1] > 1e-4)  # else nearly flat
        assert fitted["srcc_within_realigned"] == pytest.approx(fitted["srcc_within"], abs=1e-12)

    for name in ("realign_scatter.png", "realign_strip.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 100

    from datasets_scripts.splits import load_session

    copy = load_session(tmp_path / "realigned" / "toy_b", "seeded")["train"]
    np.testing.assert_allclose(copy["mos_realigned"], realign.apply(params["corpora"]["toy_b"], copy["mos"]),
                               rtol=1e-5)

    # Reuse the saved parameters: the same pooled figures, no fitting, no model pass.
    again = tmp_path / "again"
    assert main(argv[:7] + ["--output-dir", str(again), "--cache", str(tmp_path / "cache.sqlite"),
                            "--params", str(out / "realign_params.json"), "--no-plots"]) == 0
    assert "0 image(s) through the model" in capsys.readouterr().err
    assert json.loads((again / "realign.json").read_text())["pooled"]["realigned"] == report["pooled"]["realigned"]
    assert not (again / "realign_scatter.png").exists()


def test_realign_refuses_bad_inputs(tmp_path, capsys):
    root, models, corpora = shared_setup()
    base = ["realign", "--model", str(models[0]), "--output-dir", str(tmp_path / "o"),
            "--cache", str(tmp_path / "c.sqlite")]
    assert main(base + ["--dataset", str(corpora[0]), "--dataset", str(corpora[0])]) == 1
    assert "same corpus name" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("not json")
    assert main(base + ["--dataset", str(corpora[0]), "--params", str(tmp_path / "bad.json")]) == 1
    assert "bad.json: not a realignment parameter file" in capsys.readouterr().err
