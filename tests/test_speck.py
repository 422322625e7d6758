"""Table 7 the authors' way (tfsnn.analysis.speck): BN folded and biases removed, the fine-tune,
event bins, the sinabs network against tfsnn's on hand-computed cases and on real N-MNIST test
recordings (identical spikes at equal binning), Speck's memory check, and the registered analysis.
Nothing here imports samna or sinabs.backend.dynapcnn."""

import dataclasses
import subprocess
import sys
import textwrap

import nir
import numpy as np
import pytest
import torch
from torch import nn

from tfsnn.analysis import run_analysis
from tfsnn.analysis.speck import (
    _assignable,
    _graph,
    _validate,
    dynapcnn_network,
    event_bins,
    finetune,
    remove_biases,
    sinabs_network,
    sinabs_steps,
    speck_check,
)
from tfsnn.data.catalog import read_splits
from tfsnn.data.events import EVENT_DTYPE, DvsFrames
from tfsnn.evaluate import accuracy
from tfsnn.models import build
from tfsnn.models.layers import ClassifierHead, ConvBNSpike
from tfsnn.models.tfsnn import TFSNN
from tfsnn.neuron import IAF
from tfsnn.training import build_method

from conftest import randomize_bn, record_outputs, tiny_config

sinabs = pytest.importorskip("sinabs", reason="sinabs is not installed (pip install -e '.[deploy]'; the test "
                                              "extra has it)")
import sinabs.layers as sl  # noqa: E402

assert "samna" not in sys.modules  # sinabs's chip backend (sinabs.backend.dynapcnn) is never imported

pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.load is being deprecated:DeprecationWarning")


def _events(times, x=0, y=0, p=1):
    events = np.zeros(len(times), dtype=EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = times, x, y, p
    return events


# ---------------------------------------------------------------------------- the deployed network


def test_remove_biases_folds_the_scale_and_drops_every_shift():
    torch.manual_seed(0)
    model = build("resnet18", 10, 2, width=0.0625, neuron={"kind": "iaf"}).double().eval()
    randomize_bn(model)
    model.head[-1].bias.data.fill_(0.7)
    deployed = remove_biases(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules())
    assert all(m.bias is None for m in deployed.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the model is untouched
    conv, bn = model.stem.conv
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(deployed.stem.conv[0].weight, conv.weight * scale.view(-1, 1, 1, 1), rtol=1e-15, atol=0)
    # the same network as the model with every BN mean, BN shift and bias set to 0 (the authors' bias_remove)
    reference = build("resnet18", 10, 2, width=0.0625, neuron={"kind": "iaf"}).double().eval()
    reference.load_state_dict(model.state_dict())
    for m in reference.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.zero_()
            m.bias.data.zero_()
    reference.head[-1].bias.data.zero_()
    x = torch.rand(4, 3, 2, 16, 16, dtype=torch.float64) * 3
    steps = reference.forward_steps(x, 4)
    assert reference.stem.neuron(reference.stem.conv(x)).mean() > 0.05  # it fires: the comparison means something
    torch.testing.assert_close(deployed.forward_steps(x, 4), steps, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="directly follow a conv"):
        remove_biases(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3)))


def test_finetune_trains_the_weights_and_keeps_the_biases_out():
    torch.manual_seed(0)
    model = build("resnet18", 4, 2, width=0.0625, neuron={"kind": "iaf"})
    randomize_bn(model)
    deployed = remove_biases(model)
    before = {k: v.clone() for k, v in deployed.state_dict().items()}
    generator = torch.Generator().manual_seed(3)
    batches = [(torch.rand(3, 8, 2, 12, 12, generator=generator) * 2, torch.randint(0, 4, (8,), generator=generator))
               for _ in range(3)]
    method = build_method("mtt", t_min=1, t_max=3, samples=2)
    rows = finetune(deployed, method, lambda epoch: iter(batches), epochs=2, batches=2, lr=1e-2)
    assert [r["epoch"] for r in rows] == [1, 2] and all(np.isfinite(r["loss"]) for r in rows)
    assert set(deployed.state_dict()) == set(before)  # no bias came back, no BN
    assert any(not torch.equal(before[k], v) for k, v in deployed.state_dict().items())
    assert not deployed.training
    again = remove_biases(model)
    assert finetune(again, method, lambda epoch: iter(batches), epochs=2, batches=2, lr=1e-2) == rows  # seeded
    with pytest.raises(ValueError, match="bias-free"):
        finetune(model, method, lambda epoch: iter(batches), epochs=1)


# ---------------------------------------------------------------------------- events and sinabs


