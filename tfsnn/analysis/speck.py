"""Table 7 the authors' way: an IAF TFSNN made ready for Speck (BN folded, biases removed, then
fine-tuned), run event-driven on the raw N-MNIST events in **sinabs's** simulation, next to its
clock-driven run in tfsnn, and checked against Speck's memory offline.

What the authors' event-driven code does (``train-event-driven/`` of
brain-intelligence-lab/temporal_flexibility_in_SNN: ``models/snn_speck.py``, ``utils.py``,
``train_student.py``, ``data.py``), and what this module mirrors:

- **Neuron**: ``sinabs.layers.IAFSqueeze(min_v_mem=-1, reset_fn=MembraneSubtract(),
  spike_fn=MultiSpike)``: no leak, subtractive reset, several spikes per step. tfsnn's
  ``model.neuron.kind: iaf`` (:class:`tfsnn.neuron.IAF`) is that neuron, equal to sinabs's bit for
  bit in fp32; the model trains with it by SDT or MTT as any other.
- **Bias removal** (``bias_remove``): every BN's running mean and every bias (BN's shift
  included) set to 0. **BN folded** (``bn_merge_biasless``): each conv's weight multiplied by
  ``gamma / sqrt(running_var + eps)``, the BN left as an identity. Here :func:`remove_biases`
  does both: the scale goes into the conv, the shift ``beta - mean * scale`` and every bias (the
  classifier's too) are dropped. A chip core's bias is a constant current per time step, which
  an event-driven chip has no step for: hence the removal.
- **Fine-tune** (``--phase bias_removal``): the bias-free network trained again with BN locked
  (eval mode) and no bias among the parameters, by the run's own method: ``fine_tune`` at the one
  ``T`` for SDT, ``fine_tune_mixed_timestep`` (3 sampled per-stage configurations per batch) for
  MTT. Their settings: AdamW, lr 5e-4, weight decay 0.02, 20 epochs (DVS Gesture; CIFAR10-DVS:
  SGD, lr 1e-3, weight decay 5e-4, 60 epochs). Here :func:`finetune` trains the folded,
  bias-free TFSNN with :func:`tfsnn.training.train_step` (the run's method, its samples) and
  those AdamW settings by default; epochs and batches per epoch are options. Their learning rate
  follows a cosine over 300 epochs, nearly constant over 20: here it is constant. They keep the
  epoch of best test accuracy; this keeps the last (SPEC.md: never select on the test set).
- **Frames**: tonic's ``ToFrame(sensor_size, n_time_bins=T)`` (their DVS Gesture and
  CIFAR10-DVS loaders; their repository has no N-MNIST code), what
  :class:`tfsnn.data.events.DvsFrames` does. Their evaluation (``test_acc``) sums the output
  over the T frames and takes the argmax: the clock-driven ("gpu") row.
- **On the chip**: their repository stops at the PyTorch models; the Speck run (Table 7's
  "speck2e" row) goes through sinabs's DynapCNN backend and samna, which is not there.

What runs here (:func:`speck_analysis`, ``tfsnn analyze speck``):

1. ``trained``: the checkpoint (BN, biases) at ``T`` on the test frames;
2. ``bias-removed``: BN folded, biases dropped, no fine-tune;
3. ``clock``: the same after the fine-tune (the network that is deployed), in tfsnn, on the
   ``T`` training frames: the clock-driven accuracy;
4. ``sinabs-frames``: that network exported to NIR (:func:`tfsnn.analysis.export_nir`), read by
   ``sinabs.from_nir`` (each IAF an ``IAFSqueeze`` with ``MultiSpike``, ``MembraneSubtract``,
   ``min_v_mem = -v_threshold``), run in sinabs on the same ``T`` frames: the same spikes as
   tfsnn's (``tests/test_speck.py``), so this agrees with ``clock`` up to the head's rounding;
5. ``event``: the sinabs network on the raw test recordings cut into bins of ``bin_us``
   microseconds from each recording's first event (about 300 bins of 1 ms for N-MNIST's ~300 ms,
   instead of 10 frames), the neuron states kept from the first bin to the last, all layers run
   within a bin (no synaptic delay): sinabs's own discrete simulation of the event-driven chip.
   The readout is the classifier's output summed over all bins (the membrane a non-spiking
   readout integrates); ``event-spike-readout`` passes that output through one more sinabs IAF
   and counts its spikes, the readout a chip's spiking output layer gives (ties go to the lowest
   class).

Without biases and with IAF neurons a network is silent without input: a neuron's potential
after a step lies below its threshold, so empty bins after a recording's last event change
nothing (recordings of a batch are padded with them) and the result does not depend on where the
recording ends. What still depends on ``bin_us``: within a bin all events arrive at once, and the
negative weights of deeper layers make the count of a neuron depend on the order of its inputs.

Agreement rows: the percentage of test recordings whose predictions are equal, ``clock`` against
``event`` (the deployment's disagreement) and against ``sinabs-frames`` (the route's exactness).

**Speck's limits, offline** (:func:`speck_check`, on the exported NIR graph): each weight layer's
kernel and neuron memory from ``sinabs.validate_memory_speck.ValidateMapping`` (sinabs 3.1.3,
which imports numpy only, not samna: checked in ``tests/test_speck.py``), which also rejects a
kernel over 16x16, more than 1024 output channels, a stride other than 1, 2, 4, 8 and pooling
other than 1x1, 2x2, 4x4. Then tfsnn's own whole-network check, from the table of Speck's nine
cores that sinabs ships (``sinabs/backend/dynapcnn/chips/dynapcnn.py``; kernel / neuron memory
16Ki/64Ki for cores 0-2, 32Ki/32Ki for 3-4, 64Ki/16Ki for 5-6, 16Ki/16Ki for 7-8) and from its
connectivity rules (``connectivity_specs.py``: a weight layer feeds one neuron layer; only spike
streams merge, before a weight layer): at most nine weight layers, one per core, with a
one-to-one assignment of layers to cores whose memories hold them; no neuron layer fed by a sum
of currents (a ResNet's residual sum, conv + shortcut, is one); a spiking output layer. The
ResNet-18 of the N-MNIST experiments fails all but the memory of single layers: this is sinabs's
simulation of the network, not a network that a Speck holds (docs/deployment.md).

Nothing here imports ``samna`` (the PyPI release is a stub that pip-installs the real package
from another index when imported) or ``sinabs.backend.dynapcnn`` (which imports it):
:func:`dynapcnn_network`, the one path that would, refuses unless told ``allow_samna=True``.
"""

