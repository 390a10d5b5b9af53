"""The whole `liqe score` process on a 6000x4000 photo with ViT-B/32 stays under 1.5 GB (issue 2).

Not a timed test: it measures the peak resident memory of a real child process (its own getrusage at exit).
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from modeling_liqe.geometries import init_random_model
from tests.conftest import REPO_ROOT

PEAK_LIMIT_BYTES = 1.5e9
CHILD = """
import resource, sys
from modeling_liqe.cli import main
status = main(sys.argv[1:])
print("PEAK_RSS_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(status)
"""


@pytest.mark.slow
def test_liqe_score_on_a_6000x4000_photo_with_vit_b_32_stays_under_1_5_gb(tmp_path):
    init_random_model("vit-b-32", output_dir=tmp_path / "model")
    photo = tmp_path / "photo 6000x4000.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    Image.fromarray(noise).resize((6000, 4000), Image.BICUBIC).save(photo, quality=90)

    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "score", "--model", str(tmp_path / "model"), "--format", "json", str(photo)],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert '"error": null' in result.stdout
    peak = int(re.search(r"PEAK_RSS_KIB (\d+)", result.stderr).group(1)) * 1024
    print(f"peak RSS of liqe score on 6000x4000 with ViT-B/32: {peak / 1e9:.2f} GB")
    assert peak <= PEAK_LIMIT_BYTES, f"{peak / 1e9:.2f} GB"
