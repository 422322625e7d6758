"""Numeric precision and memory layout of training and evaluation.

``train.precision``: full fp32, or autocast to fp16 with a gradient scaler (the authors' AMP)
or to bf16, which needs none. ``auto`` is fp16 on CUDA and fp32 elsewhere. Training, test
evaluation (``tfsnn evaluate``, the accuracy tables) and the BN calibrations of both run under
the same autocast; calibration accumulates its statistics in float64 whatever the precision
(:mod:`tfsnn.bn`).

Analyses (``tfsnn analyze``: gradients, early exit, firing rates and estimation, noise,
landscape, BN statistics, event-driven) all run in fp32 (:data:`ANALYSIS_PRECISION`), whatever
the run's precision, through one context (:meth:`tfsnn.experiment.Trained.analysis_context`).
They measure the trained function itself: under fp16 the gradients of Table 13 and section 4.2
would underflow without a loss scale, the event-driven run (BN folded in float64, float32
weights and states) could only be compared element by element with a clock run of the same
precision, and the numbers would differ between a CPU and a GPU run of one checkpoint.

``train.channels_last``: the conv weights in ``torch.channels_last`` (NHWC) memory format. A
conv with channels-last weights returns channels-last activations, so every ``[T*B, C, H, W]``
tensor of the network, and its ``[T, B, C, H, W]`` view, keeps that layout (the input needs
no conversion: the stem's conv does it). Every LIF backend keeps the layout (the ``compiled``
one flattens each step in memory order, :mod:`tfsnn.neuron`); a TTM that changes the number of
steps returns a new contiguous tensor (once per stage boundary), which the next conv converts.
"""

from __future__ import annotations

import torch

__all__ = ["PRECISIONS", "ANALYSIS_PRECISION", "resolve", "autocast", "grad_scaler", "memory_format"]

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
ANALYSIS_PRECISION = "fp32"  # of every analysis (module docstring)


def resolve(precision: str, device) -> str:
    """The precision ``precision`` means on ``device``: ``auto`` is fp16 on CUDA, else fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "fp16" if torch.device(device).type == "cuda" else "fp32"
    return precision


def autocast(device, precision: str = "auto"):
    """The autocast context of ``precision`` on ``device`` (disabled for fp32)."""
    device = torch.device(device)
    chosen = resolve(precision, device)
    dtype = torch.bfloat16 if chosen == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype, enabled=chosen != "fp32")


def grad_scaler(device, precision: str = "auto") -> torch.amp.GradScaler:
    """A gradient scaler, enabled for fp16 only (bf16 has fp32's exponent range)."""
    device = torch.device(device)
    return torch.amp.GradScaler(device.type, enabled=resolve(precision, device) == "fp16")


def memory_format(channels_last: bool) -> torch.memory_format:
    """The format to move a model to (``Module.to(memory_format=...)``): ``torch.channels_last``
    or, without it, ``torch.preserve_format``."""
    return torch.channels_last if channels_last else torch.preserve_format
