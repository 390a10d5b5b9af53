"""The training state a checkpoint carries: DWA (finished epochs and the running sums), steps, pairs, best metric."""

import math

import pytest
import torch

from modeling_liqe.train_state import ResumeError, TrainingState


def _run(state, epochs):
    for epoch in epochs:
        for step in range(4):
            state.dwa.record([0.5 / (epoch + 1) + 0.01 * step, 0.8 - 0.1 * epoch, float("nan") if step == 0 else 0.3])
            state.record_pairs({"a": 4, "b": 1})
            state.completed_steps += 1
        if epoch != epochs[-1]:
            state.end_epoch()


def test_state_round_trip_through_a_checkpoint_file_continues_identically(tmp_path):
    plan = {"corpora": [["a", 10, 4], ["b", 3, 1]], "seed": 1}
    state = TrainingState(["a", "b"], plan)
    _run(state, [0, 1, 2, 3])  # three finished epochs, the fourth half-way (its sums are running)
    state.best_metric, state.best_step = 0.75, 8
    assert state.dwa.weights() != [1.0, 1.0, 1.0]  # DWA is active from the third epoch on
    path = tmp_path / "custom_checkpoint_0.pkl"
    torch.save(state.state_dict(), path)  # what accelerator.save_state does with a registered object

    resumed = TrainingState(["a", "b"], plan)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert resumed.state_dict() == state.state_dict()
    assert resumed.dwa.weights() == state.dwa.weights()
    assert resumed.epoch_pairs == {"a": 24, "b": 0}
    # both finish the epoch the same way: same epoch means, same next weights
    for s in (state, resumed):
        s.dwa.record([0.1, 0.2, 0.3])
    assert resumed.end_epoch() == state.end_epoch()
    assert resumed.dwa.weights() == state.dwa.weights()
    assert math.isclose(sum(state.dwa.weights()), 3.0)


def test_a_checkpoint_of_another_data_plan_is_refused():
    state = TrainingState(["a"], {"corpora": [["a", 10, 4]], "seed": 1})
    other = TrainingState(["a"], {"corpora": [["a", 10, 8]], "seed": 1})
    with pytest.raises(ResumeError, match="another data plan"):
        other.load_state_dict(state.state_dict())


def test_pairs_per_corpus_and_epoch():
    state = TrainingState(["a", "b", "c"])
    state.record_pairs({"a": 4, "b": 1, "c": 2})
    state.record_pairs({"a": 1, "b": 1, "c": 0})
    assert state.epoch_pairs == {"a": 6, "b": 0, "c": 1}
    assert state.corpora_without_pairs() == ["b"]
    state.end_epoch()
    assert state.corpora_without_pairs() == ["a", "b", "c"]


def test_pairs_from_repeated_group_items_add_up_under_one_name():
    # A ladder batch: each ladder is its own ranking group, all counted as the corpus "ladders".
    state = TrainingState(["ladders"])
    state.record_pairs([("ladders", 6), ("ladders", 6), ("ladders", 1)])
    assert state.epoch_pairs == {"ladders": 30}
    assert state.corpora_without_pairs() == []
    state.end_epoch()
    state.record_pairs([("ladders", 1), ("ladders", 1)])  # single-image groups give no pair
    assert state.corpora_without_pairs() == ["ladders"]
