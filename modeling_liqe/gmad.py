# coding=utf-8
# Copyright 2026 The liqe authors.
"""gMAD, the group maximum differentiation competition (ANALYSES.md §3), behind `liqe gmad`.

1. Common scale: each model's scores are mapped by a monotone increasing 4-parameter logistic
   (`metrics.fit_logistic`) fitted on an anchor set with MOS, onto the anchor's MOS scale. Without an anchor the
   raw scores are used: every LIQE model scores on one nominal 1-5 scale (the expected quality level), so that is
   already common.
2. Levels: for a defender D over the pool, lo = min, hi = max, step = (hi - lo) / L (L = 6), centres
   lo + step (k - 1/2). Level k holds the images whose D score is within ±window of centre k: D calls them equal.
   **The window.** The toolbox's ±9 is on LIVE's ~0-100 MOS scale, i.e. 9 % of the scale's span. Here the
   window is `window_fraction` (default 0.09) × the span of the common scale: the anchor's MOS range
   (max - min) with an anchor, 4 (= 5 - 1) on the raw LIQE scale; `--window` gives an absolute value instead.
3. Pairs: in level k the attacker A's lowest- and highest-scored images ("worst", "best"), for every ordered
   (A, D). `top_k` > 1: the k pairs with the largest A difference using distinct images (the i-th lowest with
   the i-th highest, which is what picking the largest remaining difference k times gives). `same_content`:
   both images of a pair from one content group (reference photo); per group the A-extreme pair, the k groups
   with the largest A difference. Ties go to the lower pool index.
4. Offline judging (proxy for people, labelled as such): a preference p in [-100, 100] per pair, positive when
   the attacker's "best" is preferred. Judges: the known distortion level (only for pairs of one reference;
   others stay unjudged), the corpus MOS, or a third model's score; each gives ±100 (or 0 for a tie).
   With w_D(k) = n_k / Σ_j n_j (the defender's pool share of level k, normalised over the levels that have a
   judged pair) and p(A, D, k) the mean preference of the level's judged pairs:
   aggressiveness(A vs D) = Σ_k w_D(k) p(A, D, k);  resistance(D vs A) = Σ_k w_D(k) (100 - |p(A, D, k)|).
Not part of the Hub remote code.
"""

import numpy as np

from . import metrics

DEFAULT_LEVELS = 6
DEFAULT_WINDOW_FRACTION = 0.09  # ±9 on the ~0-100 scale of the gMAD toolbox
RAW_LIQE_SPAN = 4.0  # the LIQE score's nominal range 1..5


def fit_common_scale(anchor_scores, anchor_mos):
    """Logistic parameters [b1, b2, b3, b4] mapping a model's scores onto the anchor's MOS scale, increasing.

    The map must keep the model's own order (gMAD's levels and pairs are the model's judgements). When the
    least-squares logistic decreases (the model ranks the anchor backwards), the authors' start values are used
    instead: [max MOS, min MOS, mean score, std score], increasing and spanning the MOS range.
    """
    anchor_scores = np.asarray(anchor_scores, dtype=float)
    anchor_mos = np.asarray(anchor_mos, dtype=float)
    params = metrics.fit_logistic(anchor_scores, anchor_mos)
    if params[0] > params[1]:
        return params
    return np.array([anchor_mos.max(), anchor_mos.min(), anchor_scores.mean(),
                     max(float(anchor_scores.std()), metrics.LOGISTIC_MIN_SCALE)])


def to_common_scale(scores, params):
    return metrics.logistic_4(scores, *params) if params is not None else np.asarray(scores, dtype=float)


def level_members(defender_scores, window, num_levels=DEFAULT_LEVELS):
    """[(centre, indices within ±window of it)] for the L levels of a defender's scores."""
    scores = np.asarray(defender_scores, dtype=float)
    low, high = float(np.min(scores)), float(np.max(scores))
    step = (high - low) / num_levels
    levels = []
    for k in range(1, num_levels + 1):
        centre = low + step * (k - 0.5)
        levels.append((centre, np.flatnonzero(np.abs(scores - centre) <= window)))
    return levels


