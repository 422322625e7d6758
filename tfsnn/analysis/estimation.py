"""Accuracy estimation of per-stage temporal configurations (section 4.3.3, A.3; Fig. 7A, 8).

The accuracy of a TFSNN at configuration ``t = (t_1..t_n)`` is modelled as
``acc(t) = sum_i K_i sqrt(log2 t_i) + c`` (``sqrt(log2 1) = 0``, so ``c`` is the accuracy at
``t = 1``), fitted by least squares on ``n_fit`` (18) random configurations and validated on
``n_validate`` (1000) more. Each configuration's accuracy is measured as the mean over a few
(3) BN calibrations at that configuration (A.3; SPEC: per-stage statistics differ from
``T_max``'s), each on its own training batches.

The registered analysis ``estimation`` also runs the energy-constrained search of section 5.3
/ A.9 (:mod:`tfsnn.analysis.energy`), so one call yields everything those sections print.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch

from tfsnn.analysis.energy import block_firing_rates, energy, search_configuration
from tfsnn.analysis.registry import register
from tfsnn.evaluate import evaluate
from tfsnn.options import TimeStep
from tfsnn.temporal import StageSampler, TemporalConfig

__all__ = ["information", "sample_configs", "measured_accuracy", "AccuracyModel", "fit_accuracy_model",
           "estimation_analysis"]


def information(t: int) -> float:
    """``sqrt(log2 t)``, a stage's term of the accuracy model (section 4.3.3)."""
    return math.sqrt(math.log2(t))


def sample_configs(num_stages: int, n: int, t_min: int, t_max: int, generator: torch.Generator) -> list[TemporalConfig]:
    """``n`` configurations, each stage uniform in ``[t_min, t_max]`` (as MTT samples them)."""
    sampler = StageSampler(t_min, t_max)
    return [sampler.sample(num_stages, generator) for _ in range(n)]


def _cycle(loader: Iterable) -> Iterator:
    """The loader's batches, epoch after epoch (a shuffling loader reshuffles each epoch)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            return


def measured_accuracy(
    model,
    test_loader: Iterable,
    calibration_loader: Iterable,
    config,
    repeats: int = 3,
    calibration_batches: int = 10,
    device: torch.device | str | None = None,
    precision: str = "auto",
) -> dict:
    """Mean test accuracy (percent, ``accuracy``) over ``repeats`` BN calibrations at ``config``
    (A.3), the passes under ``precision`` (:mod:`tfsnn.precision`), and each test item's share of
    the calibrations under which it is classified right (``correct``).

    Calibration ``r`` uses the ``r``-th run of ``calibration_batches`` consecutive batches of
    ``calibration_loader`` (cycled when it runs out), so no two calibrations share batches
    unless the loader is shorter than ``repeats * calibration_batches``. The model's BN
    buffers are restored afterwards (by :func:`tfsnn.evaluate.evaluate`).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    batches = _cycle(calibration_loader)
    accuracies, correct = [], 0.0
    for _ in range(repeats):
        rows, predictions = evaluate(model, test_loader, [config], device, calibration_loader=batches,
                                     calibration_batches=calibration_batches, recalibrate="all", precision=precision,
                                     per_item=True)
        accuracies.append(rows[0]["accuracy"])
        correct = correct + (predictions.predicted[rows[0]["config"]] == predictions.targets)
    return {"accuracy": sum(accuracies) / repeats, "correct": correct / repeats}


@dataclass(frozen=True)
class AccuracyModel:
    """``acc(t) = sum_i K[i] sqrt(log2 t_i) + c`` (section 4.3.3), one ``K`` per stage."""

    K: tuple[float, ...]
    c: float

    @property
    def num_stages(self) -> int:
        return len(self.K)

    def gain(self, stage: int, t: int) -> float:
        """Stage ``stage``'s (0-based) term ``K_stage sqrt(log2 t)``."""
        return self.K[stage] * information(t)

    def predict(self, configs):
        """Predicted accuracy of one configuration (a tuple, ``"3-2-2"`` or a uniform int), or a
        list of them for a sequence of configurations."""
        if isinstance(configs, Integral | str) or all(isinstance(t, Integral) for t in configs):
            config = TemporalConfig.of(configs, self.num_stages)
            return sum(self.gain(i, t) for i, t in enumerate(config)) + self.c
        return [self.predict(config) for config in configs]


def fit_accuracy_model(configs: Sequence, accuracies: Sequence[float]) -> AccuracyModel:
    """Least-squares ``K`` and ``c`` of the accuracy model from measured ``accuracies`` (A.3).

    Needs at least ``n + 1`` configurations of ``n`` stages, varied enough to determine every
    ``K_i`` (a stage that never leaves ``t = 1`` cannot be fitted): a ValueError otherwise.
    """
    configs = [TemporalConfig.parse(c) if isinstance(c, str) else TemporalConfig(c) for c in configs]
    if len(configs) != len(accuracies):
        raise ValueError(f"got {len(configs)} configurations but {len(accuracies)} accuracies")
    if not configs:
        raise ValueError("fitting the accuracy model needs configurations, got none")
    stages = len(configs[0])
    if any(len(c) != stages for c in configs):
        lengths = sorted({len(c) for c in configs})
        raise ValueError(f"all configurations must have {stages} stages (the first one's), got lengths {lengths}")
    unknowns = stages + 1
    if len(configs) < unknowns:
        raise ValueError(
            f"fitting K_1..K_{stages} and c ({unknowns} unknowns) needs at least {unknowns} configurations, "
            f"got {len(configs)}"
        )
    design = np.array([[information(t) for t in c] + [1.0] for c in configs])
    if np.linalg.matrix_rank(design) < unknowns:
        raise ValueError(
            "the configurations do not determine K_1..K_n and c (the least-squares system is rank deficient, "
            "e.g. a stage keeps one time step in all of them): sample more or more varied configurations"
        )
    solution, *_ = np.linalg.lstsq(design, np.asarray(accuracies, dtype=np.float64), rcond=None)
    return AccuracyModel(tuple(float(k) for k in solution[:-1]), float(solution[-1]))


