import itertools
import math
import random
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tfsnn.analysis.energy import block_firing_rates, energy, search_configuration
from tfsnn.analysis.estimation import AccuracyModel
from tfsnn.models.tfsnn import TFSNN
from tfsnn.neuron import LIF


def test_energy_hand_computed_granularity_2():
    rates = [0.1, 0.2, 0.3, 0.4, 0.5]  # 5 blocks at g=2: stages {0,1}, {2,3}, {4}
    expected = 3 * (0.1 + 0.2) + 5 * (0.3 + 0.4) + 2 * 0.5
    assert energy((3, 5, 2), rates, 2) == pytest.approx(expected, abs=1e-12)
    assert energy("3-5-2", dict(zip(["block1", "block2", "block3", "block4", "block5"], rates)),
                  SimpleNamespace(granularity=2)) == pytest.approx(expected, abs=1e-12)
    assert energy(4, rates, 2) == pytest.approx(4 * 1.5, abs=1e-12)  # EC_4 = sum_i 4 R_i (A.3)
    with pytest.raises(ValueError, match="has 2 stages, the model has 3"):
        energy((3, 5), rates, 2)


class _Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


def test_block_firing_rates_hand_model():
    # stem LIF on a constant 0.6: v = 0.6, 0.9, 1.05 -> spikes 0, 0, 1 (tau 0.5, Vth 1);
    # block 1: currents 2 * s -> v = 0, 0, 2 -> 0, 0, 1 (pooled with the stem: 1/3);
    # block 2: currents s / 2 -> never reaches 1 -> 0.
    model = TFSNN(LIF(), [nn.Sequential(_Scale(2.0), LIF()), nn.Sequential(_Scale(0.5), LIF())],
                  nn.Identity(), input_rank=1)
    loader = [(torch.full((2, 4), 0.6), torch.zeros(2)), (torch.full((3, 4), 0.6), torch.zeros(3))]
    assert block_firing_rates(model, loader, T=3, device="cpu") == pytest.approx([1 / 3, 0.0], abs=1e-12)


def _brute_force(model, rates, g, budget, t_min, t_max):
    feasible = [
        (-model.predict(c), energy(c, rates, g), c)
        for c in itertools.product(range(t_min, t_max + 1), repeat=model.num_stages)
        if energy(c, rates, g) <= budget
    ]
    return min(feasible)


@pytest.mark.parametrize("instance", range(12))
def test_search_equals_brute_force(instance):
    rng = random.Random(instance)
    stages, g = rng.choice([3, 4]), rng.choice([1, 2])
    K = [rng.gauss(0.3, 1.0) for _ in range(stages)]  # negative ones included
    if instance % 4 == 0:
        K[rng.randrange(stages)] = 0.0  # a stage whose t changes nothing: ties broken by energy
    model = AccuracyModel(tuple(K), rng.uniform(40, 90))
    rates = [rng.uniform(0.0, 0.5) for _ in range(stages * g - (instance % 2 if g == 2 else 0))]
    if instance % 3:
        budget = energy(rng.randint(1, 4), rates, g)  # a uniform T_g, as in A.3
    else:
        budget = rng.uniform(energy(1, rates, g), energy(4, rates, g))
    config, predicted, config_energy = search_configuration(model, rates, g, budget, 1, 4)
    neg_acc, best_energy, best = _brute_force(model, rates, g, budget, 1, 4)
    assert tuple(config) == best
    # exact on any CPU: the search scores its leaves with predict() and energy() themselves (Python
    # floats), as the brute force does
    assert predicted == -neg_acc and config_energy == best_energy == energy(config, rates, g)
    assert config_energy <= budget


def test_search_hand_case_and_infeasible_budget():
    # K = (1, 1), equal rates, budget of uniform T=2 (t_1 + t_2 <= 4): by concavity of
    # sqrt(log2 t), (2, 2) with 1 + 1 = 2 beats (3, 1) with sqrt(log2 3) = 1.26.
    model = AccuracyModel((1.0, 1.0), 10.0)
    config, predicted, used = search_configuration(model, [0.5, 0.5], 1, energy(2, [0.5, 0.5], 1), 1, 4)
    assert tuple(config) == (2, 2) and predicted == 12.0 and used == 2.0  # exact: 1 + 1 + 10, 2 * 0.5 * 2
    # a negative K keeps its stage at t_min, freeing the energy for the other
    config, predicted, _ = search_configuration(AccuracyModel((1.0, -1.0), 0.0), [0.5, 0.5], 1, 2.0, 1, 4)
    assert tuple(config) == (3, 1) and predicted == pytest.approx(math.sqrt(math.log2(3)))
    with pytest.raises(ValueError, match="no configuration fits"):
        search_configuration(model, [0.5, 0.5], 1, 0.9, 1, 4)
    with pytest.raises(ValueError, match="accuracy model has 2"):
        search_configuration(model, [0.5, 0.5, 0.5], 1, 10.0, 1, 4)
