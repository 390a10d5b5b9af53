"""An exponential moving average (EMA) of a model's weights, for training (`train_accelerate.py --ema_decay`).

A from-scratch readout's validation figures swing by +-0.1 between evaluations 500 steps apart (research/LOG.md,
session 14); the average of the late steps' weights is a smoother model than any single step's. Built on
`torch.optim.swa_utils.AveragedModel` (the averaged copy, its counter, buffers copied from the live model at every
update); what is added here is the decay schedule and a safetensors round trip for checkpoints.
"""

from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel

EMA_WEIGHTS_NAME = "ema.safetensors"


def ema_decay_at(decay, num_averaged):
    """The decay of the update after `num_averaged` updates: d (1 - d^n) / (1 - d^(n+1)).

    The bias-corrected average (the normalised sum of d^(t-i) w_i, as Adam corrects its moments): the decay given
    holds from the first step, without the start's weights dominating a short run. 0 for n = 0 (the first update
    copies), d / (1 + d) for n = 1 (two steps weighed d : 1), tending to d.
    """
    decay = float(decay)
    return decay * (1.0 - decay**num_averaged) / (1.0 - decay ** (num_averaged + 1))


class ExponentialMovingAverage(AveragedModel):
    """`self.module` holds w_avg; `update_parameters(model)` after each optimizer step: the first update copies the
    weights, update n >= 1 does w_avg <- d_n w_avg + (1 - d_n) w with d_n = `ema_decay_at(decay, n)`, so that
    w_avg = sum_i d^(t-i) w_i / sum_i d^(t-i) over the steps so far. Frozen weights
    stay bit-for-bit (a lerp towards an equal value is exact); buffers are copied, not averaged."""

    def __init__(self, model, decay, device=None):
        decay = float(decay)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must be in (0, 1), got {decay}")

        def lerp_towards_the_model(averaged, current, num_averaged):
            torch._foreach_lerp_(averaged, current, 1.0 - ema_decay_at(decay, int(num_averaged)))

        super().__init__(model, device=device, multi_avg_fn=lerp_towards_the_model, use_buffers=False)
        self.decay = decay
        self.module.requires_grad_(False)
        self.module.eval()

    @property
    def num_updates(self):
        return int(self.n_averaged)

    def save(self, folder):
        """Write `folder/ema.safetensors` (the averaged weights and the update count)."""
        from safetensors.torch import save_model

        save_model(self, str(Path(folder) / EMA_WEIGHTS_NAME), metadata={"decay": repr(self.decay)})

    def load(self, folder):
        """Read `folder/ema.safetensors`; a clear error when it is missing or was written with another decay."""
        from safetensors import safe_open
        from safetensors.torch import load_model

        path = Path(folder) / EMA_WEIGHTS_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no EMA weights in this checkpoint (was it written by a run without --ema_decay?)")
        with safe_open(str(path), framework="pt") as f:
            saved_decay = (f.metadata() or {}).get("decay")
        if saved_decay is not None and float(saved_decay) != self.decay:
            raise ValueError(f"{path}: EMA weights of decay {saved_decay}, this run averages with decay {self.decay}")
        load_model(self, str(path), strict=True)


__all__ = ["EMA_WEIGHTS_NAME", "ExponentialMovingAverage", "ema_decay_at"]
