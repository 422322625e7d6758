"""The architectures of the paper as TFSNNs, built by name with :func:`build`.

=============  ===========================================  ======  ===========================
name           layout                                       blocks  source
=============  ===========================================  ======  ===========================
resnet18       3x3 stem 64; basic blocks [2,2,2,2]           8      CIFAR / DVS (He et al.)
resnet19       3x3 stem 128; [3,3,2] at 128/256/512; 1 FC     8      Zheng et al. 2021, A.2
resnet34       7x7/2 stem 64, no max-pool; [3,4,6,3],        16      ImageNet, A.2
               first block stride 2
b-resnet50     3x3 stem 64; [3,6,9,6]                        24      Table 10
b-resnet72     3x3 stem 64; [3,8,16,8]                       35      Table 10
vgg14          the 13 conv layers of VGG16, one FC           13      A.1 (each layer a stage)
fc             linear+LIF layers of ``hidden`` widths        len     seqMNIST / SHD / SSC, A.12
fc-seqmnist    fc, hidden (64, 64), tau 0.99                  2      Table 14
fc-shd         fc, hidden (128, 128, 128), tau 0.9753         3      Tables 15, 16
=============  ===========================================  ======  ===========================

Each basic block of a ResNet, each conv layer of the VGG, each hidden layer of an FC net is one
block; ``granularity`` blocks make one stage.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from tfsnn.models.layers import BasicBlock, ClassifierHead, ConvBNSpike, LinearSpike
from tfsnn.models.tfsnn import TFSNN
from tfsnn.neuron import IAF, IF, LIF

__all__ = ["build", "ARCHITECTURES", "neuron_factory"]


@dataclass(frozen=True)
class ResNetSpec:
    stem_channels: int
    stem_kernel: int
    stem_stride: int
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    strides: tuple[int, ...]


RESNETS = {
    "resnet18": ResNetSpec(64, 3, 1, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2)),
    "resnet19": ResNetSpec(128, 3, 1, (128, 256, 512), (3, 3, 2), (1, 2, 2)),
    "resnet34": ResNetSpec(64, 7, 2, (64, 128, 256, 512), (3, 4, 6, 3), (2, 2, 2, 2)),
    "b-resnet50": ResNetSpec(64, 3, 1, (64, 128, 256, 512), (3, 6, 9, 6), (1, 2, 2, 2)),
    "b-resnet72": ResNetSpec(64, 3, 1, (64, 128, 256, 512), (3, 8, 16, 8), (1, 2, 2, 2)),
}

VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

FC_PRESETS = {
    "fc-seqmnist": {"hidden": (64, 64), "tau": 0.99},
    "fc-shd": {"hidden": (128, 128, 128), "tau": 0.9753},
}

NEURONS = {"lif": LIF, "if": IF, "iaf": IAF, "relu": nn.ReLU}
MULTI_SPIKE = {"iaf"}  # neurons whose output is a spike count per step, not 0/1


def neuron_factory(kind: str = "lif", **params):
    """A zero-argument constructor of the neuron ``kind`` with ``params``.

    ``lif`` and ``if`` take ``tau`` (lif only), ``v_threshold``, ``h``, ``detach_reset``,
    ``backend``; ``iaf`` (Speck's neuron as sinabs simulates it, :class:`tfsnn.neuron.IAF`) takes
    ``v_threshold``, ``v_min``, ``width``, ``detach_reset``. ``relu`` turns the network into its
    ANN twin (the compute floor of the benchmarks: with a uniform ``T`` it runs the ANN on ``T*B``
    images).
    """
    if kind not in NEURONS:
        raise ValueError(f"model.neuron.kind: unknown neuron {kind!r}; choose from {sorted(NEURONS)}")
    if kind == "relu":
        params = {}
    try:
        NEURONS[kind](**params)
    except TypeError as err:
        raise ValueError(f"model.neuron: bad parameters for {kind!r}: {err}") from None
    return functools.partial(NEURONS[kind], **params)


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def _resnet(spec: ResNetSpec, num_classes, in_channels, width, neuron, spike_convs):
    stem_channels = _scaled(spec.stem_channels, width)
    stem = ConvBNSpike(in_channels, stem_channels, neuron, spec.stem_kernel, spec.stem_stride)
    blocks, channels = [], stem_channels
    for planes, depth, stride in zip(spec.widths, spec.depths, spec.strides):
        planes = _scaled(planes, width)
        for i in range(depth):
            blocks.append(BasicBlock(channels, planes, stride if i == 0 else 1, neuron, spike_convs))
            channels = planes
    return stem, blocks, ClassifierHead(channels, num_classes), 3


def _vgg14(num_classes, in_channels, width, neuron, spike_convs):
    blocks, channels = [], in_channels
    layers = list(VGG16_LAYERS)
    for i, item in enumerate(layers):
        if item == "M":
            continue
        planes = _scaled(item, width)
        pool = i + 1 < len(layers) and layers[i + 1] == "M"
        blocks.append(ConvBNSpike(channels, planes, neuron, pool=pool, spike_input=spike_convs and bool(blocks)))
        channels = planes
    return nn.Identity(), blocks, ClassifierHead(channels, num_classes), 3


def _fc(num_classes, in_channels, width, neuron, hidden: Sequence[int]):
    if not hidden:
        raise ValueError("model.hidden: an fc model needs at least one hidden width")
    blocks, features = [], in_channels
    for size in hidden:
        blocks.append(LinearSpike(features, _scaled(size, width), neuron))
        features = _scaled(size, width)
    return nn.Identity(), blocks, ClassifierHead(features, num_classes, spatial=False), 1


ARCHITECTURES = sorted([*RESNETS, "vgg14", "fc", *FC_PRESETS])


def build(
    name: str,
    num_classes: int,
    in_channels: int,
    granularity: int = 1,
    width: float = 1.0,
    neuron: dict | None = None,
    hidden: Sequence[int] | None = None,
    compact_spikes: bool = True,
) -> TFSNN:
    """Build architecture ``name`` as a :class:`TFSNN`.

    ``in_channels`` is the number of input channels (images, frames) or of input features per
    step (fc nets). ``width`` scales every layer's width (1.0 = the paper's). ``neuron`` is a
    dict for :func:`neuron_factory` (default: LIF, tau 0.5, v_threshold 1, h 1; the fc presets
    set their own tau). ``hidden`` gives the fc widths (and overrides a preset's).
    ``compact_spikes`` keeps the spike input of every conv after the first as int8 for the
    backward pass (:class:`~tfsnn.models.layers.SpikeConv2d`; time steps up to 127): about 22%
    less activation memory (ResNet-18 at T=6); not for ``iaf`` neurons, whose spike counts per
    step are unbounded.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"model.name: unknown architecture {name!r}; choose from {ARCHITECTURES}")
    if num_classes < 1 or in_channels < 1:
        raise ValueError(f"num_classes and in_channels must be >= 1, got {num_classes}, {in_channels}")
    if width <= 0:
        raise ValueError(f"model.width must be > 0, got {width}")
    neuron = dict(neuron or {})
    if name in FC_PRESETS:
        preset = FC_PRESETS[name]
        neuron.setdefault("tau", preset["tau"])
        hidden = preset["hidden"] if hidden is None else hidden
    make_neuron = neuron_factory(**neuron)
    # convs fed by 0/1 spikes; an IAF's counts are unbounded, more than int8 holds
    spike_convs = compact_spikes and neuron.get("kind", "lif") not in {"relu", *MULTI_SPIKE}
    if name in RESNETS:
        parts = _resnet(RESNETS[name], num_classes, in_channels, width, make_neuron, spike_convs)
    elif name == "vgg14":
        parts = _vgg14(num_classes, in_channels, width, make_neuron, spike_convs)
    else:
        parts = _fc(num_classes, in_channels, width, make_neuron, hidden or ())
    stem, blocks, head, input_rank = parts
    return TFSNN(stem, blocks, head, input_rank, granularity)
