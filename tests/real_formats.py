"""Writers of the datasets' original file formats, fed from the real packs, so the tests read
real-format files through each loader's real code path (torchvision, tonic, ours)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import h5py
import numpy as np
import torch
from scipy.io import wavfile

MNIST_FILES = {
    ("train", "x"): "train-images-idx3-ubyte",
    ("train", "y"): "train-labels-idx1-ubyte",
    ("test", "x"): "t10k-images-idx3-ubyte",
    ("test", "y"): "t10k-labels-idx1-ubyte",
}


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes (LeCun's MNIST format)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist_raw(root: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """torchvision's ``MNIST/raw`` files for ``{split: (images, labels)}``."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, (images, labels) in splits.items():
        write_idx(raw / MNIST_FILES[split, "x"], images)
        write_idx(raw / MNIST_FILES[split, "y"], labels)


def write_nmnist_bin(path: Path, events: np.ndarray) -> None:
    """One recording in N-MNIST's 40-bit format: x (8), y (8), polarity (1), time (23 bits, us)."""
    t = events["t"].astype(np.int64)
    assert t.max(initial=0) < 2**23 and events["y"].max(initial=0) != 240
    raw = np.empty((len(events), 5), dtype=np.uint8)
    raw[:, 0], raw[:, 1] = events["x"], events["y"]
    raw[:, 2] = (events["p"].astype(np.int64) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())


def write_shd_h5(path: Path, recordings: list[np.ndarray], labels: np.ndarray, keys: list[str]) -> None:
    """An SHD-format HDF5 file: ``spikes/times`` (s) and ``spikes/units`` per recording,
    ``labels``, ``extra/keys`` and ``extra/speaker``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(recordings),), dtype=h5py.vlen_dtype(np.float64))
        units = f.create_dataset("spikes/units", (len(recordings),), dtype=h5py.vlen_dtype(np.uint16))
        for i, events in enumerate(recordings):
            times[i] = events["t"] / 1e6
            units[i] = events["x"]
        f["labels"] = np.asarray(labels, dtype=np.uint16)
        f["extra/keys"] = np.array(keys, dtype="S")
        f["extra/speaker"] = np.zeros(len(recordings), dtype=np.uint16)


def write_fsdd_wavs(folder: Path, pack, indices) -> list[str]:
    """FSDD's ``recordings/<digit>_<speaker>_<index>.wav`` for the pack's recordings ``indices``."""
    offsets = pack["offsets"]
    names = []
    (folder / "recordings").mkdir(parents=True)
    for i in indices:
        name = str(pack["filenames"][i])
        clip = pack["audio"][offsets[i] : offsets[i + 1]]
        wavfile.write(folder / "recordings" / name, int(pack["sample_rate"]), clip)
        names.append(name)
    return names


def write_imagenet(root: Path, jpegs: dict[str, dict[str, list[bytes]]]) -> None:
    """torchvision's prepared ImageNet layout: ``meta.bin`` and ``{train,val}/<wnid>/*.JPEG``
    for ``{split: {wnid: [jpeg bytes]}}``."""
    root.mkdir(parents=True)
    wnids = sorted({w for split in jpegs.values() for w in split})
    buffer = io.BytesIO()
    torch.save(({w: (f"class {w}",) for w in wnids}, []), buffer)
    (root / "meta.bin").write_bytes(buffer.getvalue())
    for split, classes in jpegs.items():
        for wnid, files in classes.items():
            (root / split / wnid).mkdir(parents=True)
            for k, data in enumerate(files):
                (root / split / wnid / f"{wnid}_{k}.JPEG").write_bytes(data)
