"""Noise injection (section 5.1 "Generalization", Fig. 5 weights, Fig. 6 inputs): test accuracy
with Gaussian noise ``N(0, sigma^2)`` added to the weights or to the test inputs, 5 runs per
``sigma^2`` (the figures plot mean, min and max).

- Weights: noise is added to the ``weight`` of every convolution and linear layer for one
  evaluation, then the exact original values are copied back. Biases and BN affine parameters
  (and BN buffers) are left alone: the paper says "weights".
- Inputs: noise is added elementwise to each test input as the loader yields it; a static image
  is perturbed once and direct-encoded (the same noisy image at every step), event frames
  ``[T, B, ...]`` get independent noise in every frame.

Noise is drawn on the CPU from a ``torch.Generator``; :func:`noise_analysis` seeds repeat ``r``
with ``(seed, r)`` whatever ``sigma^2``, so the repeats differ from each other while each
repeat scales one standard-normal draw by ``sigma`` (common random numbers across ``sigma^2``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from numbers import Real

import torch
from torch import nn

from tfsnn.analysis.registry import register
from tfsnn.evaluate import accuracy
from tfsnn.options import TimeStep

__all__ = ["TARGETS", "DEFAULT_SIGMA2", "weight_parameters", "weight_noise", "input_noise", "noisy_accuracy",
           "noise_analysis"]

TARGETS = ("weights", "inputs")
# Defaults: conv weights of the paper's ResNets have variance ~2/fan_in (1e-3 .. 1e-2), inputs are
# normalized per channel to unit variance, so each grid reaches noise as large as the signal.
DEFAULT_SIGMA2 = {
    "weights": (0.0, 0.001, 0.002, 0.005, 0.01, 0.02),
    "inputs": (0.0, 0.05, 0.1, 0.2, 0.5, 1.0),
}


def _check(target: str, sigma2) -> float:
    if target not in TARGETS:
        raise ValueError(f"noise target must be one of {TARGETS}, got {target!r}")
    if isinstance(sigma2, bool) or not isinstance(sigma2, Real) or not sigma2 >= 0 or math.isinf(sigma2):
        raise ValueError(f"sigma2 (the noise variance) must be a finite number >= 0, got {sigma2!r}")
    return float(sigma2)


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters noise is injected into: the ``weight`` of every conv and linear layer."""
    return [m.weight for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd | nn.Linear)]


def _gaussian(like: torch.Tensor, sigma2: float, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(like.shape, generator=generator, dtype=like.dtype)
    return noise.mul_(math.sqrt(sigma2)).to(like.device)


@contextmanager
def weight_noise(model: nn.Module, sigma2: float, generator: torch.Generator):
    """Within the block, every weight of :func:`weight_parameters` carries ``N(0, sigma2)`` noise;
    afterwards the weights are bit-for-bit what they were."""
    sigma2 = _check("weights", sigma2)
    weights = weight_parameters(model)
    saved = [w.detach().clone() for w in weights]
    try:
        with torch.no_grad():
            for w in weights:
                w.add_(_gaussian(w, sigma2, generator))
        yield model
    finally:
        with torch.no_grad():
            for w, original in zip(weights, saved):
                w.copy_(original)


def input_noise(loader: Iterable, sigma2: float, generator: torch.Generator) -> Iterator:
    """``loader``'s ``(inputs, targets)`` batches with ``N(0, sigma2)`` noise added to every input
    element (each frame of event inputs independently), fresh noise for every batch."""
    sigma2 = _check("inputs", sigma2)
    for inputs, targets in loader:
        yield inputs + _gaussian(inputs, sigma2, generator), targets


def noisy_accuracy(
    model: nn.Module,
    loader: Iterable,
    t,
    target: str,
    sigma2: float,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    precision: str = "auto",
) -> dict:
    """:func:`tfsnn.evaluate.accuracy` at ``t``, under ``precision``, with ``N(0, sigma2)`` noise
    on ``target`` (``"weights"`` or ``"inputs"``); the model is left as it was."""
    _check(target, sigma2)
    if target == "weights":
        with weight_noise(model, sigma2, generator):
            return accuracy(model, loader, t, device, precision)
    return accuracy(model, input_noise(loader, sigma2, generator), t, device, precision)


@register("noise")
def noise_analysis(
    trained,
    *,
    target: str = "weights",
    sigma2: Sequence[float] | float | None = None,
    repeats: int = 5,
    T: TimeStep | None = None,
    seed: int = 0,
) -> list[dict]:
    """Test accuracy at uniform ``T`` (default: the trained method's ``t_max``, SDT's ``T``)
    with noise of each variance in ``sigma2`` (default :data:`DEFAULT_SIGMA2` of ``target``) on
    ``target``, ``repeats`` times each (Fig. 5, 6). Rows: ``metric="top1_acc"``, ``value``,
    ``target``, ``sigma2``, ``repeat``, ``T``, and each test item's ``correct`` (per-item records)."""
    if target not in TARGETS:
        raise ValueError(f"noise target must be one of {TARGETS}, got {target!r}")
    if sigma2 is None:
        sigma2 = DEFAULT_SIGMA2[target]
    if isinstance(sigma2, str) or not isinstance(sigma2, Sequence):
        sigma2 = [sigma2]
    grid = [_check(target, s) for s in sigma2]
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if T is None:
        T = trained.t_max
    loader = trained.test_loader()
    rows = []
    for s in grid:
        for r in range(repeats):
            generator = torch.Generator().manual_seed(seed * 1_000_003 + r)
            result = noisy_accuracy(trained.model, loader, T, target, s, generator, trained.device,
                                    trained.analysis_precision)
            rows.append({"metric": "top1_acc", "value": result["accuracy"], "target": target, "sigma2": s,
                         "repeat": r, "T": T, "correct": result["correct"]})
    return rows
