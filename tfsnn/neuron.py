"""Spiking neurons: the iterative LIF of Eq. 1-4 with the triangle surrogate of Eq. 6.

Tensor layout is ``[T, B, ...]``: the loop runs over dim 0, every other dim is elementwise.

With ``u[-1] = 0`` and, at every step ``t``::

    v[t] = tau * u[t-1] + I[t]          (Eq. 1, 2)
    s[t] = Theta(v[t] - v_threshold)     (Eq. 3; Theta(0) = 1)
    u[t] = v[t] * (1 - s[t])             (Eq. 4, hard reset to 0)

Backward uses ``ds/dv = max(0, h - |v_threshold - v|) / h^2`` (Eq. 6). The reset path is
differentiated as in Eq. 7 / A.5, ``du/dv = (1 - s) - v * ds/dv``; with ``detach_reset=True``
the spike in Eq. 4 is treated as a constant, ``du/dv = 1 - s`` (for study).

Four implementations compute the same thing (``backend=``):

- ``"fused"``: one autograd node for all ``T`` steps, with the backward over time written out
  (Eq. 15), saving only the membrane potentials ``v``; eager PyTorch ops, in place.
- ``"compiled"``: the same node with its forward and backward each compiled by
  ``torch.compile`` into one kernel over all steps (C++/OpenMP on CPU, Triton on CUDA). The
  first use of each ``T`` compiles (seconds; cached on disk by inductor).
- ``"triton"``: the same node with hand-written Triton kernels (:mod:`tfsnn.lif_triton`): one
  launch for all ``T`` steps, nothing to compile per ``T``; CUDA tensors only.
- ``"autograd"``: the plain per-step loop of :func:`lif_step` (the one reference step, with its
  parameter record :class:`LIFParameters`, that the event-driven simulation runs too),
  differentiated by autograd through :class:`TriangleSpike`; the reference the others are
  tested against.

Every backend rounds as the reference's eager ops do: ``tau * u`` and then ``v`` to the currents'
dtype (no fused multiply-add, no float32 membrane carried in a 16-bit run), with the threshold
compared in that dtype, so the spikes are identical in float64, float32, float16 and bfloat16.

``compiled`` and ``triton`` flatten each step in memory order, so a channels-last current gives
channels-last spikes and gradients, without a copy. ``"auto"`` (the default) picks ``triton`` on
CUDA and ``compiled`` on CPU where they can be built (up to 16 steps), else ``fused`` (see
:func:`resolve_backend`).

:class:`IAF` is the other neuron: Speck's, as sinabs simulates it (no leak, subtractive reset,
several spikes per step); its equations are in its docstring. :class:`SpikingNeuron` is the base
of every spiking layer here (what :class:`FiringRateMonitor` counts).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass
import math
import os
import shutil

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TriangleSpike", "surrogate_grad", "LIFParameters", "lif_step", "lif", "resolve_backend", "SpikingNeuron",
           "LIF", "IF", "exponential_grad", "MultiSpike", "iaf", "IAF", "FiringRateMonitor"]


def surrogate_grad(v: torch.Tensor, v_threshold: float, h: float) -> torch.Tensor:
    """Eq. 6: the triangle surrogate ``max(0, h - |v_threshold - v|) / h^2``."""
    sg = torch.rsub((v - v_threshold).abs_(), h).clamp_(min=0.0)
    return sg if h == 1.0 else sg.div_(h * h)


class TriangleSpike(torch.autograd.Function):
    """Heaviside spike ``Theta(v - v_threshold)`` (Eq. 3) with the gradient of Eq. 6."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, v_threshold: float, h: float) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.v_threshold, ctx.h = v_threshold, h
        return (v >= v_threshold).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_spike: torch.Tensor):
        (v,) = ctx.saved_tensors
        return grad_spike * surrogate_grad(v, ctx.v_threshold, ctx.h), None, None


@dataclass(frozen=True)
class LIFParameters:
    """The parameters of the LIF of Eq. 1-4: leak ``tau`` (1: the IF, no leak) and
    ``v_threshold``; the reset is Eq. 4's, to 0. Every LIF outside the fused kernels runs
    :func:`lif_step` with one of these (the layers here, the event-driven simulation)."""

    tau: float = 0.5
    v_threshold: float = 1.0


