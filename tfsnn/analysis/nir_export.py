"""Export a TFSNN to NIR, the Neuromorphic Intermediate Representation (``nir`` package), the
format chip toolchains read, and run a NIR graph back in discrete time (:func:`run_nir`).

What is written (:func:`export_nir`), from the model with BN folded into the convs
(:func:`tfsnn.analysis.event_driven.fold_batchnorm`):

- ``Input`` (the input's shape, no batch or time dim) and ``Output`` (the per-step logits);
- ``Conv2d`` (with the folded BN shift as bias), ``Affine`` (linear with bias) or ``Linear``;
- the classifier's global average pool as ``SumPool2d`` over the whole map followed by
  ``Flatten``, the ``1 / (H * W)`` folded into the next ``Affine`` (Speck pools by summing);
- each LIF layer as ``LIF``, each IF layer (``tau = 1``) as ``IF``, one value per neuron;
- a residual block as edges: the second neuron has two incoming edges (its conv and the
  shortcut, or the block's input for an identity shortcut), which NIR sums.

The discrete LIF of Eq. 1-4, ``v[t] = tau * u[t-1] + I[t]``, maps onto NIR's continuous
``tau_c dv/dt = (v_leak - v) + r I`` under forward Euler with step ``dt`` (``v[t] = (1 - dt/tau_c)
v[t-1] + (dt r / tau_c) I[t]``): ``tau_c = dt / (1 - tau)``, ``r = 1 / (1 - tau)``,
``v_leak = 0``, ``v_threshold`` as trained, ``v_reset = 0`` (the hard reset of Eq. 4). IF
(``dv/dt = r I``): ``r = 1 / dt``. ``dt`` (seconds; default 1 ms) is stored in the graph's
metadata. A toolchain that integrates the leak exactly (``exp(-dt / tau_c)``) sees a slightly
different leak (0.61 instead of 0.5 per step for ``tau = 0.5``); IF neurons map exactly either
way. NIR fires at ``v > v_threshold``, the model at ``v >= v_threshold`` (they differ only at
exact ties).

The graph is the network at any uniform ``T``; a per-stage configuration (TTMs regroup time
steps) has no NIR counterpart. Max pooling (VGG) and ReLU (ANN twins) are not exported: an error
names the layer.

Loading on a chip (not installed here): SynSense's ``sinabs`` reads the file with
``graph = nir.read("model.nir"); net = sinabs.from_nir(graph, batch_size=1)``, then
``sinabs.backend.dynapcnn.DynapcnnNetwork(net, input_shape=(2, 34, 34), discretize=True)
.to("speck2edevkit")`` maps it onto Speck; its IAF neurons use a subtractive reset and no
leak, so an IF-trained model (``model.neuron.kind: if``) is the faithful choice, and biases
should be removed first (see :mod:`tfsnn.analysis.event_driven`).
"""

from __future__ import annotations

import os
from collections import defaultdict

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tfsnn.analysis.event_driven import fold_batchnorm
from tfsnn.models.layers import BasicBlock, ConvBNSpike, LinearSpike
from tfsnn.models.tfsnn import TFSNN
from tfsnn.neuron import LIF

__all__ = ["export_nir", "export_trained_nir", "run_nir"]


def _shapes(model: TFSNN, input_shape: tuple[int, ...]) -> dict[nn.Module, tuple]:
    """Input and output shape of every module in one forward pass at T=1, batch 1."""
    shapes, handles = {}, []
    for module in model.modules():
        def hook(m, inputs, output):
            shapes[m] = (tuple(inputs[0].shape), tuple(output.shape))

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            param = next(model.parameters())
            model(torch.zeros(1, *input_shape, dtype=param.dtype, device=param.device), 1)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