from __future__ import annotations

import copy
import math
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from tfsnn.analysis.event_driven import _clock_predictions, check_alignment, event_recordings
from tfsnn.analysis.nir_export import export_nir, topological
from tfsnn.analysis.registry import register
from tfsnn.data.events import bin_events
from tfsnn.evaluate import accuracy
from tfsnn.models.tfsnn import TFSNN
from tfsnn.neuron import IAF, SpikingNeuron
from tfsnn.options import TimeStep
from tfsnn.precision import grad_scaler
from tfsnn.training import build_method
from tfsnn.training.trainer import build_optimizer, train_step

__all__ = [
    "SPECK_CORES",
    "require_sinabs",
    "remove_biases",
    "finetune",
    "sinabs_network",
    "sinabs_steps",
    "event_bins",
    "speck_check",
    "dynapcnn_network",
    "speck_analysis",
]

# Speck's nine cores: (kernel memory, neuron memory) in Ki entries, as sinabs 3.1.3 gives them
# (sinabs/backend/dynapcnn/chips/dynapcnn.py, also the comment in sinabs/validate_memory_speck.py)
SPECK_CORES = ((16, 64),) * 3 + ((32, 32),) * 2 + ((64, 16),) * 2 + ((16, 16),) * 2

SAMNA_WARNING = (
    "the samna package on PyPI is a stub that pip-installs the real samna from another index when it is imported"
)


