"""Gradient statistics of a TFSNN: Table 13 (A.11) on the trained model and the cosine
similarity of section 4.2 along training.

Table 13 (analysis ``gradients``), on the training set without augmentation, every item once:

- Weight gradient, "the length of the gradient of loss over the entire training set for the
  convolution layers": the gradient with respect to every conv weight, flattened into one
  vector; its Euclidean norm. The paper does not say whether "the loss over the entire training
  set" is the sum ``sum_i L_i`` or the mean ``(1/N) sum_i L_i`` of the items' cross-entropies,
  so both are reported: ``weight_grad_norm_sum_loss`` and ``weight_grad_norm_mean_loss``
  (``N`` times smaller). The summed loss is the one compared with the paper's 11.59 / 38.08:
  Table 13 writes one ``L`` for both of its columns, and its input column (1.81 / 7.78, the
  length of ``dL/dx_i``) is only of that size if ``dL/dx_i`` is the item's own ``dL_i/dx_i``,
  which it is for the summed loss; for the mean it would be ``N`` (50,000) times smaller.
  The summed loss's norm grows with the training set's size: at a scale that trains on a subset
  it is not the full set's.
- Input gradient, "the mean value of the length of each input gradient": for each item, the
  norm of ``dL_i/dx_i`` (its own cross-entropy, not divided by the batch size), over all of its
  input values (every frame of an event input); the mean over items.

The trained model runs in eval mode: BN normalizes with its running statistics, so these are the
gradients of the trained model's own loss (the loss the landscape of Fig. 9 plots), and the
items of a batch do not interact, which is why one backward pass of the summed loss gives every
input its own gradient.

Section 4.2 (analysis ``gradient_cosine``; "over 94% cosine similarity between the gradients
acquired from scenarios with T = 3 and T = 6"): a claim about the gradients that training
follows, not about a converged model, whose full-data gradient is near zero and so points
anywhere. It is measured on the states a run kept along training (``train.save_epochs``,
:attr:`tfsnn.experiment.Trained.snapshots`; the DAG: an NMT and an SDT ResNet-18 at the start,
after the first epoch and at each quarter of training): at each, the gradient of the run's own
training loss (its method's, e.g. cross-entropy of the time-averaged output for NMT and SDT) at
uniform T=3 and at T=6 with respect to every trainable parameter, the model in train mode (BN
normalizing with each batch's statistics, as a training step does), averaged over a fixed set
of training batches (the first ``batches`` of the unaugmented training set, in order, at the
run's batch size), and the cosine of the two.

Gradients come from ``torch.autograd.grad``: no parameter's ``.grad`` is touched, the model's
train/eval mode and buffers are left as they were. No autocast (fp32, as every analysis,
:mod:`tfsnn.precision`): the gradients are float32; the cosine's dot product and norms are
accumulated in float64.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tfsnn.analysis.registry import register
from tfsnn.evaluate import eval_mode
from tfsnn.options import TimeStep

__all__ = [
    "conv_weights",
    "weight_gradient",
    "weight_gradient_norm",
    "weight_gradient_norms",
    "training_gradient",
    "input_gradient_norm",
    "cosine_similarity",
    "gradient_cosine_similarity",
    "gradients_analysis",
    "gradient_cosine_analysis",
]


def conv_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight of every conv layer of ``model``, in module order."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    if not weights:
        raise ValueError(f"{type(model).__name__} has no conv layers (Table 13 measures conv weights)")
    return weights


def _device(model, device):
    return torch.device(device or next(model.parameters()).device)


def _summed_weight_gradient(model: nn.Module, loader: Iterable, T, device=None) -> tuple[list[torch.Tensor], int]:
    """Gradient of the SUMMED cross-entropy over every item of ``loader`` at ``T`` with respect to
    :func:`conv_weights` (one tensor per conv; eval mode, ``.grad`` untouched), and the item count."""
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
    return total, count


def weight_gradient(model: nn.Module, loader: Iterable, T, device=None) -> list[torch.Tensor]:
    """Gradient of the mean cross-entropy over every item of ``loader`` at ``T`` with respect
    to :func:`conv_weights`, one tensor per conv (eval mode, ``.grad`` untouched)."""
    total, count = _summed_weight_gradient(model, loader, T, device)
    return [g / count for g in total]


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.flatten() for t in tensors])


def weight_gradient_norm(model: nn.Module, loader: Iterable, T, device=None) -> float:
    """The norm of :func:`weight_gradient` (of the mean loss) over all conv weights."""
    return float(_flat(weight_gradient(model, loader, T, device)).norm())


def weight_gradient_norms(model: nn.Module, loader: Iterable, T, device=None) -> dict[str, float]:
    """Table 13's ``||dL/dW||`` over all conv weights, for both readings of "the loss over the
    entire training set" (module docstring), from one pass: ``sum_loss`` (of ``sum_i L_i``, the
    one compared with the paper), ``mean_loss`` (of ``(1/N) sum_i L_i``), and ``items`` (N)."""
    total, count = _summed_weight_gradient(model, loader, T, device)
    norm = float(_flat(total).double().norm())
    return {"sum_loss": norm, "mean_loss": norm / count, "items": count}


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
    """Cosine similarity of two gradients given as lists of tensors (flattened and joined).

    The dot product and the norms are accumulated in float64 (on the CPU): in float32 the
    rounding of sums over many entries depends on the CPU's kernels and thread count, and the
    cosine of a vector with itself came out above 1 (1.0000013 on one machine). The result is
    clamped to [-1, 1], which float64 rounding could still leave by an ulp."""
    x, y = (_flat(t).detach().to(device="cpu", dtype=torch.float64) for t in (a, b))
    return float(F.cosine_similarity(x, y, dim=0).clamp(-1.0, 1.0))


def gradient_cosine_similarity(model: nn.Module, loader: Iterable, T_a: int = 3, T_b: int = 6, device=None) -> float:
    """Section 4.2: cosine similarity of the conv weight gradients (:func:`weight_gradient`)
    at uniform ``T_a`` and ``T_b``. ``loader`` is iterated once per time step."""
    return cosine_similarity(weight_gradient(model, loader, T_a, device), weight_gradient(model, loader, T_b, device))


def training_gradient(model: nn.Module, method, loader: Iterable, T, device=None) -> list[torch.Tensor]:
    """The gradient a training step follows: the mean over ``loader``'s batches of the gradient
    of ``method``'s loss of each batch (:meth:`tfsnn.training.Method.loss`) at uniform ``T`` with
    respect to every trainable parameter of ``model``, in train mode (BN on batch statistics).
    The passes update ``model``'s BN running statistics: give it a copy."""
    device = _device(model, device)
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    count = 0
    model.train()
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        loss, _ = method.loss(model, inputs, targets, model.config(T))
        for acc, grad in zip(total, torch.autograd.grad(loss, params)):
            acc += grad
        count += 1
    if count == 0:
        raise ValueError("gradient loader yielded no batches")
    return [g / count for g in total]