def _extreme_pairs(members, attacker, top_k):
    order = members[np.lexsort((members, attacker[members]))]  # by attacker score, ties by pool index
    return [(int(order[i]), int(order[-1 - i])) for i in range(min(top_k, order.size // 2))]


def _same_content_pairs(members, attacker, groups, top_k):
    by_group = {}
    for index in members:
        by_group.setdefault(groups[index], []).append(int(index))
    candidates = []
    for indices in by_group.values():
        if len(indices) < 2:
            continue
        indices = np.array(sorted(indices))
        order = indices[np.lexsort((indices, attacker[indices]))]
        worst, best = int(order[0]), int(order[-1])
        candidates.append((-(attacker[best] - attacker[worst]), worst, best))
    candidates.sort()
    return [(worst, best) for _, worst, best in candidates[:top_k]]


def find_pairs(scores, window, num_levels=DEFAULT_LEVELS, top_k=1, groups=None, names=None):
    """The gMAD pairs of every ordered (attacker, defender).

    scores: {model name: common-scale scores over the pool (one array per model, same order)}; window: the
    absolute half-width; groups: a content key per pool image for `same_content` (None: any two images).
    names: image names for the output. Returns a list of dicts (one per pair).
    """
    models = list(scores)
    if len(models) < 2:
        raise ValueError("gMAD needs at least two models")
    arrays = {name: np.asarray(values, dtype=float) for name, values in scores.items()}
    size = {values.size for values in arrays.values()}
    if len(size) != 1:
        raise ValueError("every model must score the same pool")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    pairs = []
    for defender in models:
        levels = level_members(arrays[defender], window, num_levels)
        total = sum(members.size for _, members in levels)
        for attacker in models:
            if attacker == defender:
                continue
            for k, (centre, members) in enumerate(levels, start=1):
                chosen = (_extreme_pairs(members, arrays[attacker], top_k) if groups is None
                          else _same_content_pairs(members, arrays[attacker], groups, top_k))
                for rank, (worst, best) in enumerate(chosen, start=1):
                    pairs.append({
                        "defender": defender, "attacker": attacker, "level": k, "rank": rank,
                        "centre": float(centre), "window": float(window), "num_in_level": int(members.size),
                        "level_weight": float(members.size / total) if total else 0.0,
                        "worst_index": worst, "best_index": best,
                        "worst_name": names[worst] if names is not None else str(worst),
                        "best_name": names[best] if names is not None else str(best),
                        "attacker_difference": float(arrays[attacker][best] - arrays[attacker][worst]),
                        "defender_difference": float(arrays[defender][best] - arrays[defender][worst]),
                        "worst_scores": {name: float(arrays[name][worst]) for name in models},
                        "best_scores": {name: float(arrays[name][best]) for name in models},
                    })
    return pairs


# -- proxy judges ------------------------------------------------------------------------------------------------
def _sign_preference(better_value, worse_value):
    return float(100.0 * np.sign(better_value - worse_value))


def level_judge(levels, references):
    """Known distortion level as a proxy (lower level = milder = preferred); only pairs of one reference."""
    def judge(best, worst):
        if references[best] is None or references[best] != references[worst]:
            return None
        if not (np.isfinite(levels[best]) and np.isfinite(levels[worst])):
            return None
        return _sign_preference(-levels[best], -levels[worst])
    return judge


def score_judge(values):
    """A higher value (a corpus MOS, or a third model's score) is preferred."""
    def judge(best, worst):
        if not (np.isfinite(values[best]) and np.isfinite(values[worst])):
            return None
        return _sign_preference(values[best], values[worst])
    return judge


def judge_pairs(pairs, judge):
    """Adds `preference` (None when the judge cannot tell) to every pair; returns the pairs."""
    for pair in pairs:
        pair["preference"] = judge(pair["best_index"], pair["worst_index"])
    return pairs


def competition_summary(pairs):
    """[{attacker, defender, aggressiveness, resistance, judged_levels, judged_pairs}] from judged pairs."""
    duels = {}
    for pair in pairs:
        duels.setdefault((pair["attacker"], pair["defender"]), {}).setdefault(pair["level"], []).append(pair)
    summary = []
    for (attacker, defender), by_level in duels.items():
        weights, preferences = [], []
        judged_pairs = 0
        for level_pairs in by_level.values():
            values = [pair["preference"] for pair in level_pairs if pair.get("preference") is not None]
            judged_pairs += len(values)
            if values:
                weights.append(level_pairs[0]["level_weight"])
                preferences.append(float(np.mean(values)))
        weights, preferences = np.array(weights), np.array(preferences)
        if weights.size and weights.sum() > 0:
            weights = weights / weights.sum()
            aggressiveness = float(np.sum(weights * preferences))
            resistance = float(np.sum(weights * (100.0 - np.abs(preferences))))
        else:
            aggressiveness = resistance = None
        summary.append({"attacker": attacker, "defender": defender, "aggressiveness": aggressiveness,
                        "resistance": resistance, "judged_levels": int(weights.size),
                        "levels": len(by_level), "judged_pairs": judged_pairs})
    return summary


__all__ = ["fit_common_scale", "to_common_scale", "level_members", "find_pairs", "level_judge", "score_judge",
           "judge_pairs", "competition_summary", "DEFAULT_LEVELS", "DEFAULT_WINDOW_FRACTION"]