def require_sinabs():
    """``sinabs`` (the ``deploy`` extra), imported without samna; an error says how to install it."""
    try:
        import sinabs
    except ImportError as err:
        raise ImportError(f"the speck analysis needs sinabs: pip install -e '.[deploy]' ({err})") from None
    if "samna" in sys.modules and "sinabs.backend.dynapcnn" not in sys.modules:
        raise RuntimeError("importing sinabs imported samna: tfsnn expects `import sinabs` not to (sinabs 3.1)")
    return sinabs


# ---------------------------------------------------------------------------- the deployed network


def remove_biases(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) as the authors deploy it: every BN folded into the conv or
    linear layer just before it by its scale alone (``W' = W * gamma / sqrt(running_var + eps)``,
    the BN becomes ``nn.Identity``), its shift ``beta - running_mean * scale`` dropped, and every
    bias of a conv or linear layer removed (``bias = None``). Their ``bias_remove`` +
    ``bn_merge_biasless``. A BN that does not directly follow a conv or linear layer is an error."""
    net = copy.deepcopy(model).eval()
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        for i in range(1, len(seq)):
            layer, bn = seq[i - 1], seq[i]
            if not (isinstance(bn, _BatchNorm) and isinstance(layer, nn.Conv2d | nn.Linear)):
                continue
            if not bn.track_running_stats or bn.running_var is None:
                raise ValueError(f"cannot fold {bn}: it keeps no running statistics")
            scale = bn.running_var.double().add(bn.eps).rsqrt()
            if bn.affine:
                scale = scale * bn.weight.double()
            shape = (-1,) + (1,) * (layer.weight.dim() - 1)
            with torch.no_grad():
                layer.weight.copy_((layer.weight.double() * scale.view(shape)).to(layer.weight.dtype))
            seq[i] = nn.Identity()
    left = [name for name, m in net.named_modules() if isinstance(m, _BatchNorm)]
    if left:
        raise ValueError(f"cannot fold BN {left}: each must directly follow a conv or linear layer")
    for layer in net.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear) and layer.bias is not None:
            layer.bias = None
    return net


def finetune(
    model: nn.Module,
    method,
    loader_of_epoch,
    *,
    epochs: int,
    batches: int | None = None,
    optimizer: str = "adamw",
    lr: float = 5e-4,
    weight_decay: float = 0.02,
    momentum: float = 0.9,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> list[dict]:
    """Fine-tune the bias-free ``model`` in place, as the authors' bias-removal phase: ``epochs``
    epochs of the batches of ``loader_of_epoch(epoch)`` (the first ``batches`` of each, all with
    None), each batch one :func:`tfsnn.training.train_step` of ``method`` (its configurations and
    loss) in fp32, ``optimizer`` over every parameter (there is no bias; BN is folded away) at a
    constant ``lr``. Configurations are drawn from a generator seeded with ``seed``. Returns a
    row per epoch: its mean training loss and accuracy."""
    if epochs < 0:
        raise ValueError(f"finetune epochs must be >= 0, got {epochs}")
    if batches is not None and batches < 1:
        raise ValueError(f"finetune batches must be >= 1 or None, got {batches}")
    if any(isinstance(m, _BatchNorm) for m in model.modules()) or any(
            getattr(m, "bias", None) is not None for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)):
        raise ValueError("finetune takes the bias-free, BN-folded network of remove_biases()")
    device = torch.device(device)
    opt = build_optimizer(model, optimizer, lr, momentum, weight_decay)
    scaler = grad_scaler(device, "fp32")
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum, correct, seen, passes = 0.0, 0, 0, 0
        for index, (inputs, targets) in enumerate(loader_of_epoch(epoch)):
            if batches is not None and index >= batches:
                break
            inputs, targets = inputs.to(device), targets.to(device)
            done = train_step(model, method, opt, scaler, inputs, targets, generator, "fp32")
            loss_sum += sum(r["loss"] for r in done)
            correct += sum(r["correct"] for r in done)
            passes += len(done)
            seen += len(done) * len(targets)
        if passes == 0:
            raise ValueError("finetune: the training loader yielded no batch")
        rows.append({"epoch": epoch, "loss": loss_sum / passes, "train_acc": 100.0 * correct / seen})
    model.eval()
    return rows


# ---------------------------------------------------------------------------- sinabs


def sinabs_network(model: TFSNN, input_shape, batch_size: int) -> nn.Module:
    """``model`` (a bias-free IAF TFSNN) as sinabs runs it: exported to NIR
    (:func:`tfsnn.analysis.export_nir`), written and read back, ``sinabs.from_nir`` with
    ``batch_size`` (inputs ``[batch_size * steps, ...]``, sample-major), its nodes run in
    topological order (:func:`tfsnn.analysis.nir_export.topological`: nirtorch 2.0's executor
    runs them depth first, wrong for a residual block with a conv shortcut). A bias-free linear
    layer goes to sinabs as an ``Affine`` of zero bias: sinabs 3.1's ``from_nir`` drops ``Linear``
    nodes (no module, no error), so its output would be the classifier's input."""
    import nir

    sinabs = require_sinabs()
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # sinabs reads every IF node as its IAF whatever the nir version says of its reset
        warnings.filterwarnings("ignore", message="NIR export. nir .* has no field for the reset")
        warnings.filterwarnings("ignore", message="nirtorch.load is being deprecated", category=DeprecationWarning)
        path = Path(folder) / "deployed.nir"
        export_nir(model, path, input_shape=tuple(input_shape))
        graph = nir.read(str(path))
        # sinabs 3.1's from_nir skips a nir.Linear (bias-free) node without a word: an Affine of zero bias
        for name, node in graph.nodes.items():
            if isinstance(node, nir.Linear) and not isinstance(node, nir.Affine):
                weight = np.asarray(node.weight)
                graph.nodes[name] = nir.Affine(weight, np.zeros(weight.shape[0], dtype=weight.dtype))
        net = sinabs.from_nir(graph, batch_size=batch_size)
    return topological(net).eval()


