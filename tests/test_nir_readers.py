"""NIR read back by frameworks other than tfsnn, on real N-MNIST frames: a ResNet-18 TFSNN written
by :func:`tfsnn.analysis.export_nir`, read by sinabs (``sinabs.from_nir``, SynSense's Speck
toolchain) and by Norse (``norse.torch.from_nir``), run next to tfsnn's own model.

- IAF model (Speck's neuron) in sinabs: every layer's spikes equal the model's, bit for bit.
- IF model (hard reset, Eq. 4) in Norse, whose IF resets to 0: every layer's spikes equal too.
- IF model in sinabs, which reads every ``IF`` as its IAF (subtractive reset, several spikes per
  step; NIR <= 1.0.5's own semantics, see NIR PR #63): the difference is exactly that neuron, and
  bounded below.

The reference is the model with its BN folded into the convs (:func:`fold_batchnorm`), the network
the graph holds; folding rounds the weights otherwise than conv + BN (~1e-7 in fp32), which flips
a spike wherever a membrane lies that close to a threshold.

Both readers build the graph with nirtorch 2.0's deprecated ``nirtorch.load``, whose executor runs
the nodes in depth-first order from the input, not in topological order: in a residual block
with a conv shortcut the block's second neuron runs before the shortcut conv has, on the branch
alone, and the output is the last node visited (a shortcut conv's map). :func:`topological`
reorders the executor's nodes, nothing else; the readers' own modules and their sum over
incoming edges run unchanged (:func:`tfsnn.analysis.nir_export.topological`, also what the speck
analysis runs sinabs with).
"""

import sys
import warnings

import nir
import pytest
import torch
from torch import nn

from tfsnn.analysis import export_nir
from tfsnn.analysis.event_driven import fold_batchnorm
from tfsnn.analysis.nir_export import topological
from tfsnn.data import load
from tfsnn.models import build
from tfsnn.neuron import IAF, LIF, iaf

from conftest import randomize_bn, record_outputs

sinabs = pytest.importorskip("sinabs", reason="sinabs is not installed (pip install -e '.[deploy]'; the test "
                                              "extra has it)")
import sinabs.layers as sl  # noqa: E402

assert "samna" not in sys.modules  # sinabs's chip backend (sinabs.backend.dynapcnn) is never imported

T, BATCH = 10, 8  # N-MNIST's 10 frames, 8 test recordings

