"""BN calibration: running statistics become the exact statistics of the calibration batches."""

import pytest
import torch

from tfsnn.bn import batchnorms, calibrate
from tfsnn.models import build


def test_running_stats_equal_exact_statistics_of_calibration_batches():
    model = build("resnet18", 4, 2, width=1 / 16)
    batches = [(torch.randn(5, 2, 12, 12) + 0.3, torch.zeros(5)) for _ in range(4)]
    t = (3, 1, 2, 4, 2, 1, 3, 2)
    params = {k: v.clone() for k, v in model.named_parameters()}

    # record every BN's inputs during the calibration passes (an independent tap)
    seen = {id(bn): [] for bn in batchnorms(model)}
    taps = [bn.register_forward_pre_hook(lambda m, inp: seen[id(m)].append(inp[0].detach().clone()))
            for bn in batchnorms(model)]
    used = calibrate(model, batches, t, num_batches=3)
    for tap in taps:
        tap.remove()

    assert used == 3 and not model.training
    for bn in batchnorms(model):
        acts = torch.cat([a.transpose(0, 1).flatten(1) for a in seen[id(bn)]], dim=1).double()
        assert torch.allclose(bn.running_mean.double(), acts.mean(1), atol=1e-5)
        assert torch.allclose(bn.running_var.double(), acts.var(1, unbiased=True), rtol=1e-4, atol=1e-6)
    for k, v in model.named_parameters():
        assert torch.equal(v, params[k]), f"calibration changed parameter {k}"


def test_stem_statistics_by_hand():
    # The stem BN sees conv(x) at each of t_1 identical steps: its exact stats are those of conv(x)
    model = build("resnet19", 3, 1, width=1 / 32)
    batches = [torch.randn(4, 1, 8, 8) for _ in range(2)]
    calibrate(model, batches, 2, num_batches=10)
    conv = model.stem.conv[0]
    with torch.no_grad():
        out = torch.cat([conv(b).repeat(2, 1, 1, 1) for b in batches]).transpose(0, 1).flatten(1).double()
    bn = model.stem.conv[1]
    # reference statistics in float64 (a float32 mean of 1024 values rounds by up to ~1e-6, by an
    # amount that depends on the CPU's reduction kernel); what is left is the float32 rounding of
    # the conv outputs (here a batch of 8 steps, there of 4 images) and of the stored statistics
    assert torch.allclose(bn.running_mean.double(), out.mean(1), atol=1e-6)
    assert torch.allclose(bn.running_var.double(), out.var(1), rtol=1e-4)


def test_calibration_rejects_bad_arguments():
    model = build("resnet18", 4, 2, width=1 / 16)
    with pytest.raises(ValueError, match="num_batches"):
        calibrate(model, [torch.randn(2, 2, 8, 8)], 2, num_batches=0)
    with pytest.raises(ValueError, match="no batches"):
        calibrate(model, [], 2)
