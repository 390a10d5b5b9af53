"""`liqe score` across processes (a real `accelerate launch` of two CPU ranks over gloo), over datasets, to parquet."""

import csv
import io
import json
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_liqe import distributed_scoring
from modeling_liqe.cli import main
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from modeling_liqe.geometries import init_random_model

    folder = tmp_path_factory.mktemp("dist-model") / "tiny"
    init_random_model("tiny", output_dir=str(folder))
    return str(folder)


def write_images(folder, count, seed=0):
    """`count` small images of a few sizes (1 to 6 windows, so batches are padded), in nested folders."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        height, width = [(224, 224), (256, 256), (240, 300), (288, 256)][index % 4]
        base = rng.integers(0, 256, size=(1, 1, 3))
        noise = rng.normal(0, 10 + 5 * (index % 7), size=(height, width, 3))
        pixels = np.clip(base + noise + np.linspace(0, 60, width)[None, :, None], 0, 255).astype(np.uint8)
        path = folder / f"part{index // 50}" / f"img_{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(tmp_path):
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""), OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", HF_HOME=str(tmp_path / "hf-home"))
    env.pop("WORLD_SIZE", None)
    return env


@pytest.mark.slow
def test_two_cpu_processes_give_exactly_the_rows_of_one(model_dir, tmp_path, capsys):
    """200 images (one of them broken) scored by two ranks of `accelerate launch` and by the one-process
    `liqe score`: the same CSV, byte for byte (every row once, in input order, the same floats)."""
    folder = tmp_path / "images"
    write_images(folder, 199)
    (folder / "part3" / "img_150_broken.png").write_bytes(b"not a png")  # sorts among part3's files
    common = [folder, "--model", model_dir, "--device", "cpu", "--batch-size", "4", "--format", "csv"]
    env = child_env(tmp_path)

    # Both runs at once: the launch in the background, the one-process run (the plain streaming `liqe score`) in
    # this process meanwhile, on one torch thread as the ranks (a third interpreter only repeated the imports)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), "-m", "modeling_liqe.cli", "score", *map(str, common),
              "--output", str(tmp_path / "two.csv")]
    with tempfile.TemporaryFile("w+") as launch_out, tempfile.TemporaryFile("w+") as launch_err:
        process = subprocess.Popen(launch, env=dict(env, ACCELERATE_USE_CPU="1"), stdout=launch_out,
                                   stderr=launch_err, text=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            status, _, single_stderr = run_cli(capsys, "score", *common, "--output", tmp_path / "one.csv")
        finally:
            torch.set_num_threads(threads)
        process.wait(timeout=300)
        launch_err.seek(0)
        double = subprocess.CompletedProcess(launch, process.returncode, None, launch_err.read())

    assert status == 1, single_stderr  # the broken file
    assert "img_150_broken.png" in single_stderr
    assert "on 2 process(es)" in double.stderr, double.stderr[-3000:]
    assert double.stderr.count("img_150_broken.png") == 1  # reported once, by the main process
    one = (tmp_path / "one.csv").read_text()
    two = (tmp_path / "two.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(two)))
    assert len(rows) == 200 and len({r["path"] for r in rows}) == 200
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows)  # input order (sorted folder walk)
    assert sum(r["error"] != "" for r in rows) == 1
    assert two == one


def run_cli(capsys, *argv):
    capsys.readouterr()
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_dataset_split_scores_like_the_files(model_dir, tmp_path, capsys):
    import datasets

    paths = write_images(tmp_path / "files", 6, seed=1)
    features = datasets.Features({"image": datasets.Image(), "image_id": datasets.Value("string")})
    split = datasets.Dataset.from_dict({"image": [str(p) for p in paths], "image_id": [p.name for p in paths]},
                                       features=features)
    broken = datasets.Dataset.from_dict({"image": [{"bytes": b"garbage", "path": None}], "image_id": ["broken"]},
                                        features=features)
    test = datasets.concatenate_datasets([split.select(range(3)), broken, split.select(range(3, 6))])
    datasets.DatasetDict({"train": split.select([0]), "test": test}).save_to_disk(str(tmp_path / "disk"))

    status, out, err = run_cli(capsys, "score", "--dataset", tmp_path / "disk", "--split", "test", "--model", model_dir,
                               "--format", "jsonl", "--batch-size", "2")
    assert status == 1 and "broken: cannot decode image" in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in rows] == [p.name for p in paths[:3]] + ["broken"] + [p.name for p in paths[3:]]
    status, out, _ = run_cli(capsys, "score", *paths, "--model", model_dir, "--format", "jsonl")
    files = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    for row, file_row in zip([r for r in rows if r["path"] != "broken"], files):
        assert row["score"] == pytest.approx(file_row["score"], abs=1e-6)
        assert row["quality_probs"] == pytest.approx(file_row["quality_probs"], abs=1e-6)
    assert rows[3]["score"] is None

    status, _, err = run_cli(capsys, "score", "--dataset", tmp_path / "disk", "--split", "validation",
                             "--model", model_dir)
    assert status == 2 and "has no split 'validation'; it has ['test', 'train']" in err


def test_converted_corpus_folder_and_parquet_output(model_dir, tmp_path, capsys):
    import pyarrow.parquet as pq

    from datasets_scripts.card import REDISTRIBUTION_ALLOWED, CorpusCard
    from datasets_scripts.export import write_corpus

    paths = write_images(tmp_path / "files", 5, seed=2)
    rows = [{"image": str(p), "image_id": p.name, "mos": 1.0 + k, "corpus": "toy", "reference_id": "r"}
            for k, p in enumerate(paths)]
    card = CorpusCard(corpus="toy", pretty_name="Toy", homepage="https://example.org", description="Toy.",
                      score_description="MOS.", citation="@misc{toy}", terms="MIT.",
                      redistribution=REDISTRIBUTION_ALLOWED, license="mit")
    split = {p.name: ("test" if k < 3 else "train") for k, p in enumerate(paths)}
    write_corpus(tmp_path / "corpus", rows, {"seeded": split}, card, default_split="seeded")

    status, _, err = run_cli(capsys, "score", "--dataset", tmp_path / "corpus", "--split", "test", "--model", model_dir,
                             "--format", "parquet", "--output", tmp_path / "test.parquet")
    assert status == 0, err
    table = pq.read_table(tmp_path / "test.parquet").to_pydict()
    assert table["path"] == [p.name for p in paths[:3]]
    status, out, _ = run_cli(capsys, "score", *paths[:3], "--model", model_dir, "--format", "csv")
    expected = list(csv.DictReader(io.StringIO(out)))
    assert list(table) == list(expected[0])  # the csv format's columns
    for k, row in enumerate(expected):
        assert table["score"][k] == pytest.approx(float(row["score"]), abs=1e-6)
        assert table["quality_probs.good"][k] == pytest.approx(float(row["quality_probs.good"]), abs=1e-6)
        assert table["error"][k] is None

    # parquet for files too (a one-process run; the format read from --output's name), identical to the csv numbers
    status, _, _ = run_cli(capsys, "score", *paths[:3], "--model", model_dir, "--output", tmp_path / "files.parquet")
    files = pq.read_table(tmp_path / "files.parquet").to_pydict()
    assert status == 0 and [float(r["score"]) for r in expected] == files["score"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["score", "--format", "parquet", "x.png"], "--format parquet writes a file: give --output FILE"),
        (["score", "--dataset", "d", "x.png"], "give PATHs or --dataset, not both"),
        (["score"], "give image files / folders (PATH...) or --dataset DIR_OR_ID"),
        (["score", "--dataset", "./no/such/folder"], "--dataset folder ./no/such/folder does not exist"),
    ],
)
def test_usage_errors(model_dir, capsys, argv, message):
    status, _, err = run_cli(capsys, *argv, "--model", model_dir)
    assert status == 2 and message in err


def test_missing_image_column_is_a_usage_error(model_dir, tmp_path, capsys):
    import datasets

    datasets.Dataset.from_dict({"picture": ["a"]}).save_to_disk(str(tmp_path / "disk"))
    status, _, err = run_cli(capsys, "score", "--dataset", tmp_path / "disk", "--model", model_dir)
    assert status == 2 and "the dataset has no image column 'image'; columns: ['picture']" in err


def test_gathered_rows_must_be_the_inputs_once_in_order():
    rows = [{"path": name} for name in ("a", "b", "c")]
    distributed_scoring.check_gathered(rows, ["a", "b", "c"])
    for bad in (rows[:2], rows + rows[:1], [rows[1], rows[0], rows[2]]):
        with pytest.raises(RuntimeError, match="not writing a partial result"):
            distributed_scoring.check_gathered(bad, ["a", "b", "c"])


def test_one_process_folder_scoring_stays_on_the_plain_path(monkeypatch):
    """Without a launcher, a dataset or parquet, `liqe score` keeps its streaming one-process path."""
    from modeling_liqe.cli import build_parser

    args = build_parser().parse_args(["score", "a.png"])
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed_scoring.handles(args) is False
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed_scoring.handles(args) is True


def test_model_resolution_of_cli_is_used_when_it_has_one(model_dir, tmp_path, capsys, monkeypatch):
    """cli.py's own --model resolution ($LIQE_MODEL, the demo checkpoint), where it has one, applies here too."""
    from modeling_liqe import cli

    seen = []
    monkeypatch.setattr(cli, "resolve_model", lambda model: seen.append(model) or model_dir, raising=False)
    paths = write_images(tmp_path / "files", 2, seed=3)
    status, _, err = run_cli(capsys, "score", *paths, "--model", "org/not-downloadable", "--output",
                             tmp_path / "out.parquet")
    assert status == 0, err
    assert seen == ["org/not-downloadable"]