class _Builder:
    """Nodes and edges of a folded TFSNN; :meth:`add` returns the node whose output is a
    module's output."""

    def __init__(self, shapes: dict, dt: float):
        self.shapes, self.dt = shapes, dt
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []

    def node(self, name: str, node: nir.NIRNode, *sources: str) -> str:
        self.nodes[name] = node
        self.edges += [(source, name) for source in sources]
        return name

    def add(self, name: str, module: nn.Module, source: str) -> str:
        if isinstance(module, nn.Identity):
            return source
        if isinstance(module, ConvBNSpike):
            for part in ("conv", "neuron", "pool"):
                source = self.add(f"{name}.{part}", getattr(module, part), source)
            return source
        if isinstance(module, BasicBlock):
            branch = source
            for part in ("conv1", "neuron1", "conv2"):
                branch = self.add(f"{name}.{part}", getattr(module, part), branch)
            shortcut = self.add(f"{name}.shortcut", module.shortcut, source)
            return self.neuron(f"{name}.neuron2", module.neuron2, branch, shortcut)
        if isinstance(module, LinearSpike):
            return self.add(f"{name}.neuron", module.neuron, self.add(f"{name}.linear", module.linear, source))
        if isinstance(module, nn.Sequential):
            return self.sequence(name, module, source)
        if isinstance(module, LIF):
            return self.neuron(name, module, source)
        return self.layer(name, module, source, 1.0)

    def sequence(self, name: str, seq: nn.Sequential, source: str) -> str:
        """A time-folded sequence; a global average pool becomes a sum pool whose
        ``1 / (H * W)`` scales the next linear layer (only a flatten may come between)."""
        scale = 1.0
        for index, module in enumerate(seq):
            part = f"{name}.{index}"
            if isinstance(module, nn.AdaptiveAvgPool2d):
                (_, _, h, w), out = self.shapes[module]
                if tuple(out[2:]) != (1, 1):
                    raise ValueError(f"NIR export: {part} is an adaptive average pool to {out[2:]}, only to (1, 1)")
                source = self.node(part, nir.SumPool2d(np.array([h, w]), np.array([h, w]), np.array([0, 0])), source)
                scale = 1.0 / (h * w)
            elif isinstance(module, nn.Flatten):
                shape, _ = self.shapes[module]
                start, end = (d if d < 0 else d - 1 for d in (module.start_dim, module.end_dim))
                source = self.node(part, nir.Flatten({"input": np.array(shape[1:])}, start, end), source)
            elif isinstance(module, nn.Linear):
                source, scale = self.layer(part, module, source, scale), 1.0
            elif scale != 1.0 and not isinstance(module, nn.Identity):
                raise ValueError(f"NIR export: {part} ({type(module).__name__}) follows a global average pool; "
                                 "only a flatten and a linear layer may")
            else:
                source = self.add(part, module, source)
        if scale != 1.0:
            raise ValueError(f"NIR export: the global average pool in {name} is not followed by a linear layer")
        return source

    def layer(self, name: str, module: nn.Module, source: str, scale: float) -> str:
        if isinstance(module, nn.Conv2d):
            shape, _ = self.shapes[module]
            bias = module.bias if module.bias is not None else torch.zeros(module.out_channels)
            node = nir.Conv2d(tuple(shape[2:]), _numpy(module.weight), module.stride, module.padding,
                              module.dilation, module.groups, _numpy(bias))
        elif isinstance(module, nn.Linear):
            weight = _numpy(module.weight * scale)
            node = nir.Linear(weight) if module.bias is None else nir.Affine(weight, _numpy(module.bias))
        else:
            raise ValueError(
                f"NIR export: {name} ({type(module).__name__}) is not supported; NIR export handles Conv2d, "
                "Linear, BatchNorm (folded), LIF/IF, global average pooling, Flatten and residual blocks"
            )
        return self.node(name, node, source)

    def neuron(self, name: str, module: LIF, *sources: str) -> str:
        _, out = self.shapes[module]
        shape = out[2:]
        full = lambda value: np.full(shape, value, dtype=np.float64)  # noqa: E731
        if module.tau == 1.0:
            node = nir.IF(full(1.0 / self.dt), full(module.v_threshold), full(0.0))
        else:
            tau_c = self.dt / (1.0 - module.tau)
            node = nir.LIF(full(tau_c), full(1.0 / (1.0 - module.tau)), full(0.0), full(module.v_threshold), full(0.0))
        return self.node(name, node, *sources)


def export_nir(model: TFSNN, path: str | os.PathLike | None = None, *, input_shape, dt: float = 1e-3) -> nir.NIRGraph:
    """The NIR graph of ``model`` (BN folded; see the module docstring) for inputs of
    ``input_shape`` (one sample, e.g. ``(2, 34, 34)``), one time step lasting ``dt`` seconds;
    written to ``path`` with ``nir.write`` when given. The model is not changed."""
    if not isinstance(model, TFSNN):
        raise ValueError(f"NIR export takes a TFSNN, got {type(model).__name__}")
    if dt <= 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    folded = fold_batchnorm(model)
    input_shape = tuple(int(s) for s in input_shape)
    builder = _Builder(_shapes(folded, input_shape), dt)
    builder.node("input", nir.Input({"input": np.array(input_shape)}))
    last = "input"
    for part in ("stem", "blocks", "head"):
        module = getattr(folded, part)
        children = enumerate(module) if part == "blocks" else [(None, module)]
        for index, child in children:
            last = builder.add(part if index is None else f"{part}.{index}", child, last)
    classes = folded.head[-1].out_features
    builder.node("output", nir.Output({"output": np.array([classes])}), last)
    metadata = {
        "source": "tfsnn", "dt": float(dt), "discretization": "forward Euler, one model time step = dt",
        "reset": "to v_reset (hard reset, Eq. 4)", "readout": "mean of the output over the time steps",
    }
    graph = nir.NIRGraph(builder.nodes, builder.edges, metadata=metadata)
    if path is not None:
        nir.write(str(path), graph)
    return graph


def export_trained_nir(trained, path: str | os.PathLike, dt: float = 1e-3) -> nir.NIRGraph:
    """:func:`export_nir` of a :class:`tfsnn.experiment.Trained` to ``path``, its input shape
    taken from its test data (what the workflow calls)."""
    sample = trained.datasets.test[0][0]
    return export_nir(trained.model, path, input_shape=tuple(sample.shape[-trained.model.input_rank:]), dt=dt)


