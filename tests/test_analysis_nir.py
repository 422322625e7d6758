"""NIR export: a TFSNN written with nir.write and read back with nir.read runs (run_nir, tfsnn's own
reader, a test oracle) to the model's own per-step outputs; the graph has the expected nodes,
residual edges and LIF mapping, and says each neuron's reset as the installed nir can (a hard reset
in v_reset from nir 1.0.6 on, a subtractive one before; the rest in the node's metadata). External
readers (sinabs, Norse): tests/test_nir_readers.py."""

import contextlib
import warnings
from collections import Counter
from types import SimpleNamespace

import nir
import numpy as np
import pytest
import torch
from torch import nn

from tfsnn.analysis import export_nir, export_trained_nir, run_nir
from tfsnn.bn import fold_batchnorm
from tfsnn.analysis.nir_export import NIR_HAS_V_RESET
from tfsnn.models import build
from tfsnn.neuron import LIF, FiringRateMonitor

# the exporter warns where the installed nir has no field for a neuron's reset (see nir_export)
pytestmark = pytest.mark.filterwarnings("ignore:NIR export. nir .* has no field for the reset")

DT = 1e-3


def _model(neuron: dict | None = None):
    """A narrow float64 ResNet-18 whose BN statistics and affine parameters are random, scaled
    so that every layer fires."""
    model = build("resnet18", 10, 2, width=0.0625, neuron=neuron).double().eval()
    generator = torch.Generator().manual_seed(1)
    for bn in model.modules():
        if isinstance(bn, nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.rand(n, generator=generator, dtype=torch.float64) - 0.5)
            bn.running_var.copy_(torch.rand(n, generator=generator, dtype=torch.float64) + 0.5)
            bn.weight.data.copy_(torch.rand(n, generator=generator, dtype=torch.float64) * 2 + 1)
            bn.bias.data.copy_(torch.rand(n, generator=generator, dtype=torch.float64) * 0.5)
    return model


