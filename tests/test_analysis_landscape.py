import dataclasses
import math

import pytest
import torch
from torch import nn

from conftest import tiny_config
from tfsnn.analysis import run_analysis
from tfsnn.analysis.landscape import filter_normalized_direction, loss_landscape
from tfsnn.config import validate_config
from tfsnn.evaluate import accuracy
from tfsnn.experiment import Trained, build_model, load_data
from tfsnn.neuron import SpikingNeuron


class Linear(nn.Module):
    """A hand-computable "TFSNN": one linear layer, ``t`` ignored."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.bn = nn.BatchNorm1d(2)

    def forward(self, x, t):
        return self.fc(x)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same_state(model, before):
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        assert torch.equal(after[k], v), k


def test_direction_filters_have_the_weight_norms_and_bn_bias_are_zero(tiny_trained):
    model = tiny_trained.model
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(3))
    params = dict(model.named_parameters())
    assert direction.keys() == params.keys()
    filtered = 0
    for module_name, module in model.named_modules():
        prefix = module_name + "." if module_name else ""
        if isinstance(module, nn.Conv2d | nn.Linear):
            d, w = direction[prefix + "weight"], module.weight.detach()
            assert d.shape == w.shape and not torch.equal(d, torch.zeros_like(d))
            torch.testing.assert_close(d.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))
            filtered += 1
            if module.bias is not None:
                assert torch.count_nonzero(direction[prefix + "bias"]) == 0
        elif isinstance(module, nn.BatchNorm2d):
            assert torch.count_nonzero(direction[prefix + "weight"]) == 0
            assert torch.count_nonzero(direction[prefix + "bias"]) == 0
    assert filtered == sum(isinstance(m, nn.Conv2d | nn.Linear) for m in model.modules()) > 10


def test_same_seed_same_draw_for_two_models_of_one_architecture(tiny_trained):
    """SDT and MTT models (different weights) get the same direction up to each filter's scale."""
    other = build_model(tiny_trained.config, tiny_trained.datasets)  # fresh weights
    a = filter_normalized_direction(tiny_trained.model, torch.Generator().manual_seed(5))
    b = filter_normalized_direction(other, torch.Generator().manual_seed(5))
    c = filter_normalized_direction(other, torch.Generator().manual_seed(6))
    name = "blocks.0.conv1.0.weight"
    unit = [d[name].flatten(1) / d[name].flatten(1).norm(dim=1, keepdim=True) for d in (a, b, c)]
    torch.testing.assert_close(unit[0], unit[1])
    assert not torch.allclose(unit[1], unit[2])


def test_alpha_zero_is_the_models_own_loss_and_weights_are_restored(tiny_trained):
    model, loader = tiny_trained.model, tiny_trained.test_loader()
    before = _state(model)
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    points = loss_landscape(model, loader, 2, [0.0, 0.5], direction, "cpu")
    own = accuracy(model, loader, 2, "cpu")
    assert points[0]["loss"] == pytest.approx(own["loss"], rel=1e-6)
    assert points[0]["accuracy"] == pytest.approx(own["accuracy"])
    assert points[0]["samples"] == own["samples"] == 64
    assert points[1]["loss"] != own["loss"]  # the direction is applied (an untrained model: a small change)
    _assert_same_state(model, before)
    assert not model.training


def test_hand_built_linear_model_gives_hand_computed_losses():
    model = Linear()
    with torch.no_grad():
        model.fc.weight.copy_(torch.eye(2))
        model.fc.bias.zero_()
    model.train()
    before = _state(model)
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
    direction = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    direction["fc.weight"] = torch.tensor([[0.0, 0.0], [1.0, 0.0]])  # logits (1, alpha)
    points = loss_landscape(model, [(x, y)], None, [-1.0, 0.0, 2.0], direction, "cpu")
    for point, alpha in zip(points, [-1.0, 0.0, 2.0]):
        assert point["alpha"] == alpha
        # float32 log-softmax of logits (1, alpha): within a few float32 ulps of the logits (1.2e-7
        # each) absolutely, not relatively to a loss of 0.127 (alpha=-1: 1.127 - 1)
        assert point["loss"] == pytest.approx(math.log(1 + math.exp(alpha - 1)), abs=1e-6)
    assert [p["accuracy"] for p in points] == [100.0, 100.0, 0.0]
    _assert_same_state(model, before)
    assert model.training  # the mode it came in


def test_direction_of_a_linear_layer_rescales_each_row():
    model = Linear()
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[3.0, 4.0], [0.0, 0.5]]))
    d = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    torch.testing.assert_close(d["fc.weight"].norm(dim=1), torch.tensor([5.0, 0.5]))
    for name in ("fc.bias", "bn.weight", "bn.bias"):
        assert torch.count_nonzero(d[name]) == 0


