"""1D loss landscape of a trained TFSNN (Fig. 9, A.10), after Li et al. 2018, "Visualizing the
loss landscape of neural nets".

The loss is measured at ``w + alpha * d`` along one random direction ``d``, filter-normalized:
a Gaussian draw shaped like every parameter, each filter (output-channel slice) of a conv or
linear weight rescaled to the norm of that filter of the weight, so the plot does not depend on
the scale of the weights. BN parameters and biases get direction 0 (Li et al.'s choice: the
"ignore biasbn" setting of their code), so they stay at their trained values. The direction is
drawn from a seeded ``torch.Generator`` on the CPU, parameter by parameter in ``named_parameters``
order: models of one architecture (SDT and MTT in Fig. 9) get the same draw for the same seed.

The model is evaluated in eval mode, BN normalizing with its running statistics: the trained
model's loss surface, without batch statistics in it.

Split: Li et al. plot the training loss (the surface the optimizer descended); the paper's
Fig. 9 does not say which. :func:`landscape_analysis` measures both by default, the training
set (without augmentation, every item once, :meth:`~tfsnn.experiment.Trained.split_loader`) and
the test set, the same direction for both; column ``split`` says which each row is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from tfsnn.analysis.registry import register
from tfsnn.evaluate import accuracy
from tfsnn.options import TimeStep

__all__ = ["filter_normalized_direction", "loss_landscape", "landscape_analysis"]

DEFAULT_ALPHAS = tuple(round(-1 + 0.1 * i, 10) for i in range(21))


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A direction shaped like every parameter of ``model`` (by name): Gaussian, each filter of
    a conv / linear weight scaled to the norm of the same filter of the weight; zero for BN
    parameters, biases and any other parameter."""
    filtered = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.modules.conv._ConvNd | nn.Linear)
    }
    direction = {}
    for name, weight in model.named_parameters():
        if id(weight) not in filtered:
            direction[name] = torch.zeros_like(weight)
            continue
        draw = torch.randn(weight.shape, generator=generator, dtype=weight.dtype).to(weight.device)
        w = weight.detach().flatten(1)
        scale = w.norm(dim=1) / draw.flatten(1).norm(dim=1)
        direction[name] = (draw.flatten(1) * scale[:, None]).view_as(weight)
    return direction


def loss_landscape(
    model: nn.Module,
    loader: Iterable,
    T,
    alphas: Sequence[float],
    direction: dict[str, torch.Tensor],
    device: torch.device | str | None = None,
    precision: str = "auto",
) -> list[dict]:
    """Mean cross-entropy and top-1 accuracy (:func:`tfsnn.evaluate.accuracy`, eval mode, under
    ``precision``) on
    ``loader`` (iterated once per alpha) at weights ``w + alpha * direction`` for each alpha.
    One dict per alpha: ``alpha``, ``loss``, ``accuracy``, ``samples``.
    The parameters are restored bit for bit afterwards, and the train/eval mode too."""
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(direction))
    if missing:
        raise ValueError(f"direction lacks parameters {missing[:5]}")
    saved = {name: p.detach().clone() for name, p in params.items()}
    was_training = model.training
    rows = []
    try:
        for alpha in alphas:
            with torch.no_grad():
                for name, p in params.items():
                    p.copy_(saved[name] + alpha * direction[name])
            result = accuracy(model, loader, T, device, precision)
            rows.append({"alpha": float(alpha), **{k: result[k] for k in ("accuracy", "loss", "samples")}})
    finally:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(saved[name])
        model.train(was_training)
    return rows


@register("landscape")
def landscape_analysis(
    trained,
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    T: TimeStep | None = None,
    splits: Sequence[str] = ("train", "test"),
    batches: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """Fig. 9: loss and top-1 accuracy along one filter-normalized direction (seeded by
    ``seed``) at uniform ``T`` (None: the trained ``T_max``, SDT's ``T``) on each of ``splits``
    (``train``: Li et al.'s training loss, unaugmented; ``test``), the first ``batches`` batches
    of each (None: all). Rows: ``metric`` (loss, top1_acc), ``value``, ``alpha``, ``T``, ``split``."""
    if T is None:
        T = trained.t_max
    unknown = sorted(set(splits) - {"train", "test"})
    if unknown or not splits:
        raise ValueError(f"analysis landscape: option splits must name 'train' and/or 'test', got {list(splits)}")
    direction = filter_normalized_direction(trained.model, torch.Generator().manual_seed(seed))
    rows = []
    for split in splits:
        points = loss_landscape(trained.model, trained.split_loader(split, batches), T, alphas, direction,
                                trained.device, trained.analysis_precision)
        rows += [
            {"metric": metric, "value": point[key], "alpha": point["alpha"], "T": T, "split": split}
            for point in points
            for metric, key in (("loss", "loss"), ("top1_acc", "accuracy"))
        ]
    return rows
