"""train.precision: fp32, fp16 (with a gradient scaler) or bf16 autocast (tfsnn.precision)."""

import copy

import pytest
import torch

from tfsnn.config import ConfigError, validate_config
from tfsnn.models import build
from tfsnn.precision import autocast, grad_scaler, resolve
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
    # a few spikes flip: the logits stay strongly correlated with the same predictions
    correlation = torch.corrcoef(torch.stack([half.float().flatten(), reference.flatten()]))[0, 1]
    assert correlation > 0.95
    assert torch.equal(half.float().argmax(1), reference.argmax(1))
    assert not torch.equal(half.float(), reference)  # autocast really ran in bf16
    trained = copy.deepcopy(model)
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.05, momentum=0.9)
    method = MTT(t_min=1, t_max=2, samples=2)
    losses = [sum(p["loss"] for p in train_step(trained, method, optimizer, grad_scaler("cpu", "bf16"), x, y,
                                                 torch.Generator().manual_seed(0), "bf16"))
              for _ in range(8)]
    assert losses[-1] < losses[0]  # it fits a fixed batch
