import pytest
import torch
from torch import nn

from tfsnn.analysis import run_analysis
from tfsnn.analysis.early_exit import (
    DEFAULT_THRESHOLDS,
    covering_thresholds,
    early_exit,
    exit_confidences,
    exit_point,
    exit_steps,
    prefix_outputs,
)
from tfsnn.evaluate import accuracy

from conftest import float64_copy


class GivenSteps(nn.Module):
    """A stand-in model whose per-step outputs are its input ``[T, B, classes]``."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward_steps(self, x, t):
        return x[:t]


def test_first_steps_at_T_max_equal_a_run_at_T(tiny_trained):
    """Uniform T: no TTM acts and the LIF is causal, so the run at T_max's first t steps are the
    run at T = t, and their mean is the model's output at t. In float64: a run at T = 4 folds
    4 x 16 items into the convs' batch, one at T = t only t x 16 (conftest.float64_copy)."""
    model = float64_copy(tiny_trained.model)
    x = next(iter(tiny_trained.test_loader(16)))[0].double()
    with torch.no_grad():
        full = model.forward_steps(x, 4)
        means = prefix_outputs(full)
        for t in range(1, 4):
            torch.testing.assert_close(full[:t], model.forward_steps(x, t), rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(means[t - 1], model(x, t), rtol=1e-12, atol=1e-12)
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
    # what each item got at its exit step (targets 0, 1, 0)
    assert [row["correct"].tolist() for row in rows[:3]] == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


def test_threshold_zero_exits_at_step_one_and_above_one_never_early(tiny_trained):
    # the first step of a run at T = 4 against a run at T = 1: in float64 (conftest.float64_copy)
    model = float64_copy(tiny_trained.model)
    loader = [(x.double(), y) for x, y in tiny_trained.test_loader()]
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
    assert len(run_analysis("early_exit", tiny_trained, {"T_max": 2, "at_avg_timesteps": []})) == \
        2 * len(DEFAULT_THRESHOLDS)


def test_covering_thresholds_are_the_closest_pair_around_an_average():
    # 4 items, 3 steps; confidences per step. Mean exit step as the threshold rises: 0 -> 1 (all at
    # step 1), then each item leaves step 1 once the threshold passes its step-1 confidence
    confidence = torch.tensor([[0.2, 0.4, 0.6, 0.8],
                               [0.9, 0.5, 0.7, 0.85],
                               [0.95, 0.55, 0.75, 0.9]])
    right = torch.tensor([[True, False, True, True], [True, True, True, True], [False, True, True, True]])
    # threshold 0.2: 1.0 | 0.4: item 0 -> step 2 (0.9): 1.25 | 0.6: item 1 never passes 0.6 -> 3: 1.75
    assert exit_point(confidence, right, 0.2)["avg_timesteps"] == 1.0
    assert exit_point(confidence, right, 0.4)["avg_timesteps"] == 1.25
    assert exit_point(confidence, right, 0.6)["avg_timesteps"] == 1.75
    assert covering_thresholds(confidence, [1.09]) == pytest.approx([0.2, 0.4])
    assert covering_thresholds(confidence, [1.25]) == pytest.approx([0.4])  # reached exactly
    assert covering_thresholds(confidence, [1.09, 1.20]) == pytest.approx([0.2, 0.4])
    assert covering_thresholds(confidence, [0.5, 3.5]) == []  # outside [1, T]
    assert exit_point(confidence, right, 0.4)["accuracy"] == 75.0  # steps 2, 1, 1, 1


def test_analysis_adds_the_thresholds_table5_needs(tiny_trained):
    frame = run_analysis("early_exit", tiny_trained, {"thresholds": [0.0, 1.01], "at_avg_timesteps": [1.09, 1.2]})
    steps = frame[frame["metric"] == "avg_timesteps"]
    added = steps[steps["covers"].notna()]
    assert 1 <= len(added) <= 4 and set(added["covers"]) <= {1.09, 1.2}
    confidence, right = exit_confidences(tiny_trained.model, tiny_trained.test_loader(), 4)
    reachable = {exit_point(confidence, right, float(c))["avg_timesteps"] for c in confidence.unique()}
    for target in (1.09, 1.2):
        below = steps[steps["value"] <= target]["value"].max()
        above = steps[steps["value"] >= target]["value"].min()
        # the two measured points around the target are the closest the test set's confidences allow
        assert below == max(v for v in [1.0, *reachable] if v <= target)
        assert above == min(v for v in [4.0, *reachable] if v >= target)


def test_default_thresholds_span_the_whole_curve(tiny_trained):
    """Table 5 reads the accuracy at average T = 1.09 and 1.20: the default thresholds reach from
    exit at step 1 (threshold 0, an average of exactly 1) to no early exit (T_max), densely at high
    confidence. The old ones started at 0.5, and an untrained model never reached it."""
    assert DEFAULT_THRESHOLDS[0] == 0.0 and DEFAULT_THRESHOLDS[-1] > 1.0
    assert list(DEFAULT_THRESHOLDS) == sorted(set(DEFAULT_THRESHOLDS))
    assert sum(t > 0.99 for t in DEFAULT_THRESHOLDS) >= 10
    frame = run_analysis("early_exit", tiny_trained)
    steps = frame[frame["metric"] == "avg_timesteps"].sort_values("threshold")["value"]
    assert steps.iloc[0] == 1.0 and steps.iloc[-1] == 4.0
    assert steps.is_monotonic_increasing
    assert steps.min() <= 1.09 and 1.20 <= steps.max()