def _pair(value) -> tuple[int, int]:
    values = [int(v) for v in np.atleast_1d(value)]
    return (values[0], values[0]) if len(values) == 1 else tuple(values)


def _tensor(array, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array), device=like.device).to(like.dtype)


def _stateless(node: nir.NIRNode, x: torch.Tensor) -> torch.Tensor:
    """``node`` applied to ``x`` ``[N, ...]`` (time and batch folded)."""
    if isinstance(node, nir.Conv2d):
        padding = node.padding if isinstance(node.padding, str) else _pair(node.padding)
        return F.conv2d(x, _tensor(node.weight, x), _tensor(node.bias, x), _pair(node.stride), padding,
                        _pair(node.dilation), int(node.groups))
    if isinstance(node, nir.Affine):
        return F.linear(x, _tensor(node.weight, x), _tensor(node.bias, x))
    if isinstance(node, nir.Linear):
        return F.linear(x, _tensor(node.weight, x))
    if isinstance(node, nir.SumPool2d | nir.AvgPool2d):
        divisor = 1 if isinstance(node, nir.SumPool2d) else None
        return F.avg_pool2d(x, _pair(node.kernel_size), _pair(node.stride), _pair(node.padding),
                            divisor_override=divisor)
    if isinstance(node, nir.Flatten):
        start, end = (d if d < 0 else d + 1 for d in (int(node.start_dim), int(node.end_dim)))
        return x.flatten(start, end)
    raise ValueError(f"run_nir: NIR node type {type(node).__name__} is not supported")


def _spiking(node: nir.NIRNode, current: torch.Tensor, dt: float) -> torch.Tensor:
    """Forward-Euler run of a ``LIF`` or ``IF`` node over ``current`` ``[T, B, ...]`` from
    ``v = 0``: ``v <- v + dt/tau (v_leak - v + r I)`` (IF: ``v <- v + dt r I``), a spike where
    ``v > v_threshold``, then ``v = v_reset`` there."""
    if isinstance(node, nir.LIF):
        tau, r = np.asarray(node.tau, dtype=np.float64), np.asarray(node.r, dtype=np.float64)
        decay, gain, drift = 1.0 - dt / tau, dt * r / tau, dt / tau * np.asarray(node.v_leak, dtype=np.float64)
    else:
        gain = dt * np.asarray(node.r, dtype=np.float64)
        decay, drift = np.ones_like(gain), np.zeros_like(gain)
    decay, gain, drift = (_tensor(a, current) for a in (decay, gain, drift))
    threshold, reset = _tensor(node.v_threshold, current), _tensor(node.v_reset, current)
    v = torch.zeros_like(current[0])
    spikes = torch.empty_like(current)
    for t in range(current.shape[0]):
        v = decay * v + gain * current[t] + drift
        fired = v > threshold
        spikes[t].copy_(fired)
        v = torch.where(fired, reset, v)
    return spikes


@torch.no_grad()
def run_nir(graph: nir.NIRGraph, inputs: torch.Tensor, dt: float | None = None) -> torch.Tensor:
    """The output ``[T, B, ...]`` of a NIR graph (one ``Input``, one ``Output``, no cycles) for
    inputs ``[T, B, *input_shape]``, run in discrete time with step ``dt`` (default: the graph's
    ``metadata["dt"]``) in the inputs' dtype. Each node's input is the sum of its incoming
    edges; neurons follow :func:`_spiking`. For a graph of :func:`export_nir`, the mean over
    ``T`` is the model's output at uniform ``T``."""
    if dt is None:
        if "dt" not in graph.metadata:
            raise ValueError("run_nir: the graph's metadata has no dt; pass dt")
        dt = float(graph.metadata["dt"])
    kinds = defaultdict(list)
    for name, node in graph.nodes.items():
        kinds[type(node)].append(name)
    if len(kinds[nir.Input]) != 1 or len(kinds[nir.Output]) != 1:
        raise ValueError("run_nir: the graph needs exactly one Input and one Output node")
    incoming = defaultdict(list)
    for source, target in graph.edges:
        incoming[target].append(source)
    values: dict[str, torch.Tensor] = {}
    pending = list(graph.nodes)
    while pending:
        ready = [n for n in pending if all(s in values for s in incoming[n])]
        if not ready:
            raise ValueError(f"run_nir: the graph has a cycle or dangling edges among {pending}")
        for name in ready:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                values[name] = inputs
                continue
            if not incoming[name]:
                raise ValueError(f"run_nir: node {name!r} has no input")
            x = sum(values[s] for s in incoming[name])
            if isinstance(node, nir.Output):
                values[name] = x
            elif isinstance(node, nir.LIF | nir.IF):
                values[name] = _spiking(node, x, dt)
            else:
                values[name] = _stateless(node, x.flatten(0, 1)).unflatten(0, x.shape[:2])
        pending = [n for n in pending if n not in values]
    return values[kinds[nir.Output][0]]
