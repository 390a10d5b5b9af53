"""modeling_liqe/weight_average.py: the EMA recurrence by hand, frozen weights, buffers, the safetensors round trip."""

import pytest
import torch

from modeling_liqe.weight_average import EMA_WEIGHTS_NAME, ExponentialMovingAverage, ema_decay_at


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.trained = torch.nn.Linear(3, 2)
        self.frozen = torch.nn.Linear(2, 2)
        self.frozen.requires_grad_(False)
        self.register_buffer("counter", torch.zeros((), dtype=torch.long))


def test_the_decay_of_each_update_weighs_the_steps_d_to_the_age():
    assert ema_decay_at(0.999, 0) == 0.0  # the first update copies
    assert ema_decay_at(0.999, 1) == pytest.approx(0.999 / 1.999)  # two steps weighed 0.999 : 1
    assert ema_decay_at(0.9, 10_000) == pytest.approx(0.9)
    assert 0.0 < ema_decay_at(0.9, 3) < ema_decay_at(0.9, 4) < 0.9


@pytest.mark.parametrize("decay", [0.3, 0.9])
def test_the_average_is_the_hand_computed_recurrence(decay):
    torch.manual_seed(0)
    model = Small()
    ema = ExponentialMovingAverage(model, decay)
    frozen_before = model.frozen.weight.clone()
    seen = []
    for update in range(12):
        with torch.no_grad():
            model.trained.weight.add_(torch.randn_like(model.trained.weight))
            model.trained.bias.mul_(-1.5)
        model.counter += 1
        ema.update_parameters(model)
        seen.append(model.trained.weight.detach().double().clone())
    # the normalised exponentially weighted sum of every step's weights, written out directly
    ages = [decay ** (len(seen) - 1 - i) for i in range(len(seen))]
    expected = sum(a * w for a, w in zip(ages, seen)) / sum(ages)
    assert ema.num_updates == 12
    assert torch.allclose(ema.module.trained.weight.double(), expected, atol=1e-6, rtol=0)
    assert not torch.allclose(ema.module.trained.weight, model.trained.weight)  # an average, not the last weights
    assert torch.equal(ema.module.frozen.weight, frozen_before)  # a frozen weight stays bit-for-bit
    assert int(ema.module.counter) == 12  # buffers follow the live model, not averaged
    assert not any(p.requires_grad for p in ema.module.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5])
def test_a_decay_outside_zero_one_is_refused(decay):
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        ExponentialMovingAverage(Small(), decay)


def test_safetensors_round_trip_keeps_weights_and_count_and_checks_the_decay(tmp_path):
    torch.manual_seed(1)
    model = Small()
    ema = ExponentialMovingAverage(model, 0.5)
    for _ in range(3):
        with torch.no_grad():
            model.trained.weight.add_(1.0)
        ema.update_parameters(model)
    ema.save(tmp_path)
    assert (tmp_path / EMA_WEIGHTS_NAME).is_file()
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.bin"))

    again = ExponentialMovingAverage(Small(), 0.5)
    again.load(tmp_path)
    assert again.num_updates == 3
    for (name, ours), (_, theirs) in zip(again.state_dict().items(), ema.state_dict().items()):
        assert torch.equal(ours, theirs), name

    with pytest.raises(ValueError, match="decay 0.5.*decay 0.25"):
        ExponentialMovingAverage(Small(), 0.25).load(tmp_path)
    with pytest.raises(FileNotFoundError, match=f"{EMA_WEIGHTS_NAME}.*without --ema_decay"):
        ExponentialMovingAverage(Small(), 0.5).load(tmp_path / "missing")
