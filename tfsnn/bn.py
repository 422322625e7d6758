"""BN calibration (section 4.3.2, A.7): re-estimate BN running statistics at one temporal
configuration from a few training batches, every other parameter untouched.

MTT changes the network's temporal structure every pass, so the running statistics gathered
during training fit no configuration well. After training (the authors' code: after every
epoch) the statistics are reset and re-estimated over ``num_batches`` batches (10 in the
paper) at the configuration that will be evaluated (``T_max`` serves every uniform ``T``, A.7).

During the calibration passes each BN normalizes with its batch's statistics, as in training.
The running statistics become the exact pooled mean and unbiased variance of every activation
each BN saw over the calibration batches (a cumulative average of the first and second
moments; for equal-sized batches the mean equals PyTorch's ``momentum=None`` average).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from itertools import islice

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from tfsnn.precision import autocast

__all__ = ["calibrate", "batchnorms", "fold_batchnorm"]


def batchnorms(model: nn.Module) -> list[_BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def _folded_layer(layer: nn.Module, bn: _BatchNorm) -> nn.Module:
    """``layer`` (conv or linear) followed by ``bn`` in eval mode, as one layer with a bias:
    ``W' = W * g / sqrt(var + eps)``, ``b' = (b - mean) * g / sqrt(var + eps) + beta``."""
    if not bn.track_running_stats or bn.running_mean is None:
        raise ValueError(f"cannot fold {bn}: it keeps no running statistics")
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.affine:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.affine:
        shift = shift + bn.bias.double()
    if isinstance(layer, nn.Conv2d):
        folded = nn.Conv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, layer.groups, True, layer.padding_mode,
        )
        weight = layer.weight.double() * scale.view(-1, 1, 1, 1)
    else:
        folded = nn.Linear(layer.in_features, layer.out_features, True)
        weight = layer.weight.double() * scale.view(-1, 1)
    bias = shift if layer.bias is None else layer.bias.double() * scale + shift
    dtype, device = layer.weight.dtype, layer.weight.device
    folded.to(device, dtype)
    if layer.weight.dim() == 4 and not layer.weight.is_contiguous():  # channels-last weights stay so
        folded.to(memory_format=torch.channels_last)
    with torch.no_grad():
        folded.weight.copy_(weight.to(dtype))
        folded.bias.copy_(bias.to(dtype))
    return folded


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) with every BN folded into the conv / linear layer just
    before it in the same ``nn.Sequential`` (the BN becomes ``nn.Identity``); the same outputs
    as ``model`` in eval mode, up to float rounding. Folded convs are plain ``nn.Conv2d`` with a
    bias. A BN that does not directly follow a conv or linear layer is an error."""
    folded = copy.deepcopy(model).eval()
    for seq in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        for i in range(1, len(seq)):
            if isinstance(seq[i], _BatchNorm) and isinstance(seq[i - 1], nn.Conv2d | nn.Linear):
                seq[i - 1] = _folded_layer(seq[i - 1], seq[i])
                seq[i] = nn.Identity()
    left = [name for name, m in folded.named_modules() if isinstance(m, _BatchNorm)]
    if left:
        raise ValueError(f"cannot fold BN {left}: each must directly follow a conv or linear layer")
    return folded


class _MomentAccumulator:
    """Float64 per-channel count, sum and sum of squares of a BN's inputs."""

    def __init__(self, bn: _BatchNorm):
        self.bn = bn
        self.count = 0
        self.total = torch.zeros(bn.num_features, dtype=torch.float64, device=bn.running_mean.device)
        self.total_sq = torch.zeros_like(self.total)

    def __call__(self, module, inputs):
        x = inputs[0].detach().transpose(0, 1).flatten(1).double()
        self.count += x.shape[1]
        self.total += x.sum(1)
        self.total_sq += (x * x).sum(1)

    def write(self) -> None:
        if self.count < 2:
            raise ValueError("BN calibration needs at least 2 activations per channel")
        mean = self.total / self.count
        var = (self.total_sq - self.count * mean * mean) / (self.count - 1)
        self.bn.running_mean.copy_(mean.to(self.bn.running_mean.dtype))
        self.bn.running_var.copy_(var.clamp_(min=0).to(self.bn.running_var.dtype))
        self.bn.num_batches_tracked.add_(1)


@torch.no_grad()
def calibrate(
    model: nn.Module,
    batches: Iterable,
    t: int | Sequence[int] | str,
    num_batches: int = 10,
    device: torch.device | str | None = None,
    precision: str = "auto",
) -> int:
    """Re-estimate every BN's running statistics on ``num_batches`` of ``batches`` at ``t``,
    the passes under ``precision``'s autocast (:mod:`tfsnn.precision`; as evaluation runs).

    ``batches`` yields ``(inputs, targets)`` or inputs. Returns the number of batches used.
    The model is left in eval mode; no parameter other than the BN buffers changes.
    """
    if num_batches < 1:
        raise ValueError(f"num_batches must be >= 1, got {num_batches}")
    device = torch.device(device or next(model.parameters()).device)
    accumulators = [_MomentAccumulator(bn) for bn in batchnorms(model)]
    handles = [acc.bn.register_forward_pre_hook(acc) for acc in accumulators]
    used = 0
    try:
        model.train()
        for batch in islice(batches, num_batches):
            inputs = batch[0] if isinstance(batch, list | tuple) else batch
            with autocast(device, precision):
                model(inputs.to(device, non_blocking=True), t)
            used += 1
    finally:
        for handle in handles:
            handle.remove()
        model.eval()
    if used == 0:
        raise ValueError("BN calibration got no batches")
    for acc in accumulators:
        acc.write()
    return used
