# coding=utf-8
# Copyright 2026 The liqe authors.
"""What a LIQE training run must carry across a checkpoint besides model, optimizer, scheduler and RNG states.

`TrainingState` is registered with `accelerator.register_for_checkpointing`, so `save_state` / `load_state`
write and read it with the rest. It holds the optimizer steps done (which fixes every later batch, see
`train_data.MultiCorpusBatchSampler`), the Dynamic Weight Average of the task losses (its finished epochs and
the running sums of the current one), the pairs each corpus gave in the current epoch, the best mean validation
SRCC so far, and a fingerprint of the data plan (corpora, sizes, batch sizes, seed) that a resumed run must
match. Not part of the Hub remote code.
"""

import math

from .losses import DynamicWeightAverage


class ResumeError(RuntimeError):
    """A checkpoint does not belong to this run's configuration."""


class TrainingState:
    """Counters and DWA of a run; `state_dict()` is plain JSON-able Python (Accelerate pickles it)."""

    def __init__(self, corpus_names=(), data_plan=None, num_tasks=3, temperature=2.0):
        self.completed_steps = 0
        self.dwa = DynamicWeightAverage(num_tasks=num_tasks, temperature=temperature)
        self.corpus_names = list(corpus_names)
        self.epoch_pairs = {name: 0 for name in self.corpus_names}
        self.best_metric = -math.inf
        self.best_step = None
        self.data_plan = data_plan

    def record_pairs(self, corpus_counts):
        """Add one step's pairs per corpus: {name: images of that corpus in the step}, or (name, count) items
        (a name may come several times: the ladders of a ladder batch are groups of one corpus)."""
        items = corpus_counts.items() if isinstance(corpus_counts, dict) else corpus_counts
        for name, count in items:
            self.epoch_pairs[name] = self.epoch_pairs.get(name, 0) + count * (count - 1) // 2

    def corpora_without_pairs(self):
        return [name for name in self.corpus_names if self.epoch_pairs.get(name, 0) == 0]

    def end_epoch(self):
        """Close the epoch for DWA and the pair counts; returns the epoch's mean task losses."""
        self.epoch_pairs = {name: 0 for name in self.corpus_names}
        return self.dwa.end_epoch()

    def state_dict(self):
        return {
            "completed_steps": self.completed_steps,
            "dwa": self.dwa.state_dict(),
            "corpus_names": list(self.corpus_names),
            "epoch_pairs": dict(self.epoch_pairs),
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "data_plan": self.data_plan,
        }

    def load_state_dict(self, state):
        if self.data_plan is not None and state.get("data_plan") != self.data_plan:
            raise ResumeError(
                "the checkpoint was written by a run with another data plan (corpora, sizes, batch sizes or seed): "
                f"checkpoint {state.get('data_plan')}, this run {self.data_plan}"
            )
        self.completed_steps = int(state["completed_steps"])
        self.dwa.load_state_dict(state["dwa"])
        self.corpus_names = list(state["corpus_names"])
        self.epoch_pairs = dict(state["epoch_pairs"])
        self.best_metric = float(state["best_metric"])
        self.best_step = state["best_step"]


__all__ = ["TrainingState", "ResumeError"]
