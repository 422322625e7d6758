"""Building blocks of the TFSNN architectures; every block maps ``[T, B, ...]`` to ``[T, B, ...]``.

Stateless layers (conv, BN, pooling, linear) run on time folded into the batch, ``[T*B, ...]``,
through :class:`Folded`; only the neurons loop over time. BN is a plain ``BatchNorm2d`` shared
over time (as in the authors' code).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["Folded", "conv_bn", "ConvBNSpike", "BasicBlock", "LinearSpike", "ClassifierHead"]

NeuronFactory = Callable[[], nn.Module]


class Folded(nn.Sequential):
    """Runs its layers on ``[T*B, ...]`` and returns ``[T, B, ...]``: time folded into the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(0, 1)).unflatten(0, x.shape[:2])


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> Folded:
    """Bias-free conv followed by BN, folded over time."""
    return Folded(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False),
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
    ):
        super().__init__()
        self.conv = conv_bn(in_channels, out_channels, kernel_size, stride)
        self.neuron = neuron()
        self.pool = Folded(nn.MaxPool2d(2)) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.neuron(self.conv(x)))


class BasicBlock(nn.Module):
    """Spiking basic residual block: ``N(BN(conv(N(BN(conv(x))))) + shortcut(x))``.

    The shortcut is identity, or a 1x1 conv + BN when the shape changes; the sum of the two
    paths is the input current of the second neuron.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, neuron: NeuronFactory):
        super().__init__()
        self.conv1 = conv_bn(in_channels, out_channels, 3, stride)
        self.neuron1 = neuron()
        self.conv2 = conv_bn(out_channels, out_channels, 3)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = conv_bn(in_channels, out_channels, 1, stride)
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