def test_event_bins_hand_computed():
    # a 2x1 sensor, 2 polarities; bins of 1000 us from the first event (at 500): [500, 1500), ...
    events = _events([500, 1499, 1500, 3000], x=[0, 1, 1, 0], p=[1, 1, 0, 1])
    bins = event_bins(events, (2, 1, 2), 1000)
    assert bins.shape == (3, 2, 1, 2)  # ceil(2501 / 1000) bins, [P, H, W]
    expected = np.zeros((3, 2, 1, 2), dtype=np.float32)
    expected[0, 1, 0, 0] = expected[0, 1, 0, 1] = 1  # 500 and 1499, ON
    expected[1, 0, 0, 1] = 1  # 1500, OFF at x=1
    expected[2, 1, 0, 0] = 1  # 3000
    np.testing.assert_array_equal(bins, expected)
    assert event_bins(events, (2, 1, 2), 10_000).shape[0] == 1
    with pytest.raises(ValueError, match="bin_us"):
        event_bins(events, (2, 1, 2), 0)


def _one_neuron(weight):
    """A 1x1 conv (ON weight ``weight``) into one IAF neuron, read out by a linear layer of weight 1:
    BN of unit scale, so the deployed network is exactly these weights."""
    block = ConvBNSpike(2, 1, IAF, kernel_size=1)
    conv, bn = block.conv
    bn.eps = 0.0
    conv.weight.data.copy_(torch.tensor([0.0, weight]).view(1, 2, 1, 1))
    head = ClassifierHead(1, 1)
    head[-1].weight.data.fill_(1.0)
    head[-1].bias.data.fill_(0.5)  # removed
    return TFSNN(nn.Identity(), [block], head, input_rank=3).eval()


def test_one_iaf_neuron_in_sinabs_hand_computed():
    # weight 0.4; bins of 100 us: 3 events in bin 0, none in bin 1, 5 in bin 2, 1 in bin 3.
    model = remove_biases(_one_neuron(0.4))
    events = _events([0, 10, 20, 200, 210, 220, 230, 240, 399])
    bins = event_bins(events, (1, 1, 2), 100)
    assert bins[:, 1, 0, 0].tolist() == [3, 0, 5, 1]
    # v = 1.2 -> 1 spike, u = 0.2; v = 0.2 -> none; v = 2.2 -> 2 spikes (MultiSpike), u = 0.2; v = 0.6 -> none.
    # The readout's bias is removed: the output is the spike count of each bin.
    net = sinabs_network(model, (2, 1, 1), batch_size=1)
    out = sinabs_steps(net, torch.from_numpy(bins).unsqueeze(0), chunk_bins=3)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([1.0, 0.0, 2.0, 0.0]), rtol=0, atol=1e-6)
    torch.testing.assert_close(model.forward_steps(torch.from_numpy(bins).unsqueeze(1), 4)[:, 0], out[0])
    # The clock-driven frames of 200 us: 3 and 6 events: v = 1.2 (1 spike, u = 0.2), 2.6 (2 spikes): the
    # same 3 spikes, since an IAF keeps the charge over the threshold (a hard reset would lose it)
    frames = torch.from_numpy(DvsFrames((1, 1, 2), 2)(events)).unsqueeze(0)
    assert frames[0, :, 1].flatten().tolist() == [3.0, 6.0]
    torch.testing.assert_close(sinabs_steps(net, frames)[0, :, 0], torch.tensor([1.0, 2.0]), rtol=0, atol=1e-6)
    # the chip's spiking readout: one more IAF counts 1, 0, 2, 0 -> 1 + 0 + 2 + 0 output spikes
    assert float(sl.IAF(min_v_mem=-1.0)(out).sum()) == pytest.approx(3.0)


def _nmnist_test(pack_dir, n):
    splits, _ = read_splits("nmnist", "pack", pack_dir=pack_dir, download=False)
    return [splits["test"][i] for i in range(n)]


