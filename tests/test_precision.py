"""train.precision (fp32, fp16 with a gradient scaler, bf16 autocast) and the channels-last layout (tfsnn.precision,
the execution setting TFSNN_CHANNELS_LAST of tfsnn.execution)."""

import copy

import pytest
import torch

from tfsnn.config import ConfigError, validate_config
from tfsnn.experiment import train
from tfsnn.io import load_checkpoint
from tfsnn.models import build
from tfsnn.neuron import LIF
from tfsnn.precision import autocast, grad_scaler, memory_format, resolve
from tfsnn.training import MTT, train_step

from conftest import tiny_config


def test_auto_is_fp16_on_cuda_and_fp32_elsewhere():
    assert resolve("auto", "cuda") == "fp16" and resolve("auto", "cpu") == "fp32"
    assert not grad_scaler("cpu", "bf16").is_enabled()  # bf16 needs no loss scaling
    with pytest.raises(ValueError, match="fp8"):
        resolve("fp8", "cpu")


def test_config_rejects_an_unknown_precision_naming_the_field(pack_dir):
    with pytest.raises(ConfigError, match="train.precision"):
        validate_config(tiny_config(pack_dir, train={"precision": "fp8"}))


def test_bf16_outputs_are_fp32_ones_within_bf16_rounding_and_training_learns():
    torch.manual_seed(0)
    model = build("resnet19", 10, 3, width=0.125)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    model.train()
    with torch.no_grad():
        reference = model(x, 2)
        with autocast("cpu", "bf16"):
            half = model(x, 2)
    assert half.dtype == torch.bfloat16
    # bf16 keeps 8 bits of mantissa; a rounded current can cross the threshold the other way, so
    # a few spikes flip: the logits stay strongly correlated, with the same predictions except where
    # the top two fp32 logits are closer than the bf16 error (~0.05 here; the closest top two of the
    # 8 items are 0.09 apart). Which spikes flip depends on the CPU's bf16 kernels: one may change
    correlation = torch.corrcoef(torch.stack([half.float().flatten(), reference.flatten()]))[0, 1]
    assert correlation > 0.95
    assert int((half.float().argmax(1) == reference.argmax(1)).sum()) >= 7
    assert not torch.equal(half.float(), reference)  # autocast really ran in bf16
    trained = copy.deepcopy(model)
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.05, momentum=0.9)
    method = MTT(t_min=1, t_max=2, samples=2)
    losses = [sum(p["loss"] for p in train_step(trained, method, optimizer, grad_scaler("cpu", "bf16"), x, y,
                                                 torch.Generator().manual_seed(0), "bf16"))
              for _ in range(8)]
    assert losses[-1] < losses[0]  # it fits a fixed batch


def _layout(x: torch.Tensor) -> str:
    """``channels_last`` or ``contiguous`` for a ``[T, B, C, H, W]`` tensor folded to 4-D without a copy."""
    folded = x.view(-1, *x.shape[2:])
    if folded.is_contiguous(memory_format=torch.channels_last):
        return "channels_last"
    return "contiguous" if folded.is_contiguous() else "other"