@pytest.mark.parametrize("neuron", [{"kind": "lif"}, {"kind": "lif", "tau": 0.75}, {"kind": "if"}, {"kind": "iaf"}])
def test_export_read_back_runs_to_the_model_outputs(neuron, tmp_path):
    model = _model(neuron)
    x = torch.rand(4, 3, 2, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2
    path = tmp_path / "model.nir"
    export_nir(model, path, input_shape=(2, 16, 16), dt=DT)
    graph = nir.read(str(path))
    with FiringRateMonitor(model) as monitor:
        expected = model.forward_steps(x, 4)
    assert min(monitor.rates().values()) > 0.01  # every layer spikes: the comparison is not trivial
    out = run_nir(graph, x)
    assert out.shape == expected.shape == (4, 3, 10)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(out.mean(0), model(x, 4), rtol=0, atol=1e-10)
    # Spikes too: the stem's neuron node against the model's stem (float64: the graph's folded conv
    # rounds otherwise than conv + BN, by ~1e-16, far less than any membrane's distance to the threshold).
    stem_graph = nir.NIRGraph(
        {name: graph.nodes[name] for name in ("input", "stem.conv.0", "stem.neuron")}
        | {"output": nir.Output({"output": graph.nodes["stem.neuron"].output_type["output"]})},
        [("input", "stem.conv.0"), ("stem.conv.0", "stem.neuron"), ("stem.neuron", "output")],
        metadata={"dt": DT},
    )
    assert torch.equal(run_nir(stem_graph, x), model.stem(x))


def test_graph_nodes_edges_and_lif_mapping():
    model = _model({"kind": "lif", "tau": 0.75})
    graph = export_nir(model, input_shape=(2, 16, 16), dt=DT)
    kinds = Counter(type(node).__name__ for node in graph.nodes.values())
    neurons = sum(isinstance(m, LIF) for m in model.modules())
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert neurons == 17 and convs == 20  # stem, 8 blocks of 2, 3 shortcut convs
    assert kinds == {"Input": 1, "Conv2d": convs, "LIF": neurons, "SumPool2d": 1, "Flatten": 1, "Affine": 1,
                     "Output": 1}
    incoming = Counter(target for _, target in graph.edges)
    # Every block's second neuron sums its branch and its shortcut (an identity shortcut: the block's input).
    assert all(incoming[f"blocks.{i}.neuron2"] == 2 for i in range(8))
    assert ("stem.neuron", "blocks.0.neuron2") in graph.edges  # identity shortcut of block 1
    assert ("blocks.2.shortcut.0", "blocks.2.neuron2") in graph.edges  # 1x1 conv shortcut of block 3
    lif = graph.nodes["blocks.0.neuron1"]
    # v[t] = 0.75 u[t-1] + I[t] under forward Euler: tau_c = dt / (1 - 0.75), r = 1 / (1 - 0.75).
    np.testing.assert_allclose(lif.tau, 4 * DT)
    np.testing.assert_allclose(lif.r, 4.0)
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    np.testing.assert_array_equal(lif.v_threshold, 1.0)
    if NIR_HAS_V_RESET:  # nir >= 1.0.6: the hard reset of Eq. 4 in the node's own field
        np.testing.assert_array_equal(lif.v_reset, 0.0)
    else:  # nir <= 1.0.5 (sinabs's): LIF nodes reset by subtraction; the hard reset is in the metadata
        assert not hasattr(lif, "v_reset")
    assert lif.metadata == {"reset": "zero"}
    assert lif.tau.shape == (4, 16, 16)
    conv = graph.nodes["blocks.0.conv1.0"]
    folded = fold_batchnorm(model).blocks[0].conv1[0]
    np.testing.assert_array_equal(conv.bias, folded.bias.detach().numpy())  # BN folded by fold_batchnorm itself
    head = graph.nodes["head.2"]
    spatial = 2 * 2  # 16 / 2 / 2 / 2
    np.testing.assert_allclose(head.weight, model.head[-1].weight.detach().numpy() / spatial)
    assert graph.metadata["dt"] == DT


def test_iaf_and_if_nodes_and_the_reset_warning():
    """An IAF layer (subtractive reset, several spikes per step) and an IF layer (hard reset) are both
    NIR ``IF`` nodes, in the model's dtype; each says its reset where the installed nir can and in its
    metadata always, and the export warns about the one the nir version cannot say."""
    iaf_model = build("fc", 4, 5, hidden=(6,), neuron={"kind": "iaf", "v_threshold": 0.5})
    if_model = build("fc", 4, 5, hidden=(6,), neuron={"kind": "if"})
    with pytest.warns(UserWarning, match="subtractive reset") if NIR_HAS_V_RESET else _no_warning():
        iaf_node = export_nir(iaf_model, input_shape=(5,)).nodes["blocks.0.neuron"]
    with _no_warning() if NIR_HAS_V_RESET else pytest.warns(UserWarning, match="hard reset to 0"):
        if_node = export_nir(if_model, input_shape=(5,)).nodes["blocks.0.neuron"]
    assert isinstance(iaf_node, nir.IF) and isinstance(if_node, nir.IF)
    assert iaf_node.metadata == {"reset": "subtract", "spikes": "multi", "v_min": -0.5}
    assert if_node.metadata == {"reset": "zero"}
    assert iaf_node.v_threshold.dtype == np.float32 and iaf_node.v_threshold.tolist() == [0.5] * 6
    np.testing.assert_array_equal(iaf_node.r, 1 / DT)
    if NIR_HAS_V_RESET:
        np.testing.assert_array_equal(if_node.v_reset, 0.0)


@contextlib.contextmanager
def _no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_unsupported_layers_raise():
    with pytest.raises(ValueError, match="MaxPool2d.*not supported"):
        export_nir(build("vgg14", 10, 3, width=0.0625), input_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="ReLU.*not supported"):
        export_nir(build("resnet18", 10, 2, width=0.0625, neuron={"kind": "relu"}), input_shape=(2, 16, 16))


def test_export_trained_takes_the_input_shape_from_the_data(tmp_path):
    # float64: the graph's affine ops and nn.Linear round differently, which in float32 can flip a spike
    model = build("fc", 4, 5, hidden=(6,)).double()
    trained = SimpleNamespace(model=model, datasets=SimpleNamespace(test=[(torch.zeros(7, 5), 0)]))
    graph = export_trained_nir(trained, tmp_path / "fc.nir")
    assert (tmp_path / "fc.nir").is_file()
    np.testing.assert_array_equal(graph.nodes["input"].input_type["input"], [5])
    x = torch.rand(3, 2, 5, dtype=torch.float64) * 3
    torch.testing.assert_close(run_nir(nir.read(str(tmp_path / "fc.nir")), x), model.forward_steps(x, 3),
                               rtol=0, atol=1e-10)