@torch.no_grad()
@pytest.mark.parametrize("binning", ["frames", "bins of 5 ms"])
def test_sinabs_and_tfsnn_spike_alike_on_nmnist_test_recordings(pack_dir, binning):
    """The deployed (bias-free, BN-folded) IAF ResNet-18 in tfsnn and in sinabs, fed the same bins
    of real N-MNIST test recordings (read through tfsnn's data code): the training frames, or bins
    of 5 ms fed to sinabs in chunks, recordings of unequal length padded. Every layer's spikes
    are identical."""
    from tfsnn.analysis.speck import _padded

    torch.manual_seed(0)
    model = build("resnet18", 10, 2, width=0.125, neuron={"kind": "iaf"}).eval()
    randomize_bn(model, gamma=1.5)
    deployed = remove_biases(model)
    recordings = _nmnist_test(pack_dir, 6)
    if binning == "frames":
        bins = torch.from_numpy(np.stack([DvsFrames((34, 34, 2), 10)(r) for r in recordings]))
        chunk = 10
    else:
        parts = [event_bins(r, (34, 34, 2), 5000) for r in recordings]
        assert len({len(p) for p in parts}) > 1  # unequal lengths: padding is exercised
        bins, chunk = _padded(parts), 16
    B, n = bins.shape[:2]
    net = sinabs_network(deployed, (2, 34, 34), B)
    result = {}
    theirs = record_outputs(net, sl.IAFSqueeze, lambda: result.setdefault("out", sinabs_steps(net, bins, chunk)))
    ours = record_outputs(deployed, IAF,
                          lambda: result.setdefault("ref", deployed.forward_steps(bins.transpose(0, 1), n)))
    assert set(theirs) == set(ours) and len(ours) == 17
    for name, (spikes,) in ours.items():
        sinabs_spikes = torch.cat([s.unflatten(0, (B, -1)) for s in theirs[name]], 1).transpose(0, 1)
        assert spikes.mean() > 0.01, name  # every layer fires: the comparison means something
        assert torch.equal(sinabs_spikes, spikes), name
    assert max(float(spikes.max()) for (spikes,) in ours.values()) >= 2  # several spikes per step happen
    torch.testing.assert_close(result["out"].transpose(0, 1), result["ref"], rtol=0, atol=1e-4)


# ---------------------------------------------------------------------------- Speck's limits


def test_speck_memory_hand_computed():
    # kernel: c * 2^(ceil log2(kh kw) + ceil log2 f) = 2 * 2^(4 + 3) = 256; neuron: f * 2^(ceil log2 34 * 2) = 8 * 2^12
    assert _validate(2, 8, (3, 3), (1, 1), (1, 1), (34, 34), conv=True) == (0.25, 32.0, "")
    _, _, message = _validate(2, 8, (17, 17), (1, 1), (0, 0), (34, 34), conv=True)
    assert "at most, 16x16" in message
    assert _validate(1, 1, (5, 5), (5, 5), (0, 0), (64, 64), conv=False)[2].startswith("Kernel size is limited")
    assert _assignable([(16, 16)] * 9) and not _assignable([(16, 16)] * 10)
    assert _assignable([(1, 64)] * 3) and not _assignable([(1, 64)] * 4)  # 64Ki of neurons: cores 0-2 only
    assert not _assignable([(64, 17)])  # 64Ki kernels: cores 5-6, with 16Ki of neurons
    # small layers first take cores 0-2; the large one gets one back (an augmenting path)
    assert _assignable([(1, 1), (1, 1), (1, 1), (16, 64), (1, 1), (1, 1), (1, 1), (1, 1)])
    assert not _assignable([(1, 1)] * 6 + [(16, 64)] * 3 + [(1, 1)])


def test_speck_check_of_a_graph_that_fits_and_of_resnet18():
    weight = np.ones((8, 2, 3, 3), dtype=np.float32)
    graph = nir.NIRGraph(
        {"input": nir.Input({"input": np.array([2, 34, 34])}),
         "conv": nir.Conv2d((34, 34), weight, 1, 1, 1, 1, np.zeros(8, dtype=np.float32)),
         "neuron": nir.IF(r=np.ones((8, 34, 34)), v_threshold=np.ones((8, 34, 34))),
         "output": nir.Output({"output": np.array([8, 34, 34])})},
        [("input", "conv"), ("conv", "neuron"), ("neuron", "output")])
    check = speck_check(graph)
    assert check["mappable"] and check["problems"] == [] and check["spiking_output"]
    assert [(lay["kernel_memory_kib"], lay["neuron_memory_kib"]) for lay in check["layers"]] == [(0.25, 32.0)]
    model = remove_biases(build("resnet18", 10, 2, width=0.125, neuron={"kind": "iaf"}))
    check = speck_check(_graph(model, (2, 34, 34)))
    assert not check["mappable"] and len(check["layers"]) == 21  # stem, 16 convs, 3 shortcuts, the classifier
    assert len(check["current_sums"]) == 8 and not check["spiking_output"]  # every block; a linear readout
    assert check["memory_fits"] is False and "21 weight layers" in check["problems"][0]
    assert check["pools"] and check["pools"][0]["layer"] == "head.0"  # the 5x5 global sum pool
    assert all(lay["message"] == "" for lay in check["layers"])  # each layer alone fits a core