@pytest.mark.parametrize("t", [2, "4-4-3-3-2-2-1-1"])
def test_channels_last_equals_contiguous_and_keeps_its_layout(t):
    # float64, so that no spike sits within a rounding error of the threshold: at float32 the
    # two layouts' convs sum in different orders and a few of the 1e5 spikes can flip and cascade
    torch.manual_seed(0)
    model = build("resnet19", 10, 3, width=0.125).double().train()
    fast = copy.deepcopy(model).to(memory_format=memory_format(True))
    x, y = torch.randn(4, 3, 16, 16, dtype=torch.float64), torch.randint(0, 10, (4,))
    spikes, layouts = {}, {}
    for tag, net in (("plain", model), ("fast", fast)):
        for name, module in net.named_modules():
            if isinstance(module, LIF):
                def hook(module, inputs, out, name=name, tag=tag):
                    spikes[tag, name] = out.detach()
                    layouts[tag, name] = (_layout(inputs[0]), _layout(out))
                module.register_forward_hook(hook)
        torch.nn.functional.cross_entropy(net(x, t), y).backward()
    names = [n for tag, n in spikes if tag == "plain"]
    assert len(names) == 17  # the stem and two per basic block
    for name in names:
        assert torch.equal(spikes["plain", name], spikes["fast", name]), name
        assert layouts["fast", name] == ("channels_last", "channels_last"), name  # no layer falls back
        assert layouts["plain", name] == ("contiguous", "contiguous"), name
    torch.testing.assert_close(fast(x, t), model(x, t), rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(model.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-9, atol=1e-12, msg=name)
    assert fast.stem.conv[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_a_bf16_channels_last_run_trains_as_the_fp32_one(pack_dir, tmp_path, monkeypatch):
    """A real run on MNIST (MTT at T=1 only, so one cheap pass per batch, with BN calibration):
    bf16 autocast and channels_last give the fp32 run's training loss within bf16 rounding and its
    test accuracy within sampling noise, keep fp32 master weights, and save channels-last conv
    weights."""
    metrics, states = {}, {}
    for precision, channels_last in (("fp32", "0"), ("bf16", "1")):
        monkeypatch.setenv("TFSNN_CHANNELS_LAST", channels_last)
        config = validate_config(tiny_config(
            pack_dir, method={"name": "mtt", "t_min": 1, "t_max": 1, "samples": 1}, eval={"T": [1]},
            train={"precision": precision, "optimizer": "adamw", "lr": 0.01},
            data={"train_size": 256, "test_size": 256}))
        out = tmp_path / precision
        table = train(config, out, progress=False, device="cpu")
        metrics[precision] = dict(zip(table["metric"], table["value"]))
        states[precision] = load_checkpoint(out / "checkpoint.pt")["model"]
    weight = "stem.conv.0.weight"
    assert states["bf16"][weight].dtype == torch.float32
    assert states["bf16"][weight].is_contiguous(memory_format=torch.channels_last)
    assert states["fp32"][weight].is_contiguous()
    assert abs(metrics["bf16"]["train_loss"] - metrics["fp32"]["train_loss"]) < 0.05
    # the two runs' weights part after the first rounding, so their test accuracies on 256 images
    # differ by sampling noise: within 3 standard errors of a difference of two proportions
    p, q = metrics["bf16"]["test_acc"] / 100, metrics["fp32"]["test_acc"] / 100
    assert abs(p - q) <= 3 * ((p * (1 - p) + q * (1 - q)) / 256) ** 0.5


def test_the_layout_is_an_execution_setting_outside_the_config(monkeypatch):
    """A config naming the layout is refused with where to set it (the ``false`` of configs saved
    in checkpoints before is dropped), the config hash is the one of before, and the setting is
    read from the environment and recorded in the stack fingerprint."""
    from tfsnn import execution
    from tfsnn.config import config_hash
    from tfsnn.stack import fingerprint

    with pytest.raises(ConfigError, match="TFSNN_CHANNELS_LAST=1"):
        validate_config(tiny_config("packs", train={"channels_last": True}))
    saved = validate_config(tiny_config("packs", train={"channels_last": False}))
    assert config_hash(saved) == config_hash(validate_config(tiny_config("packs")))
    for value, layout in (("1", "channels_last"), ("0", "contiguous")):
        monkeypatch.setenv("TFSNN_CHANNELS_LAST", value)
        assert execution.channels_last() is (value == "1") and fingerprint()["layout"] == layout
    monkeypatch.setenv("TFSNN_CHANNELS_LAST", "yes")
    with pytest.raises(ValueError, match="TFSNN_CHANNELS_LAST='yes'"):
        execution.channels_last()
