"""Triton kernels of the LIF (Eq. 1-4) and of its backward over time (Eq. 15), for CUDA tensors.

Each program owns ``BLOCK`` neurons and walks all ``T`` steps of them, keeping the membrane in
registers: one read of the currents and one write of spikes and potentials in the forward, one
read of potentials and spike gradients and one write of current gradients in the backward.

The tensors are float32, float16 or bfloat16; the arithmetic is float32, rounded to the
tensor's dtype where PyTorch's ops round (``tau * u``, then ``v``), and not contracted into
FMAs (``enable_fp_fusion=False``); the threshold comes rounded to the dtype
(:func:`tfsnn.neuron.lif`). So the spikes are identical to the reference's.

The tensors are ``[T, N]`` and contiguous (each step a dense block of ``N``). This module is
imported only when the ``triton`` backend runs; with ``TRITON_INTERPRET=1`` set before that,
the kernels run in Triton's interpreter on CPU tensors, which is how the tests check them (the
kernels use builtins only, e.g. ``tl.full`` not ``tl.zeros``, so they interpret even when Triton
was imported before without the variable).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["forward", "backward"]

BLOCK = 1024


@triton.jit
def _forward_kernel(current_ptr, spikes_ptr, v_ptr, steps, numel, tau, v_threshold, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    u = tl.full([BLOCK], 0.0, tl.float32)
    for _ in range(steps):
        current = tl.load(current_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        decayed = (tau * u).to(v_ptr.dtype.element_ty).to(tl.float32)  # Eq. 1, rounded as PyTorch's ops round
        v = (decayed + current).to(v_ptr.dtype.element_ty)  # Eq. 2
        fired = v >= v_threshold  # Eq. 3
        tl.store(v_ptr + offsets, v, mask=mask)
        tl.store(spikes_ptr + offsets, tl.where(fired, 1.0, 0.0).to(spikes_ptr.dtype.element_ty), mask=mask)
        u = tl.where(fired, 0.0, v.to(tl.float32))  # Eq. 4
        current_ptr += numel
        spikes_ptr += numel
        v_ptr += numel


@triton.jit
def _backward_kernel(v_ptr, grad_spikes_ptr, grad_current_ptr, steps, numel, last_step_offset, tau, v_threshold, h,
                     DETACH_RESET: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    v_ptr += last_step_offset
    grad_spikes_ptr += last_step_offset
    grad_current_ptr += last_step_offset
    grad_next = tl.full([BLOCK], 0.0, tl.float32)  # dL/dv[t+1]; zero after the last step
    for _ in range(steps):
        v = tl.load(v_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        grad_spike = tl.load(grad_spikes_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        sg = tl.maximum(h - tl.abs(v - v_threshold), 0.0) / (h * h)  # Eq. 6
        du_dv = tl.where(v < v_threshold, 1.0, 0.0)  # du[t]/dv[t] = 1 - s[t] ...
        if not DETACH_RESET:
            du_dv -= v * sg  # ... - v[t] * ds[t]/dv[t] (Eq. 7 / A.5)
        grad_v = grad_spike * sg + tau * du_dv * grad_next  # Eq. 15
        tl.store(grad_current_ptr + offsets, grad_v.to(grad_current_ptr.dtype.element_ty), mask=mask)
        grad_next = grad_v
        v_ptr -= numel
        grad_spikes_ptr -= numel
        grad_current_ptr -= numel


def _grid(numel: int) -> tuple[int]:
    return (triton.cdiv(numel, BLOCK),)


def forward(current: torch.Tensor, tau: float, v_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and membrane potentials ``v`` (both ``[T, N]``) of the currents ``[T, N]``."""
    current = current.contiguous()
    steps, numel = current.shape
    spikes, v_seq = torch.empty_like(current), torch.empty_like(current)
    _forward_kernel[_grid(numel)](current, spikes, v_seq, steps, numel, tau, v_threshold,
                                  BLOCK=BLOCK, enable_fp_fusion=False)
    return spikes, v_seq


def backward(v_seq: torch.Tensor, grad_spikes: torch.Tensor, tau: float, v_threshold: float, h: float,
             detach_reset: bool) -> torch.Tensor:
    """``dL/dI`` (``[T, N]``) from the potentials ``v`` and ``dL/ds`` (both ``[T, N]``)."""
    v_seq, grad_spikes = v_seq.contiguous(), grad_spikes.contiguous()
    steps, numel = v_seq.shape
    grad_current = torch.empty_like(grad_spikes)
    _backward_kernel[_grid(numel)](v_seq, grad_spikes, grad_current, steps, numel, (steps - 1) * numel, tau,
                                   v_threshold, h, DETACH_RESET=detach_reset, BLOCK=BLOCK, enable_fp_fusion=False)
    return grad_current
