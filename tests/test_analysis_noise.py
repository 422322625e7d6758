import pytest
import torch
from torch import nn

from tfsnn.analysis import run_analysis
from tfsnn.analysis.noise import input_noise, noise_analysis, noisy_accuracy, weight_noise, weight_parameters
from tfsnn.evaluate import accuracy
from tfsnn.io import read_records


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("target", ["weights", "inputs"])
def test_zero_variance_is_the_clean_accuracy(tiny_trained, target):
    clean = accuracy(tiny_trained.model, tiny_trained.test_loader(), 4)["accuracy"]
    frame = run_analysis("noise", tiny_trained, {"target": target, "sigma2": [0], "repeats": 2})
    # exact on any CPU: sigma^2 = 0 adds exact zeros, so each repeat is the clean computation again
    assert list(frame["value"]) == [clean, clean]
    assert list(frame["repeat"]) == [0, 1] and set(frame["T"]) == {4}  # T defaults to the method's t_max
    assert set(frame["metric"]) == {"top1_acc"} and set(frame["target"]) == {target} and set(frame["sigma2"]) == {0.0}


def test_noise_records_what_each_test_item_got(tiny_trained, tmp_path):
    records = tmp_path / "noise.npz"
    frame = run_analysis("noise", tiny_trained, {"target": "inputs", "sigma2": [0, 0.5], "repeats": 2}, records)
    assert "correct" not in frame  # the CSV's rows stay scalar, and name their records
    assert frame["record"].tolist() == ["noise:0", "noise:1", "noise:2", "noise:3"]
    arrays, provenance = read_records(records)
    assert arrays["row"].tolist() == [0, 1, 2, 3] and arrays["correct"].shape == (4, len(arrays["item"]))
    assert (arrays["item"] == tiny_trained.datasets.test_items).all()
    assert 100 * arrays["correct"].mean(axis=1) == pytest.approx(frame["value"].tolist())
    clean = accuracy(tiny_trained.model, tiny_trained.test_loader(), 4)["correct"]
    assert (arrays["correct"][0] == clean).all()  # sigma^2 = 0: the clean predictions, item by item
    assert provenance["analysis"] == "noise" and provenance["config_hash"] == frame["config_hash"].iloc[0]


def test_weights_restored_bit_for_bit(tiny_trained):
    before = _state(tiny_trained.model)
    rows = noise_analysis(tiny_trained, target="weights", sigma2=[0.05, 0.5], repeats=2, T=2)
    assert [(r["sigma2"], r["repeat"], r["T"]) for r in rows] == [(0.05, 0, 2), (0.05, 1, 2), (0.5, 0, 2), (0.5, 1, 2)]
    after = tiny_trained.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_weight_noise_has_the_requested_variance():
    model = nn.Sequential(nn.Linear(1000, 1000), nn.BatchNorm1d(1000), nn.Conv2d(3, 8, 3))
    before = _state(model)
    assert weight_parameters(model) == [model[0].weight, model[2].weight]
    with weight_noise(model, 0.04, torch.Generator().manual_seed(0)):
        delta = (model[0].weight.detach() - before["0.weight"]).double()
        assert abs(float(delta.mean())) < 1e-3  # 1e6 draws of sd 0.2: sd of the mean 2e-4
        assert float(delta.var()) == pytest.approx(0.04, rel=0.01)  # sd of the variance 0.14 %
        assert not torch.equal(model[2].weight, before["2.weight"])
        for name in ("0.bias", "1.weight", "1.bias", "1.running_mean", "2.bias"):  # only weights
            assert torch.equal(model.state_dict()[name], before[name])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_weight_noise_changes_a_hand_model_output_as_computed():
    # y = w x with x = 1: the noisy output is w + sigma * z, z the generator's first normal draw
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.5)
    z = torch.randn((1, 1), generator=torch.Generator().manual_seed(7))
    with weight_noise(model, 0.09, torch.Generator().manual_seed(7)):
        assert float(model(torch.ones(1, 1)).detach()) == pytest.approx(0.5 + 0.3 * float(z), abs=1e-6)
    assert float(model.weight.detach()) == 0.5


def test_input_noise_per_frame_and_fresh_per_batch():
    frames = torch.zeros(3, 200, 2, 10, 10)  # [T, B, C, H, W] event frames
    labels = torch.arange(200)
    batches = input_noise([(frames, labels), (frames, labels)], 0.25, torch.Generator().manual_seed(1))
    (first, y1), (second, y2) = list(batches)
    assert torch.equal(y1, labels) and torch.equal(y2, labels)
    assert float(first.var()) == pytest.approx(0.25, rel=0.02)
    assert not torch.equal(first[0], first[1])  # each frame its own noise
    assert not torch.equal(first, second)  # fresh noise for every batch
    assert torch.equal(frames, torch.zeros_like(frames))  # the loader's tensors are not modified


def test_noisy_inputs_change_the_accuracy_of_a_hand_model():
    # a linear read-out of a 1-D input: class 1 iff x > 0; inputs at +-0.1 and huge noise flip ~half
    model = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0], [1.0]]))

    class Static(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = model

        def forward(self, x, t):
            return self.linear(x)

    x = torch.tensor([[0.1], [-0.1]]).repeat(500, 1)
    loader = [(x, (x[:, 0] > 0).long())]
    static = Static()
    assert noisy_accuracy(static, loader, 1, "inputs", 0.0, torch.Generator(), "cpu")["accuracy"] == 100.0
    noisy = noisy_accuracy(static, loader, 1, "inputs", 100.0, torch.Generator().manual_seed(0), "cpu")["accuracy"]
    assert 40 < noisy < 60  # 0.1 against noise of sd 10: P(correct) = Phi(0.01) ~ 50 %


def test_bad_target_or_variance_is_named(tiny_trained):
    with pytest.raises(ValueError, match="target"):
        noise_analysis(tiny_trained, target="biases")
    with pytest.raises(ValueError, match="sigma2"):
        noise_analysis(tiny_trained, target="inputs", sigma2=[0.1, -0.01])
    with pytest.raises(ValueError, match="sigma2"):
        noise_analysis(tiny_trained, sigma2="large")
    with pytest.raises(ValueError, match="sigma2"):
        with weight_noise(nn.Linear(2, 2), -1.0, torch.Generator()):
            pass
