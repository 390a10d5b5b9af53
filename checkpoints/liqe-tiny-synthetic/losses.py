# coding=utf-8
# Copyright 2026 The liqe authors.
"""LIQE's three fidelity losses and Dynamic Weight Average (the spec's section 4).

Differences from the authors' code, on purpose (each is tested):
- A corpus group with fewer than two images has no pair. The reference takes the mean over no pairs (NaN)
  and so makes the whole quality loss NaN; here such a group is skipped.
- A group with no image (or no pair) does not count in the divisor: the quality loss is the mean over the
  groups that have at least one pair (the reference divides by the number of groups given, empty or not).
  With no pair at all the loss is 0 (still attached to the graph, so backward works).
- DWA averages each task's loss over the steps an epoch actually ran (the reference divides by a fixed
  number of steps) and never calls `np.sum` on a generator (which crashes under numpy >= 2.4).
- DWA's ratio L_k(t-1) / L_k(t-2) is taken as 1 (no change) for a task whose epoch mean before is 0 or not
  finite, or whose last epoch mean is not finite (a task with no finite step in an epoch: mean NaN). The
  reference divides by zero there (inf weights) or propagates NaN into EVERY task's weight.
"""

import math

import torch

FIDELITY_EPS = 1e-8


def fidelity(p, g):
    """F(p, g) = 1 - sqrt(p g + eps) - sqrt((1 - p)(1 - g) + eps), elementwise."""
    return 1 - torch.sqrt(p * g + FIDELITY_EPS) - torch.sqrt((1 - p) * (1 - g) + FIDELITY_EPS)


def _group_index_lists(num_items, group_sizes=None, group_ids=None):
    if group_sizes is not None and group_ids is not None:
        raise ValueError("give group_sizes or group_ids, not both")
    if group_sizes is not None:
        sizes = [int(size) for size in group_sizes]
        if sum(sizes) != num_items:
            raise ValueError(f"group_sizes sum to {sum(sizes)} but there are {num_items} predictions")
        groups, start = [], 0
        for size in sizes:
            groups.append(list(range(start, start + size)))
            start += size
        return groups
    if group_ids is None:
        return [list(range(num_items))]
    ids = group_ids.tolist() if isinstance(group_ids, torch.Tensor) else list(group_ids)
    if len(ids) != num_items:
        raise ValueError(f"{len(ids)} group ids for {num_items} predictions")
    groups = {}
    for index, group in enumerate(ids):
        groups.setdefault(group, []).append(index)
    return list(groups.values())


def quality_ranking_loss(scores, mos, group_sizes=None, group_ids=None):
    """Pairwise fidelity ranking loss on quality scores, pairs taken within each corpus group only.

    Args:
        scores: (batch,) predicted quality scores.
        mos: (batch,) ground-truth opinion scores, higher is better (only their order within a group is used).
        group_sizes: consecutive group sizes (the reference's `per_num`), or
        group_ids: (batch,) a corpus id per image; default: one group.
    """
    scores = scores.reshape(-1)
    mos = mos.reshape(-1).to(scores.dtype)
    sqrt2 = math.sqrt(2.0)
    group_losses = []
    for indices in _group_index_lists(scores.shape[0], group_sizes, group_ids):
        if len(indices) < 2:
            continue
        index = torch.tensor(indices, device=scores.device)
        first, second = torch.triu_indices(len(indices), len(indices), offset=1, device=scores.device)
        s, m = scores[index], mos[index]
        p = 0.5 * (1 + torch.erf((s[first] - s[second]) / sqrt2))
        g = 0.5 * (torch.sign(m[first] - m[second]) + 1)
        group_losses.append(fidelity(p, g).mean())
    if not group_losses:
        return scores.sum() * 0
    return torch.stack(group_losses).mean()


def multilabel_fidelity_loss(probs, targets):
    """Scene loss: mean over classes of F(p_c, y_c), then mean over images. probs, targets: (batch, classes)."""
    return fidelity(probs, targets.to(probs.dtype)).mean(dim=1).mean()


def single_label_fidelity_loss(probs, labels):
    """Distortion loss: 1 - sum_c sqrt(p_c y_c + eps), mean over images.

    `labels` is (batch,) class ids or (batch, classes) one-hot; the sum over ALL classes (eps included) is
    the reference's, so a perfect prediction gives about -(classes - 1) * 1e-4.
    """
    if labels.dim() == 1:
        labels = torch.nn.functional.one_hot(labels.long(), probs.shape[-1])
    return (1 - torch.sqrt(probs * labels.to(probs.dtype) + FIDELITY_EPS).sum(dim=1)).mean()


