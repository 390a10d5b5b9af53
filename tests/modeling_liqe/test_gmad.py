"""gMAD: pairs equal a brute-force search, levels and windows, proxy judges, aggressiveness / resistance by hand."""

import itertools

import numpy as np
import pytest

from modeling_liqe import gmad


def _brute_force_levels(defender, window, levels):
    low, high = defender.min(), defender.max()
    step = (high - low) / levels
    return [[i for i in range(defender.size) if abs(defender[i] - (low + step * (k - 0.5))) <= window]
            for k in range(1, levels + 1)]


def _brute_force_pairs(members, attacker, top_k, groups=None):
    """Greedy over every pair: the largest attacker difference among unused images, k times (same-content:
    among pairs of one group, one pair per group)."""
    chosen, used, used_groups = [], set(), set()
    for _ in range(top_k):
        best = None
        for i, j in itertools.permutations(members, 2):
            if i in used or j in used or (groups is not None and (groups[i] != groups[j] or groups[i] in used_groups)):
                continue
            difference = attacker[j] - attacker[i]
            if difference >= 0 and (best is None or difference > best[0]):
                best = (difference, i, j)
        if best is None:
            break
        chosen.append((best[1], best[2]))
        used.update(best[1:])
        if groups is not None:
            used_groups.add(groups[best[1]])
    return chosen


@pytest.mark.parametrize("top_k", [1, 3])
@pytest.mark.parametrize("same_content", [False, True])
def test_pairs_equal_brute_force(top_k, same_content):
    rng = np.random.default_rng(top_k + 10 * same_content)
    pool = 60
    scores = {"A": rng.uniform(0, 100, pool), "B": rng.uniform(0, 100, pool), "C": rng.uniform(0, 100, pool)}
    scores["B"] = 0.5 * scores["A"] + rng.uniform(0, 50, pool)  # correlated models, as real ones are
    groups = [f"ref{i % 7}" for i in range(pool)] if same_content else None
    window = 9.0
    pairs = gmad.find_pairs(scores, window, num_levels=6, top_k=top_k, groups=groups)
    expected = []
    for defender in scores:
        members_of = _brute_force_levels(scores[defender], window, 6)
        for attacker in scores:
            if attacker == defender:
                continue
            for k, members in enumerate(members_of, start=1):
                for rank, (worst, best) in enumerate(_brute_force_pairs(members, scores[attacker], top_k, groups), 1):
                    expected.append((defender, attacker, k, rank, worst, best))
    found = [(p["defender"], p["attacker"], p["level"], p["rank"], p["worst_index"], p["best_index"]) for p in pairs]
    assert found == expected
    assert len({(p["defender"], p["attacker"]) for p in pairs}) == 6  # both roles of every model pair
    for pair in pairs:  # the defender calls the two equal (within its window of one centre), the attacker does not
        assert abs(pair["worst_scores"][pair["defender"]] - pair["centre"]) <= window
        assert abs(pair["best_scores"][pair["defender"]] - pair["centre"]) <= window
        assert pair["attacker_difference"] >= 0


def test_levels_and_weights_by_hand():
    defender = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0])  # lo 0, hi 60: step 10, centres 5, 15, ... 55
    levels = gmad.level_members(defender, window=5.0, num_levels=6)
    assert [centre for centre, _ in levels] == pytest.approx([5, 15, 25, 35, 45, 55])
    assert [members.tolist() for _, members in levels] == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]]
    attacker = np.array([3.0, 1.0, 2.0, 9.0, 9.0, 0.0, 4.0])
    pairs = gmad.find_pairs({"D": defender, "A": attacker}, window=5.0)
    level_3 = next(p for p in pairs if p["defender"] == "D" and p["level"] == 3)
    assert (level_3["worst_index"], level_3["best_index"]) == (2, 3)
    assert level_3["level_weight"] == pytest.approx(2 / 12)
    tie = next(p for p in pairs if p["defender"] == "D" and p["level"] == 4)  # attacker 9 vs 9: lower index first
    assert (tie["worst_index"], tie["best_index"]) == (3, 4)


