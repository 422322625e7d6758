"""Event data: N-MNIST, CIFAR10-DVS, N-Caltech101 (DVS cameras) and SHD, SSC (spikes on 700
cochlear channels), read in tonic's layout with tonic's readers, turned into frames, augmented.

Frames (A.2): the events of a recording are binned into ``time_bins`` bins of equal duration
spanning its first to its last event (tonic's ``ToFrame(n_time_bins=...)``, but no event at the
end is dropped), one count per polarity and pixel: ``[T, 2, H, W]``. CIFAR10-DVS and
N-Caltech101 are then resized to 48x48 (bilinear with antialiasing, as the authors' PIL
resize); N-Caltech101 recordings are placed on a 240x180 sensor after tonic's shift to the
origin. The first stage of a model takes the FIRST t_1 of these frames (never a re-binning).

Spikes (A.12): SHD, SSC and ``fsdd-spikes`` are binned into ``time_bins`` bins over a fixed
window of ``duration`` seconds from the start (spikes after it are dropped) and the 700
channels are summed in groups of 10 adjacent ones: ``[T, 70]``.

Augmentation (A.2, DVS only): a horizontal flip with probability 1/2 and a random circular
shift (``torch.roll``, as the authors' code) of up to 5 pixels along each axis, so no event is
lost; N-Caltech101 adds temporal inversion (Shen et al. 2023: frames reversed in time and the
two polarities swapped) with probability 1/2. The authors' N-Caltech101 code makes flip and
inversion exclusive (1/4 each); here they are independent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from tfsnn.data.cache import cached
from tfsnn.data.core import DataError, Recordings
from tfsnn.data.packs import labels_of, spans_of

__all__ = [
    "EVENT_DTYPE",
    "EventFolder",
    "SpikeFile",
    "read_event_folder",
    "read_spike_file",
    "events_from_pack",
    "events_to_pack",
    "bin_events",
    "DvsFrames",
    "SpikeFrames",
    "FrameAugment",
    "FrameDataset",
    "frames_of",
]

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
CIFAR10DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def as_events(x, y, t, p) -> np.ndarray:
    events = np.empty(len(t), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events


def read_bin(path: str) -> np.ndarray:
    """An N-MNIST / N-Caltech101 file (40 bits an event), decoded by tonic."""
    from tonic.io import read_mnist_file

    return read_mnist_file(path, dtype=EVENT_DTYPE)


def read_bin_at_origin(path: str) -> np.ndarray:
    """An N-Caltech101 file, shifted so its smallest x and y are 0 (as tonic's class does)."""
    events = read_bin(path)
    if len(events):
        events["x"] -= events["x"].min()
        events["y"] -= events["y"].min()
    return events


def read_aedat4(path: str) -> np.ndarray:
    """A CIFAR10-DVS AEDAT4 file, decoded by tonic (needs the ``aedat`` package); its fields
    are ``t, x, y, p`` in that order, as tonic's class names them."""
    from tonic.io import read_aedat4 as read

    events = read(path)
    events.dtype.names = ("t", "x", "y", "p")
    return as_events(events["x"], events["y"], events["t"], events["p"])


def read_h5_spikes(item: tuple[str, int]) -> np.ndarray:
    """Recording ``index`` of an SHD/SSC-format HDF5 file: times (s) and units of its spikes."""
    import h5py

    path, index = item
    with h5py.File(path, "r") as f:
        times = np.asarray(f["spikes/times"][index], dtype=np.float64)
        units = np.asarray(f["spikes/units"][index])
    return as_events(units, 0, np.round(times * 1e6).astype(np.int64), 0)


def _slice_events(blob: np.ndarray, span) -> np.ndarray:
    part = blob[span[0] : span[1]]
    return as_events(part["x"], part["y"] if "y" in part.dtype.names else 0, part["t"],
                     part["p"] if "p" in part.dtype.names else 0)


def _tonic_download(tonic_class: str, folder: Path, kwargs: dict, title: str) -> None:
    import tonic.datasets

    try:
        getattr(tonic.datasets, tonic_class)(str(folder), **kwargs)
    except Exception as err:  # tonic and urllib raise many types
        raise DataError(f"{title} could not be downloaded into {folder} by tonic: {err}") from None


def _missing(title: str, where: Path, expected: str) -> DataError:
    return DataError(
        f"{title} not found under {where}: set data.download: true to fetch it with tonic, or put {expected} "
        "there (data.root or TFSNN_DATA names the root folder)"
    )


@dataclass(frozen=True)
class EventFolder:
    """A dataset stored as one file per recording in class folders, in tonic's layout
    ``<root>/<tonic_class>/<subdir>/<class>/<file><suffix>``."""

    title: str
    tonic_class: str
    subdirs: dict  # split -> folder under <root>/<tonic_class> ("all": no official split)
    suffix: str
    reader: object
    sensor_size: tuple[int, int, int]
    download_args: dict  # split -> keyword arguments of the tonic class
    classes: tuple[str, ...] | None = None  # class folder names in label order (None: sorted)
    num_classes: int = 0


def read_event_folder(spec: EventFolder, root: Path, split: str, download: bool, expected: str) -> Recordings:
    """The recordings of ``split`` (``train``, ``test`` or ``all``) of a folder dataset; tonic
    downloads (and checks) the whole set when ``download`` is on."""
    folder = root / spec.tonic_class / spec.subdirs[split]
    if download:
        _tonic_download(spec.tonic_class, root, spec.download_args[split], spec.title)
    paths = sorted(str(p) for p in folder.glob(f"**/*{spec.suffix}")) if folder.is_dir() else []
    if not paths:
        raise _missing(spec.title, folder, expected)
    names = [Path(p).parent.name for p in paths]
    classes = spec.classes or tuple(sorted(set(names)))
    if spec.classes is None and len(classes) != spec.num_classes:
        raise DataError(f"{spec.title} under {folder} has {len(classes)} class folders, expected {spec.num_classes}")
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise DataError(f"{spec.title} under {folder}: unknown class folders {unknown[:5]}; expected {classes}")
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[n] for n in names], dtype=np.int64)
    identity = f"download:tonic.{spec.tonic_class}:{folder.resolve()}:{len(paths)} files"
    return Recordings("events", labels, paths, spec.reader, identity, {"sensor_size": spec.sensor_size})


