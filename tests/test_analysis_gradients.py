import pytest
import torch
import torch.nn.functional as F

from tfsnn.analysis import run_analysis
from tfsnn.analysis.gradients import (
    conv_weights,
    cosine_similarity,
    gradient_cosine_similarity,
    input_gradient_norm,
    weight_gradient,
    weight_gradient_norm,
)
from tfsnn.models import build


def _batches(trained, n=12, size=4):
    x, y = next(iter(trained.test_loader(n)))
    return [(x[i:i + size], y[i:i + size]) for i in range(0, n, size)], x, y


def _untouched(model, before):
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_weight_gradient_is_the_gradient_of_the_mean_loss_in_one_batch(tiny_trained):
    model = tiny_trained.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches, x, y = _batches(tiny_trained)
    weights = conv_weights(model)
    assert len(weights) == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    expected = torch.autograd.grad(F.cross_entropy(model(x, 2), y), weights)  # mean over all 12
    got = weight_gradient(model, batches, 2, "cpu")
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-7)
    norm = torch.cat([e.flatten() for e in expected]).norm()
    assert weight_gradient_norm(model, batches, 2, "cpu") == pytest.approx(float(norm), rel=1e-4)
    _untouched(model, before)
    assert not model.training


def test_input_gradient_norm_is_the_mean_of_single_item_gradient_norms(tiny_trained):
    model = tiny_trained.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches, x, y = _batches(tiny_trained)
    norms = []
    for i in range(len(y)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi, 3), y[i:i + 1]), xi)
        norms.append(float(g.norm()))
    assert input_gradient_norm(model, batches, 3, "cpu") == pytest.approx(sum(norms) / len(norms), rel=1e-4)
    _untouched(model, before)


def test_input_gradient_of_frames_takes_items_along_dim_1():
    """Event frames come ``[T, B, ...]``: each item's gradient spans all its frames."""
    model = build("fc", num_classes=3, in_channels=5, hidden=[16])
    model.train()
    x, y = torch.randn(4, 6, 5) * 3, torch.tensor([0, 1, 2, 0, 1, 2])
    norms = []
    for i in range(6):
        xi = x[:, i:i + 1].clone().requires_grad_(True)
        model.eval()
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi, 4), y[i:i + 1]), xi)
        norms.append(float(g.norm()))
    model.train()
    assert input_gradient_norm(model, [(x[:, :3], y[:3]), (x[:, 3:], y[3:])], 4) == pytest.approx(
        sum(norms) / 6, rel=1e-5)
    assert sum(norms) > 0
    assert model.training  # its mode is restored
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="no conv"):
        conv_weights(model)


def test_cosine_similarity_of_hand_built_gradients_and_of_a_T_with_itself(tiny_trained):
    a = [torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([3.0])]
    b = [torch.tensor([[0.5, -1.0], [2.0, 0.0]]), torch.tensor([1.0])]
    flat_a, flat_b = torch.tensor([1.0, 2.0, 0.0, -1.0, 3.0]), torch.tensor([0.5, -1.0, 2.0, 0.0, 1.0])
    hand = float(flat_a @ flat_b / (flat_a.norm() * flat_b.norm()))  # 1.5 / (sqrt(15) sqrt(6.25))
    assert cosine_similarity(a, b) == pytest.approx(hand) == pytest.approx(1.5 / (15 ** 0.5 * 2.5))
    assert cosine_similarity(a, [-t for t in a]) == pytest.approx(-1.0)
    batches, _, _ = _batches(tiny_trained, 8)
    assert gradient_cosine_similarity(tiny_trained.model, batches, 2, 2, "cpu") == pytest.approx(1.0, abs=1e-6)
    different = gradient_cosine_similarity(tiny_trained.model, batches, 1, 4, "cpu")
    assert -1.0 < different < 0.9999
    assert all(p.grad is None for p in tiny_trained.model.parameters())


def test_registered_gradients_rows(tiny_trained):
    model = tiny_trained.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frame = run_analysis("gradients", tiny_trained, {"T": 2, "cosine_T": [1, 3], "batches": 1})
    assert frame["metric"].tolist() == ["weight_grad_norm", "input_grad_norm", "grad_cosine_similarity"]
    assert set(frame["split"]) == {"train"}
    rows = frame.set_index("metric")
    assert rows.loc["grad_cosine_similarity", "compare_T"] == "1 vs 3"
    first = tiny_trained.split_loader("train", batches=1)
    assert rows.loc["weight_grad_norm", "value"] == pytest.approx(weight_gradient_norm(model, first, 2), rel=1e-6)
    assert rows.loc["input_grad_norm", "value"] == pytest.approx(input_gradient_norm(model, first, 2), rel=1e-6)
    assert rows.loc["grad_cosine_similarity", "value"] == pytest.approx(
        gradient_cosine_similarity(model, first, 1, 3), rel=1e-6)
    assert rows.loc["weight_grad_norm", "T"] == 2
    _untouched(model, before)
