"""Test accuracy of a TFSNN at uniform time steps and per-stage configurations, as tidy rows."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from tfsnn.bn import batchnorms, calibrate
from tfsnn.precision import autocast

__all__ = ["evaluate", "accuracy", "eval_mode"]


@contextmanager
def eval_mode(model):
    """``model`` in eval mode inside the block; its train/eval mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def accuracy(model, loader: Iterable, t, device: torch.device | str | None = None, precision: str = "auto") -> dict:
    """Top-1 accuracy (percent), mean cross-entropy and sample count of ``model`` at ``t``
    (``precision``: see :mod:`tfsnn.precision`)."""
    device = torch.device(device or next(model.parameters()).device)
    model.eval()
    correct, loss_sum, count = 0, 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with autocast(device, precision):
            output = model(inputs, t).float()
        loss_sum += float(F.cross_entropy(output, targets, reduction="sum"))
        correct += int((output.argmax(1) == targets).sum())
        count += len(targets)
    if count == 0:
        raise ValueError("evaluation loader yielded no samples")
    return {"accuracy": 100.0 * correct / count, "loss": loss_sum / count, "samples": count}


def evaluate(
    model,
    loader: Iterable,
    configs: Sequence[int | Sequence[int] | str],
    device: torch.device | str | None = None,
    calibration_loader: Iterable | None = None,
    calibration_batches: int = 10,
    recalibrate: str = "nonuniform",
    precision: str = "auto",
) -> list[dict]:
    """One row per configuration: ``config`` ("3-2-2"), ``T`` (uniform T or None), accuracy,
    loss, samples.

    With a ``calibration_loader``, BN is calibrated at each configuration first (SPEC: a stage
    fed by a summing TTM sees larger inputs than at T_max): ``recalibrate="nonuniform"`` does so
    for non-uniform configurations only (T_max statistics serve every uniform T, A.7), ``"all"``
    for every one. The model's own BN statistics are restored afterwards. Calibration and
    testing run under ``precision`` (:mod:`tfsnn.precision`).
    """
    if recalibrate not in ("nonuniform", "all"):
        raise ValueError(f"recalibrate must be 'nonuniform' or 'all', got {recalibrate!r}")
    saved = [copy.deepcopy(bn.state_dict()) for bn in batchnorms(model)]
    rows = []
    try:
        for t in configs:
            config = model.config(t)
            calibrated = calibration_loader is not None and (recalibrate == "all" or not config.is_uniform)
            if calibrated:
                calibrate(model, calibration_loader, config, calibration_batches, device, precision)
            result = accuracy(model, loader, config, device, precision)
            rows.append(
                {
                    "config": str(config),
                    "T": config[0] if config.is_uniform else None,
                    "bn_calibrated": calibrated,
                    **result,
                }
            )
            if calibrated:
                _restore(model, saved)
    finally:
        _restore(model, saved)
    return rows


def _restore(model, saved: list[dict]) -> None:
    for bn, state in zip(batchnorms(model), saved):
        bn.load_state_dict(state)