@dataclass(frozen=True)
class SpikeFile:
    """SHD or SSC: one HDF5 file per split, ``<root>/<tonic_class>/<pattern.format(split)>``."""

    title: str
    tonic_class: str
    pattern: str
    download_args: dict


def read_spike_file(spec: SpikeFile, root: Path, split: str, download: bool, expected: str) -> Recordings:
    import h5py

    path = root / spec.tonic_class / spec.pattern.format(split=split)
    if download:
        _tonic_download(spec.tonic_class, root, spec.download_args[split], spec.title)
    if not path.is_file():
        raise _missing(spec.title, path.parent, expected)
    try:
        with h5py.File(path, "r") as f:
            labels = np.asarray(f["labels"][()], dtype=np.int64)
    except (OSError, KeyError) as err:
        raise DataError(f"{spec.title} file {path} cannot be read as SHD-format HDF5: {err}") from None
    items = [(str(path), i) for i in range(len(labels))]
    identity = f"download:tonic.{spec.tonic_class}:{path.resolve()}:{path.stat().st_size} bytes"
    return Recordings("events", labels, items, read_h5_spikes, identity, {"sensor_size": (700, 1, 1)})


def events_from_pack(archive, split: str, identity: str, num_classes: int) -> Recordings:
    """Recordings of an events pack (nmnist_subset.npz's format); labels and lengths checked."""
    labels = labels_of(archive[f"{split}_labels"], f"{split}_labels", num_classes)
    blob = archive[f"{split}_events"]
    spans = spans_of(archive[f"{split}_offsets"], f"{split}_offsets", len(blob), f"{split}_events", len(labels))
    sensor = tuple(int(s) for s in archive["sensor_size"])
    return Recordings("events", labels, spans, partial(_slice_events, blob), identity, {"sensor_size": sensor})


def events_to_pack(splits: dict[str, Recordings]) -> dict[str, np.ndarray]:
    arrays = {}
    for split, rec in splits.items():
        events = [rec[i] for i in range(len(rec))]
        arrays[f"{split}_events"] = np.concatenate(events) if events else np.empty(0, EVENT_DTYPE)
        arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum([len(e) for e in events])]).astype(np.int64)
        arrays[f"{split}_labels"] = rec.labels
        arrays["sensor_size"] = np.array(rec.info["sensor_size"], dtype=np.int64)
    return arrays


def bin_events(t: np.ndarray, channel: np.ndarray, channels: int, bins: int, start: int, stop: int) -> np.ndarray:
    """Counts ``[bins, channels]`` of events at times ``t`` in ``[start, stop)``, cut into
    ``bins`` bins of equal duration; events outside are dropped."""
    keep = (t >= start) & (t < stop)
    index = (t[keep] - start) * bins // max(stop - start, 1)
    flat = np.bincount(index * channels + channel[keep].astype(np.int64), minlength=bins * channels)
    return flat.reshape(bins, channels).astype(np.float32)


