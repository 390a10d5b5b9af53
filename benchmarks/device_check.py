"""Accelerator check: golden parity and `liqe score` on a GPU (float32 and float16), one short script.

    PYTHONPATH=. python benchmarks/device_check.py [--device cuda]

Converts the golden tiny checkpoint (rebuilt from its recipe), scores the nine golden images on the device
through LIQEScorer in float32 (must match the reference like on CPU: score within 1e-4)
and float16 (reported only), then times ViT-B/32 per image with bench_inference's baselines.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from modeling_liqe.convert_liqe_checkpoint import convert_checkpoint  # noqa: E402
from modeling_liqe.scoring import LIQEScorer  # noqa: E402
from tests.openai_clip_recipe import TINY_CHECKSUM, build_openai_clip_state_dict, state_dict_checksum  # noqa: E402

FIXTURES = REPO_ROOT / "tests" / "fixtures"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args(argv)
    golden = json.loads((FIXTURES / "golden_expected.json").read_text())
    print(f"torch {torch.__version__}, device {args.device}: {torch.cuda.get_device_name() if args.device.startswith('cuda') else ''}")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        state = build_openai_clip_state_dict()
        assert state_dict_checksum(state) == TINY_CHECKSUM
        torch.save(state, Path(tmp) / "tiny.pt")
        convert_checkpoint(Path(tmp) / "tiny.pt", Path(tmp) / "model")
        names = sorted(golden["images"])
        paths = [str(FIXTURES / golden["images"][name]["file"]) for name in names]
        for dtype, score_tol in ((torch.float32, 1e-4), (torch.float16, None)):
            scorer = LIQEScorer(Path(tmp) / "model", device=args.device, dtype=dtype, batch_size=4)
            rows = list(scorer.score_paths(paths))
            worst_score = worst_joint = 0.0
            for name, row in zip(names, rows):
                expected = golden["images"][name]
                worst_score = max(worst_score, abs(row["score"] - expected["score"]))
                probs = np.array(list(row["quality_probs"].values()))
                worst_joint = max(worst_joint, float(np.abs(probs - expected["quality_probs"]).max()))
                verdicts_ok = row["scene"] == expected["scene"] and row["distortion"] == expected["distortion"]
                failures += int(not verdicts_ok and dtype == torch.float32)
            # float16 is reported, not judged: this tiny random model's peaked distributions amplify its rounding.
            ok = score_tol is None or worst_score <= score_tol
            failures += int(not ok)
            verdict = "reported" if score_tol is None else ("ok" if ok else "FAILED")
            print(f"{str(dtype):14s} max |score - golden| = {worst_score:.2e} (tol {score_tol}), "
                  f"max |quality marginal - golden| = {worst_joint:.2e}  {verdict}")
    from benchmarks.bench_inference import main as bench

    if not args.skip_bench:
        bench(["--device", args.device, "--images", "32", "--batch-size", "8", "--naive-images", "4", "--repeats", "5", "--skip-memory"])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
