"""The paper's own LIF models without a clock: the weights of a TFSNN trained on frames, run on
the raw event stream in fine time bins, the leak converted to the bin (``tfsnn analyze
event_driven``).

Table 7 (the later version's deployment on the Speck2e chip) is no longer made from this: it is
:mod:`tfsnn.analysis.speck`, the authors' route (Speck's IAF neuron, biases removed and
fine-tuned, run in sinabs). What this module still answers is its own question: how much of the
temporal flexibility of the paper's LIF networks (leak, hard reset, one spike per step: the
neuron of every other table) survives when time steps give way to the events' own timing,
where the leak has to be converted to the bins and a hard reset loses the charge over the
threshold (an IAF keeps it and has no leak). This module runs the network the way an
asynchronous chip sees its input, in software:

- **BN folded** into the preceding conv / linear (:func:`fold_batchnorm`, exact in eval mode),
  as the authors' Speck code does; the folded BN shift becomes the layer's bias.
- **Fine time bins instead of frames.** Each recording is cut into ``m * steps`` bins of equal
  duration (``steps``: the training frames, ``data.time_bins``; ``m``, the bins per frame,
  chosen so a bin lasts about ``bin_us``; :func:`bins_per_step`). Every bin nests inside one
  training frame, so the bins of a frame sum to that frame exactly. Within a bin the spikes
  run through all layers at once (zero synaptic delay), as an event sweeps through a chip.
- **No frames, no reset between them**: every neuron keeps its membrane potential from the
  first to the last event of the recording (:class:`StatefulLIF`).
- **Leak converted.** The trained LIF decays by ``tau`` per frame (Eq. 1): a continuous
  membrane time constant ``tau_c = -step / ln(tau)``, with ``step`` the frame's duration.
  Over a bin of ``step / m`` that is ``tau_fine = exp(-(step / m) / tau_c) = tau ** (1 / m)``,
  so ``m`` bins without input decay the potential by exactly ``tau``, as one frame did. IF
  neurons (``tau = 1``, the sinabs IAF the authors put on Speck) need no conversion.
- **Biases** (conv biases from folded BN, the classifier's bias) are a constant current: the
  training step's ``b`` becomes ``b / m`` per bin (``bias="spread"``, the same total charge per
  frame), or they are dropped (``bias="remove"``, what the chip toolchain does; the authors
  fine-tune after removing them, which is not done here).
- **Readout**: the classifier's output summed over every bin of the recording, divided by
  ``steps`` (so with ``m = 1`` it is the clock-driven mean over frames); the prediction is its
  argmax.

With ``m = 1`` (``bin_us=None``) this is exactly the clock-driven run over all ``steps`` frames.

How close this is to a chip: the neuron is the trained one (hard reset to 0, at most one spike
per neuron per bin), not Speck's IAF (subtractive reset, several spikes per step); weights and
states are float32, not Speck's 8-bit weights and 16-bit states; events inside one bin lose
their order (a chip processes each on arrival; ``bin_us`` -> 0 approaches that at the cost of
more bins); there are no hardware limits (cores, fan-out, input event rate, state saturation)
and the readout is the summed classifier output, not the spike count of a spiking output
layer. The frame duration (``step``) is each recording's own (N-MNIST recordings last 291-314
ms), where a chip has one fixed time constant.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from tfsnn.analysis.registry import register
from tfsnn.bn import fold_batchnorm
from tfsnn.data.catalog import dataset_info, read_splits, take_subsets
from tfsnn.data.core import Recordings
from tfsnn.data.events import DvsFrames
from tfsnn.evaluate import accuracy
from tfsnn.neuron import LIF, LIFParameters, lif_step
from tfsnn.options import TimeStep

__all__ = [
    "StatefulLIF",
    "bins_per_step",
    "event_network",
    "event_driven_outputs",
    "event_recordings",
    "check_alignment",
    "event_driven_analysis",
]

BIAS_MODES = ("spread", "remove")


class StatefulLIF(nn.Module):
    """The LIF of Eq. 1-4 (hard reset, fires at ``v >= v_threshold``) whose membrane state
    persists from one call to the next, so a recording can be fed in pieces; ``reset()``
    starts a new recording. Forward only (no surrogate gradient)."""

    def __init__(self, tau: float, v_threshold: float):
        super().__init__()
        self.params = LIFParameters(tau, v_threshold)
        self.u: torch.Tensor | None = None

    def reset(self) -> None:
        self.u = None

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        spikes = torch.empty_like(current)
        u = self.u
        for t in range(current.shape[0]):
            spikes[t], _, u = lif_step(u, current[t], self.params)
        self.u = u
        return spikes

    def extra_repr(self) -> str:
        return f"tau={self.params.tau}, v_threshold={self.params.v_threshold}"


def bins_per_step(events: np.ndarray, steps: int, bin_us: float | None) -> int:
    """Bins per training frame ``m`` for a recording: its frame duration (first to last
    event, cut into ``steps`` frames as :class:`~tfsnn.data.events.DvsFrames` does) over
    ``bin_us``, rounded, at least 1; ``bin_us=None`` gives 1 (the training frames)."""
    if bin_us is None:
        return 1
    if bin_us <= 0:
        raise ValueError(f"bin_us must be > 0, got {bin_us}")
    duration = int(events["t"].max()) + 1 - int(events["t"].min()) if len(events) else 1
    return max(1, round(duration / (steps * bin_us)))


def event_network(folded: nn.Module, m: int, bias: str = "spread") -> nn.Module:
    """A copy of a BN-folded TFSNN for bins of ``1/m`` training step: each LIF becomes a
    :class:`StatefulLIF` with ``tau ** (1 / m)``, each bias is divided by ``m``
    (``bias="spread"``) or zeroed (``"remove"``)."""
    if bias not in BIAS_MODES:
        raise ValueError(f"bias must be one of {BIAS_MODES}, got {bias!r}")
    net = copy.deepcopy(folded).eval()
    neurons = [(name, m_) for name, m_ in net.named_modules() if isinstance(m_, LIF)]
    if not neurons:
        raise ValueError("event-driven evaluation needs a spiking model (no LIF/IF neuron found)")
    for name, neuron in neurons:
        parent, _, attr = name.rpartition(".")
        setattr(net.get_submodule(parent), attr, StatefulLIF(neuron.tau ** (1.0 / m), neuron.v_threshold))
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.Conv2d | nn.Linear) and layer.bias is not None:
                layer.bias.mul_(1.0 / m if bias == "spread" else 0.0)
    return net


@torch.no_grad()
def _run_recordings(net: nn.Module, bins: torch.Tensor, steps: int, chunk_bins: int) -> torch.Tensor:
    """Summed classifier output ``[B, classes]`` / ``steps`` of ``net`` on ``bins``
    ``[n, B, ...]``, fed ``chunk_bins`` bins at a time with the neuron state carried over."""
    for neuron in net.modules():
        if isinstance(neuron, StatefulLIF):
            neuron.reset()
    total = 0.0
    for start in range(0, bins.shape[0], chunk_bins):
        piece = bins[start : start + chunk_bins]
        total = total + net.forward_steps(piece, piece.shape[0]).sum(0)
    return total / steps


@torch.no_grad()
def event_driven_outputs(
    model: nn.Module,
    recordings: Sequence[np.ndarray],
    to_frames: DvsFrames,
    bin_us: float | None = 1000.0,
    bias: str = "spread",
    batch_size: int = 16,
    chunk_bins: int = 256,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, list[int]]:
    """Event-driven outputs ``[N, classes]`` of ``model`` (a TFSNN) on ``recordings`` (event
    arrays ``x, y, t, p``) and each recording's bins per frame ``m``.

    ``to_frames`` is the training binning (its ``bins`` = the training frames); each recording
    is binned into ``m * to_frames.bins`` bins by the same code (:func:`bins_per_step`),
    recordings of equal ``m`` run as one batch. See the module docstring for the model.
    """
    device = torch.device(device or next(model.parameters()).device)
    dtype = next(model.parameters()).dtype  # the bins' counts are exact in any float type
    folded = fold_batchnorm(model)
    steps = to_frames.bins
    networks: dict[int, nn.Module] = {}
    outputs, ms = [None] * len(recordings), []
    for first in range(0, len(recordings), batch_size):
        batch = [recordings[i] for i in range(first, min(first + batch_size, len(recordings)))]
        batch_m = [bins_per_step(events, steps, bin_us) for events in batch]
        ms += batch_m
        for m in sorted(set(batch_m)):
            if m not in networks:
                networks[m] = event_network(folded, m, bias)
            members = [i for i, mi in enumerate(batch_m) if mi == m]
            fine = DvsFrames(to_frames.sensor_size, m * steps, to_frames.size)
            bins = torch.stack([torch.from_numpy(fine(batch[i])) for i in members], 1).to(device, dtype)
            out = _run_recordings(networks[m], bins, steps, chunk_bins)
            for j, i in enumerate(members):
                outputs[first + i] = out[j]
    return torch.stack(outputs), ms


def event_recordings(config, split: str = "test") -> tuple[Recordings, DvsFrames]:
    """The raw event recordings of ``split`` of a run's DVS dataset (the same selection, in the
    same order, as its frame dataset) and the training binning (:class:`DvsFrames`)."""
    data = config.data
    info = dataset_info(data.name)
    if info.kind != "dvs":
        raise ValueError(f"event-driven evaluation needs a DVS dataset, {data.name!r} is {info.kind!r}")
    splits, _ = read_splits(data.name, data.source, root=data.root, pack_dir=data.pack_dir,
                            pack_file=data.pack_file, download=data.download, seed=data.split_seed)
    splits, _ = take_subsets(splits, data.train_size, data.test_size, data.split_seed)
    rec = splits[split]
    steps, size = data.time_bins or info.time_bins, data.frame_size or info.frame_size
    return rec, DvsFrames(tuple(rec.info["sensor_size"]), steps, size)


@torch.no_grad()
def _clock_predictions(model, loader, t, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The predictions of ``model`` at ``t`` on ``loader`` and the labels it yielded, in order."""
    predictions, labels = [], []
    for x, y in loader:
        predictions.append(model(x.to(device), t).argmax(1).cpu())
        labels.append(y.cpu())
    return torch.cat(predictions), torch.cat(labels)


