"""Event-driven evaluation (Table 7): BN folding, fine time bins with the neuron state kept over
the whole recording, the leak and bias conversion, and the registered analysis on N-MNIST."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from tfsnn.analysis import run_analysis
from tfsnn.analysis.event_driven import StatefulLIF, event_driven_outputs, event_recordings
from tfsnn.bn import fold_batchnorm
from tfsnn.data.events import EVENT_DTYPE, DvsFrames
from tfsnn.evaluate import accuracy
from tfsnn.models import build
from tfsnn.models.layers import ClassifierHead, ConvBNSpike
from tfsnn.models.tfsnn import TFSNN
from tfsnn.neuron import IF, LIF, lif

from conftest import float64_copy, randomize_bn, tiny_config


@pytest.fixture(scope="module")
def nmnist_trained(pack_dir, tmp_path_factory):
    """A narrow ResNet-18 trained for one epoch (MTT, T_max=4) on 100 N-MNIST recordings of the
    pack, tested on 20."""
    from tfsnn.config import validate_config
    from tfsnn.experiment import load_trained, train

    config = tiny_config(pack_dir, data={"name": "nmnist", "train_size": 100, "test_size": 20},
                         model={"name": "resnet18", "width": 0.0625})
    out = tmp_path_factory.mktemp("nmnist_trained")
    train(validate_config(config), out, progress=False, device="cpu")
    return load_trained(out / "checkpoint.pt", device="cpu")


def test_fold_batchnorm_gives_the_eval_outputs():
    model = build("resnet18", 10, 2, width=0.0625).double().eval()
    randomize_bn(model, gamma=1.0, span=2.0, shift=0.5)
    x = torch.rand(3, 4, 2, 16, 16, dtype=torch.float64) * 2
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the model is untouched
    assert all(m.bias is not None for m in folded.modules() if isinstance(m, nn.Conv2d))
    steps, folded_steps = model.forward_steps(x, 3), folded.forward_steps(x, 3)
    assert model.stem.neuron(model.stem.conv(x)).mean() > 0.05  # neurons fire: the comparison is not trivial
    torch.testing.assert_close(folded_steps, steps, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="directly follow a conv"):
        fold_batchnorm(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3)))


def _events(on_times, last=999):
    """ON events (p=1) at ``on_times`` (us) on a 1x1 sensor, and one OFF event at ``last``."""
    times = sorted(on_times) + [last]
    events = np.zeros(len(times), dtype=EVENT_DTYPE)
    events["t"] = times
    events["p"][: len(on_times)] = 1
    return events


def _one_neuron(neuron, weight, bn_shift=0.0, head_bias=0.0):
    """A 1x1 conv (ON weight ``weight``, OFF weight 0), BN with zero mean, unit variance, eps 0
    and shift ``bn_shift``, one neuron, a linear readout of weight 1 and bias ``head_bias``."""
    block = ConvBNSpike(2, 1, neuron, kernel_size=1)
    conv, bn = block.conv
    bn.eps = 0.0
    bn.bias.data.fill_(bn_shift)
    conv.weight.data.copy_(torch.tensor([0.0, weight]).view(1, 2, 1, 1))
    head = ClassifierHead(1, 1)
    head[-1].weight.data.fill_(1.0)
    head[-1].bias.data.fill_(head_bias)
    return TFSNN(nn.Identity(), [block], head, input_rank=3).eval()


FRAMES = DvsFrames((1, 1, 2), 2)  # 2 training frames of 500 us; bin_us=100 gives m = 5 bins per frame


def test_if_neuron_driven_by_events_hand_computed():
    # ON events every 100 us from 0 to 700, weight 0.3, Vth 1, no leak.
    model = _one_neuron(IF, 0.3)
    events = _events(range(0, 800, 100))
    out, ms = event_driven_outputs(model, [events], FRAMES, bin_us=100)
    # 10 bins of 100 us, one event in each of bins 0..7: v = .3 .6 .9 1.2 (spike, reset) .3 .6 .9 1.2 (spike):
    # 2 spikes, readout 2 / 2 frames.
    assert ms == [5]
    assert out.item() == pytest.approx(1.0)
    # Clock-driven (the training frames): frame 1 holds 5 events (1.5: spike, reset to 0, the excess is lost),
    # frame 2 holds 3 (0.9: none): 1 spike.
    clock, _ = event_driven_outputs(model, [events], FRAMES, bin_us=None)
    assert clock.item() == pytest.approx(0.5)
    assert model(torch.from_numpy(FRAMES(events)).unsqueeze(1), 2).item() == pytest.approx(0.5)


def test_leak_is_converted_to_the_bin():
    # LIF tau 0.5 per 500 us frame -> 0.5 ** (1/5) per 100 us bin. Weight 0.6.
    model = _one_neuron(LIF, 0.6)
    a = 0.5 ** 0.2
    assert 0.6 * a**4 + 0.6 < 1 < 0.6 * a + 0.6  # 0.945 and 1.122
    far, _ = event_driven_outputs(model, [_events([0, 400])], FRAMES, bin_us=100)  # bins 0 and 4: no spike
    near, _ = event_driven_outputs(model, [_events([0, 100])], FRAMES, bin_us=100)  # bins 0 and 1: one spike
    assert far.item() == pytest.approx(0.0)
    assert near.item() == pytest.approx(0.5)
    # The clock-driven model sees both pairs in frame 1 (1.2: one spike).
    clock, _ = event_driven_outputs(model, [_events([0, 400])], FRAMES, bin_us=None)
    assert clock.item() == pytest.approx(0.5)


def test_biases_are_spread_over_the_bins_or_removed():
    # IF, one ON event at 0 (weight 0.4), BN shift 0.55 per frame -> 0.11 per bin, readout bias 0.2.
    model = _one_neuron(IF, 0.4, bn_shift=0.55, head_bias=0.2)
    events = _events([0])
    spread, _ = event_driven_outputs(model, [events], FRAMES, bin_us=100, bias="spread")
    # v = 0.4 + 0.11 (k + 1) reaches 1.06 at bin 5 (spike), then 0.11 .. 0.44: one spike; the readout bias
    # adds 10 bins * 0.2 / 5 = 0.4; divided by 2 frames: (1 + 0.4) / 2.
    assert spread.item() == pytest.approx(0.7)
    removed, _ = event_driven_outputs(model, [events], FRAMES, bin_us=100, bias="remove")
    assert removed.item() == pytest.approx(0.0)  # v stays 0.4
    with pytest.raises(ValueError, match="bias must be"):
        event_driven_outputs(model, [events], FRAMES, bias="keep")


def test_stateful_lif_rounds_as_the_lif():
    # Step 2 lands on the threshold as the LIF rounds (tau * u, then + I); a fused multiply-add, which
    # torch.add(I, u, alpha=tau) is on AVX2 and AVX-512 kernels, rounds once and leaves ~5 % below it
    u = torch.rand(4096, generator=torch.Generator().manual_seed(0)) * 0.9
    current = torch.stack([u, 1.0 - 0.9 * u])
    assert torch.equal(StatefulLIF(0.9, 1.0)(current), lif(current, 0.9, 1.0, backend="autograd"))


def test_frame_bins_reproduce_the_clock_driven_run(nmnist_trained):
    trained = nmnist_trained
    recordings, to_frames = event_recordings(trained.config)
    assert len(recordings) == len(trained.datasets.test) == 20
    frames = torch.stack([trained.datasets.test[i][0] for i in range(len(recordings))], 1)
    assert torch.equal(torch.from_numpy(np.stack([to_frames(recordings[i]) for i in range(4)], 1)), frames[:, :4])
    np.testing.assert_array_equal(recordings.labels, trained.datasets.test.labels)
    T = to_frames.bins
    # In float64: chunks of 3 bins of batches of 16 recordings against all 10 frames of the 20 at once
    # (conftest.float64_copy), and against the clock-driven run of the BN-folded weights (folding
    # rounds too, checked above).
    model = float64_copy(trained.model)
    event, ms = event_driven_outputs(model, recordings, to_frames, bin_us=None, chunk_bins=3)
    clock = fold_batchnorm(model)(frames.double(), T)
    assert ms == [1] * 20
    torch.testing.assert_close(event, clock, rtol=0, atol=1e-10)
    assert torch.equal(event.argmax(1), clock.argmax(1))
    # Fine bins nest in the frames: the m bins of a frame sum to it.
    fine = DvsFrames(to_frames.sensor_size, 3 * T, to_frames.size)(recordings[0])
    np.testing.assert_array_equal(fine.reshape(T, 3, *fine.shape[1:]).sum(1), to_frames(recordings[0]))
    # The neuron state carries over between chunks of bins: chunking changes nothing.
    first = [recordings[i] for i in range(4)]
    whole, _ = event_driven_outputs(model, first, to_frames, bin_us=5000)
    pieces, _ = event_driven_outputs(model, first, to_frames, bin_us=5000, chunk_bins=7)
    torch.testing.assert_close(pieces, whole, rtol=0, atol=1e-10)


def test_event_driven_analysis_on_nmnist(nmnist_trained):
    trained = nmnist_trained
    before = {k: v.clone() for k, v in trained.model.state_dict().items()}
    rows = run_analysis("event_driven", trained, {"bin_us": 2000, "T": 4})
    after = trained.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    by = {(r.metric, r.platform): r for r in rows.itertuples()}
    assert set(by) == {("top1_acc", "clock"), ("top1_acc", "event"), ("agreement", "clock-vs-event"),
                       ("bins_per_step", "event")}
    # exact: the analysis runs this very accuracy() on the same batches (one machine, one computation twice)
    assert by["top1_acc", "clock"].value == accuracy(trained.model, trained.test_loader(), 4)["accuracy"]
    for key in [("top1_acc", "event"), ("agreement", "clock-vs-event")]:
        count = by[key].value * 20 / 100  # of 20 recordings
        assert 0 <= count <= 20 and count == pytest.approx(round(count))
    assert by["bins_per_step", "event"].value == pytest.approx(15, abs=1)  # ~306 ms / 10 frames / 2 ms
    assert set(rows["bias"].dropna()) == {"spread"} and set(rows["T"]) == {4}
    assert (rows["analysis"] == "event_driven").all()
    with pytest.raises(ValueError, match="not an option of .event_driven."):
        run_analysis("event_driven", trained, {"bins": 3})


def test_recordings_out_of_the_test_sets_order_are_refused(nmnist_trained, monkeypatch):
    """The agreement row compares predictions item by item: the raw recordings the analysis
    re-derives from the config must be the test set's own, in its order, with its labels."""
    import tfsnn.analysis.event_driven as event_driven
    from tfsnn.analysis.event_driven import check_alignment

    trained = nmnist_trained
    recordings, to_frames = event_recordings(trained.config)
    labels = torch.as_tensor(trained.datasets.test.labels)
    check_alignment(recordings, trained.datasets.test, labels)  # the right ones pass
    assert trained.datasets.test.identity == recordings.identity
    order = np.argsort(recordings.labels, kind="stable")[::-1].copy()
    assert not np.array_equal(recordings.labels[order], recordings.labels)
    shuffled = recordings.select(order)
    with pytest.raises(ValueError, match="not the test set's"):
        check_alignment(shuffled, trained.datasets.test, labels)
    relabelled = dataclasses.replace(recordings, labels=recordings.labels[order])  # same identity, other labels
    with pytest.raises(ValueError, match="differ from the test set's"):
        check_alignment(relabelled, trained.datasets.test, labels)
    with pytest.raises(ValueError, match="differ from the test loader's"):
        check_alignment(recordings, trained.datasets.test, labels.flip(0) if not torch.equal(labels.flip(0), labels)
                        else labels + 1)
    monkeypatch.setattr(event_driven, "event_recordings", lambda config: (shuffled, to_frames))
    with pytest.raises(ValueError, match="not the test set's"):
        run_analysis("event_driven", trained, {"bin_us": 20000, "T": 4})