pytestmark = [
    pytest.mark.filterwarnings("ignore:NIR export. nir .* has no field for the reset"),
    pytest.mark.filterwarnings("ignore:nirtorch.load is being deprecated:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def frames(pack_dir):
    """``[T, B, 2, 34, 34]`` frames of the first N-MNIST test recordings of the pack."""
    data = load("nmnist", "pack", pack_dir=pack_dir, train_size=1, test_size=BATCH, cache=False)
    return torch.stack([data.test[i][0] for i in range(BATCH)], 1)


def _model(kind: str) -> nn.Module:
    """A float32 ResNet-18 (width 1/8) with random BN statistics and affine parameters, so that
    every layer fires on the frames."""
    torch.manual_seed(0)
    model = build("resnet18", 10, 2, width=0.125, neuron={"kind": kind}).eval()
    randomize_bn(model)
    return model


def _graph(model: nn.Module, tmp_path) -> nir.NIRGraph:
    export_nir(model, tmp_path / "model.nir", input_shape=(2, 34, 34))
    return nir.read(str(tmp_path / "model.nir"))


def _recorded(model: nn.Module, kinds, run) -> dict[str, torch.Tensor]:
    """The last output of each of ``model``'s modules of ``kinds`` during ``run()``, by name."""
    return {name: outputs[-1] for name, outputs in record_outputs(model, kinds, run).items()}


def _tfsnn_run(model, frames):
    """Per-step logits ``[T, B, 10]`` and every neuron's spikes ``[T, B, ...]`` of the BN-folded model."""
    folded = fold_batchnorm(model)
    result = {}
    spikes = _recorded(folded, (LIF, IAF), lambda: result.setdefault("out", folded.forward_steps(frames, T)))
    return result["out"], spikes


def _sinabs_run(graph, frames):
    """sinabs's run of ``graph``: its input and output are ``[B * T, ...]``, sample-major; returned
    as tfsnn's ``[T, B, ...]``, with the spikes of every ``IAFSqueeze``."""
    net = topological(sinabs.from_nir(graph, batch_size=BATCH))
    to_sinabs = lambda x: x.transpose(0, 1).flatten(0, 1)  # noqa: E731
    from_sinabs = lambda x: x.unflatten(0, (BATCH, T)).transpose(0, 1)  # noqa: E731
    result = {}
    spikes = _recorded(net, sl.IAFSqueeze, lambda: result.setdefault("out", net(to_sinabs(frames))[0]))
    return from_sinabs(result["out"]), {name: from_sinabs(s) for name, s in spikes.items()}


@torch.no_grad()
def test_iaf_model_in_sinabs_spikes_as_tfsnn(frames, tmp_path):
    model = _model("iaf")
    graph = _graph(model, tmp_path)
    expected, expected_spikes = _tfsnn_run(model, frames)
    out, spikes = _sinabs_run(graph, frames)
    assert set(spikes) == set(expected_spikes) and len(spikes) == 17
    for name, s in expected_spikes.items():
        assert s.mean() > 0.01, name  # every layer fires: the comparison is not trivial
        assert torch.equal(spikes[name], s), name
    assert max(float(s.max()) for s in spikes.values()) >= 2  # several spikes per step happen
    # the head differs by rounding only: a sum pool and a weight / (H*W) against an average pool
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-4)
    unfolded = model.forward_steps(frames, T)  # the model itself (BN not folded) predicts the same
    assert torch.equal(unfolded.mean(0).argmax(1), out.mean(0).argmax(1))


@torch.no_grad()
def test_if_model_in_norse_spikes_as_tfsnn(frames, tmp_path):
    """Norse reads ``IF`` as its IAF cell: ``v += I``, a spike where ``v > v_th``, reset to 0, the
    IF of Eq. 1-4 with tau = 1 (firing at ``v >= v_th``; exact ties do not occur here). Its
    ``Flatten`` flattens the batch dim too, so each recording runs alone (batch 1)."""
    norse = pytest.importorskip("norse.torch", reason="norse is not installed (the test extra has it)")
    model = _model("if")
    graph = _graph(model, tmp_path)
    expected, expected_spikes = _tfsnn_run(model, frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # r = 1 / dt, which Norse's IF does not use, and its jit warnings
        net = topological(norse.from_nir(graph))
    steps, spikes = [], {}
    for b in range(BATCH):
        state = None
        for t in range(T):
            step = frames[t, b : b + 1]
            recorded = _recorded(net, norse.IAFCell, lambda step=step, state=state: steps.append(net(step, state)))
            state = steps[-1][1]
            for name, (z, _) in recorded.items():  # a cell returns (spikes, state), spikes [1, ...]
                spikes.setdefault(name, []).append(z[0])
    out = torch.stack([o for o, _ in steps]).view(BATCH, T, -1).transpose(0, 1)
    assert set(spikes) == set(expected_spikes)
    for name, s in expected_spikes.items():
        theirs = torch.stack(spikes[name]).unflatten(0, (BATCH, T)).transpose(0, 1)
        assert s.mean() > 0.01, name
        assert torch.equal(theirs, s), name
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-4)


@torch.no_grad()
def test_if_model_in_sinabs_differs_by_its_neuron(frames, tmp_path):
    """sinabs reads an IF model's ``IF`` nodes as its IAF (subtractive reset, several spikes per
    step, bounded at -v_threshold): NIR <= 1.0.5's IF, whatever the node's metadata says. On the
    same currents (the stem's), its spikes are exactly tfsnn's :func:`iaf`; against the model's
    own IF they differ at the first step exactly where the current reaches twice the threshold
    (several spikes), and after it as the reset leaves another state."""
    model = _model("if")
    graph = _graph(model, tmp_path)
    _, expected_spikes = _tfsnn_run(model, frames)
    _, spikes = _sinabs_run(graph, frames)
    folded = fold_batchnorm(model)
    currents = folded.stem.conv(frames)
    theirs, ours = spikes["stem_neuron"], expected_spikes["stem_neuron"]
    assert torch.equal(theirs, iaf(currents))
    assert torch.equal(theirs[0] != ours[0], currents[0] >= 2)
    differ = float((theirs != ours).float().mean())
    assert 0.001 < differ < 0.15, differ  # 8.2% of the stem's (neuron, step) pairs on these frames
    assert float(theirs.sum()) > float(ours.sum())  # here more spikes: the charge a hard reset drops is kept
