import copy

import pytest
import torch
import torch.nn.functional as F

from tfsnn.analysis import run_analysis
from tfsnn.analysis.gradients import (
    conv_weights,
    cosine_similarity,
    gradient_cosine_similarity,
    input_gradient_norm,
    training_gradient,
    weight_gradient,
    weight_gradient_norm,
    weight_gradient_norms,
)
from tfsnn.models import build

from conftest import float64_copy


def _batches(trained, n=12, size=4, dtype=torch.float32):
    x, y = next(iter(trained.test_loader(n)))
    x = x.to(dtype)
    return [(x[i:i + size], y[i:i + size]) for i in range(0, n, size)], x, y


def _untouched(model, before):
    # bit for bit on any CPU: an analysis restores what it touches by copying, no arithmetic
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_weight_gradient_is_the_gradient_of_the_mean_loss_in_one_batch(tiny_trained):
    # one batch of 12 against three of 4: in float64 (conftest.float64_copy), up to float64 rounding
    model = float64_copy(tiny_trained.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches, x, y = _batches(tiny_trained, dtype=torch.float64)
    weights = conv_weights(model)
    assert len(weights) == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    expected = torch.autograd.grad(F.cross_entropy(model(x, 2), y), weights)  # mean over all 12
    got = weight_gradient(model, batches, 2, "cpu")
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)
    norm = torch.cat([e.flatten() for e in expected]).norm()
    assert weight_gradient_norm(model, batches, 2, "cpu") == pytest.approx(float(norm), rel=1e-9)
    _untouched(model, before)
    assert not model.training


def test_input_gradient_norm_is_the_mean_of_single_item_gradient_norms(tiny_trained):
    # batches of 4 against single items: in float64 (conftest.float64_copy)
    model = float64_copy(tiny_trained.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches, x, y = _batches(tiny_trained, dtype=torch.float64)
    norms = []
    for i in range(len(y)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi, 3), y[i:i + 1]), xi)
        norms.append(float(g.norm()))
    assert input_gradient_norm(model, batches, 3, "cpu") == pytest.approx(sum(norms) / len(norms), rel=1e-9)
    _untouched(model, before)


def test_input_gradient_of_frames_takes_items_along_dim_1():
    """Event frames come ``[T, B, ...]``: each item's gradient spans all its frames. Float64: batches
    of 3 against single items (a matmul of one row rounds otherwise, see conftest.float64_copy)."""
    model = build("fc", num_classes=3, in_channels=5, hidden=[16]).double()
    model.train()
    x, y = torch.randn(4, 6, 5, dtype=torch.float64) * 3, torch.tensor([0, 1, 2, 0, 1, 2])
    norms = []
    for i in range(6):
        xi = x[:, i:i + 1].clone().requires_grad_(True)
        model.eval()
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi, 4), y[i:i + 1]), xi)
        norms.append(float(g.norm()))
    model.train()
    assert input_gradient_norm(model, [(x[:, :3], y[:3]), (x[:, 3:], y[3:])], 4) == pytest.approx(
        sum(norms) / 6, rel=1e-9)
    assert sum(norms) > 0
    assert model.training  # its mode is restored
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="no conv"):
        conv_weights(model)


def test_cosine_similarity_of_hand_built_gradients_and_of_a_T_with_itself(tiny_trained):
    a = [torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([3.0])]
    b = [torch.tensor([[0.5, -1.0], [2.0, 0.0]]), torch.tensor([1.0])]
    # flat (1, 2, 0, -1, 3) and (0.5, -1, 2, 0, 1): 1.5 / (sqrt(15) sqrt(6.25)); the entries are exact
    # in float32 and the cosine is accumulated in float64, so only float64 rounding is left
    assert cosine_similarity(a, b) == pytest.approx(1.5 / (15 ** 0.5 * 2.5), rel=1e-12)
    assert cosine_similarity(a, [-t for t in a]) == pytest.approx(-1.0, rel=1e-12)
    batches, _, _ = _batches(tiny_trained, 8)
    # The same gradient twice: 1 up to the rounding of two float32 computations of it (their
    # relative difference, at most ~1e-6 even on another CPU's kernels, moves a cosine by its
    # square), and never above 1. The old float32 cosine gave 1.0000013 on one CPU.
    same = gradient_cosine_similarity(tiny_trained.model, batches, 2, 2, "cpu")
    assert 1.0 - 1e-5 <= same <= 1.0
    different = gradient_cosine_similarity(tiny_trained.model, batches, 1, 4, "cpu")
    assert -1.0 < different < 0.9999
    assert all(p.grad is None for p in tiny_trained.model.parameters())


