"""Firing-rate energy of a temporal configuration and the energy-constrained search (section
5.3, A.3, A.9).

Energy: ``E(t) = sum_j t_{stage(j)} R_j`` over the blocks ``j``, ``R_j`` the mean firing rate
(spikes per neuron per step) of block ``j`` at uniform ``T = 6``; with granularity ``g`` block
``j`` (0-based) belongs to stage ``j // g``. Search: the configuration of highest predicted
accuracy (:class:`tfsnn.analysis.estimation.AccuracyModel`) with ``E(t) <= E(uniform T_g)``,
by depth-first search with branch-and-bound; the result is the exact optimum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from tfsnn.neuron import FiringRateMonitor
from tfsnn.temporal import TemporalConfig, check_bounds

if TYPE_CHECKING:
    from tfsnn.analysis.estimation import AccuracyModel

__all__ = ["block_firing_rates", "energy", "search_configuration"]


@torch.no_grad()
def block_firing_rates(model, loader: Iterable, T: int = 6, device: torch.device | str | None = None) -> list[float]:
    """Mean firing rate of each block (block order; the stem's neurons count in block 1, the
    head's in the last, see ``model.block_neurons()``) over every input of ``loader`` at
    uniform ``T`` (A.3: ``T = 6``), in eval mode and full precision."""
    device = torch.device(device or next(model.parameters()).device)
    model.eval()
    with FiringRateMonitor(model) as monitor:
        for batch in loader:
            inputs = batch[0] if isinstance(batch, list | tuple) else batch
            model(inputs.to(device, non_blocking=True), T)
    return list(monitor.rates(model.block_neurons()).values())


def _rates(rates: Sequence[float] | Mapping[str, float]) -> list[float]:
    values = [float(r) for r in (rates.values() if isinstance(rates, Mapping) else rates)]
    if not values or any(not r >= 0 for r in values):
        raise ValueError(f"firing rates must be a non-empty list of numbers >= 0, got {values}")
    return values


def _granularity(model_or_granularity) -> int:
    g = model_or_granularity if isinstance(model_or_granularity, int) else model_or_granularity.granularity
    if g < 1:
        raise ValueError(f"granularity must be >= 1, got {g}")
    return g


def energy(config, rates: Sequence[float] | Mapping[str, float], model_or_granularity) -> float:
    """``sum_j t_{j // g} R_j`` over blocks ``j`` (A.3): ``rates`` per block in block order (a
    list, or the dict of :meth:`FiringRateMonitor.rates`), ``config`` one ``t`` per stage (or a
    uniform int, or ``"3-2-2"``), ``g`` the model's granularity or an int."""
    rates, g = _rates(rates), _granularity(model_or_granularity)
    config = TemporalConfig.of(config, math.ceil(len(rates) / g))
    return sum(config[j // g] * r for j, r in enumerate(rates))


def search_configuration(
    accuracy_model: AccuracyModel,
    rates: Sequence[float] | Mapping[str, float],
    granularity: int,
    budget: float,
    t_min: int,
    t_max: int,
) -> tuple[TemporalConfig, float, float]:
    """``(config, predicted accuracy, energy)`` of the configuration in ``[t_min, t_max]^n`` of
    highest ``accuracy_model.predict`` whose :func:`energy` is at most ``budget`` (A.3).

    Exact: a depth-first search over stages 1..n that prunes a branch only when even its
    optimistic bound falls below the best leaf found (by more than a rounding tolerance) or
    when its least possible energy exceeds the budget. The bound of the remaining stages takes
    ``t_min`` for ``K_i <= 0`` and, for ``K_i > 0``, the largest ``t_i`` that fits the energy
    left after every other remaining stage takes ``t_min``. Leaves are scored with ``predict``
    and :func:`energy` themselves, so the result equals a brute-force search's. Ties (equal
    predictions) go to the lower energy, then the lexicographically smallest configuration.
    """
    check_bounds(t_min, t_max)
    rates, g = _rates(rates), _granularity(granularity)
    n = accuracy_model.num_stages
    if math.ceil(len(rates) / g) != n:
        raise ValueError(f"{len(rates)} block rates at granularity {g} make {math.ceil(len(rates) / g)} stages, "
                         f"the accuracy model has {n}")
    weight = [sum(r for j, r in enumerate(rates) if j // g == s) for s in range(n)]
    least_energy = [t_min * sum(weight[s:]) for s in range(n + 1)]  # stages s.. all at t_min
    K = accuracy_model.K
    tol_energy = 1e-9 * (1.0 + abs(budget))
    tol_acc = 1e-9 * (1.0 + abs(accuracy_model.c) + sum(abs(k) for k in K) * math.sqrt(math.log2(t_max)))
    # best-first order per stage: it only speeds the search up, the result does not depend on it
    order = [range(t_max, t_min - 1, -1) if k > 0 else range(t_min, t_max + 1) for k in K]
    best: tuple | None = None  # (-predicted, energy, config): the smallest key wins

    def bound(stage: int, slack: float) -> float:
        """Largest gain stages ``stage..`` can add with ``slack`` energy above all-``t_min``."""
        total = 0.0
        for s in range(stage, n):
            t = t_min
            if K[s] > 0:
                t = t_max if weight[s] == 0 else min(t_max, t_min + math.floor((slack + tol_energy) / weight[s]))
            total += accuracy_model.gain(s, t)
        return total

    def visit(prefix: list[int], gain: float, used: float) -> None:
        nonlocal best
        stage = len(prefix)
        if stage == n:
            config = TemporalConfig(prefix)
            config_energy = energy(config, rates, g)
            if config_energy <= budget:
                key = (-accuracy_model.predict(config), config_energy, tuple(config))
                if best is None or key < best:
                    best = key
            return
        for t in order[stage]:
            spent = used + t * weight[stage]
            slack = budget - spent - least_energy[stage + 1]
            if slack < -tol_energy:
                continue
            reach = gain + accuracy_model.gain(stage, t)
            if best is not None and reach + accuracy_model.c + bound(stage + 1, slack) < -best[0] - tol_acc:
                continue
            visit(prefix + [t], reach, spent)

    visit([], 0.0, 0.0)
    if best is None:
        raise ValueError(f"no configuration fits the energy budget {budget}: uniform t_min={t_min} "
                         f"needs {energy(t_min, rates, g)}")
    return TemporalConfig(best[2]), -best[0], best[1]