def lif_step(u: torch.Tensor | None, current: torch.Tensor, params: LIFParameters, spike=None,
             detach_reset: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Eq. 1-4 from the membrane ``u`` after the last step (None: the first step,
    ``u = 0``): ``v = tau * u + I`` (Eq. 1, 2; two roundings, no fused multiply-add),
    ``s = Theta(v - v_threshold)`` (Eq. 3; ``spike(v)``, e.g. :class:`TriangleSpike` for a
    surrogate gradient), ``u' = v (1 - s)`` (Eq. 4; ``s`` a constant there with ``detach_reset``).
    Returns ``(s, v, u')``."""
    v = current if u is None else params.tau * u + current
    s = (v >= params.v_threshold).to(v.dtype) if spike is None else spike(v)
    return s, v, v * (1.0 - (s.detach() if detach_reset else s))


def _lif_autograd(current, tau, v_threshold, h, detach_reset):
    """Reference: Eq. 1-4 step by step (:func:`lif_step`), differentiated by autograd."""
    params = LIFParameters(tau, v_threshold)
    u, spikes = None, []
    for i_t in current:
        s, _, u = lif_step(u, i_t, params, lambda v: TriangleSpike.apply(v, v_threshold, h), detach_reset)
        spikes.append(s)
    return torch.stack(spikes)


def _forward_eager(current, tau, v_threshold, keep_v: bool):
    """Eq. 1-4 over all steps with in-place ops: few passes over memory, no autograd graph.
    Returns the spikes and, with ``keep_v`` (for the backward), every step's ``v``, else None."""
    steps = current.shape[0]
    v_seq = torch.empty_like(current if keep_v else current[:1])
    spikes = torch.empty_like(current)
    u = None
    for t in range(steps):
        v = v_seq[t if keep_v else 0]
        if u is None:
            v.copy_(current[t])
        else:  # two roundings, as the reference's ``tau * u + I`` (not one, as add(alpha=tau) would)
            torch.mul(u, tau, out=v).add_(current[t])
        fired = v >= v_threshold
        spikes[t].copy_(fired)
        if t + 1 < steps:
            u = v.masked_fill(fired, 0.0)
    return spikes, v_seq if keep_v else None


def _backward_eager(v_seq, grad_spikes, tau, v_threshold, h, detach_reset):
    """Eq. 15 in reverse time. The terms that do not depend on the recurrence are computed for
    all steps at once, ``A[t] = dL/ds[t] * sg[t]`` and ``B[t] = du[t]/dv[t]`` (Eq. 12), so the
    recurrence ``dL/dv[t] = A[t] + tau * B[t] * dL/dv[t+1]`` is one fused op per step."""
    sg = surrogate_grad(v_seq, v_threshold, h)
    grad_v = sg.mul_(grad_spikes) if detach_reset else grad_spikes * sg
    if v_seq.shape[0] > 1:
        v_head = v_seq[:-1]
        du_dv = (v_head < v_threshold).to(v_seq.dtype)  # 1 - s
        if not detach_reset:
            du_dv.addcmul_(v_head, sg[:-1], value=-1.0)  # - v * sg
        for t in range(v_seq.shape[0] - 2, -1, -1):
            grad_v[t].addcmul_(grad_v[t + 1], du_dv[t], value=tau)
    return grad_v


def _forward_scan(current, tau: float, v_threshold: float, keep_v: bool):
    """Eq. 1-4 written functionally, for ``torch.compile`` to fuse all steps into one kernel:
    the spikes and, with ``keep_v``, every step's ``v`` (else None: one stream less to write)."""
    u, spikes, vs = None, [], []
    for t in range(current.shape[0]):
        v = current[t] if u is None else current[t] + tau * u
        fired = v >= v_threshold
        spikes.append(fired.to(current.dtype))
        vs.append(v)
        u = torch.where(fired, 0.0, v)
    return torch.stack(spikes), torch.stack(vs) if keep_v else None


def _backward_scan(v_seq, grad_spikes, tau: float, v_threshold: float, h: float, detach_reset: bool):
    """Eq. 15 written functionally, step by step in reverse time, for ``torch.compile``."""
    grads, grad_next = [], None
    for t in range(v_seq.shape[0] - 1, -1, -1):
        v = v_seq[t]
        sg = surrogate_grad(v, v_threshold, h)
        grad_v = grad_spikes[t] * sg
        if grad_next is not None:
            du_dv = (v < v_threshold).to(v.dtype)
            if not detach_reset:
                du_dv = du_dv - v * sg
            grad_v = grad_v + tau * grad_next * du_dv
        grads.append(grad_v)
        grad_next = grad_v
    return torch.stack(grads[::-1])


class _NoCudaRuntimeNotice(logging.Filter):
    """Drops the warning "No CUDA runtime is found, using CUDA_HOME=..." that importing
    ``torch.utils.cpp_extension`` (as torch.compile's CPU kernels do) logs on a machine with a
    CUDA build of torch but no GPU: expected there, and no error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No CUDA runtime is found")


_CPP_EXTENSION_NOTICE = _NoCudaRuntimeNotice()


@functools.cache
def _cache_per_capability() -> None:
    """Unless the user chose inductor's cache folder (``TORCHINDUCTOR_CACHE_DIR``), one per ATen
    CPU capability: torch 2.14's cache hands code compiled under one (AVX2) to a process under
    another (``ATEN_CPU_CAPABILITY=default``), where it fails to build ("'at::vec' has not been
    declared")."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    default = default_cache_dir()  # what dynamo's first use sets the variable to when the user set none
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR", default) == default:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = f"{default}-{torch.backends.cpu.get_cpu_capability()}"


@functools.cache
def _compiled(fn):
    """``fn`` compiled once per process (inductor's on-disk cache keeps kernels across runs):
    one C++/OpenMP kernel on CPU, one Triton kernel on CUDA, per number of steps T."""
    logging.getLogger("torch.utils.cpp_extension").addFilter(_CPP_EXTENSION_NOTICE)
    return torch.compile(fn, dynamic=True, fullgraph=True, options={"emulate_precision_casts": True})


# Every T (and reset mode) is its own graph: allow more than dynamo's default of 8 per function.
_RECOMPILE_LIMIT = 64


def _memory_order(x: torch.Tensor) -> tuple[int, ...]:
    """The dims of ``x`` after the time dim, outermost in memory first: ``(1, 3, 4, 2)`` for a
    channels-last ``[T, B, C, H, W]``, ``(1, 2, 3, 4)`` for a contiguous one."""
    return tuple(sorted(range(1, x.dim()), key=lambda d: -x.stride(d)))


def _flatten(x: torch.Tensor, order: tuple[int, ...]) -> torch.Tensor:
    """``[T, N]`` with the elements of every step in ``order``'s memory order: a view whenever
    ``x`` is laid out in that order (contiguous or channels-last), else a copy into it."""
    return x.permute(0, *order).reshape(x.shape[0], -1)


def _unflatten(flat: torch.Tensor, like: torch.Tensor, order: tuple[int, ...]) -> torch.Tensor:
    """The inverse of :func:`_flatten`: ``flat`` viewed with ``like``'s shape and layout."""
    permuted = flat.view([like.shape[0]] + [like.shape[d] for d in order])
    return permuted.permute(0, *(1 + order.index(d) for d in range(1, like.dim())))


def _plain(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a contiguous tensor that is not a view (the same memory when ``x`` is contiguous).
    Dynamo guards a view on its base's sizes and strides, and any tensor on its own strides;
    these differ from layer to layer (and a TTM's backward hands on expanded gradients), so without
    this one ``T`` would compile a graph per layer shape, until the recompile limit made it eager."""
    return x.contiguous().detach()


def _compiled_call(fn, tensors, *args):
    """``fn(*tensors, *args)`` compiled (:func:`_compiled`), the tensors made plain."""
    _cache_per_capability()  # once per process, before the first compile
    with torch._dynamo.config.patch(recompile_limit=_RECOMPILE_LIMIT):
        return _compiled(fn)(*(_plain(t) for t in tensors), *args)


def _compiled_forward(current, tau, v_threshold, keep_v):
    return _compiled_call(_forward_scan, [current], tau, v_threshold, keep_v)


def _compiled_backward(v_seq, grad_spikes, tau, v_threshold, h, detach_reset):
    return _compiled_call(_backward_scan, [v_seq, grad_spikes], tau, v_threshold, h, detach_reset)


def _triton_forward(current, tau, v_threshold, keep_v):
    from tfsnn import lif_triton  # needs Triton: imported on first use

    spikes, v_seq = lif_triton.forward(current, tau, v_threshold)  # one kernel writes both
    return spikes, v_seq if keep_v else None


def _triton_backward(v_seq, grad_spikes, tau, v_threshold, h, detach_reset):
    from tfsnn import lif_triton

    return lif_triton.backward(v_seq, grad_spikes, tau, v_threshold, h, detach_reset)


# The kernels that take ``[T, N]`` tensors, one step per row (see :func:`_flatten`).
_FLAT_FORWARD = {"compiled": _compiled_forward, "triton": _triton_forward}
_FLAT_BACKWARD = {"compiled": _compiled_backward, "triton": _triton_backward}


def _like(x: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
    """``x`` in ``layout``'s memory layout (a copy only where the strides differ). The gradient
    that reaches a channels-last LIF may be contiguous (from the head's pooling, a TTM): every
    op of the backward over a mix of the two layouts takes PyTorch's strided, unvectorized loop,
    at about twice the cost of one copy plus vectorized ops."""
    return x if x.stride() == layout.stride() else torch.empty_like(layout).copy_(x)


class _FusedLIF(torch.autograd.Function):
    """All ``T`` steps of Eq. 1-4 as one autograd node that saves only ``v``; eager, compiled
    or Triton kernels (``backend``). With ``keep_v`` false (no gradient to take: inference) it
    keeps no ``v`` either, and the kernels write the spikes alone."""

    @staticmethod
    def forward(ctx, current, tau, v_threshold, h, detach_reset, backend, keep_v):
        if backend == "fused":
            spikes, v_seq = _forward_eager(current, tau, v_threshold, keep_v)
        else:
            order = _memory_order(current)
            spikes, v_seq = _FLAT_FORWARD[backend](_flatten(current, order), tau, v_threshold, keep_v)
            spikes = _unflatten(spikes, current, order)
            v_seq = _unflatten(v_seq, current, order) if keep_v else None
        ctx.save_for_backward(v_seq)
        ctx.params = (tau, v_threshold, h, detach_reset, backend)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        (v_seq,) = ctx.saved_tensors
        tau, v_threshold, h, detach_reset, backend = ctx.params
        if backend == "fused":
            grad = _backward_eager(v_seq, _like(grad_spikes, v_seq), tau, v_threshold, h, detach_reset)
        else:
            order = _memory_order(v_seq)
            grad = _FLAT_BACKWARD[backend](
                _flatten(v_seq, order), _flatten(grad_spikes, order), tau, v_threshold, h, detach_reset
            )
            grad = _unflatten(grad, v_seq, order)
        return grad, None, None, None, None, None, None


BACKENDS = ("auto", "triton", "compiled", "fused", "autograd")


@functools.cache
def _has_triton() -> bool:
    return importlib.util.find_spec("triton") is not None


@functools.cache
def _has_cxx() -> bool:
    return shutil.which(os.environ.get("CXX", "g++")) is not None


# ``auto`` compiles the LIF on CPU for at most this many steps: the compiled kernels unroll the T
# steps, so compiling costs seconds per T up to here (each T once, then inductor's disk cache) and
# minutes beyond (T=100: 89 s for a 7 ms gain per step of the FC net, measured), where MTT would
# compile every T it samples.
COMPILED_MAX_STEPS = 16


def resolve_backend(backend: str, device: torch.device, steps: int | None = None) -> str:
    """``auto`` means ``triton`` on CUDA and ``compiled`` on CPU where they can be built (Triton
    installed; a C++ compiler for torch.compile's CPU kernels), else ``fused``; on CPU, ``fused``
    also for more than :data:`COMPILED_MAX_STEPS` ``steps``. The environment variable
    ``TFSNN_LIF_BACKEND`` overrides ``auto`` (e.g. ``fused`` for short CPU runs that would spend
    more time compiling than they save)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown LIF backend {backend!r}; choose from {BACKENDS}")
    if backend == "auto":
        backend = os.environ.get("TFSNN_LIF_BACKEND", "auto")
        if backend not in BACKENDS:
            raise ValueError(f"TFSNN_LIF_BACKEND={backend!r} is not a LIF backend; choose from {BACKENDS}")
    if backend == "auto":
        if device.type == "cuda":
            backend = "triton" if _has_triton() else "fused"
        else:
            compiles = device.type == "cpu" and _has_cxx() and (steps is None or steps <= COMPILED_MAX_STEPS)
            backend = "compiled" if compiles else "fused"
    return backend


def _check_triton(current: torch.Tensor) -> None:
    """The ``triton`` backend runs float32/16 and bfloat16 CUDA tensors (CPU tensors only in
    Triton's interpreter, ``TRITON_INTERPRET=1``, which the tests use)."""
    if not _has_triton():
        raise ValueError("LIF backend 'triton' needs Triton (pip install triton); use 'compiled' or 'fused'")
    from triton import knobs

    if current.device.type != "cuda" and not knobs.runtime.interpret:
        raise ValueError(f"LIF backend 'triton' runs on CUDA tensors, got a {current.device.type} tensor; "
                         "use 'compiled' or 'fused' (or set TRITON_INTERPRET=1 to run its kernels in "
                         "Triton's CPU interpreter)")
    if current.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"LIF backend 'triton' takes float32, float16 or bfloat16 currents, got {current.dtype}")


@functools.lru_cache(maxsize=64)
def _in_dtype(value: float, dtype: torch.dtype) -> float:
    """``value`` as ``dtype`` holds it. Eager PyTorch compares ``v >= 0.7`` in v's dtype
    (0.69921875 in bfloat16); a compiled or Triton kernel would compare in float32."""
    return torch.tensor(value, dtype=dtype).item()


def lif(
    current: torch.Tensor,
    tau: float = 0.5,
    v_threshold: float = 1.0,
    h: float = 1.0,
    detach_reset: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """Spikes ``[T, B, ...]`` of a LIF layer driven by input currents ``[T, B, ...]`` (Eq. 1-4)."""
    if current.dim() < 2:
        raise ValueError(f"lif expects currents shaped [T, B, ...], got shape {tuple(current.shape)}")
    if h <= 0:
        raise ValueError(f"surrogate width h must be > 0, got {h}")
    backend = resolve_backend(backend, current.device, current.shape[0])
    if backend == "triton":
        _check_triton(current)
    v_threshold = _in_dtype(float(v_threshold), current.dtype)
    if backend == "autograd":
        return _lif_autograd(current, float(tau), v_threshold, float(h), bool(detach_reset))
    keep_v = torch.is_grad_enabled() and current.requires_grad
    return _FusedLIF.apply(current, float(tau), v_threshold, float(h), bool(detach_reset), backend, keep_v)


class SpikingNeuron(nn.Module):
    """Base of the spiking layers (:class:`LIF`, :class:`IF`, :class:`IAF`): a module mapping input
    currents ``[T, B, ...]`` to spikes (or spike counts) ``[T, B, ...]``."""


class LIF(SpikingNeuron):
    """Multi-step LIF layer (Eq. 1-4, surrogate Eq. 6) on ``[T, B, ...]`` currents."""

    def __init__(
        self,
        tau: float = 0.5,
        v_threshold: float = 1.0,
        h: float = 1.0,
        detach_reset: bool = False,
        backend: str = "auto",
    ):
        super().__init__()
        self.tau, self.v_threshold, self.h = tau, v_threshold, h
        self.detach_reset, self.backend = detach_reset, backend

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        return lif(current, self.tau, self.v_threshold, self.h, self.detach_reset, self.backend)

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, v_threshold={self.v_threshold}, h={self.h}, "
            f"detach_reset={self.detach_reset}, backend={self.backend!r}"
        )


class IF(LIF):
    """Integrate-and-fire: the LIF with no leak (``tau = 1``)."""

    def __init__(self, v_threshold: float = 1.0, h: float = 1.0, detach_reset: bool = False, backend: str = "auto"):
        super().__init__(1.0, v_threshold, h, detach_reset, backend)


# --- Speck's neuron: sinabs's IAF ----------------------------------------------------------------


def exponential_grad(v: torch.Tensor, v_threshold, width: float = 0.5) -> torch.Tensor:
    """sinabs's ``SingleExponential`` surrogate (Shrestha and Orchard, 2018), the default of its
    IAF: ``exp(-|v - v_threshold| / (width * v_threshold)) / (width * v_threshold)``."""
    abs_width = v_threshold * width
    return 1.0 / abs_width * torch.exp(-torch.abs(v - v_threshold) / abs_width)


def _spike_count(v: torch.Tensor, v_threshold) -> torch.Tensor:
    """sinabs's ``MultiSpike`` count: ``floor(v / v_threshold)`` spikes where ``v > 0``, else 0,
    computed as sinabs does, ``(v > 0) * trunc(v / v_threshold)``, in ``v``'s dtype."""
    return ((v > 0) * torch.div(v, v_threshold, rounding_mode="trunc")).to(v.dtype)


class MultiSpike(torch.autograd.Function):
    """sinabs's ``MultiSpike``: ``floor(v / v_threshold)`` spikes where ``v > 0``, else none
    (computed as sinabs does, ``(v > 0) * trunc(v / v_threshold)``), with the gradient of
    :func:`exponential_grad` around the threshold (not around each multiple of it)."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, v_threshold: torch.Tensor, width: float) -> torch.Tensor:
        ctx.save_for_backward(v, v_threshold)
        ctx.width = width
        return _spike_count(v, v_threshold)

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        v, v_threshold = ctx.saved_tensors
        return grad_spikes * exponential_grad(v, v_threshold, ctx.width), None, None


def _iaf_bound(v_threshold: float, v_min: float | None, width: float) -> float:
    """The lower bound ``v_min`` of an IAF (None: ``-v_threshold``), its parameters checked."""
    if v_threshold <= 0:
        raise ValueError(f"v_threshold must be > 0, got {v_threshold}")
    if width <= 0:
        raise ValueError(f"surrogate width must be > 0, got {width}")
    v_min = -float(v_threshold) if v_min is None else float(v_min)
    if v_min >= 0:
        raise ValueError(f"v_min must be < 0, got {v_min}")
    return v_min


def _iaf_forward_scan(current, v_threshold: torch.Tensor, v_min: float | None, keep_v: bool):
    """The IAF's steps (:class:`IAF`) written functionally, in sinabs's ops and order, for
    ``torch.compile``: spike counts and, with ``keep_v``, the potentials ``v`` before the reset
    (else None). The threshold is a
    0-dim tensor: divided by a constant, the compiled kernel would multiply by its reciprocal,
    which rounds otherwise."""
    u = torch.zeros_like(current[0])
    spikes, vs = [], []
    for t in range(current.shape[0]):
        v = u + current[t]
        s = _spike_count(v, v_threshold)
        u = v - s * v_threshold
        if v_min is not None:
            u = torch.relu(u - v_min) + v_min
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs) if keep_v else None


def _iaf_backward_scan(v_seq, grad_spikes, v_threshold: torch.Tensor, v_min: float | None, width: float,
                       detach_reset: bool):
    """The IAF's backward (:class:`IAF`) in reverse time, for ``torch.compile``: with ``g`` the
    gradient of the potential after the reset and bound (the next step's ``dL/dv``),
    ``dL/dv = g' + (dL/ds - theta g') ds/dv``, ``g' = g`` where the bound is not active, else 0
    (``dL/ds`` alone with ``detach_reset``)."""
    grads, grad_next = [], None
    for t in range(v_seq.shape[0] - 1, -1, -1):
        v = v_seq[t]
        grad_s = grad_spikes[t]
        if grad_next is None:
            grad_v = grad_s * exponential_grad(v, v_threshold, width)
        else:
            grad_u = grad_next
            if v_min is not None:
                grad_u = torch.where(v - _spike_count(v, v_threshold) * v_threshold - v_min > 0, grad_u, 0.0)
            if not detach_reset:
                grad_s = grad_s - v_threshold * grad_u
            grad_v = grad_u + grad_s * exponential_grad(v, v_threshold, width)
        grads.append(grad_v)
        grad_next = grad_v
    return torch.stack(grads[::-1])


class _CompiledIAF(torch.autograd.Function):
    """All ``T`` steps of the IAF as one autograd node that saves only ``v`` (none with ``keep_v``
    false: inference); its forward and backward each one compiled kernel over the steps (as the
    LIF's ``compiled`` backend)."""

    @staticmethod
    def forward(ctx, current, v_threshold, v_min, width, detach_reset, keep_v):
        order = _memory_order(current)
        spikes, v_seq = _compiled_call(_iaf_forward_scan, [_flatten(current, order), v_threshold], v_min, keep_v)
        spikes = _unflatten(spikes, current, order)
        v_seq = _unflatten(v_seq, current, order) if keep_v else None
        ctx.save_for_backward(v_seq, v_threshold)
        ctx.params = (v_min, width, detach_reset)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        v_seq, v_threshold = ctx.saved_tensors
        order = _memory_order(v_seq)
        grad = _compiled_call(_iaf_backward_scan, [_flatten(v_seq, order), _flatten(grad_spikes, order), v_threshold],
                              *ctx.params)
        return _unflatten(grad, v_seq, order), None, None, None, None, None


def iaf(
    current: torch.Tensor,
    v_threshold: float = 1.0,
    v_min: float | None = None,
    width: float = 0.5,
    detach_reset: bool = False,
    states: bool = False,
):
    """Spike counts ``[T, B, ...]`` of an :class:`IAF` layer driven by currents ``[T, B, ...]``
    (equations there); with ``states=True`` also the membrane potential after each step's reset
    and bound, ``u`` ``[T, B, ...]``.

    ``v_min`` None is ``-v_threshold``; ``-inf`` leaves the potential unbounded below. The
    threshold and bound are 0-dim tensors of the currents' dtype, and every op is the one sinabs
    runs, in its order, so spikes and states equal sinabs's bit for bit in that dtype.

    Differentiated by autograd step by step, or, where the LIF's ``auto`` would compile its
    kernels (:func:`resolve_backend`: on CPU up to 16 steps, unless ``TFSNN_LIF_BACKEND`` says
    otherwise) and no states are asked for, by :class:`_CompiledIAF`: the same spikes (the same
    ops, compiled), gradients within float rounding (tests/test_iaf.py)."""
    if current.dim() < 2:
        raise ValueError(f"iaf expects currents shaped [T, B, ...], got shape {tuple(current.shape)}")
    v_min = _iaf_bound(v_threshold, v_min, width)
    if not states and current.device.type == "cpu" and current.dtype in (torch.float32, torch.float64) and \
            resolve_backend("auto", current.device, current.shape[0]) == "compiled":
        bound = None if math.isinf(v_min) else _in_dtype(v_min, current.dtype)
        threshold = torch.tensor(float(v_threshold), dtype=current.dtype)
        keep_v = torch.is_grad_enabled() and current.requires_grad
        return _CompiledIAF.apply(current, threshold, bound, float(width), bool(detach_reset), keep_v)
    like = {"dtype": current.dtype, "device": current.device}
    threshold = torch.tensor(float(v_threshold), **like)
    bound = None if math.isinf(v_min) else torch.tensor(v_min, **like)
    u = torch.zeros_like(current[0])
    spikes, us = [], []
    for i_t in current:
        v = u + i_t
        s = MultiSpike.apply(v, threshold, float(width))
        u = v - (s.detach() if detach_reset else s) * threshold
        if bound is not None:
            u = F.relu(u - bound) + bound  # sinabs's min_v_mem, rounding as it does (not a clamp)
        spikes.append(s)
        us.append(u)
    return (torch.stack(spikes), torch.stack(us)) if states else torch.stack(spikes)


class IAF(SpikingNeuron):
    """Speck's integrate-and-fire neuron as sinabs simulates it (``sinabs.layers.IAF`` with its
    defaults, and the ``min_v_mem`` that ``sinabs.from_nir`` and the authors' Speck models set),
    on ``[T, B, ...]`` currents. With ``u[-1] = 0``, threshold ``theta`` and, at every step::

        v[t] = u[t-1] + I[t]                              (no leak: Eq. 1-2 with tau = 1)
        s[t] = floor(v[t] / theta) if v[t] > 0, else 0     (MultiSpike: 0, 1, 2, ... spikes)
        u[t] = max(v[t] - theta * s[t], v_min)             (MembraneSubtract, min_v_mem)

    where the paper's LIF (Eq. 3-4) emits at most one spike and resets to 0. The charge above
    the threshold is kept: with non-negative currents the count up to step ``t`` is
    ``floor((I[0] + ... + I[t]) / theta)``, however the input is cut into steps (the LIF's is
    not). ``v_min`` (default ``-theta``, what the authors' Speck models and ``sinabs.from_nir``
    use; ``-inf``: no bound) bounds the potential below.

    Backward (sinabs's default surrogate, ``SingleExponential``, not the triangle of Eq. 6)::

        ds/dv = exp(-|v - theta| / (w theta)) / (w theta),  w = ``width`` = 0.5
        du/dv = 1 - theta ds/dv  (through the reset; 1 with ``detach_reset``), 0 where u is bounded

    The surrogate is the same single bump for every count (sinabs's default; its
    ``PeriodicExponential`` repeats it at each multiple of theta).

    A layer's output is a spike count per step, unbounded: a model of these neurons keeps
    float inputs for its convs' backward (``model.compact_spikes`` does not apply).
    """

    def __init__(self, v_threshold: float = 1.0, v_min: float | None = None, width: float = 0.5,
                 detach_reset: bool = False):
        super().__init__()
        self.v_threshold, self.v_min = v_threshold, _iaf_bound(v_threshold, v_min, width)
        self.width, self.detach_reset = width, detach_reset

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        return iaf(current, self.v_threshold, self.v_min, self.width, self.detach_reset)

    def extra_repr(self) -> str:
        return (f"v_threshold={self.v_threshold}, v_min={self.v_min}, width={self.width}, "
                f"detach_reset={self.detach_reset}")


class FiringRateMonitor:
    """Counts spikes of every spiking layer (:class:`SpikingNeuron`: LIF, IF, IAF) in a model
    while active (a context manager).

    ``rates()`` gives the mean firing rate (spikes per neuron per time step; an :class:`IAF` may
    emit several per step, so its rate may exceed 1) of each spiking module by name;
    ``rates(groups)`` pools them over named groups of module names, e.g. the blocks of a model
    (``model.block_neurons()``), as the energy model of A.3 needs.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.spikes: dict[str, float] = {}
        self.neuron_steps: dict[str, int] = {}
        self._handles = []

    def __enter__(self) -> "FiringRateMonitor":
        for name, module in self.model.named_modules():
            if isinstance(module, SpikingNeuron):
                self._handles.append(module.register_forward_hook(self._recorder(name)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _recorder(self, name: str):
        def hook(module, inputs, spikes):
            self.spikes[name] = self.spikes.get(name, 0.0) + float(spikes.detach().sum())
            self.neuron_steps[name] = self.neuron_steps.get(name, 0) + spikes.numel()

        return hook

    def rates(self, groups: dict[str, list[str]] | None = None) -> dict[str, float]:
        if groups is None:
            groups = {name: [name] for name in self.spikes}
        out = {}
        for group, names in groups.items():
            steps = sum(self.neuron_steps.get(n, 0) for n in names)
            if steps == 0:
                raise ValueError(f"no spikes recorded for {group!r}: run the model inside the monitor first")
            out[group] = sum(self.spikes[n] for n in names) / steps
        return out