def _agreement(measured: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """Pearson r (NaN when either side is constant), mean absolute and root-mean-square error."""
    m, p = np.asarray(measured, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    error = p - m
    dm, dp = m - m.mean(), p - p.mean()
    norm = math.sqrt(float((dm * dm).sum() * (dp * dp).sum()))
    return {
        "pearson_r": float((dm * dp).sum()) / norm if norm > 0 else math.nan,
        "mae": float(np.abs(error).mean()),
        "rmse": math.sqrt(float((error * error).mean())),
    }


@register("estimation")
def estimation_analysis(
    trained,
    *,
    n_fit: int = 18,
    n_validate: int = 1000,
    t_min: TimeStep = 1,
    t_max: TimeStep | None = None,
    repeats: int = 3,
    seed: int = 0,
    budget_T: TimeStep = 3,
    rates_T: TimeStep = 6,
) -> list[dict]:
    """Fit the accuracy model on ``n_fit`` random configurations, validate it on ``n_validate``
    more (Fig. 7A / 8), then search the configuration of highest predicted accuracy within the
    energy of uniform ``budget_T`` (firing rates at uniform ``rates_T``) and measure it against
    uniform ``budget_T`` (section 5.3, A.9). ``t_max`` defaults to the trained method's.

    Every accuracy is the mean of ``repeats`` BN calibrations (``train.calibrate_batches``
    training batches each). Configurations are drawn with a generator seeded by ``seed``
    (fit set first, then validation set, independently: they may share configurations);
    calibration batches come from the training loader shuffled with ``seed``.

    Rows (``metric``, ``value`` and):
    - per measured configuration, ``top1_acc`` and ``predicted_acc`` with ``config`` and
      ``split`` (``fit``/``validate``);
    - ``fitted_K_1``..``fitted_K_n`` and ``fitted_c`` (``split="fit"``);
    - ``pearson_r``, ``mae``, ``rmse`` of predicted against measured (``split="validate"``);
    - ``firing_rate`` of each ``block`` (1-based) at ``T=rates_T``;
    - ``top1_acc``, ``predicted_acc``, ``energy`` with ``config`` for the searched configuration
      (``split="search"``) and for uniform ``budget_T`` (``split="uniform"``, the budget).
    """
    model, device = trained.model, trained.device
    if t_max is None:
        t_max = trained.t_max
    if not t_min <= budget_T <= t_max:  # checked before the thousands of test passes below
        raise ValueError(f"analysis estimation: option budget_T must lie in [t_min, t_max] = [{t_min}, {t_max}] "
                         f"(the search's range), got {budget_T}")
    if n_fit < 1 or n_validate < 0 or repeats < 1:
        raise ValueError(f"analysis estimation: options n_fit >= 1, n_validate >= 0 and repeats >= 1 are needed, "
                         f"got {n_fit}, {n_validate}, {repeats}")
    generator = torch.Generator().manual_seed(seed)
    fit_configs = sample_configs(model.num_stages, n_fit, t_min, t_max, generator)
    validate_configs = sample_configs(model.num_stages, n_validate, t_min, t_max, generator)
    test_loader = trained.test_loader()
    calibration_loader = trained.train_loader(seed=seed)

    def measure(config) -> dict:
        return measured_accuracy(model, test_loader, calibration_loader, config, repeats,
                                 trained.calibration_batches, device, trained.analysis_precision)

    fit = [measure(c) for c in fit_configs]
    accuracy_model = fit_accuracy_model(fit_configs, [m["accuracy"] for m in fit])
    validate = [measure(c) for c in validate_configs]

    rows = []
    for split, configs, measured in (("fit", fit_configs, fit), ("validate", validate_configs, validate)):
        for config, m in zip(configs, measured):
            rows.append({"metric": "top1_acc", "value": m["accuracy"], "config": str(config), "split": split,
                         "correct": m["correct"]})
            rows.append({"metric": "predicted_acc", "value": accuracy_model.predict(config),
                         "config": str(config), "split": split})
    rows += [{"metric": f"fitted_K_{i + 1}", "value": k, "split": "fit"} for i, k in enumerate(accuracy_model.K)]
    rows.append({"metric": "fitted_c", "value": accuracy_model.c, "split": "fit"})
    if validate_configs:
        predicted = accuracy_model.predict(validate_configs)
        rows += [{"metric": metric, "value": value, "split": "validate"}
                 for metric, value in _agreement([m["accuracy"] for m in validate], predicted).items()]

    rates = block_firing_rates(model, test_loader, rates_T, device)
    rows += [{"metric": "firing_rate", "value": r, "block": j + 1, "T": rates_T} for j, r in enumerate(rates)]
    uniform = model.config(budget_T)
    budget = energy(uniform, rates, model)
    searched, searched_pred, searched_energy = search_configuration(
        accuracy_model, rates, model.granularity, budget, t_min, t_max
    )
    for split, config, pred, config_energy in (
        ("search", searched, searched_pred, searched_energy),
        ("uniform", uniform, accuracy_model.predict(uniform), budget),
    ):
        measured = measure(config)
        rows += [
            {"metric": "top1_acc", "value": measured["accuracy"], "config": str(config), "split": split,
             "correct": measured["correct"]},
            {"metric": "predicted_acc", "value": pred, "config": str(config), "split": split},
            {"metric": "energy", "value": config_energy, "config": str(config), "split": split},
        ]
    return rows