def test_aggressiveness_and_resistance_by_hand():
    # Two levels of D attacked by A: weights 3/4 and 1/4 (n = 30 and 10); preferences +100 and (+100 - 50)/2 = 25.
    pairs = [
        {"attacker": "A", "defender": "D", "level": 1, "level_weight": 0.3, "preference": 100.0},
        {"attacker": "A", "defender": "D", "level": 2, "level_weight": 0.1, "preference": 100.0},
        {"attacker": "A", "defender": "D", "level": 2, "level_weight": 0.1, "preference": -50.0},
        {"attacker": "A", "defender": "D", "level": 3, "level_weight": 0.6, "preference": None},  # unjudged level
        {"attacker": "D", "defender": "A", "level": 1, "level_weight": 1.0, "preference": -100.0},
    ]
    summary = {(s["attacker"], s["defender"]): s for s in gmad.competition_summary(pairs)}
    a_vs_d = summary[("A", "D")]
    assert a_vs_d["aggressiveness"] == pytest.approx(0.75 * 100 + 0.25 * 25)  # 81.25
    assert a_vs_d["resistance"] == pytest.approx(0.75 * 0 + 0.25 * 75)  # 18.75
    assert (a_vs_d["judged_levels"], a_vs_d["levels"], a_vs_d["judged_pairs"]) == (2, 3, 3)
    assert summary[("D", "A")]["aggressiveness"] == pytest.approx(-100.0)
    assert summary[("D", "A")]["resistance"] == pytest.approx(0.0)


def test_proxy_judges():
    levels = np.array([1.0, 3.0, 2.0, 2.0])
    references = ["r1", "r1", "r2", "r1"]
    judge = gmad.level_judge(levels, references)
    assert judge(0, 1) == 100.0  # best is level 1, worst level 3: the milder is preferred
    assert judge(1, 0) == -100.0
    assert judge(2, 0) is None  # different reference photos: the level cannot compare them
    assert judge(3, 3) == 0.0  # a tie
    mos = gmad.score_judge(np.array([4.0, 2.0, np.nan]))
    assert mos(0, 1) == 100.0 and mos(1, 0) == -100.0 and mos(2, 0) is None


def test_find_pairs_rejects_bad_input():
    with pytest.raises(ValueError, match="two models"):
        gmad.find_pairs({"A": np.arange(5.0)}, 1.0)
    with pytest.raises(ValueError, match="same pool"):
        gmad.find_pairs({"A": np.arange(5.0), "B": np.arange(4.0)}, 1.0)
    with pytest.raises(ValueError, match="top_k"):
        gmad.find_pairs({"A": np.arange(5.0), "B": np.arange(5.0)}, 1.0, top_k=0)


def test_common_scale_recovers_known_map():
    rng = np.random.default_rng(0)
    raw = rng.uniform(1, 5, 300)
    truth = [100.0, 0.0, 3.0, 0.4]
    mos = gmad.metrics.logistic_4(raw, *truth) + rng.normal(0, 0.5, raw.size)
    params = gmad.fit_common_scale(raw, mos)
    grid = np.linspace(1, 5, 50)
    assert np.max(np.abs(gmad.to_common_scale(grid, params) - gmad.metrics.logistic_4(grid, *truth))) < 1.5


def test_common_scale_keeps_the_model_order_when_the_anchor_disagrees():
    raw = np.linspace(1, 5, 40)
    mos = 100 - 20 * raw  # the model ranks the anchor backwards
    params = gmad.fit_common_scale(raw, mos)
    mapped = gmad.to_common_scale(raw, params)
    assert np.all(np.diff(mapped) > 0)
    assert params[0] == pytest.approx(mos.max()) and params[1] == pytest.approx(mos.min())
