"""The evaluation's shortcuts (tfsnn.evaluate) give the plain evaluation's predictions: one pass at
the largest uniform T for every smaller one, BN folded, inference mode, any batch size."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tfsnn.bn import batchnorms
from tfsnn.evaluate import accuracy, evaluate, scores, summary
from tfsnn.models import build


def _model(dtype=torch.float64, **kwargs):
    """A narrow ResNet-18 (4 stages) in eval mode with BN statistics and affine parameters of its
    own (not the identity a new BN is), so folding them changes the weights; its neurons fire at
    15-25 % of the steps."""
    torch.manual_seed(0)
    model = build("resnet18", 10, 2, granularity=2, width=0.125, **kwargs).to(dtype)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for bn in batchnorms(model):
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=generator) * 0.1)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=generator) + 0.5)
            bn.weight.copy_(torch.rand(bn.num_features, generator=generator) + 0.75)
            bn.bias.copy_(torch.randn(bn.num_features, generator=generator) * 0.1 + 0.3)
    return model.eval()


def _frames(dtype=torch.float64, items=24, steps=6, batch=8):
    """Event frames [T, B, 2, 12, 12] (the model reads the first T), batched along dim 1."""
    generator = torch.Generator().manual_seed(2)
    frames = (torch.rand(items, steps, 2, 12, 12, generator=generator) < 0.4).to(dtype) * 2
    targets = torch.randint(0, 10, (items,), generator=generator)
    return DataLoader(TensorDataset(frames, targets), batch_size=batch,
                      collate_fn=lambda b: (torch.stack([x for x, _ in b], 1), torch.stack([y for _, y in b])))


def _images(dtype=torch.float64, items=24, batch=8):
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(items, 2, 12, 12, generator=generator, dtype=dtype) * 3
    return DataLoader(TensorDataset(images, torch.randint(0, 10, (items,), generator=generator)), batch_size=batch)


@pytest.mark.parametrize("neuron", [{"kind": "lif"}, {"kind": "iaf"}])
@pytest.mark.parametrize("data", [_images, _frames])
def test_the_shortcuts_give_the_plain_evaluations_predictions(neuron, data):
    """Float64: at every uniform T (read off one pass at T=6) and at a per-stage configuration,
    the predictions equal the plain evaluation's, one pass per configuration with unfolded BN,
    and the scores agree to float64 rounding (folding rounds the weights once more)."""
    model = _model(neuron=neuron)
    configs = [1, 2, 3, 4, 5, 6, "3-2-2-1"]
    fast, targets = scores(model, data(), configs)
    plain, plain_targets = scores(model, data(), configs, plain=True)
    assert torch.equal(targets, plain_targets)
    for config in plain:
        torch.testing.assert_close(fast[config], plain[config], rtol=1e-9, atol=1e-9, msg=str(config))
        assert torch.equal(fast[config].argmax(1), plain[config].argmax(1)), config
    assert len({tuple(s.flatten().tolist()) for s in plain.values()}) == len(configs)  # each its own outputs


def test_one_pass_at_the_largest_T_is_every_smaller_T_bit_for_bit_in_float32():
    """The shortcut itself rounds nothing: in float32, the mean of the first T steps of a pass at
    T=6 is the output of a pass at T, to the bit (the same kernels per step and image)."""
    model = _model(torch.float32)
    inputs, _ = next(iter(_images(torch.float32, batch=24)))
    with torch.inference_mode():
        steps = model.forward_steps(inputs, 6)
        for t in range(1, 7):
            assert torch.equal(steps[:t].mean(0), model(inputs, t)), t


def test_the_evaluation_batch_changes_no_prediction():
    """Float32: batches of 3 and of 24 images give the same predictions, hence accuracies, and
    losses within float32 rounding (oneDNN may pick other conv kernels for another batch size:
    the batch is an execution setting of the stack fingerprint), as the plain evaluation does."""
    model = _model(torch.float32)
    rows = [evaluate(model, _images(torch.float32, batch=batch), [2, 4, 6]) for batch in (3, 24)]
    found, targets = scores(model, _images(torch.float32), [2, 4, 6], plain=True)
    for small, large, config in zip(*rows, found):
        plain = summary(found[config], targets)
        assert small["accuracy"] == large["accuracy"] == plain["accuracy"], config
        assert small["loss"] == pytest.approx(large["loss"], rel=1e-5) == pytest.approx(plain["loss"], rel=1e-5)


def test_a_calibrated_configuration_runs_alone_with_its_own_statistics():
    """With a calibration loader the non-uniform configuration is tested after calibrating BN at
    it (as accuracy() after calibrate() gives), the uniform ones with the model's statistics, which
    are restored; the model's mode is kept."""
    from tfsnn.bn import calibrate

    model = _model()
    before = [bn.running_mean.clone() for bn in batchnorms(model)]
    calibration = _images(items=16)
    rows = evaluate(model, _images(), [2, "3-2-2-1", 6], calibration_loader=calibration, calibration_batches=2)
    assert [r["bn_calibrated"] for r in rows] == [False, True, False]
    assert all(torch.equal(a, bn.running_mean) for a, bn in zip(before, batchnorms(model)))
    assert not model.training
    assert rows[0]["accuracy"] == accuracy(model, _images(), 2)["accuracy"]
    calibrate(model, calibration, model.config("3-2-2-1"), 2)
    assert rows[1]["accuracy"] == accuracy(model, _images(), "3-2-2-1")["accuracy"]
