"""A model folder from a training run's checkpoint-N EMA weights, for `research/eval_demo.py` at every evaluated step
(research/runs/s18_*/eval_stepN.json; research/LOG.md, session 18): the run's best_model/ gives config, code and
processor, checkpoint-N/ema.safetensors the weights (its "module." prefix removed; the keys must match).

    python research/probes/checkpoint_ema_model.py outputs/RUN N OUT_DIR
    python research/eval_demo.py OUT_DIR --json OUT_DIR.json
"""
import shutil, sys
from pathlib import Path
from safetensors.torch import load_file, save_file
run, n, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(run / "best_model", out)
ema = load_file(str(run / f"checkpoint-{n}" / "ema.safetensors"))
ref = load_file(str(out / "model.safetensors"))
new = {k[len("module."):]: v.contiguous() for k, v in ema.items() if k.startswith("module.")}
assert set(new) == set(ref), (set(new) ^ set(ref))
save_file(new, str(out / "model.safetensors"), metadata={"format": "pt"})
