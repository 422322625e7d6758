"""Early exit (Table 5): SEENN-I of Li et al. 2023, "SEENN: towards temporal spiking early-exit
neural networks", the confidence-score variant, on a TFSNN.

The model runs once at uniform ``T_max``. At a uniform ``T`` no TTM acts and every layer is
causal in time (the LIF) or per step (conv, BN in eval mode, the classifier), so the first
``t`` per-step outputs of that run are those of a run at ``T = t``: the prediction after ``t``
steps is the mean of the first ``t`` per-step outputs (:meth:`TFSNN.forward_steps`), exactly
the model's output at ``T = t``. Its confidence is the largest softmax probability. An input
exits at the first ``t`` whose confidence is at least the threshold, else at ``T_max``; we
report the top-1 accuracy of the exit predictions and the mean number of time steps used.
Float32 (as every analysis, :mod:`tfsnn.precision`), eval mode (restored afterwards).

Table 5 reads the accuracy at average time steps (1.09, 1.20) off the curve of (mean exit step,
accuracy) over the thresholds (:func:`tfsnn.report.tables.part`, ``interpolate``, linearly
between two measured points: the accuracy of exiting by one threshold or the other at random in
the proportion that averages to that T), so the thresholds must cover those averages. The
default grid starts at 0 (every input exits at step 1: an average of exactly 1) and ends above 1
(none exits early: ``T_max``), densest at high confidence (``1 - 10^-1.5`` to ``1 - 10^-6``); and
for each average the table needs (``at_avg_timesteps``) the analysis adds the two thresholds
around it that the test set's own confidences allow, the closest possible pair
(:func:`covering_thresholds`). An average that still lies outside the measured curve is
reported as NaN with a note, never as the curve's end point.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from tfsnn.analysis.registry import register
from tfsnn.evaluate import eval_mode
from tfsnn.options import TimeStep

__all__ = ["prefix_outputs", "exit_steps", "exit_confidences", "exit_point", "covering_thresholds", "early_exit",
           "early_exit_analysis"]

DEFAULT_THRESHOLDS = (
    *(round(0.05 * i, 10) for i in range(20)),  # 0, 0.05, ..., 0.95
    *(round(1.0 - 10.0 ** (-k / 4), 10) for k in range(6, 25)),  # 1 - 10^-1.5, ..., 1 - 10^-6
    1.01,  # never reached: every input runs T_max steps
)


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
def exit_confidences(
    model: nn.Module, loader: Iterable, t_max: int, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The confidence ``[T, N]`` after each step of every item of ``loader`` (CPU, float32) and
    whether that step's prediction is right (``[T, N]`` bool): all any threshold needs."""
    device = torch.device(device or next(model.parameters()).device)
    confidences, rights = [], []
    with eval_mode(model):
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            predictions = prefix_outputs(model.forward_steps(inputs, t_max).float()).softmax(-1)
            confidence, labels = predictions.max(-1)  # [T, B]
            confidences.append(confidence.cpu())
            rights.append((labels == targets).cpu())
    if not confidences:
        raise ValueError("early-exit loader yielded no samples")
    return torch.cat(confidences, 1), torch.cat(rights, 1)


def exit_point(confidence: torch.Tensor, right: torch.Tensor, threshold: float) -> dict:
    """``accuracy`` (percent) of the predictions at each item's exit step, ``avg_timesteps``
    (mean exit step) at ``threshold``, and each item's ``correct`` at its exit step, from
    :func:`exit_confidences`."""
    steps = exit_steps(confidence, threshold)
    chosen = right.gather(0, (steps - 1).unsqueeze(0)).squeeze(0)
    return {"accuracy": 100.0 * int(chosen.sum()) / right.shape[1],
            "avg_timesteps": int(steps.sum()) / right.shape[1], "correct": chosen.double().numpy()}


def covering_thresholds(confidence: torch.Tensor, averages: Sequence[float]) -> list[float]:
    """For each of ``averages`` (mean exit steps), the two thresholds around it that these
    confidences allow: the largest threshold whose mean exit step is at most it and the
    smallest whose mean exit step exceeds it (one, when it is reached exactly or not at all).
    The mean exit step only changes at the confidences themselves, so the candidates are 0, the
    distinct confidences and a value above 1; it grows with the threshold, so bisection finds them."""
    candidates = torch.cat([torch.zeros(1), torch.unique(confidence.float()), torch.full((1,), 1.01)])

    def mean_steps(k: int) -> float:
        return float(exit_steps(confidence, float(candidates[k])).float().mean())

    chosen = set()
    for target in averages:
        low, high = 0, len(candidates) - 1  # mean_steps(0) = 1, mean_steps(high) = T
        if not mean_steps(low) <= target <= mean_steps(high):
            continue
        while high - low > 1:  # invariant: mean_steps(low) <= target < mean_steps(high), or = at high
            middle = (low + high) // 2
            if mean_steps(middle) <= target:
                low = middle
            else:
                high = middle
        chosen.add(float(candidates[low]))
        if mean_steps(low) != target:
            chosen.add(float(candidates[high]))
    return sorted(chosen)


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
    confidence, right = exit_confidences(model, loader, t_max, device)
    return [{"threshold": float(threshold), **exit_point(confidence, right, threshold), "samples": right.shape[1]}
            for threshold in thresholds]


@register("early_exit")
def early_exit_analysis(
    trained,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    at_avg_timesteps: Sequence[float] = (1.09, 1.20),
    T_max: TimeStep | None = None,
) -> list[dict]:
    """Table 5: SEENN-I on the test set, the model run at ``T_max`` (None: the trained
    ``T_max``, SDT's ``T``), at each of ``thresholds`` and at the thresholds around each of
    ``at_avg_timesteps`` (Table 5's average T; :func:`covering_thresholds`). Rows: ``metric``
    (top1_acc, avg_timesteps), ``value``, ``threshold``, ``T_max``, ``samples``, ``covers``
    (the average T a threshold was added for, NaN for the grid's), by threshold; the top1_acc
    rows also each test item's ``correct`` at its exit step."""
    if T_max is None:
        T_max = trained.t_max
    confidence, right = exit_confidences(trained.model, trained.test_loader(), T_max, trained.device)
    added = {}
    for target in at_avg_timesteps:
        for threshold in covering_thresholds(confidence, [target]):
            added.setdefault(threshold, target)
    grid = {float(t) for t in thresholds}
    rows = []
    for threshold in sorted(grid | set(added)):
        point = exit_point(confidence, right, threshold)
        covers = added.get(threshold) if threshold not in grid else None
        rows += [{"metric": "top1_acc", "value": point["accuracy"], "threshold": threshold, "T_max": T_max,
                  "samples": right.shape[1], "covers": covers, "correct": point["correct"]},
                 {"metric": "avg_timesteps", "value": point["avg_timesteps"], "threshold": threshold, "T_max": T_max,
                  "samples": right.shape[1], "covers": covers}]
    return rows
