"""Numeric precision of training and evaluation (``train.precision``): full fp32, or autocast
to fp16 with a gradient scaler (the authors' AMP) or to bf16, which needs none.

``auto`` is fp16 on CUDA and fp32 elsewhere. BN calibration accumulates its statistics in
float64 whatever the precision (:mod:`tfsnn.bn`).
"""

from __future__ import annotations

import torch

__all__ = ["PRECISIONS", "resolve", "autocast", "grad_scaler"]

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


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
