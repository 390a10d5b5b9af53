"""Peak resident memory of whole `liqe score` processes (tests/peak_rss.py: the kernel's high-water mark of
the child, not tracemalloc): a 6000x4000 photo with ViT-B/32, a 40000x2 sliver scored with the pixel limit
lifted (today's upscale would be a gigapixel, 10 GB), and a 700x20000 image that escapes the resize.
"""

import os
import sys

import numpy as np
import pytest
from PIL import Image

from modeling_liqe.geometries import init_random_model
from tests.conftest import REPO_ROOT
from tests.peak_rss import run_with_peak_rss

PEAK_LIMIT_BYTES = 1.5e9
# What one extreme image may add to the peak of the same process scoring a 300x200 photo.
EXTRA_LIMIT_BYTES = 150e6


def liqe_score(tmp_path, model, *arguments):
    """(exit status, stdout, stderr, peak RSS) of `liqe score --model MODEL --format jsonl ARGUMENTS...`."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "modeling_liqe.cli", "score", "--model", str(model), "--format", "jsonl",
               "--device", "cpu", *map(str, arguments)]
    return run_with_peak_rss(command, env=env, cwd=tmp_path, timeout=120)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{name: (exit status, stdout, stderr, peak RSS)} of the three `liqe score` processes of this file, run at
    the same time (each one's peak is its own high-water mark; one after the other they cost the sum of three
    interpreter start-ups): "baseline" (tiny model, a 300x200 photo), "extremes" (tiny model, the 40000x2 sliver
    with the pixel limit lifted and the 700x20000 image, in one run) and "vit-b-32" (a 6000x4000 photo)."""
    from concurrent.futures import ThreadPoolExecutor

    tmp_path = tmp_path_factory.mktemp("peak")
    init_random_model("tiny", output_dir=tmp_path / "tiny")
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo 300x200.png"
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(photo)
    sliver = tmp_path / "sliver 40000x2.png"
    Image.fromarray(rng.integers(0, 256, (2, 40000, 3), dtype=np.uint8)).save(sliver)
    # short side 700: between 224 and 768, so it is scored at its own size, 14 M pixels
    long_image = tmp_path / "long 700x20000.png"
    Image.fromarray(np.tile(rng.integers(0, 256, (1000, 700, 3), dtype=np.uint8), (20, 1, 1))).save(long_image)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            "baseline": pool.submit(liqe_score, tmp_path, tmp_path / "tiny", photo),
            "extremes": pool.submit(liqe_score, tmp_path, tmp_path / "tiny", "--max-image-pixels", "0", sliver,
                                    long_image),
        }
        # while those two run: the ViT-B/32 folder and the big photo
        # The quality variant (5 prompts): the same ViT-B/32 weights, text tower included, as the full one; writing
        # the full variant's folder encodes its 495 prompts through that text tower for the shipped features (about
        # two thirds of this test's time), while the scoring process, which uses the shipped features, holds 495
        # instead of 5 feature rows (1 MB) of a peak near 1 GB.
        init_random_model("vit-b-32", variant="quality", output_dir=tmp_path / "vit-b-32")
        big = tmp_path / "photo 6000x4000.jpg"
        noise = np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)
        Image.fromarray(noise).resize((6000, 4000), Image.BICUBIC).save(big, quality=90)
        futures["vit-b-32"] = pool.submit(liqe_score, tmp_path, tmp_path / "vit-b-32", big)
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.slow
def test_liqe_score_on_a_6000x4000_photo_with_vit_b_32_stays_under_1_5_gb(runs):
    status, out, err, peak = runs["vit-b-32"]
    assert status == 0, err
    assert '"error": null' in out
    print(f"peak RSS of liqe score on 6000x4000 with ViT-B/32: {peak / 1e9:.2f} GB")
    assert peak <= PEAK_LIMIT_BYTES, f"{peak / 1e9:.2f} GB"


@pytest.mark.slow
def test_a_sliver_and_an_image_that_escapes_the_resize_cost_little_memory(runs):
    # two processes: a 300x200 photo (the baseline), then the two extreme images in one run
    status, out, err, baseline = runs["baseline"]
    assert status == 0 and '"error": null' in out, err
    status, out, err, peak = runs["extremes"]
    assert status == 0, err
    assert out.count('"error": null') == 2, out
    print(f"peak RSS of liqe score (tiny model): 300x200 photo {baseline / 1e6:.0f} MB, "
          f"40000x2 sliver + 700x20000 {peak / 1e6:.0f} MB")
    assert peak <= PEAK_LIMIT_BYTES, f"{peak / 1e9:.2f} GB"
    # the 40000x2 sliver upscaled whole would be 4480000x224x3 bytes = 3 GB; together they add next to nothing
    assert peak - baseline <= EXTRA_LIMIT_BYTES, (baseline, peak)
