"""Test accuracy of a TFSNN at uniform time steps and per-stage configurations, as tidy rows.

:func:`scores` gives every test item's class scores at each configuration, the other functions
reduce them to rows. It takes three shortcuts, each giving the plain evaluation's predictions
(``plain=True``: one pass per configuration through the model as it is; tests/test_evaluate.py):

- **One pass for every uniform T.** The output at uniform ``T`` is the mean over its ``T`` steps
  of the per-step outputs (:meth:`TFSNN.forward`), and step ``t``'s output depends only on steps
  ``1..t``: the LIF and IAF are causal, a uniform configuration has no TTM, frames feed the
  first ``T`` of them, and BN in eval mode is a fixed affine map per channel. So one pass at the
  largest ``T`` gives every smaller ``T``'s output as the mean of its first ``T`` steps (the
  same floats on the same kernels). This holds only where one set of BN statistics serves every
  ``T``: :func:`evaluate` runs a configuration it calibrates BN for (every non-uniform one with a
  calibration loader; every one with ``recalibrate="all"``) in a pass of its own.
- **BN folded** into the convs before it (:func:`tfsnn.bn.fold_batchnorm`, in float64, on a copy):
  one pass over each activation fewer; the same function up to float rounding.
- **Inference mode**, which records nothing for autograd.

:func:`evaluate` also gives what each test item got (``per_item=True``, :class:`Predictions`):
the predicted class at every configuration, the records that paired statistics need
(:mod:`tfsnn.report.statistics`). Losses are reduced per image in one float64 sum over the test
set. How the items are batched (the execution setting ``TFSNN_EVAL_BATCH``,
:mod:`tfsnn.execution`) changes no prediction but may change the last bits of a score: oneDNN may
pick other conv kernels for another batch size.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

import torch
import torch.nn.functional as F

from tfsnn.bn import batchnorms, calibrate, fold_batchnorm
from tfsnn.models.tfsnn import TFSNN
from tfsnn.precision import autocast
from tfsnn.temporal import TemporalConfig

__all__ = ["evaluate", "accuracy", "scores", "summary", "eval_mode", "Predictions"]


@contextmanager
def eval_mode(model):
    """``model`` in eval mode inside the block; its train/eval mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _passes(configs: list[TemporalConfig], plain: bool) -> list[tuple[TemporalConfig, list[TemporalConfig]]]:
    """The passes that give ``configs``: (configuration run, configurations read from it)."""
    uniform = [] if plain else [c for c in configs if c.is_uniform]
    if len(uniform) < 2:
        return [(c, [c]) for c in configs]
    longest = max(uniform, key=lambda c: c[0])
    return [(longest, uniform)] + [(c, [c]) for c in configs if not c.is_uniform]


def scores(model, loader: Iterable, configs: Sequence, device: torch.device | str | None = None,
           precision: str = "auto", plain: bool = False) -> tuple[dict[TemporalConfig, torch.Tensor], torch.Tensor]:
    """Class scores (float32 ``[N, classes]``, in the loader's order) of ``model`` at each of
    ``configs``, and the targets ``[N]``, in one sweep of ``loader`` under ``precision``
    (:mod:`tfsnn.precision`). Eval mode; ``model`` itself is left unchanged. ``plain``: without
    the shortcuts of the module docstring (one pass per configuration, BN as it is), as for a
    model that is not a :class:`TFSNN` (any module called as ``model(inputs, t)``)."""
    device = torch.device(device or next(model.parameters()).device)
    tfsnn = isinstance(model, TFSNN)  # else any module called as model(inputs, t), without the shortcuts
    plain = plain or not tfsnn
    configs = list(dict.fromkeys(model.config(t) if tfsnn else t for t in configs))
    with eval_mode(model):
        net = model if plain else fold_batchnorm(model)
        passes = _passes(configs, plain)
        outputs = {c: [] for c in configs}
        targets = []
        with torch.inference_mode():
            for inputs, target in loader:
                inputs = inputs.to(device, non_blocking=True)
                targets.append(target.to(device, non_blocking=True))
                for run, read in passes:
                    with autocast(device, precision):
                        steps = net.forward_steps(inputs, run) if len(read) > 1 else None
                        for config in read:
                            out = net(inputs, config) if steps is None else steps[: config[0]].mean(0)
                            outputs[config].append(out.float())
    if not targets:
        raise ValueError("evaluation loader yielded no samples")
    return {c: torch.cat(o) for c, o in outputs.items()}, torch.cat(targets)


