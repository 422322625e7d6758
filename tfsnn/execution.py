"""Execution settings: how a process computes, never what it computes.

Set by environment variables (a scale file sets them for its jobs in ``env:``):

- ``TFSNN_LIF_BACKEND``: the LIF's implementation behind ``backend: auto``
  (:func:`tfsnn.neuron.resolve_backend`);
- ``TFSNN_CHANNELS_LAST``: ``1`` puts the conv weights, hence every activation, in NHWC memory
  format for training and evaluation (:func:`tfsnn.precision.memory_format`); ``0``, the
  default, keeps PyTorch's contiguous NCHW;
- ``TFSNN_EVAL_BATCH``: images per batch of a test evaluation (the per-epoch test of training,
  ``tfsnn evaluate``); unset, the run's ``train.batch_size``.

These choose kernels, not the function: the LIF backends and the memory layouts compute Eq. 1-4
and the same convolutions with other kernels, and oneDNN may pick another conv kernel for
another batch size, so each may change the float rounding. They are part of the stack
fingerprint that decides a run's bits (:func:`tfsnn.stack.fingerprint`: keys ``lif_backend``,
``layout``, ``eval_batch``), and none is in a run's config, so none changes its config hash: a
committed run trained with other settings is still that run (tests/test_evaluate.py: the
evaluation batch changes no prediction). What does change the function (``train.precision``,
``train.batch_size``, ``model.neuron.backend`` where a config names one) stays in the config.
"""

from __future__ import annotations

import os

__all__ = ["channels_last", "eval_batch", "settings"]

CHANNELS_LAST = "TFSNN_CHANNELS_LAST"
EVAL_BATCH = "TFSNN_EVAL_BATCH"


def channels_last() -> bool:
    """Whether ``TFSNN_CHANNELS_LAST`` asks for NHWC (``1``) or not (``0`` or unset)."""
    value = os.environ.get(CHANNELS_LAST, "0")
    if value not in ("0", "1"):
        raise ValueError(f"{CHANNELS_LAST}={value!r}: set it to 1 (NHWC) or 0 (contiguous NCHW)")
    return value == "1"


def eval_batch(default: int) -> int:
    """Images per test-evaluation batch: ``TFSNN_EVAL_BATCH``, else ``default``."""
    value = os.environ.get(EVAL_BATCH)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{EVAL_BATCH}={value!r}: set it to a positive number of images per batch")
    return int(value)


def settings() -> dict[str, str]:
    """The settings, for the stack fingerprint: the LIF backend ``auto`` resolves to on the CPU
    (a model that names its backend uses that one), the layout and the evaluation batch."""
    import torch

    from tfsnn.neuron import COMPILED_MAX_STEPS, resolve_backend

    backend = resolve_backend("auto", torch.device("cpu"))
    if backend != resolve_backend("auto", torch.device("cpu"), COMPILED_MAX_STEPS + 1):
        backend += f" up to {COMPILED_MAX_STEPS} steps, else fused"
    return {"lif_backend": backend,
            "layout": "channels_last" if channels_last() else "contiguous",
            "eval_batch": os.environ.get(EVAL_BATCH, "train.batch_size")}