@torch.no_grad()
def sinabs_steps(net: nn.Module, bins: torch.Tensor, chunk_bins: int = 32) -> torch.Tensor:
    """Per-bin outputs ``[B, n, classes]`` of a sinabs network (:func:`sinabs_network`) on
    ``bins`` ``[B, n, ...]``, fed ``chunk_bins`` bins at a time: the states start at 0 and carry
    over from one chunk to the next (sinabs's layers keep them between calls)."""
    sinabs = require_sinabs()
    if chunk_bins < 1:
        raise ValueError(f"chunk_bins must be >= 1, got {chunk_bins}")
    batch = bins.shape[0]
    sinabs.set_batch_size(net, batch)
    sinabs.reset_states(net)
    outputs = []
    for start in range(0, bins.shape[1], chunk_bins):
        piece = bins[:, start : start + chunk_bins]
        out = net(piece.flatten(0, 1))
        out = out[0] if isinstance(out, tuple) else out
        outputs.append(out.unflatten(0, piece.shape[:2]))
    sinabs.reset_states(net)
    return torch.cat(outputs, 1)


def event_bins(events: np.ndarray, sensor_size: tuple[int, int, int], bin_us: int,
               size: int | None = None) -> np.ndarray:
    """Counts ``[n, P, H, W]`` of a recording's events (``x, y, t, p``) in bins of exactly
    ``bin_us`` microseconds from its first event, ``n = ceil(duration / bin_us)`` (the last bin
    holds the last event); resized to ``size`` x ``size`` as the training frames are
    (:class:`tfsnn.data.events.DvsFrames`) when given."""
    if bin_us < 1:
        raise ValueError(f"bin_us must be >= 1, got {bin_us}")
    w, h, p = sensor_size
    t = events["t"].astype(np.int64)
    start = int(t.min()) if len(t) else 0
    n = max(1, math.ceil((int(t.max()) + 1 - start) / bin_us)) if len(t) else 1
    channel = (events["p"].astype(np.int64) * h + events["y"]) * w + events["x"]
    bins = bin_events(t, channel, p * h * w, n, start, start + n * int(bin_us)).reshape(n, p, h, w)
    if size is not None and (h, w) != (size, size):
        bins = F.interpolate(torch.from_numpy(bins), (size, size), mode="bilinear", antialias=True).numpy()
    return bins


