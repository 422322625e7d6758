"""Export a TFSNN to NIR, the Neuromorphic Intermediate Representation (``nir`` package), the
format chip toolchains read, and run a NIR graph back in discrete time (:func:`run_nir`).

What is written (:func:`export_nir`), from the model with BN folded into the convs
(:func:`tfsnn.bn.fold_batchnorm`):

- ``Input`` (the input's shape, no batch or time dim) and ``Output`` (the per-step logits);
- ``Conv2d`` (with the folded BN shift as bias), ``Affine`` (linear with bias) or ``Linear``;
- the classifier's global average pool as ``SumPool2d`` over the whole map followed by
  ``Flatten``, the ``1 / (H * W)`` folded into the next ``Affine`` (Speck pools by summing);
- each LIF layer as ``LIF``, each IF layer (``tau = 1``) and each IAF layer (Speck's neuron,
  :class:`tfsnn.neuron.IAF`) as ``IF``, one value per neuron;
- a residual block as edges: the second neuron has two incoming edges (its conv and the
  shortcut, or the block's input for an identity shortcut), which NIR sums.

The discrete LIF of Eq. 1-4, ``v[t] = tau * u[t-1] + I[t]``, maps onto NIR's continuous
``tau_c dv/dt = (v_leak - v) + r I`` under forward Euler with step ``dt`` (``v[t] = (1 - dt/tau_c)
v[t-1] + (dt r / tau_c) I[t]``): ``tau_c = dt / (1 - tau)``, ``r = 1 / (1 - tau)``,
``v_leak = 0``, ``v_threshold`` as trained. IF and IAF (``dv/dt = r I``): ``r = 1 / dt``. ``dt``
(seconds; default 1 ms) is stored in the graph's metadata. A toolchain that integrates the leak
exactly (``exp(-dt / tau_c)``) sees a slightly different leak (0.61 instead of 0.5 per step for
``tau = 0.5``); IF neurons map exactly either way. NIR fires at ``v > v_threshold``, the LIF and
IF at ``v >= v_threshold`` (they differ only at exact ties). Neuron parameters are written in
float64, an ``IF`` node's in the model's own dtype (so a reader that takes its dtype from them,
as sinabs does, integrates in the model's precision).

**Reset: what NIR can say depends on its version** (NIR PR #63 proposed a ``v_reset``; #129
added one, in nir 1.0.6, defaulting to 0):

- nir >= 1.0.6: a node's ``v_reset`` is a hard reset, so the LIF's and IF's reset to 0 of Eq. 4
  is written exactly (``v_reset = 0``), while the IAF's subtractive reset has no field;
- nir <= 1.0.5 (what sinabs 3.1 pins, ``nir<=1.0.4``): ``LIF`` and ``IF`` reset by subtracting
  the threshold, so the IAF is written exactly, while the hard reset has no field.

Whichever the installed nir cannot say is kept in the node's metadata (``reset``: ``"zero"`` or
``"subtract"``), with a warning, and read back by :func:`run_nir`; other readers go by their
own reading of the node (sinabs subtracts, Norse resets to 0, whatever the version). An IAF node
also records ``spikes = "multi"`` and its ``v_min``, which NIR has no field for either: sinabs
reads every ``IF`` as its IAF with several spikes per step and ``min_v_mem = -v_threshold``,
which is the :class:`~tfsnn.neuron.IAF`'s default.

The graph is the network at any uniform ``T``; a per-stage configuration (TTMs regroup time
steps) has no NIR counterpart. Max pooling (VGG) and ReLU (ANN twins) are not exported: an error
names the layer.

Reading it with sinabs (the ``deploy`` extra): ``net = sinabs.from_nir(nir.read("model.nir"),
batch_size=B)`` runs it on ``[B * T, ...]`` inputs, sample-major, each ``IF`` as an ``IAFSqueeze``:
an ``iaf`` model's spikes come out as the model's own, bit for bit in fp32; an ``if`` model's
do not (sinabs's IAF is no hard reset). Norse (``norse.torch.from_nir``, in the test extra) reads
``IF`` as a hard-reset IF: an ``if`` model's spikes come out as the model's own. Both go through
nirtorch 2.0's ``nirtorch.load``, whose executor runs the nodes depth first, not in topological
order: a residual block with a conv shortcut comes out wrong until its ``execution_order`` is
sorted topologically (:func:`topological`; ``tests/test_nir_readers.py`` has the comparisons).
sinabs's LIF reader takes ``tau`` in time steps and ignores ``r``, Norse's ignores ``r``, so LIF graphs are
read faithfully by :func:`run_nir` only. Mapping a network onto a Speck board then goes through
``sinabs.backend.dynapcnn.DynapcnnNetwork(net, input_shape=(2, 34, 34), discretize=True)`` and
samna, which tfsnn never imports (the ``samna`` release on PyPI, which sinabs requires, is a stub
that pip-installs the real samna from another index when imported); biases are removed and the
network fine-tuned first, as the authors do (:mod:`tfsnn.analysis.speck`, docs/deployment.md).

:func:`run_nir` is tfsnn's own reader of these graphs, kept as a test oracle: the only one that
runs the LIF nodes the way they were exported (forward Euler, hard reset), and the check of an
export where sinabs is not installed.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections import defaultdict
from importlib.metadata import version

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tfsnn.bn import fold_batchnorm
from tfsnn.models.layers import BasicBlock, ConvBNSpike, LinearSpike
from tfsnn.models.tfsnn import TFSNN
from tfsnn.neuron import IAF, LIF

__all__ = ["export_nir", "export_trained_nir", "run_nir", "topological", "NIR_HAS_V_RESET"]

# nir >= 1.0.6: IF, LIF and CubaLIF have a v_reset (a hard reset); before, they reset by subtraction
NIR_HAS_V_RESET = "v_reset" in {f.name for f in dataclasses.fields(nir.IF)}


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

    def __init__(self, shapes: dict, dt: float, dtype: torch.dtype):
        self.shapes, self.dt = shapes, dt
        self.dtype = torch.empty(0, dtype=dtype).numpy().dtype
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []
        self.unsaid: list[str] = []  # neurons whose reset the installed nir has no field for

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
        if isinstance(module, LIF | IAF):
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
                "Linear, BatchNorm (folded), LIF/IF/IAF, global average pooling, Flatten and residual blocks"
            )
        return self.node(name, node, source)

    def neuron(self, name: str, module: LIF | IAF, *sources: str) -> str:
        """An ``IF`` node for an IF or IAF layer (in the model's dtype), a ``LIF`` node (float64)
        for a LIF layer; the reset in the nir version's own field where it has one, and always in
        the node's metadata (see the module docstring)."""
        _, out = self.shapes[module]
        spiking_if = isinstance(module, IAF) or module.tau == 1.0
        dtype = self.dtype if spiking_if else np.float64
        full = lambda value: np.full(out[2:], value, dtype=dtype)  # noqa: E731
        if isinstance(module, IAF):
            metadata = {"reset": "subtract", "spikes": "multi", "v_min": float(module.v_min)}
        else:
            metadata = {"reset": "zero"}
        hard = metadata["reset"] == "zero"
        if hard != NIR_HAS_V_RESET:
            self.unsaid.append(name)
        fields = {"v_reset": full(0.0)} if hard and NIR_HAS_V_RESET else {}
        if spiking_if:
            node = nir.IF(r=full(1.0 / self.dt), v_threshold=full(module.v_threshold), **fields, metadata=metadata)
        else:
            node = nir.LIF(tau=full(self.dt / (1.0 - module.tau)), r=full(1.0 / (1.0 - module.tau)),
                           v_leak=full(0.0), v_threshold=full(module.v_threshold), **fields, metadata=metadata)
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
    builder = _Builder(_shapes(folded, input_shape), dt, next(folded.parameters()).dtype)
    builder.node("input", nir.Input({"input": np.array(input_shape)}))
    last = "input"
    for part in ("stem", "blocks", "head"):
        module = getattr(folded, part)
        children = enumerate(module) if part == "blocks" else [(None, module)]
        for index, child in children:
            last = builder.add(part if index is None else f"{part}.{index}", child, last)
    classes = folded.head[-1].out_features
    builder.node("output", nir.Output({"output": np.array([classes])}), last)
    if builder.unsaid:
        warnings.warn(
            f"NIR export: nir {version('nir')} has no field for the reset of {len(builder.unsaid)} neuron layer(s) "
            f"({builder.unsaid[0]}, ...): "
            + ("their subtractive reset (IAF) is kept only in the nodes' metadata; a reader that follows "
               "this nir's IF resets to v_reset = 0"
               if NIR_HAS_V_RESET else
               "their hard reset to 0 (LIF/IF, Eq. 4) is kept only in the nodes' metadata; a reader that follows "
               "this nir's IF and LIF (as sinabs does) subtracts the threshold"),
            stacklevel=2,
        )
    metadata = {
        "source": "tfsnn", "dt": float(dt), "discretization": "forward Euler, one model time step = dt",
        "reset": "each neuron node's metadata: zero (LIF/IF, Eq. 4) or subtract (IAF)",
        "readout": "mean of the output over the time steps", "nir_version": version("nir"),
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


def topological(net: nn.Module) -> nn.Module:
    """``net``, a nirtorch ``GraphExecutor`` (what ``sinabs.from_nir`` and ``norse.torch.from_nir``
    return through nirtorch 2.0's ``nirtorch.load``), with its nodes run in topological order.
    That executor runs them depth first from the input: in a residual block with a conv shortcut
    the block's second neuron runs before the shortcut conv, on the branch alone, and the output
    is the last node visited. Only the order changes; the readers' modules and their sum over
    incoming edges run as they are. Returns ``net``."""
    order, done, pending = [], set(), list(net.execution_order)
    while pending:
        ready = [n for n in pending if all(s.name in done for s in net.graph.find_source_nodes_of(n))]
        if not ready:
            raise ValueError("topological: the graph has a cycle")
        order += ready
        done.update(n.name for n in ready)
        pending = [n for n in pending if n.name not in done]
    net.execution_order = order
    return net


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


def _text(value) -> str:
    """A metadata value as text (h5py reads strings back as bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _reset_of(node: nir.NIRNode) -> str:
    """How ``node`` resets: ``"zero"`` (to ``v_reset``, 0 where it has none), ``"subtract"``
    (the threshold) or ``"multi"`` (sinabs's IAF: several spikes, subtractive, bounded below):
    tfsnn's metadata where the node has it, else what the installed nir's fields say."""
    metadata = node.metadata or {}
    if _text(metadata.get("spikes", "")) == "multi":
        return "multi"
    if "reset" in metadata:
        return _text(metadata["reset"])
    return "zero" if getattr(node, "v_reset", None) is not None else "subtract"


def _spiking(node: nir.NIRNode, current: torch.Tensor, dt: float) -> torch.Tensor:
    """Forward-Euler run of a ``LIF`` or ``IF`` node over ``current`` ``[T, B, ...]`` from
    ``v = 0``: ``v <- v + dt/tau (v_leak - v + r I)`` (IF: ``v <- v + dt r I``), a spike where
    ``v > v_threshold``, then ``v = v_reset`` there (``"zero"``) or ``v - v_threshold``
    (``"subtract"``, see :func:`_reset_of`); a ``"multi"`` node emits ``floor(v / v_threshold)``
    spikes where ``v > 0``, subtracts them and bounds ``v`` below by its ``v_min``, as
    :class:`tfsnn.neuron.IAF`."""
    if isinstance(node, nir.LIF):
        tau, r = np.asarray(node.tau, dtype=np.float64), np.asarray(node.r, dtype=np.float64)
        decay, gain, drift = 1.0 - dt / tau, dt * r / tau, dt / tau * np.asarray(node.v_leak, dtype=np.float64)
    else:
        gain = dt * np.asarray(node.r, dtype=np.float64)
        decay, drift = np.ones_like(gain), np.zeros_like(gain)
    decay, gain, drift = (_tensor(a, current) for a in (decay, gain, drift))
    threshold = _tensor(node.v_threshold, current)
    mode = _reset_of(node)
    if mode not in ("zero", "subtract", "multi"):
        raise ValueError(f"run_nir: unknown reset {mode!r} in a node's metadata")
    v_reset = getattr(node, "v_reset", None)  # nir >= 1.0.6
    reset = _tensor(0.0 if v_reset is None else v_reset, current)
    v_min = _tensor(float(node.metadata.get("v_min", -np.inf)), current) if mode == "multi" else None
    v = torch.zeros_like(current[0])
    spikes = torch.empty_like(current)
    for t in range(current.shape[0]):
        v = decay * v + gain * current[t] + drift
        if mode == "multi":
            count = (v > 0) * torch.div(v, threshold, rounding_mode="trunc")
            spikes[t].copy_(count)
            v = v - count * threshold
            if not torch.isinf(v_min):
                v = F.relu(v - v_min) + v_min
            continue
        fired = v > threshold
        spikes[t].copy_(fired)
        v = torch.where(fired, reset, v) if mode == "zero" else v - fired * threshold
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