def summary(class_scores: torch.Tensor, targets: torch.Tensor) -> dict:
    """Top-1 accuracy (percent), mean cross-entropy (per-image losses summed in one float64
    reduction) and sample count."""
    losses = F.cross_entropy(class_scores, targets, reduction="none")
    correct = int((class_scores.argmax(1) == targets).sum())
    count = len(targets)
    return {"accuracy": 100.0 * correct / count, "loss": float(losses.double().sum()) / count, "samples": count}


@dataclass(frozen=True)
class Predictions:
    """What each test item got, in the loader's order: its class (``targets``, ``[N]``) and the
    class predicted at each configuration (``predicted``, by its name, e.g. "3-2-2")."""

    targets: np.ndarray
    predicted: dict[str, np.ndarray]


def accuracy(model, loader: Iterable, t, device: torch.device | str | None = None, precision: str = "auto") -> dict:
    """Top-1 accuracy (percent), mean cross-entropy and sample count of ``model`` at ``t``
    (``precision``: see :mod:`tfsnn.precision`), and ``correct``: 1.0 for each item (in the
    loader's order) whose prediction is its class, else 0.0."""
    found, targets = scores(model, loader, [t], device, precision)
    class_scores = next(iter(found.values()))
    return {**summary(class_scores, targets), "correct": (class_scores.argmax(1) == targets).double().cpu().numpy()}


def evaluate(
    model,
    loader: Iterable,
    configs: Sequence[int | Sequence[int] | str],
    device: torch.device | str | None = None,
    calibration_loader: Iterable | None = None,
    calibration_batches: int = 10,
    recalibrate: str = "nonuniform",
    precision: str = "auto",
    per_item: bool = False,
) -> list[dict] | tuple[list[dict], Predictions]:
    """One row per configuration: ``config`` ("3-2-2"), ``T`` (uniform T or None), accuracy,
    loss, samples; with ``per_item``, also the :class:`Predictions` they were counted from.

    With a ``calibration_loader``, BN is calibrated at each configuration first (SPEC: a stage
    fed by a summing TTM sees larger inputs than at T_max): ``recalibrate="nonuniform"`` does so
    for non-uniform configurations only (T_max statistics serve every uniform T, A.7), ``"all"``
    for every one. The model's own BN statistics are restored afterwards. Calibration and
    testing run under ``precision`` (:mod:`tfsnn.precision`). The configurations tested with
    the model's own statistics share one sweep of ``loader`` (:func:`scores`).
    """
    if recalibrate not in ("nonuniform", "all"):
        raise ValueError(f"recalibrate must be 'nonuniform' or 'all', got {recalibrate!r}")
    configs = [model.config(t) for t in configs]

    def calibrated(config):
        return calibration_loader is not None and (recalibrate == "all" or not config.is_uniform)

    found, predicted = {}, {}

    def record(outputs, targets, tested):
        for config in tested:
            found[config] = summary(outputs[config], targets)
            predicted[str(config)] = outputs[config].argmax(1).cpu().numpy()
        return targets.cpu().numpy()

    shared = [c for c in configs if not calibrated(c)]
    if shared:
        targets = record(*scores(model, loader, shared, device, precision), shared)
    saved = [copy.deepcopy(bn.state_dict()) for bn in batchnorms(model)]
    try:
        for config in configs:
            if config not in found:
                calibrate(model, calibration_loader, config, calibration_batches, device, precision)
                targets = record(*scores(model, loader, [config], device, precision), [config])
                _restore(model, saved)
    finally:
        _restore(model, saved)
    rows = [{"config": str(c), "T": c[0] if c.is_uniform else None, "bn_calibrated": calibrated(c), **found[c]}
            for c in configs]
    return (rows, Predictions(targets, predicted)) if per_item else rows


def _restore(model, saved: list[dict]) -> None:
    for bn, state in zip(batchnorms(model), saved):
        bn.load_state_dict(state)