def test_cosine_similarity_never_leaves_minus_one_to_one():
    # (3, 3, 3) with itself is 1.0000002 in float32 on every CPU kernel (3 / sqrt(27) rounds up and
    # its three squares sum above 1); random vectors of any size do the same for about 1 in 4
    three = [torch.full((3,), 3.0)]
    assert 1.0 - 1e-12 <= cosine_similarity(three, three) <= 1.0
    generator = torch.Generator().manual_seed(0)
    for n in (3, 10, 1000, 100_000):
        for _ in range(10):
            g = [torch.randn(n, generator=generator), torch.randn(2, 3, generator=generator)]
            assert 1.0 - 1e-12 <= cosine_similarity(g, g) <= 1.0
            assert -1.0 <= cosine_similarity(g, [-t for t in g]) <= -1.0 + 1e-12


def test_registered_gradients_rows(tiny_trained):
    """Table 13 reports the weight gradient of both readings of "the loss over the entire training
    set": the summed loss (compared with the paper) and the mean, N times smaller. Before, only the
    mean's was there, under the paper's name."""
    model = tiny_trained.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frame = run_analysis("gradients", tiny_trained, {"T": 2, "batches": 1})
    assert frame["metric"].tolist() == ["weight_grad_norm_sum_loss", "weight_grad_norm_mean_loss", "input_grad_norm"]
    assert set(frame["split"]) == {"train"} and set(frame["items"]) == {32} and set(frame["T"]) == {2}
    assert set(frame["precision"]) == {"fp32"}
    rows = frame.set_index("metric")["value"]
    first = tiny_trained.split_loader("train", batches=1)
    mean = weight_gradient_norm(model, first, 2)
    assert rows["weight_grad_norm_mean_loss"] == pytest.approx(mean, rel=1e-6)
    assert rows["weight_grad_norm_sum_loss"] == pytest.approx(32 * mean, rel=1e-6)
    assert rows["input_grad_norm"] == pytest.approx(input_gradient_norm(model, first, 2), rel=1e-6)
    _untouched(model, before)
    with pytest.raises(ValueError, match="cosine_T: not an option"):  # the cosine is gradient_cosine's now
        run_analysis("gradients", tiny_trained, {"cosine_T": [1, 3]})


def test_weight_gradient_norms_by_hand():
    # a 1x1 conv of weights (1, -1) on one pixel x gives the logits (x, -x): for the summed
    # cross-entropy the weight gradient is the sum of the items' own, for the mean 1/N of it
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1, bias=False), torch.nn.Flatten())
    with torch.no_grad():
        conv[0].weight.copy_(torch.tensor([[[[1.0]]], [[[-1.0]]]]))
    wrapped = _Static(conv)
    x, y = torch.tensor([[[[1.0]]], [[[2.0]]]]), torch.tensor([0, 1])
    # logits (x, -x); dL_i/dw = x_i * (p_i - onehot_i) per output channel
    grads = []
    for xi, yi in zip(x, y):
        logits = torch.tensor([xi.item(), -xi.item()])
        p = logits.softmax(0)
        grads.append(xi.item() * (p - F.one_hot(yi, 2).float()))
    summed = grads[0] + grads[1]
    norms = weight_gradient_norms(wrapped, [(x[:1], y[:1]), (x[1:], y[1:])], 1, "cpu")
    assert norms["items"] == 2
    assert norms["sum_loss"] == pytest.approx(float(summed.norm()), rel=1e-6)
    assert norms["mean_loss"] == pytest.approx(float(summed.norm()) / 2, rel=1e-6)