def test_the_speck_check_imports_no_samna():
    """sinabs.validate_memory_speck imports numpy only; sinabs.backend.dynapcnn (samna) stays out."""
    code = textwrap.dedent("""
        import sys
        from tfsnn.analysis.speck import _graph, remove_biases, speck_check
        from tfsnn.models import build
        check = speck_check(_graph(remove_biases(build("resnet18", 10, 2, width=0.0625, neuron={"kind": "iaf"})),
                                   (2, 34, 34)))
        assert check["layers"][0]["neuron_memory_kib"] == 16.0, check["layers"][0]
        assert "sinabs.validate_memory_speck" in sys.modules
        bad = sorted(m for m in sys.modules if m.startswith("samna") or m.startswith("sinabs.backend"))
        assert not bad, bad
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


def test_the_chip_mapping_is_refused_without_samna_consent():
    with pytest.raises(RuntimeError, match="stub that pip-installs"):
        dynapcnn_network(nn.Sequential(), (2, 34, 34))
    assert "samna" not in sys.modules and "sinabs.backend.dynapcnn" not in sys.modules


# ---------------------------------------------------------------------------- the analysis


@pytest.fixture(scope="module")
def nmnist_iaf_trained(pack_dir, tmp_path_factory):
    """A narrow IAF ResNet-18 trained for one epoch (MTT, T_max=4) on 100 N-MNIST recordings of the
    pack, tested on 20."""
    from tfsnn.config import validate_config
    from tfsnn.experiment import load_trained, train

    config = tiny_config(pack_dir, data={"name": "nmnist", "train_size": 100, "test_size": 20},
                         model={"name": "resnet18", "width": 0.0625, "neuron": {"kind": "iaf"}})
    out = tmp_path_factory.mktemp("nmnist_iaf_trained")
    train(validate_config(config), out, progress=False, device="cpu")
    return load_trained(out / "checkpoint.pt", device="cpu")


def test_speck_analysis_on_nmnist(nmnist_iaf_trained):
    trained = nmnist_iaf_trained
    before = {k: v.clone() for k, v in trained.model.state_dict().items()}
    options = {"T": 4, "bin_us": 5000, "finetune_epochs": 2, "finetune_batches": 1, "batch_size": 8}
    rows = run_analysis("speck", trained, options)
    assert all(torch.equal(before[k], v) for k, v in trained.model.state_dict().items())  # untouched
    by = {(r.metric, r.platform): r for r in rows.itertuples() if r.platform != "speck" and r.metric != "finetune_loss"}
    assert set(by) == {("top1_acc", p) for p in ("trained", "bias-removed", "clock", "sinabs-frames", "event",
                                                  "event-spike-readout")} | {
        ("agreement", "clock-vs-sinabs-frames"), ("agreement", "clock-vs-event"),
        ("max_output_difference", "clock-vs-sinabs-frames"), ("bins_per_recording", "event")}
    assert by["top1_acc", "trained"].value == accuracy(trained.model, trained.test_loader(), 4)["accuracy"]
    for key, row in by.items():
        if key[0] in ("top1_acc", "agreement"):
            count = row.value * 20 / 100  # of 20 recordings
            assert 0 <= count <= 20 and count == pytest.approx(round(count)), key
    # sinabs on the T frames is tfsnn's own network: the same predictions, outputs equal up to the head's rounding
    assert by["agreement", "clock-vs-sinabs-frames"].value == 100.0
    assert by["top1_acc", "sinabs-frames"].value == by["top1_acc", "clock"].value
    assert by["max_output_difference", "clock-vs-sinabs-frames"].value < 1e-3
    assert by["bins_per_recording", "event"].value == pytest.approx(61, abs=2)  # ~306 ms in bins of 5 ms
    losses = rows[rows["metric"] == "finetune_loss"]
    assert losses["epoch"].tolist() == [1, 2] and np.isfinite(losses["value"]).all()
    speck = rows[rows["platform"] == "speck"].set_index("metric")
    assert speck.loc["speck_weight_layers", "value"] == 21 and speck.loc["speck_mappable", "value"] == 0
    assert "8 residual current sums" in by["top1_acc", "event"].note
    assert "fed by a sum of currents" in speck.loc["speck_mappable", "speck_message"]
    assert (rows["analysis"] == "speck").all() and set(rows["T"]) == {4}
    lif = dataclasses.replace(trained, model=build("resnet18", 10, 2, width=0.0625))
    with pytest.raises(ValueError, match="model.neuron.kind: iaf"):
        run_analysis("speck", lif, options)
    with pytest.raises(ValueError, match="not an option of .speck."):
        run_analysis("speck", trained, {"bins": 3})
