"""Early exit (Table 5): SEENN-I of Li et al. 2023, "SEENN: towards temporal spiking early-exit
neural networks", the confidence-score variant, on a TFSNN.

The model runs once at uniform ``T_max``. At a uniform ``T`` no TTM acts and every layer is
causal in time (the LIF) or per step (conv, BN in eval mode, the classifier), so the first
``t`` per-step outputs of that run are those of a run at ``T = t``: the prediction after ``t``
steps is the mean of the first ``t`` per-step outputs (:meth:`TFSNN.forward_steps`), exactly
the model's output at ``T = t``. Its confidence is the largest softmax probability. An input
exits at the first ``t`` whose confidence is at least the threshold, else at ``T_max``; we
report the top-1 accuracy of the exit predictions and the mean number of time steps used.
Float32, eval mode (restored afterwards).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from tfsnn.analysis.registry import register
from tfsnn.evaluate import eval_mode

__all__ = ["prefix_outputs", "exit_steps", "early_exit", "early_exit_analysis"]

DEFAULT_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 1.01)


def prefix_outputs(steps: torch.Tensor) -> torch.Tensor:
    """``[T, B, classes]`` per-step outputs to the prediction after each step: the mean of the
    first ``t`` outputs at index ``t - 1``."""
    counts = torch.arange(1, steps.shape[0] + 1, device=steps.device, dtype=steps.dtype)
    return steps.cumsum(0) / counts.view(-1, *([1] * (steps.dim() - 1)))


def exit_steps(confidence: torch.Tensor, threshold: float) -> torch.Tensor:
    """``[T, B]`` confidences to each input's exit step (1-based): the first step whose
    confidence is at least ``threshold``, else ``T``."""
    passed = confidence >= threshold
    first = passed.int().argmax(0)  # the first True, or 0 when there is none
    return torch.where(passed.any(0), first + 1, confidence.shape[0])


@torch.no_grad()
def early_exit(
    model: nn.Module,
    loader: Iterable,
    thresholds: Sequence[float],
    t_max: int,
    device: torch.device | str | None = None,
) -> list[dict]:
    """One dict per threshold: ``threshold``, ``accuracy`` (percent) of the predictions at
    each input's exit step, ``avg_timesteps`` (mean exit step), ``samples``."""
    device = torch.device(device or next(model.parameters()).device)
    correct = torch.zeros(len(thresholds), dtype=torch.long)
    used = torch.zeros(len(thresholds), dtype=torch.long)
    count = 0
    with eval_mode(model):
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            predictions = prefix_outputs(model.forward_steps(inputs, t_max).float()).softmax(-1)
            confidence, labels = predictions.max(-1)  # [T, B]
            for i, threshold in enumerate(thresholds):
                steps = exit_steps(confidence, threshold)
                chosen = labels.gather(0, (steps - 1).unsqueeze(0)).squeeze(0)
                correct[i] += int((chosen == targets).sum())
                used[i] += int(steps.sum())
            count += len(targets)
    if count == 0:
        raise ValueError("early-exit loader yielded no samples")
    return [
        {
            "threshold": float(threshold),
            "accuracy": 100.0 * int(correct[i]) / count,
            "avg_timesteps": int(used[i]) / count,
            "samples": count,
        }
        for i, threshold in enumerate(thresholds)
    ]


@register("early_exit")
def early_exit_analysis(
    trained,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    T_max: int | None = None,
) -> list[dict]:
    """Table 5: SEENN-I on the test set, the model run at ``T_max`` (None: the trained
    ``T_max``, SDT's ``T``). Rows: ``metric`` (top1_acc, avg_timesteps), ``value``,
    ``threshold``, ``T_max``."""
    T_max = T_max or trained.t_max
    points = early_exit(trained.model, trained.test_loader(), thresholds, T_max, trained.device)
    return [
        {"metric": metric, "value": point[key], "threshold": point["threshold"], "T_max": T_max}
        for point in points
        for metric, key in (("top1_acc", "accuracy"), ("avg_timesteps", "avg_timesteps"))
    ]