def quality_level_cross_entropy(quality_probs, mos, eps=1e-6):
    """Not in the paper: -log P(quality level = round(MOS)), mean over images; MOS on LIQE's 1-5 scale.

    A training aid for from-scratch models (train_accelerate.py --quality_ce_weight): the ranking loss fixes only
    the order of scores, this also anchors the marginal to the level. quality_probs: (batch, levels).
    """
    levels = quality_probs.shape[-1]
    target = (mos.to(quality_probs.device).round().clamp(1, levels) - 1).long()
    return -torch.log(quality_probs.gather(1, target[:, None]).squeeze(1) + eps).mean()


def _loss_ratio(previous, before):
    """L(t-1) / L(t-2), or 1 when it is undefined (a zero or non-finite mean before, a non-finite mean after)."""
    if not (math.isfinite(previous) and math.isfinite(before)) or before == 0:
        return 1.0
    ratio = previous / before
    return ratio if math.isfinite(ratio) else 1.0


class DynamicWeightAverage:
    """Dynamic Weight Average (Liu et al., 2019) as LIQE uses it: K tasks, temperature T.

    Call `weights()` for the current epoch's lambdas (constant within an epoch), `record(losses)` after
    each step, and `end_epoch()` when an epoch finishes. Epochs 0 and 1 weigh every task 1. A task whose loss
    ratio is undefined (mean 0 or non-finite before, or no finite step in the last epoch) counts with ratio 1,
    so the weights stay finite and sum to the number of tasks. The state is a
    plain dict (`state_dict` / `load_state_dict`) so a resumed run continues with the same weights.
    """

    def __init__(self, num_tasks=3, temperature=2.0):
        self.num_tasks = num_tasks
        self.temperature = temperature
        self.epoch_means = []  # one list of K floats per finished epoch
        self._sums = [0.0] * num_tasks
        self._counts = [0] * num_tasks

    def weights(self):
        if len(self.epoch_means) < 2:
            return [1.0] * self.num_tasks
        previous, before = self.epoch_means[-1], self.epoch_means[-2]
        ratios = [_loss_ratio(previous[k], before[k]) for k in range(self.num_tasks)]
        top = max(ratios)  # softmax shifted by its maximum: a huge finite ratio must not overflow math.exp
        exps = [math.exp((ratio - top) / self.temperature) for ratio in ratios]
        total = sum(exps)
        return [self.num_tasks * value / total for value in exps]

    def record(self, losses):
        """Add one step's unweighted task losses (floats or 0-d tensors); NaN losses are not averaged in."""
        losses = list(losses)
        if len(losses) != self.num_tasks:
            raise ValueError(f"DynamicWeightAverage has {self.num_tasks} tasks, got {len(losses)} losses")
        for k, loss in enumerate(losses):
            value = float(loss)
            if math.isfinite(value):
                self._sums[k] += value
                self._counts[k] += 1

    def end_epoch(self):
        means = [s / c if c else float("nan") for s, c in zip(self._sums, self._counts)]
        self.epoch_means.append(means)
        self._sums = [0.0] * self.num_tasks
        self._counts = [0] * self.num_tasks
        return means

    def combine(self, losses):
        """sum_k lambda_k * L_k with this epoch's lambdas."""
        return sum(weight * loss for weight, loss in zip(self.weights(), losses))

    def state_dict(self):
        return {
            "num_tasks": self.num_tasks,
            "temperature": self.temperature,
            "epoch_means": [list(m) for m in self.epoch_means],
            "sums": list(self._sums),
            "counts": list(self._counts),
        }

    def load_state_dict(self, state):
        self.num_tasks = state["num_tasks"]
        self.temperature = state["temperature"]
        self.epoch_means = [list(m) for m in state["epoch_means"]]
        self._sums = list(state["sums"])
        self._counts = list(state["counts"])


__all__ = [
    "fidelity",
    "quality_ranking_loss",
    "multilabel_fidelity_loss",
    "single_label_fidelity_loss",
    "quality_level_cross_entropy",
    "DynamicWeightAverage",
]
