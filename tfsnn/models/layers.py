"""Building blocks of the TFSNN architectures; every block maps ``[T, B, ...]`` to ``[T, B, ...]``.

Stateless layers (conv, BN, pooling, linear) run on time folded into the batch, ``[T*B, ...]``,
through :class:`Folded`; only the neurons loop over time. BN is a plain ``BatchNorm2d`` shared
over time (as in the authors' code).

A conv fed by spikes (every conv after the stem) is a :class:`SpikeConv2d`: its input holds
spikes, or spike counts after a summing TTM (at most the largest T of the configuration), so it
is kept for the backward pass as ``int8`` (lossless for counts up to :data:`MAX_SPIKE_COUNT`)
instead of a float copy. ``int8``, not ``uint8``: PyTorch's CPU conversion from float to
``int8`` is vectorized and parallel, the one to ``uint8`` is not (2-4x slower).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Folded", "SpikeConv2d", "MAX_SPIKE_COUNT", "conv_bn", "ConvBNSpike", "BasicBlock", "LinearSpike",
           "ClassifierHead"]

MAX_SPIKE_COUNT = torch.iinfo(torch.int8).max  # the largest count a SpikeConv2d saves exactly

NeuronFactory = Callable[[], nn.Module]


class Folded(nn.Sequential):
    """Runs its layers on ``[T*B, ...]`` and returns ``[T, B, ...]``: time folded into the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(0, 1)).unflatten(0, x.shape[:2])


class _CountInputConv(torch.autograd.Function):
    """Bias-free conv2d that saves its integer input (<= ``MAX_SPIKE_COUNT``) as int8 for backward."""

    @staticmethod
    def forward(ctx, x, weight, stride, padding):
        device = x.device.type
        if torch.is_autocast_enabled(device):
            dtype = torch.get_autocast_dtype(device)
            x, weight_used = x.to(dtype), weight.to(dtype)
        else:
            weight_used = weight
        with torch.autocast(device, enabled=False):
            out = F.conv2d(x, weight_used, None, stride, padding)
        ctx.save_for_backward(x.to(torch.int8), weight)
        ctx.conv = (stride, padding, x.dtype)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        counts, weight = ctx.saved_tensors
        stride, padding, input_dtype = ctx.conv
        grad_in, grad_w, _ = torch.ops.aten.convolution_backward(
            grad_out, counts.to(grad_out.dtype), weight.to(grad_out.dtype), None, stride, padding,
            (1, 1), False, (0, 0), 1, (ctx.needs_input_grad[0], ctx.needs_input_grad[1], False),
        )
        return (
            None if grad_in is None else grad_in.to(input_dtype),
            None if grad_w is None else grad_w.to(weight.dtype),
            None,
            None,
        )


class SpikeConv2d(nn.Conv2d):
    """A bias-free ``Conv2d`` whose input is spikes or spike counts (integers in [0, 127]);
    when training, its input is saved as ``int8`` instead of a float copy (same result)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return super().forward(x)
        return _CountInputConv.apply(x, self.weight, self.stride, self.padding)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, spike_input: bool = False) -> Folded:
    """Bias-free conv followed by BN, folded over time; a :class:`SpikeConv2d` for spike input."""
    conv = SpikeConv2d if spike_input else nn.Conv2d
    return Folded(
        conv(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class ConvBNSpike(nn.Module):
    """conv -> BN -> spiking neuron (-> optional max-pool): a stem, or one VGG layer."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        neuron: NeuronFactory,
        kernel_size: int = 3,
        stride: int = 1,
        pool: bool = False,
        spike_input: bool = False,
    ):
        super().__init__()
        self.conv = conv_bn(in_channels, out_channels, kernel_size, stride, spike_input)
        self.neuron = neuron()
        self.pool = Folded(nn.MaxPool2d(2)) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.neuron(self.conv(x)))


class BasicBlock(nn.Module):
    """Spiking basic residual block: ``N(BN(conv(N(BN(conv(x))))) + shortcut(x))``.

    The shortcut is identity, or a 1x1 conv + BN when the shape changes; the sum of the two
    paths is the input current of the second neuron.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, neuron: NeuronFactory, spike_input: bool):
        super().__init__()
        self.conv1 = conv_bn(in_channels, out_channels, 3, stride, spike_input)
        self.neuron1 = neuron()
        self.conv2 = conv_bn(out_channels, out_channels, 3, spike_input=spike_input)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = conv_bn(in_channels, out_channels, 1, stride, spike_input)
        else:
            self.shortcut = nn.Identity()
        self.neuron2 = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron2(self.conv2(self.neuron1(self.conv1(x))) + self.shortcut(x))


class LinearSpike(nn.Module):
    """A fully connected spiking layer: linear -> neuron."""

    def __init__(self, in_features: int, out_features: int, neuron: NeuronFactory):
        super().__init__()
        self.linear = Folded(nn.Linear(in_features, out_features))
        self.neuron = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.linear(x))


class ClassifierHead(Folded):
    """Global average pool (for feature maps) and one linear layer, applied at every step."""

    def __init__(self, in_features: int, num_classes: int, spatial: bool = True):
        layers = [nn.AdaptiveAvgPool2d(1), nn.Flatten()] if spatial else []
        super().__init__(*layers, nn.Linear(in_features, num_classes))