class _Static(torch.nn.Module):
    """A non-spiking stand-in with a TFSNN's call signature ``model(x, T)``."""

    input_rank = 3

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, T):
        return self.net(x)


@pytest.fixture(scope="module")
def along_training(pack_dir, tmp_path_factory):
    """An NMT run (T_max=4) of one epoch that kept its states at epochs 0 (the initial weights) and 1."""
    from conftest import tiny_config

    from tfsnn.config import validate_config
    from tfsnn.experiment import load_trained, train

    config = tiny_config(pack_dir, method={"name": "nmt", "t_min": 1, "t_max": 4, "samples": 2},
                         train={"epochs": 1, "save_epochs": [0, 1]})
    out = tmp_path_factory.mktemp("along_training")
    train(validate_config(config), out, progress=False, device="cpu")
    return load_trained(out / "checkpoint.pt", device="cpu")


def test_training_gradient_is_the_train_mode_gradient_of_the_runs_loss(along_training):
    from tfsnn.training import build_method

    trained = along_training
    model = float64_copy(trained.model)
    model.load_state_dict(trained.snapshots[1])
    method = build_method("nmt", t_min=1, t_max=4, samples=2)
    batches, _, _ = _batches(trained, n=8, size=4, dtype=torch.float64)
    params = [p for p in model.parameters() if p.requires_grad]
    expected = [torch.zeros_like(p) for p in params]
    for xb, yb in batches:
        model.train()
        for acc, g in zip(expected, torch.autograd.grad(F.cross_entropy(model(xb, 3), yb), params)):
            acc += g / len(batches)
    got = training_gradient(model, method, batches, 3, "cpu")
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)
    assert all(p.grad is None for p in model.parameters())


def test_gradient_cosine_is_measured_along_training(along_training):
    """Section 4.2: the cosine at T=3 vs T=6 is measured at the states the run kept, in train mode
    on fixed training batches. Before, it was the converged model's only, in eval mode."""
    trained = along_training
    model = trained.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frame = run_analysis("gradient_cosine", trained, {"T": [1, 4], "batches": 1})
    cosine = frame[frame["metric"] == "grad_cosine_similarity"].set_index("epoch")
    assert sorted(cosine.index) == [0, 1]
    assert set(cosine["compare_T"]) == {"1 vs 4"} and set(cosine["bn_mode"]) == {"train"}
    assert set(cosine["batches"]) == {1}
    norms = frame[frame["metric"] == "grad_norm"]
    assert sorted(zip(norms["epoch"], norms["T"])) == [(e, t) for e in (0, 1) for t in (1, 4)]
    from tfsnn.training import build_method

    method = build_method("nmt", t_min=1, t_max=4, samples=2)
    loader = trained.split_loader("train", batches=1)
    for epoch in (0, 1):
        state = copy.deepcopy(model)
        state.load_state_dict(trained.snapshots[epoch])
        by_hand = cosine_similarity(training_gradient(state, method, loader, 1, "cpu"),
                                    training_gradient(state, method, loader, 4, "cpu"))
        assert cosine.loc[epoch, "value"] == pytest.approx(by_hand, rel=1e-5, abs=1e-6)
    assert -1.0 <= cosine["value"].min() and cosine["value"].max() <= 1.0
    assert cosine.loc[0, "value"] != pytest.approx(cosine.loc[1, "value"], abs=1e-6)  # two different states
    # the last state is the trained model: the old eval-mode cosine of it is another number
    eval_mode_cosine = gradient_cosine_similarity(model, loader, 1, 4, "cpu")
    assert cosine.loc[1, "value"] != pytest.approx(eval_mode_cosine, abs=1e-6)
    _untouched(model, before)
    assert not model.training
    assert len(run_analysis("gradient_cosine", trained, {"T": [1, 4], "batches": 1, "epochs": [1]})) == 3  # 1 epoch
    with pytest.raises(ValueError, match="kept the states of epochs"):
        run_analysis("gradient_cosine", trained, {"epochs": [5]})


def test_gradient_cosine_needs_states_along_training(tiny_trained):
    with pytest.raises(ValueError, match="train.save_epochs"):
        run_analysis("gradient_cosine", tiny_trained, {})