def check_alignment(recordings: Recordings, test_set, loader_labels: torch.Tensor) -> None:
    """ValueError unless ``recordings`` (re-derived from the config by :func:`event_recordings`)
    are the items of ``test_set`` (the frames the clock-driven run is tested on) in the same
    order: the same selection (``identity``, when the dataset records it), the same labels, and
    the labels the test loader yielded, item by item. Predictions are compared element by
    element (the agreement row), which means nothing for two orders."""
    identity = getattr(test_set, "identity", "")
    if identity and identity != recordings.identity:
        raise ValueError(f"event-driven: the re-derived recordings ({recordings.identity}) are not the test set's "
                         f"({identity})")
    labels = np.asarray(recordings.labels)
    for name, other in (("test set", np.asarray(test_set.labels)), ("test loader", loader_labels.numpy())):
        if len(other) != len(labels) or not np.array_equal(other, labels):
            differ = (f"{len(labels)} recordings, {len(other)} items" if len(other) != len(labels) else
                      f"first at item {int(np.flatnonzero(other != labels)[0])}")
            raise ValueError(f"event-driven: the labels of the re-derived recordings differ from the {name}'s "
                             f"({differ}): they are not the test items in their order")


@register("event_driven")
def event_driven_analysis(trained, *, bin_us: float = 1000.0, bias: str = "spread", T: TimeStep | None = None,
                          batch_size: int = 16) -> list[dict]:
    """Top-1 accuracy (percent) of the clock-driven model at ``T`` (default: the method's
    ``t_max``; its first ``T`` frames) and event-driven on the whole recordings (bins of about
    ``bin_us`` microseconds, ``bias`` "spread" or "remove"), the agreement (percent of test
    recordings with the same prediction) and the mean bins per training frame. Both runs are
    fp32 (:mod:`tfsnn.precision`), and the raw recordings are checked to be the test items in the
    test loader's order before any comparison (:func:`check_alignment`).

    Rows: ``metric`` (top1_acc, agreement, bins_per_step), ``value``, ``platform`` (clock,
    event, clock-vs-event), ``T``, ``bin_us``, ``bias`` (None on the clock row), ``time_bins``
    (the training frames of a recording).
    """
    model, device = trained.model, trained.device
    if T is None:
        T = trained.t_max
    recordings, to_frames = event_recordings(trained.config)
    clock = accuracy(model, trained.test_loader(), T, device, trained.analysis_precision)
    clock_pred, clock_labels = _clock_predictions(model, trained.test_loader(), T, device)
    check_alignment(recordings, trained.datasets.test, clock_labels)
    outputs, ms = event_driven_outputs(model, recordings, to_frames, bin_us, bias, batch_size, device=device)
    event_pred = outputs.argmax(1).cpu()
    labels = torch.as_tensor(recordings.labels)
    settings = {"T": T, "bin_us": bin_us, "bias": bias, "time_bins": to_frames.bins}
    return [
        {"metric": "top1_acc", "value": clock["accuracy"], "platform": "clock", **settings, "bin_us": None,
         "bias": None, "correct": clock["correct"]},
        {"metric": "top1_acc", "value": 100.0 * float((event_pred == labels).float().mean()), "platform": "event",
         **settings, "correct": (event_pred == labels).double().numpy()},
        {"metric": "agreement", "value": 100.0 * float((event_pred == clock_pred).float().mean()),
         "platform": "clock-vs-event", **settings},
        {"metric": "bins_per_step", "value": float(np.mean(ms)), "platform": "event", **settings},
    ]