def _padded(arrays: list[np.ndarray]) -> torch.Tensor:
    """``[B, n_max, ...]`` of arrays ``[n_i, ...]``, zero bins after each one's end."""
    longest = max(len(a) for a in arrays)
    out = torch.zeros(len(arrays), longest, *arrays[0].shape[1:])
    for i, a in enumerate(arrays):
        out[i, : len(a)] = torch.from_numpy(a)
    return out


# ---------------------------------------------------------------------------- Speck's limits


def _validate(c: int, f: int, kernel, stride, padding, size, conv: bool):
    """(kernel KiB, neuron KiB, message) of one layer by sinabs's ``ValidateMapping``."""
    require_sinabs()
    from sinabs.validate_memory_speck import ValidateMapping

    try:
        check = ValidateMapping(int(c), int(f), tuple(map(int, kernel)), tuple(map(int, stride)),
                                tuple(map(int, padding)), [int(size[0]), int(size[1])], conv)
    except Exception as err:  # noqa: BLE001 (sinabs raises Exception and Warning for a layer it rejects)
        return math.nan, math.nan, str(err)
    if not conv:
        return math.nan, math.nan, ""
    kernel_kib, neuron_kib, kernel_msg, neuron_msg = check.calculate_total_memory()
    return float(kernel_kib), float(neuron_kib), " ".join(m for m in (kernel_msg, neuron_msg) if m)


def _assignable(layers: list[tuple[float, float]], cores=SPECK_CORES) -> bool:
    """Whether each layer (kernel, neuron memory in Ki) gets a core of its own that holds both
    (bipartite matching by augmenting paths)."""
    if len(layers) > len(cores):
        return False
    owner: dict[int, int] = {}

    def place(i: int, seen: set) -> bool:
        for c, (km, nm) in enumerate(cores):
            if c in seen or not (layers[i][0] <= km and layers[i][1] <= nm):
                continue
            seen.add(c)
            if c not in owner or place(owner[c], seen):
                owner[c] = i
                return True
        return False

    return all(place(i, set()) for i in range(len(layers)))


def _pair(value) -> tuple[int, int]:
    values = [int(v) for v in np.atleast_1d(value)]
    return (values[0], values[0]) if len(values) == 1 else tuple(values)