@dataclass(frozen=True)
class DvsFrames:
    """Events of a ``sensor_size = (W, H, P)`` camera to frames ``[bins, P, size, size]``
    (``[bins, P, H, W]`` when ``size`` is None)."""

    sensor_size: tuple[int, int, int]
    bins: int
    size: int | None = None

    @property
    def channels(self) -> int:
        return self.sensor_size[2]

    def __call__(self, events: np.ndarray) -> np.ndarray:
        w, h, p = self.sensor_size
        if len(events) and (events["x"].max() >= w or events["y"].max() >= h or events["p"].max() >= p):
            raise DataError(f"events outside the {w}x{h}x{p} sensor")
        t = events["t"].astype(np.int64)
        start, stop = (int(t.min()), int(t.max()) + 1) if len(t) else (0, 1)
        channel = (events["p"].astype(np.int64) * h + events["y"]) * w + events["x"]
        frames = bin_events(t, channel, p * h * w, self.bins, start, stop).reshape(self.bins, p, h, w)
        if self.size is not None and (h, w) != (self.size, self.size):
            resized = F.interpolate(torch.from_numpy(frames), (self.size, self.size), mode="bilinear", antialias=True)
            frames = resized.numpy()
        return frames


@dataclass(frozen=True)
class SpikeFrames:
    """Spikes on ``units`` channels to ``[bins, units // pool]`` over ``[0, duration)`` s."""

    units: int
    bins: int
    duration: float
    pool: int = 10

    @property
    def channels(self) -> int:
        return self.units // self.pool

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if len(events) and events["x"].max() >= self.units:
            raise DataError(f"spikes on unit {events['x'].max()}, beyond the {self.units} channels")
        stop = int(round(self.duration * 1e6))
        return bin_events(events["t"], events["x"] // self.pool, self.units // self.pool, self.bins, 0, stop)


@dataclass(frozen=True)
class FrameAugment:
    """Random flip (p=1/2), circular shift of up to ``shift`` pixels, and temporal inversion
    (p=1/2), on frames ``[T, P, H, W]``; draws from torch's global RNG."""

    flip: bool = True
    shift: int = 5
    inversion: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        if self.inversion and torch.rand(()) < 0.5:
            x = x.flip(0, 1)
        if self.shift:
            dy, dx = torch.randint(-self.shift, self.shift + 1, (2,)).tolist()
            x = x.roll((dy, dx), dims=(-2, -1))
        return x


class _LazyFrames:
    """Frames of each recording, computed when asked (no cache)."""

    def __init__(self, recordings: Recordings, to_frames):
        self.recordings, self.to_frames = recordings, to_frames

    def __len__(self) -> int:
        return len(self.recordings)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.to_frames(self.recordings[i])


def frames_of(
    recordings: Recordings, to_frames, cache_dir: Path | None, name: str, num_workers: int = 0
):
    """Frames ``[N, T, ...]`` of ``recordings``: a read-only array from the cache in
    ``cache_dir`` (built once, keyed by the recordings' identity and every binning
    parameter), or computed on access when ``cache_dir`` is None."""
    lazy = _LazyFrames(recordings, to_frames)
    if cache_dir is None:
        return lazy
    key = {"recordings": recordings.identity, "frames": type(to_frames).__name__, **asdict(to_frames)}

    def build(tmp: Path) -> None:
        out = None
        loader = DataLoader(lazy, batch_size=None, num_workers=num_workers)
        for i, frames in enumerate(tqdm(loader, desc=f"binning {name}", disable=None, leave=False)):
            if out is None:
                shape = (len(lazy), *frames.shape)
                out = np.lib.format.open_memmap(tmp / "frames.npy", mode="w+", dtype=np.float16, shape=shape)
            out[i] = frames.numpy()
        if out is None:
            np.save(tmp / "frames.npy", np.zeros(0, dtype=np.float16))
        else:
            out.flush()

    return cached(cache_dir, name, key, build)["frames"]


class FrameDataset(Dataset):
    """Frames ``[T, ...]`` (float32) and labels; ``time_major``: the loader stacks a batch to
    ``[T, B, ...]``. ``identity``: that of the :class:`~tfsnn.data.core.Recordings` the frames
    were made from (which items, in which order), so the raw recordings can be matched to them."""

    time_major = True

    def __init__(self, frames, labels: np.ndarray, augment: FrameAugment | None, provenance: dict,
                 identity: str = ""):
        self.frames, self.labels, self.augment = frames, labels, augment
        self.provenance, self.identity = provenance, identity

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = torch.from_numpy(np.array(self.frames[i], dtype=np.float32))
        if self.augment is not None:
            x = self.augment(x)
        return x, int(self.labels[i])
