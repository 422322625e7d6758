"""Every architecture as a TFSNN: stages, forward/backward at any configuration, input rules."""

import pytest
import torch

from tfsnn.models import ARCHITECTURES, build
from tfsnn.models.layers import BasicBlock
from tfsnn.neuron import LIF

BLOCKS = {"resnet18": 8, "resnet19": 8, "resnet34": 16, "b-resnet50": 24, "b-resnet72": 35,
          "vgg14": 13, "fc": 3, "fc-seqmnist": 2, "fc-shd": 3}


def tiny(name, granularity=1, **kw):
    if name.startswith("fc"):
        return build(name, 5, 6, granularity, width=0.25, hidden=[8, 8, 8] if name == "fc" else None, **kw)
    return build(name, 5, 2, granularity, width=1 / 16, **kw)


def sample_input(name, batch=3):
    if name.startswith("fc"):
        return torch.randn(batch, 6)
    size = 32 if name in ("resnet34", "vgg14") else 16
    return torch.randn(batch, 2, size, size)


def test_every_architecture_is_tested():
    assert sorted(BLOCKS) == ARCHITECTURES


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_forward_backward_uniform_and_random_configs(name):
    model = tiny(name)
    assert len(model.blocks) == BLOCKS[name] and model.num_stages == BLOCKS[name]
    x = sample_input(name)
    gen = torch.Generator().manual_seed(1)
    configs = [2, tuple(torch.randint(1, 5, (model.num_stages,), generator=gen).tolist())]
    for t in configs:
        model.zero_grad()
        out = model(x, t)
        assert out.shape == (3, 5) and torch.isfinite(out).all()
        out.square().sum().backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
    steps = model.forward_steps(x, configs[1])
    assert steps.shape[0] == configs[1][-1]  # output = mean over the LAST stage's steps
    assert torch.allclose(steps.mean(0), model(x, configs[1]))


@pytest.mark.parametrize("name, g, stages", [
    ("resnet18", 1, 8), ("resnet18", 2, 4), ("resnet18", 4, 2), ("resnet18", 8, 1), ("resnet18", 3, 3),
    ("resnet19", 8, 1), ("resnet34", 4, 4), ("vgg14", 1, 13), ("fc-shd", 3, 1),
])
def test_stages_per_granularity(name, g, stages):
    assert tiny(name, g).num_stages == stages


def test_resnet_shapes():
    # ResNet-19: stem 128, blocks [3,3,2] at 128/256/512, one FC
    model = build("resnet19", 10, 3)
    widths = [b.conv2[0].out_channels for b in model.blocks]
    assert widths == [128] * 3 + [256] * 3 + [512] * 2
    assert model.head[-1].in_features == 512 and model.stem.conv[0].out_channels == 128
    # ResNet-34 (ImageNet, A.2): 7x7/2 stem, no max-pool, first block stride 2 -> 224 / 32 = 7
    r34 = build("resnet34", 1000, 3, width=1 / 16)
    assert r34.stem.conv[0].kernel_size == (7, 7) and r34.blocks[0].conv1[0].stride == (2, 2)
    feats = torch.nn.Sequential(*r34.blocks)(r34.stem(torch.randn(1, 1, 3, 224, 224)))
    assert feats.shape[-2:] == (7, 7)
    assert all(isinstance(b, BasicBlock) for b in build("b-resnet72", 10, 3, width=1 / 16).blocks)


def test_vgg14_has_13_spiking_conv_layers_and_one_fc():
    model = build("vgg14", 100, 3, width=1 / 16)
    assert len(model.blocks) == 13 and sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 1
    assert model(torch.randn(2, 3, 32, 32), 1).shape == (2, 100)


def test_fc_presets_set_tau():
    assert all(m.tau == 0.99 for m in build("fc-seqmnist", 10, 1).modules() if isinstance(m, LIF))
    assert [b.linear[0].out_features for b in build("fc-shd", 20, 70).blocks] == [128, 128, 128]


def test_eval_outputs_independent_of_batch_composition():
    # float64: in float32 the convs of a batch of 6 and of 2 may round differently and flip a spike
    # that sits within rounding of the threshold (see conftest.float64_copy)
    model = tiny("resnet18").double().eval()
    x = sample_input("resnet18", batch=6).double()
    with torch.no_grad():
        full = model(x, (3, 1, 2, 4, 2, 1, 3, 2))
        part = model(x[2:4], (3, 1, 2, 4, 2, 1, 3, 2))
    assert torch.allclose(full[2:4], part, rtol=1e-12, atol=1e-12)


def test_static_input_is_direct_encoded_and_frames_are_truncated():
    model = tiny("fc").eval()
    x = torch.randn(4, 6)
    with torch.no_grad():
        static = model(x, 3)
        repeated = model(x.expand(3, 4, 6), 3)
        frames = torch.randn(5, 4, 6)
        first = model(frames, (2, 2, 2))
        truncated = model(frames[:2], (2, 2, 2))
    assert torch.allclose(static, repeated)
    assert torch.allclose(first, truncated)  # stage 1 takes the FIRST t_1 frames
    with pytest.raises(ValueError, match="stage 1 needs t_1=6"):
        model(frames, 6)
    with pytest.raises(ValueError, match="neither a static batch"):
        model(torch.randn(2, 3, 4, 6), 2)