def speck_check(graph) -> dict:
    """Speck's limits on a NIR graph of :func:`tfsnn.analysis.export_nir` (see the module
    docstring): ``layers`` (one dict per weight layer: name, channels, kernel, stride, padding,
    input size, kernel and neuron memory in Ki by sinabs's ``ValidateMapping``, its message),
    ``pools`` (pooling layers sinabs rejects, with its message), ``current_sums`` (neuron layers
    fed by more than one edge), ``spiking_output``, ``memory_fits`` (a core of its own for every
    weight layer), ``problems`` (what keeps the network off the chip, in words; ``short``: the
    same in a few words each) and ``mappable``."""
    import nir

    incoming: dict[str, list[str]] = {}
    for source, target in graph.edges:
        incoming.setdefault(target, []).append(source)
    layers, pools = [], []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Conv2d):
            weight = np.asarray(node.weight)
            f, c = weight.shape[0], weight.shape[1] * int(node.groups)
            kernel, stride = weight.shape[2:], _pair(node.stride)
            padding = (0, 0) if isinstance(node.padding, str) else _pair(node.padding)
            size = _pair(node.input_shape)
        elif isinstance(node, nir.Affine | nir.Linear):
            weight = np.asarray(node.weight)
            f = weight.shape[0]
            source = graph.nodes[incoming[name][0]] if incoming.get(name) else None
            if isinstance(source, nir.Flatten):  # sinabs maps it as a conv over the flattened map
                shape = [int(s) for s in np.asarray(source.input_type["input"])]
                c, kernel = shape[0], (shape[1:] + [1, 1])[:2]
            else:
                c, kernel = weight.shape[1], (1, 1)
            stride, padding, size = (1, 1), (0, 0), kernel
        elif isinstance(node, nir.SumPool2d | nir.AvgPool2d):
            kernel = _pair(node.kernel_size)
            _, _, message = _validate(1, 1, kernel, _pair(node.stride), (0, 0), (64, 64), conv=False)
            if message:
                pools.append({"layer": name, "kernel": kernel, "message": message})
            continue
        else:
            continue
        kernel_kib, neuron_kib, message = _validate(c, f, kernel, stride, padding, size, conv=True)
        layers.append({"layer": name, "in_channels": int(c), "out_channels": int(f), "kernel": tuple(map(int, kernel)),
                       "stride": stride, "padding": padding, "input_size": tuple(size),
                       "kernel_memory_kib": kernel_kib, "neuron_memory_kib": neuron_kib, "message": message})
    neurons = [n for n, node in graph.nodes.items() if isinstance(node, nir.IF | nir.LIF)]
    sums = [n for n in neurons if len(incoming.get(n, [])) > 1]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    spiking_output = all(isinstance(graph.nodes[s], nir.IF | nir.LIF) for o in outputs for s in incoming.get(o, []))
    memories = [(lay["kernel_memory_kib"], lay["neuron_memory_kib"]) for lay in layers]
    memory_fits = all(not math.isnan(k) for k, _ in memories) and _assignable(memories)
    problems, short = [], []  # in words, and as the table's note says them
    if len(layers) > len(SPECK_CORES):
        problems.append(f"{len(layers)} weight layers, Speck has {len(SPECK_CORES)} cores (one layer each)")
        short.append(f"{len(layers)} weight layers for {len(SPECK_CORES)} cores")
    elif not memory_fits:
        problems.append("no assignment of the layers to distinct cores holds their kernel and neuron memories")
        short.append("no core assignment holds the layers' memories")
    rejected = [lay for lay in layers if lay["message"]]
    if rejected:
        problems.append(f"{len(rejected)} layer(s) sinabs's ValidateMapping rejects ({rejected[0]['layer']}: "
                        f"{rejected[0]['message']})")
        short.append(f"{len(rejected)} layer(s) rejected by ValidateMapping")
    if pools:
        problems.append(f"pooling sinabs rejects ({pools[0]['layer']}: {pools[0]['message']})")
        short.append(f"a {pools[0]['kernel'][0]}x{pools[0]['kernel'][1]} pool")
    if sums:
        problems.append(f"{len(sums)} neuron layer(s) fed by a sum of currents (residual blocks), which a core "
                        "(one conv into its neurons) cannot compute")
        short.append(f"{len(sums)} residual current sums")
    if not spiking_output:
        problems.append("the classifier has no spiking output layer (a chip reads out spikes)")
        short.append("no spiking output layer")
    return {"layers": layers, "pools": pools, "current_sums": sums, "spiking_output": spiking_output,
            "memory_fits": memory_fits, "problems": problems, "short": short, "mappable": not problems}


def dynapcnn_network(net: nn.Module, input_shape, *, allow_samna: bool = False, **options):
    """sinabs's ``DynapcnnNetwork(net, input_shape=..., discretize=True, **options)``: the chip
    mapping a Speck user runs next (then ``.to(device="speck2e...")``; docs/deployment.md). It
    imports ``sinabs.backend.dynapcnn``, which imports samna: refused unless ``allow_samna`` (tfsnn's
    tests and workflow never pass it)."""
    if not allow_samna:
        raise RuntimeError(
            "dynapcnn_network imports sinabs.backend.dynapcnn, which imports samna; " + SAMNA_WARNING + ". "
            "Install samna as SynSense documents it, then call dynapcnn_network(..., allow_samna=True) "
            "(see docs/deployment.md)"
        )
    from sinabs.backend.dynapcnn import DynapcnnNetwork

    return DynapcnnNetwork(net, input_shape=tuple(input_shape), discretize=True, **options)