@register("gradients", reads_test_set=False)
def gradients_analysis(
    trained,
    *,
    T: TimeStep | None = None,
    batches: int | None = None,
) -> list[dict]:
    """Table 13 on the training set (no shuffling, no augmentation; the first ``batches``
    batches, None: all) at uniform ``T`` (None: the trained ``T_max``, SDT's ``T``), the trained
    model in eval mode. Rows: ``metric`` (weight_grad_norm_sum_loss, compared with the paper;
    weight_grad_norm_mean_loss; input_grad_norm), ``value``, ``T``, ``split``, ``items`` (the N of
    the sums). See the module docstring for the two readings of the weight gradient."""
    if T is None:
        T = trained.t_max
    loader = trained.split_loader("train", batches)
    model, device = trained.model, trained.device
    weights = weight_gradient_norms(model, loader, T, device)
    common = {"T": T, "split": "train", "items": weights["items"]}
    return [
        {"metric": "weight_grad_norm_sum_loss", "value": weights["sum_loss"], **common},
        {"metric": "weight_grad_norm_mean_loss", "value": weights["mean_loss"], **common},
        {"metric": "input_grad_norm", "value": input_gradient_norm(model, loader, T, device), **common},
    ]


@register("gradient_cosine", reads_test_set=False)
def gradient_cosine_analysis(
    trained,
    *,
    T: Sequence[TimeStep] = (3, 6),
    batches: int = 10,
    epochs: Sequence[int] | None = None,
) -> list[dict]:
    """Section 4.2 along training: at each state the run kept (``epochs``; None: every one of
    :attr:`~tfsnn.experiment.Trained.snapshots`), the cosine similarity of the training gradients
    (:func:`training_gradient`, the run's own loss, train mode) at the two uniform time steps
    ``T``, on the first ``batches`` batches of the unaugmented training set (module docstring).

    Rows: ``metric`` (grad_cosine_similarity with ``compare_T`` e.g. "3 vs 6"; grad_norm with its
    ``T``), ``value``, ``epoch`` (0: the initial weights), ``split``, ``bn_mode`` ("train"),
    ``batches`` (used)."""
    if len(T) != 2:
        raise ValueError(f"analysis gradient_cosine: option T must name two time steps, got {list(T)}")
    if batches < 1:
        raise ValueError(f"analysis gradient_cosine: option batches must be >= 1, got {batches}")
    if not trained.snapshots:
        raise ValueError("analysis gradient_cosine: the checkpoint kept no states along training; train it with "
                         "train.save_epochs (e.g. [0, 1, 5]) to measure the gradients during training")
    wanted = sorted(trained.snapshots) if epochs is None else list(epochs)
    missing = sorted(set(wanted) - set(trained.snapshots))
    if missing:
        raise ValueError(f"analysis gradient_cosine: option epochs names {missing}, the checkpoint kept the states "
                         f"of epochs {sorted(trained.snapshots)}")
    from tfsnn.training import build_method

    method = build_method(trained.config.method.name, **trained.config.method.options())
    loader = trained.split_loader("train", batches)
    used = sum(1 for _ in loader)
    model = copy.deepcopy(trained.model)  # its BN running statistics move in train mode
    T_a, T_b = T
    rows = []
    for epoch in wanted:
        model.load_state_dict(trained.snapshots[epoch])
        grads = {t: training_gradient(model, method, loader, t, trained.device) for t in (T_a, T_b)}
        common = {"epoch": epoch, "split": "train", "bn_mode": "train", "batches": used}
        rows.append({"metric": "grad_cosine_similarity", "value": cosine_similarity(grads[T_a], grads[T_b]),
                     "T": None, "compare_T": f"{T_a} vs {T_b}", **common})
        rows += [{"metric": "grad_norm", "value": float(_flat(grads[t]).double().norm()), "T": t, **common}
                 for t in (T_a, T_b)]
    return rows