def test_ttm_sits_before_each_stage():
    # With g=1 and config (1, 3) on a 2-block fc net, block 2 sees block 1's single frame copied 3 times
    model = tiny("fc").eval()
    seen = []
    model.blocks[1].register_forward_pre_hook(lambda m, inp: seen.append(inp[0]))
    with torch.no_grad():
        model(torch.randn(4, 6), (1, 3, 3))
    assert seen[0].shape[0] == 3 and torch.equal(seen[0][0], seen[0][2])


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="model.name"):
        build("resnet20", 10, 3)
    with pytest.raises(ValueError, match="granularity"):
        build("resnet18", 10, 3, granularity=0)
    with pytest.raises(ValueError, match="model.neuron"):
        build("resnet18", 10, 3, neuron={"kind": "lif", "tauu": 0.5})
    with pytest.raises(ValueError, match="has 2 stages, the model has 8"):
        tiny("resnet18")(sample_input("resnet18"), (1, 2))


def test_relu_twin_is_the_ann_on_folded_batch():
    ann = build("resnet18", 5, 2, width=1 / 16, neuron={"kind": "relu"}).eval()
    x = torch.randn(3, 2, 16, 16)
    with torch.no_grad():
        assert torch.allclose(ann(x, 4), ann(x, 1), atol=1e-5)  # identical frames: same output


@pytest.mark.parametrize("autocast", [False, True])
def test_spike_conv_matches_conv_and_saves_int8(autocast):
    from tfsnn.models.layers import MAX_SPIKE_COUNT, SpikeConv2d

    spike_conv = SpikeConv2d(3, 4, 3, 2, padding=1, bias=False)
    conv = torch.nn.Conv2d(3, 4, 3, 2, padding=1, bias=False)
    conv.weight.data.copy_(spike_conv.weight.data)
    x = torch.randint(0, MAX_SPIKE_COUNT + 1, (2, 3, 9, 9)).float()  # spike counts after a summing TTM
    x[0, 0, 0, 0] = MAX_SPIKE_COUNT
    grad = torch.randn(2, 4, 5, 5)
    results, saved = [], []
    for layer in (spike_conv, conv):
        xi = x.clone().requires_grad_()
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.dtype) or t, lambda t: t):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                out = layer(xi)
        out.float().backward(grad)
        results.append((out, xi.grad, layer.weight.grad))
        layer.weight.grad = None
    assert torch.int8 in saved
    tol = 1e-2 if autocast else 1e-5
    for a, b in zip(results[0], results[1]):
        assert a.dtype == b.dtype and torch.allclose(a.float(), b.float(), rtol=tol, atol=tol)


def test_spiking_resnet_uses_spike_convs_after_the_stem():
    from tfsnn.models.layers import SpikeConv2d

    snn, ann = build("resnet18", 5, 2, width=1 / 16), build("resnet18", 5, 2, width=1 / 16, neuron={"kind": "relu"})
    assert type(snn.stem.conv[0]) is torch.nn.Conv2d
    assert all(isinstance(m, SpikeConv2d) for b in snn.blocks for m in b.modules() if isinstance(m, torch.nn.Conv2d))
    assert not any(isinstance(m, SpikeConv2d) for m in ann.modules())
    plain = build("resnet18", 5, 2, width=1 / 16, compact_spikes=False)
    assert not any(isinstance(m, SpikeConv2d) for m in plain.modules())
    assert snn.saves_spike_counts and not plain.saves_spike_counts


def test_training_beyond_the_int8_spike_counts_is_refused():
    model = build("resnet18", 5, 2, width=1 / 16)
    with pytest.raises(ValueError, match="more than 127 steps.*compact_spikes: false"):
        model(torch.randn(1, 2, 16, 16), (128, 1, 1, 1, 1, 1, 1, 1))


def test_block_firing_rates():
    from tfsnn.neuron import FiringRateMonitor

    model = tiny("resnet18").eval()
    groups = model.block_neurons()
    assert list(groups) == [f"block{i}" for i in range(1, 9)]
    assert groups["block1"] == ["stem.neuron", "blocks.0.neuron1", "blocks.0.neuron2"]
    with FiringRateMonitor(model) as monitor, torch.no_grad():
        model(sample_input("resnet18"), 6)
    rates = monitor.rates(groups)
    assert all(0.0 <= r <= 1.0 for r in rates.values()) and sum(rates.values()) > 0
    # block 1 pools its three neurons weighted by neuron-steps
    spikes = sum(monitor.spikes[n] for n in groups["block1"])
    assert rates["block1"] == pytest.approx(spikes / sum(monitor.neuron_steps[n] for n in groups["block1"]))