# ---------------------------------------------------------------------------- the analysis


def _frames_run(net, model, loader, T, device):
    """Predictions of tfsnn's ``model`` and of its sinabs ``net`` on the test frames at ``T``,
    and the largest difference of their outputs (mean over the steps)."""
    ours, theirs, difference = [], [], 0.0
    with torch.no_grad():
        for x, _ in loader:
            x = x.to(device)[:T]
            out = model(x, T)
            steps = sinabs_steps(net, x.transpose(0, 1).float().cpu(), chunk_bins=T)
            mean = steps.mean(1).to(out.device, out.dtype)
            difference = max(difference, float((mean - out).abs().max()))
            ours.append(out.argmax(1).cpu())
            theirs.append(mean.argmax(1).cpu())
    return torch.cat(ours), torch.cat(theirs), difference


def _percent(a: torch.Tensor, b: torch.Tensor) -> float:
    return 100.0 * int((a == b).sum()) / len(a)


@register("speck")
def speck_analysis(
    trained,
    *,
    T: TimeStep | None = None,
    bin_us: int = 1000,
    finetune_epochs: int = 20,
    finetune_batches: int | None = None,
    finetune_optimizer: str = "adamw",
    finetune_lr: float = 5e-4,
    finetune_weight_decay: float = 0.02,
    batch_size: int = 16,
    chunk_bins: int = 32,
) -> list[dict]:
    """Table 7 through sinabs (module docstring): an IAF model's top-1 accuracy (percent) as
    trained, with biases removed, after the bias-removal fine-tune (``finetune_epochs`` epochs of
    ``finetune_batches`` batches, all with None; ``finetune_optimizer``, ``finetune_lr``,
    ``finetune_weight_decay``) clock-driven at ``T`` (default: the method's ``t_max``) in tfsnn
    and in sinabs, and event-driven in sinabs on bins of ``bin_us`` microseconds (``batch_size``
    recordings at a time, ``chunk_bins`` bins per call); the agreements; the fine-tune's loss per
    epoch; Speck's memory and mapping check (:func:`speck_check`).

    Rows: ``metric`` (top1_acc, agreement, max_output_difference, bins_per_recording,
    finetune_loss, kernel_memory_kib, neuron_memory_kib, speck_weight_layers, speck_current_sums,
    speck_memory_fits, speck_mappable), ``value``, ``platform`` (trained, bias-removed, finetune,
    clock, sinabs-frames, event, event-spike-readout, clock-vs-event, clock-vs-sinabs-frames,
    speck),
    ``T``, ``bin_us``, ``time_bins`` (the training frames), ``finetune_epochs``,
    ``finetune_batches``, ``layer`` (memory rows), ``note`` (on the event rows: the Speck check's
    verdict)."""
    sinabs = require_sinabs()
    model, device = trained.model, trained.device
    neurons = [m for m in model.modules() if isinstance(m, SpikingNeuron)]
    if not neurons or not all(isinstance(m, IAF) for m in neurons):
        raise ValueError("the speck analysis runs Speck's neuron: train the model with model.neuron.kind: iaf "
                         f"(this one has {sorted({type(m).__name__ for m in neurons}) or 'no spiking neurons'})")
    if bin_us < 1 or batch_size < 1 or chunk_bins < 1:
        raise ValueError("bin_us, batch_size and chunk_bins must be >= 1")
    if T is None:
        T = trained.t_max
    recordings, to_frames = event_recordings(trained.config)
    precision = trained.analysis_precision
    loader = trained.test_loader()
    settings = {"T": T, "bin_us": None, "time_bins": to_frames.bins, "finetune_epochs": finetune_epochs,
                "finetune_batches": finetune_batches}
    rows = []

    def row(metric, value, platform, **fields):
        rows.append({"metric": metric, "value": float(value), "platform": platform, **settings, **fields})

    row("top1_acc", accuracy(model, loader, T, device, precision)["accuracy"], "trained")
    deployed = remove_biases(model)
    row("top1_acc", accuracy(deployed, loader, T, device, precision)["accuracy"], "bias-removed")
    method = build_method(trained.config.method.name, **trained.config.method.options())
    history = finetune(deployed, method, lambda epoch: trained.train_loader(seed=1000 + epoch),
                       epochs=finetune_epochs, batches=finetune_batches, optimizer=finetune_optimizer,
                       lr=finetune_lr, weight_decay=finetune_weight_decay, seed=trained.config.seed, device=device)
    for h in history:
        row("finetune_loss", h["loss"], "finetune", epoch=h["epoch"])
    row("top1_acc", accuracy(deployed, loader, T, device, precision)["accuracy"], "clock")
    clock_pred, clock_labels = _clock_predictions(deployed, loader, T, device)
    check_alignment(recordings, trained.datasets.test, clock_labels)

    input_shape = tuple(trained.datasets.test[0][0].shape[1:])
    cpu = copy.deepcopy(deployed).to("cpu").float()  # sinabs runs on the CPU in fp32
    net = sinabs_network(cpu, input_shape, batch_size)
    _, theirs, difference = _frames_run(net, deployed, loader, T, device)
    labels = torch.as_tensor(recordings.labels)
    row("top1_acc", _percent(theirs, labels), "sinabs-frames")
    row("agreement", _percent(theirs, clock_pred), "clock-vs-sinabs-frames")
    row("max_output_difference", difference, "clock-vs-sinabs-frames")

    summed, spikes, lengths = [], [], []
    for first in range(0, len(recordings), batch_size):
        batch = [event_bins(recordings[i], to_frames.sensor_size, bin_us, to_frames.size)
                 for i in range(first, min(first + batch_size, len(recordings)))]
        lengths += [len(b) for b in batch]
        steps = sinabs_steps(net, _padded(batch), chunk_bins)  # [B, n, classes]
        summed.append(steps.sum(1))
        readout = sinabs.layers.IAF(min_v_mem=-1.0)  # one more IAF: the chip's spiking output layer
        spikes.append(readout(steps).sum(1))
    summed, spikes = torch.cat(summed), torch.cat(spikes)

    check = speck_check(_graph(cpu, input_shape))
    verdict = ("Speck check (offline): fits" if check["mappable"] else
               "Speck check (offline): does not fit: " + ", ".join(check["short"]))
    event = {"bin_us": bin_us, "note": f"sinabs's simulation in bins of {bin_us} us, not the chip; {verdict}"}
    row("top1_acc", _percent(summed.argmax(1), labels), "event", **event)
    row("top1_acc", _percent(spikes.argmax(1), labels), "event-spike-readout", **event)
    row("agreement", _percent(summed.argmax(1), clock_pred), "clock-vs-event", **event)
    row("bins_per_recording", np.mean(lengths), "event", bin_us=bin_us)
    for layer in check["layers"]:
        for key in ("kernel_memory_kib", "neuron_memory_kib"):
            row(key, layer[key], "speck", layer=layer["layer"], speck_message=layer["message"])
    row("speck_weight_layers", len(check["layers"]), "speck")
    row("speck_current_sums", len(check["current_sums"]), "speck")
    row("speck_memory_fits", check["memory_fits"], "speck")
    row("speck_mappable", check["mappable"], "speck", speck_message="; ".join(check["problems"]))
    return rows


def _graph(model: TFSNN, input_shape):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="NIR export. nir .* has no field for the reset")
        return export_nir(model, input_shape=tuple(input_shape))
