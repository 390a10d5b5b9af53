"""Shared by the training tests: a small synthetic corpus and a tiny, fast training configuration."""

import os
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

# 7 photos x 3 distortions (blur, JPEG, white noise) x 2 levels = 42 images of 224 px (one window each at
# test time): train 4 photos / 24 images, validation 1 / 6, test 2 / 12.
TINY_CORPUS = {"levels": 2, "distortions": [1, 10, 11], "image_size": 224, "seed": 0}


def build_tiny_corpus(out_dir):
    from datasets_scripts.synthetic import build_synthetic_corpus

    out_dir = Path(out_dir)
    if not (out_dir / "data").is_dir():
        build_synthetic_corpus(out_dir=out_dir, **TINY_CORPUS)
    return out_dir


def tiny_args(corpus, output_dir, **overrides):
    """Command-line arguments of a tiny run (2 epochs x 3 steps, tiny geometry) on `corpus`."""
    values = {
        "config": "none", "dataset_names": str(corpus), "sessions": "seeded", "train_batch_sizes": "4",
        "geometry": "tiny", "output_dir": str(output_dir), "num_train_epochs": "2", "steps_per_epoch": "3",
        "learning_rate": "1e-3", "lr_scheduler_type": "cosine_epochs", "lr_period_epochs": "1", "seed": "7",
        "dataloader_num_workers": "0", "eval_batch_size": "4", "synthetic_dir": "", "logging_steps": "1",
    }
    values.update({key: str(value) for key, value in overrides.items()})
    argv = []
    for key, value in values.items():
        argv.append(f"--{key}")
        argv.extend(value.split(" ") if key in ("dataset_names", "sessions", "train_batch_sizes", "corpus_names",
                                                "eval_splits") else [value])
    return argv


def subprocess_env(threads=1, num_processes=1):
    """Environment of a training subprocess: imports this checkout, offline, `threads` torch threads; CPU
    processes over gloo when `num_processes` > 1 (else `--multi_gpu` runs undistributed copies)."""
    env = dict(os.environ)
    if num_processes > 1:
        env["ACCELERATE_USE_CPU"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": str(threads),
                "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"})
    return env


def accelerate_command(num_processes=1):
    """`accelerate launch` for one CPU process, or real CPU processes over gloo (ENGINEERING.md; with several
    processes the environment needs ACCELERATE_USE_CPU=1, see `subprocess_env`)."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]
    if num_processes == 1:
        return launcher + ["--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                           "--dynamo_backend", "no"]
    return launcher + ["--multi_gpu", "--num_processes", str(num_processes), "--num_machines", "1",
                       "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port())]


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