def test_train_split_is_unaugmented_in_order_and_every_item_once(pack_dir):
    config = validate_config(tiny_config(
        pack_dir, data={"name": "cifar10", "train_size": 20, "test_size": 10, "augment": True, "cutout": 8}))
    datasets = load_data(config)
    trained = Trained(build_model(config, datasets), config, datasets, torch.device("cpu"), 0)
    first = [x for x, _ in trained.split_loader("train", batch_size=8)]
    second = [x for x, _ in trained.split_loader("train", batch_size=8)]
    assert [len(x) for x in first] == [8, 8, 4]
    assert all(torch.equal(a, b) for a, b in zip(first, second))  # no random crop, flip, cutout
    plain = validate_config(tiny_config(pack_dir, data={"name": "cifar10", "train_size": 20, "test_size": 10}))
    expected = torch.stack([load_data(plain).train[i][0] for i in range(20)])
    assert torch.equal(torch.cat(first), expected)
    assert [len(x) for x, _ in trained.split_loader("train", batches=2, batch_size=8)] == [8, 8]


def test_registered_landscape_rows(tiny_trained):
    before = _state(tiny_trained.model)
    options = {"alphas": [0.0, 1.0], "splits": ["train"], "batches": 1, "seed": 2}
    frame = run_analysis("landscape", tiny_trained, options)
    assert len(frame) == 4
    assert set(frame["metric"]) == {"loss", "top1_acc"}
    assert set(frame["T"]) == {4} and set(frame["split"]) == {"train"}
    assert sorted(frame["alpha"]) == [0.0, 0.0, 1.0, 1.0]
    zero = frame[(frame["alpha"] == 0.0) & (frame["metric"] == "loss")]["value"].item()
    own = accuracy(tiny_trained.model, tiny_trained.split_loader("train", batches=1), 4, "cpu")["loss"]
    assert zero == pytest.approx(own, rel=1e-6)
    again = run_analysis("landscape", tiny_trained, options)
    # seeded: bitwise the same on one machine (not across CPUs, whose kernels draw and round differently)
    assert frame["value"].tolist() == again["value"].tolist()
    _assert_same_state(tiny_trained.model, before)


def test_both_splits_by_default_with_one_direction(tiny_trained):
    """Fig. 9: Li et al. plot the training loss; the split is named in every row, both by default.
    Before, only the test set, and its rows did not say it was the test set's in the figure."""
    frame = run_analysis("landscape", tiny_trained, {"alphas": [0.0, 0.5], "batches": 1})
    assert frame["split"].tolist() == ["train"] * 4 + ["test"] * 4
    loss = frame[frame["metric"] == "loss"].set_index(["split", "alpha"])["value"]
    train, test = tiny_trained.split_loader("train", batches=1), tiny_trained.split_loader("test", batches=1)
    assert loss[("train", 0.0)] == pytest.approx(accuracy(tiny_trained.model, train, 4, "cpu")["loss"], rel=1e-6)
    assert loss[("test", 0.0)] == pytest.approx(accuracy(tiny_trained.model, test, 4, "cpu")["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="splits"):
        run_analysis("landscape", tiny_trained, {"splits": ["validation"]})
    with pytest.raises(ValueError, match="splits"):
        run_analysis("landscape", tiny_trained, {"splits": "train"})  # a list, not a string


def test_every_analysis_runs_in_fp32_whatever_the_runs_precision(tiny_trained):
    """One policy (tfsnn.precision): every analysis measures the trained function in fp32, through
    Trained.analysis_context(), even inside an enclosing autocast. Before, noise, landscape,
    estimation and BN statistics ran under the run's precision (here bf16), the rest in fp32."""
    config = tiny_trained.config
    bf16 = dataclasses.replace(tiny_trained, config=config.model_copy(
        update={"train": config.train.model_copy(update={"precision": "bf16"})}))
    assert bf16.precision == "bf16" and bf16.analysis_precision == "fp32"
    seen = []
    # every pass goes through it, also that of an evaluation on a copy with BN folded (tfsnn.evaluate)
    first_neuron = next(m for m in bf16.model.modules() if isinstance(m, SpikingNeuron))
    hook = first_neuron.register_forward_pre_hook(lambda module, inputs: seen.append(torch.is_autocast_enabled("cpu")))
    try:
        for name, options in [
            ("landscape", {"alphas": [0.0], "splits": ["train"], "batches": 1}),
            ("noise", {"sigma2": [0.0], "repeats": 1}),
            ("bn_statistics", {"T": [2], "repeats": 1}),
            ("gradients", {"batches": 1}),
            ("early_exit", {"thresholds": [0.5]}),
        ]:
            seen.clear()
            with torch.autocast("cpu", dtype=torch.bfloat16):  # e.g. a caller's own autocast
                frame = run_analysis(name, bf16, options)
            assert seen and not any(seen), name
            assert set(frame["precision"]) == {"fp32"}, name
    finally:
        hook.remove()
    frame = run_analysis("landscape", bf16, {"alphas": [0.0], "splits": ["train"], "batches": 1})
    zero = frame[frame["metric"] == "loss"]["value"].item()
    batches = bf16.split_loader("train", batches=1)
    assert zero == pytest.approx(accuracy(bf16.model, batches, 4, "cpu", "fp32")["loss"], rel=1e-6)
    assert zero != pytest.approx(accuracy(bf16.model, batches, 4, "cpu", "bf16")["loss"], rel=1e-6)
