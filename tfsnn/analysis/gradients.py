"""Gradient statistics of a trained TFSNN: Table 13 (A.10) and the cosine similarity of
section 4.2.

- Weight gradient (Table 13, "the length of the gradient of loss over the entire training set
  for the convolution layers"): the gradient of the dataset's MEAN cross-entropy
  ``(1/N) sum_i L_i`` with respect to every conv weight, accumulated over the loader's batches
  (every item once), flattened into one vector; its Euclidean norm.
- Input gradient (Table 13, "the mean value of the length of each input gradient"): for each
  item, the norm of ``dL_i/dx_i`` (its own cross-entropy, not divided by the batch size), over
  all of its input values (every frame of an event input); the mean over items.
- Cosine similarity (section 4.2, "over 94%" between T=3 and T=6): between the weight
  gradients above at two uniform time steps.

The model runs in eval mode: BN normalizes with its running statistics, so these are the
gradients of the trained model's own loss (the loss the landscape of Fig. 9 plots), and the
items of a batch do not interact, which is why one backward pass of the summed loss gives every
input its own gradient. Gradients come from ``torch.autograd.grad``: no parameter's ``.grad``
is touched, and the train/eval mode is restored. No autocast: float32 throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tfsnn.analysis.registry import register
from tfsnn.evaluate import eval_mode

__all__ = [
    "conv_weights",
    "weight_gradient",
    "weight_gradient_norm",
    "input_gradient_norm",
    "cosine_similarity",
    "gradient_cosine_similarity",
    "gradients_analysis",
]


def conv_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight of every conv layer of ``model``, in module order."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    if not weights:
        raise ValueError(f"{type(model).__name__} has no conv layers (Table 13 measures conv weights)")
    return weights


def _device(model, device):
    return torch.device(device or next(model.parameters()).device)


def weight_gradient(model: nn.Module, loader: Iterable, T, device=None) -> list[torch.Tensor]:
    """Gradient of the mean cross-entropy over every item of ``loader`` at ``T`` with respect
    to :func:`conv_weights`, one tensor per conv (eval mode, ``.grad`` untouched)."""
    device = _device(model, device)
    weights = conv_weights(model)
    total = [torch.zeros_like(w) for w in weights]
    count = 0
    with eval_mode(model):
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            loss = F.cross_entropy(model(inputs, T), targets, reduction="sum")
            for acc, grad in zip(total, torch.autograd.grad(loss, weights)):
                acc += grad
            count += len(targets)
    if count == 0:
        raise ValueError("gradient loader yielded no samples")
    return [g / count for g in total]


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.flatten() for t in tensors])


def weight_gradient_norm(model: nn.Module, loader: Iterable, T, device=None) -> float:
    """Table 13's ``||dL/dW||``: the norm of :func:`weight_gradient` over all conv weights."""
    return float(_flat(weight_gradient(model, loader, T, device)).norm())


def input_gradient_norm(model: nn.Module, loader: Iterable, T, device=None) -> float:
    """Table 13's ``||dL/dx_i||``: the mean over the loader's items of the norm of each item's
    loss gradient with respect to its own input (eval mode, ``.grad`` untouched)."""
    device = _device(model, device)
    total, count = 0.0, 0
    with eval_mode(model):
        for inputs, targets in loader:
            inputs = inputs.to(device).requires_grad_(True)
            targets = targets.to(device)
            loss = F.cross_entropy(model(inputs, T), targets, reduction="sum")
            (grad,) = torch.autograd.grad(loss, inputs)
            if inputs.dim() == model.input_rank + 2:  # frames [T, B, ...]: items along dim 1
                grad = grad.transpose(0, 1)
            total += float(grad.flatten(1).norm(dim=1).sum())
            count += len(targets)
    if count == 0:
        raise ValueError("gradient loader yielded no samples")
    return total / count


def cosine_similarity(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """Cosine similarity of two gradients given as lists of tensors (flattened and joined)."""
    return float(F.cosine_similarity(_flat(a), _flat(b), dim=0))


def gradient_cosine_similarity(model: nn.Module, loader: Iterable, T_a: int = 3, T_b: int = 6, device=None) -> float:
    """Section 4.2: cosine similarity of the conv weight gradients (:func:`weight_gradient`)
    at uniform ``T_a`` and ``T_b``. ``loader`` is iterated once per time step."""
    return cosine_similarity(weight_gradient(model, loader, T_a, device), weight_gradient(model, loader, T_b, device))


@register("gradients")
def gradients_analysis(
    trained,
    *,
    T: int | None = None,
    cosine_T: Sequence[int] = (3, 6),
    batches: int | None = None,
) -> list[dict]:
    """Table 13 and section 4.2 on the training set (no shuffling, no augmentation; the first
    ``batches`` batches, None: all) at uniform ``T`` (None: the trained ``T_max``, SDT's ``T``).
    Rows: ``metric`` (weight_grad_norm, input_grad_norm, grad_cosine_similarity), ``value``,
    ``T``, ``compare_T`` (e.g. "3 vs 6", cosine rows only), ``split``."""
    if len(cosine_T) != 2:
        raise ValueError(f"cosine_T must name two time steps, got {cosine_T}")
    T = T or trained.t_max
    loader = trained.split_loader("train", batches)
    model, device = trained.model, trained.device
    T_a, T_b = cosine_T
    return [
        {"metric": "weight_grad_norm", "value": weight_gradient_norm(model, loader, T, device), "T": T,
         "split": "train"},
        {"metric": "input_grad_norm", "value": input_gradient_norm(model, loader, T, device), "T": T,
         "split": "train"},
        {
            "metric": "grad_cosine_similarity",
            "value": gradient_cosine_similarity(model, loader, T_a, T_b, device),
            "T": None,
            "compare_T": f"{T_a} vs {T_b}",
            "split": "train",
        },
    ]
