import pytest
import torch
from torch import nn

from tfsnn.analysis import run_analysis
from tfsnn.analysis.early_exit import early_exit, exit_steps, prefix_outputs
from tfsnn.evaluate import accuracy


class GivenSteps(nn.Module):
    """A stand-in model whose per-step outputs are its input ``[T, B, classes]``."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward_steps(self, x, t):
        return x[:t]


def test_first_steps_at_T_max_equal_a_run_at_T(tiny_trained):
    """Uniform T: no TTM acts and the LIF is causal, so the run at T_max's first t steps are the
    run at T = t, and their mean is the model's output at t."""
    model = tiny_trained.model
    x, _ = next(iter(tiny_trained.test_loader(16)))
    with torch.no_grad():
        full = model.forward_steps(x, 4)
        means = prefix_outputs(full)
        for t in range(1, 4):
            torch.testing.assert_close(full[:t], model.forward_steps(x, t), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(means[t - 1], model(x, t), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(means[0], means[3])


def test_hand_built_per_step_outputs_give_hand_computed_exits():
    # logits per step [T=3, B=3, 2]; after t steps the prediction is the mean of the first t
    steps = torch.tensor([
        [[2.0, 0.0], [0.0, -0.1], [0.0, 0.4]],
        [[2.0, 0.0], [0.0, 4.1], [0.0, 0.4]],
        [[2.0, 0.0], [0.0, 4.1], [4.0, 0.4]],
    ])
    targets = torch.tensor([0, 1, 0])
    # confidences (sigmoid of the logit gap of the running mean):
    #   item 0: .881 .881 .881 (class 0)   item 1: .525 (0), .881 (1), .937 (1)
    #   item 2: .599 (1), .599 (1), .718 (0)
    confidence = prefix_outputs(steps).softmax(-1).max(-1).values
    assert exit_steps(confidence, 0.55).tolist() == [1, 2, 1]
    assert exit_steps(confidence, 0.7).tolist() == [1, 2, 3]
    assert exit_steps(confidence, 0.9).tolist() == [3, 3, 3]
    rows = early_exit(GivenSteps(), [(steps, targets)], [0.5, 0.55, 0.7, 0.9, 1.01], 3)
    expected = [  # (accuracy %, mean exit step)
        (100 / 3, 1.0),  # every item at step 1: predictions 0, 0, 1
        (200 / 3, 4 / 3),  # steps 1, 2, 1: predictions 0, 1, 1
        (100.0, 2.0),  # steps 1, 2, 3: predictions 0, 1, 0
        (100.0, 3.0),
        (100.0, 3.0),
    ]
    for row, threshold, (acc, avg) in zip(rows, [0.5, 0.55, 0.7, 0.9, 1.01], expected):
        assert row["threshold"] == threshold and row["samples"] == 3
        assert row["accuracy"] == pytest.approx(acc)
        assert row["avg_timesteps"] == pytest.approx(avg)


def test_threshold_zero_exits_at_step_one_and_above_one_never_early(tiny_trained):
    model, loader = tiny_trained.model, tiny_trained.test_loader()
    low, high = early_exit(model, loader, [0.0, 1.01], 4, "cpu")
    assert low["avg_timesteps"] == 1.0
    assert low["accuracy"] == pytest.approx(accuracy(model, loader, 1, "cpu")["accuracy"])
    assert high["avg_timesteps"] == 4.0
    assert high["accuracy"] == pytest.approx(accuracy(model, loader, 4, "cpu")["accuracy"])
    assert low["samples"] == high["samples"] == 64
    assert not model.training


def test_registered_early_exit_rows(tiny_trained):
    frame = run_analysis("early_exit", tiny_trained, {"thresholds": [0.0, 1.01]})
    assert set(frame["T_max"]) == {4}  # the trained T_max
    rows = frame.set_index(["threshold", "metric"])["value"]
    assert rows[(0.0, "avg_timesteps")] == 1.0 and rows[(1.01, "avg_timesteps")] == 4.0
    at_t_max = accuracy(tiny_trained.model, tiny_trained.test_loader(), 4)["accuracy"]
    assert rows[(1.01, "top1_acc")] == pytest.approx(at_t_max)
    assert len(run_analysis("early_exit", tiny_trained, {"T_max": 2})) == 20  # 10 default thresholds x 2
