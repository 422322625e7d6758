"""Offline packs: ``numpy.savez_compressed`` archives in the format of shared/data/README.md.

Three kinds, told apart by their arrays (``{split}`` is ``train`` or ``test``):

- images: ``x_{split}`` uint8 ``[N, H, W]`` or ``[N, H, W, C]`` and ``y_{split}`` (mnist.npz),
  or encoded files ``{split}_jpeg`` (concatenated), ``{split}_offsets`` (N+1), ``{split}_labels``
  (cifar10_jpeg.npz);
- events: ``{split}_events`` (structured, fields ``x, y, t, p``; t in microseconds),
  ``{split}_offsets``, ``{split}_labels``, ``sensor_size`` (W, H, P) (nmnist_subset.npz);
- audio: ``audio`` int16 (concatenated), ``offsets``, ``labels``, ``sample_rate``,
  ``is_test`` (fsdd.npz).

Item ``i`` of a concatenated array is ``data[offsets[i]:offsets[i+1]]``. Packs written by
``tfsnn data pack`` also hold ``meta`` (JSON: dataset, where it was made from, split, subset)
and have a ``<file>.sha256`` beside them. A pack is checked against the published sha256 of
the shared packs, or against its ``.sha256`` file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfsnn.data.core import DataError, sha256_file
from tfsnn.io import atomic_path

__all__ = ["PACK_FORMAT", "KNOWN_PACKS", "Pack", "open_pack", "write_pack"]

PACK_FORMAT = "tfsnn-pack/1"

# the shared packs (shared/data/README.md): sha256 and the dataset whose raw data they hold
KNOWN_PACKS = {
    "mnist.npz": ("094b831e432331f1f6d6829ab9bfff4551410a81e1f816c9cce482d3e9b3ba57", "mnist"),
    "cifar10_jpeg.npz": ("ccf8228f69c4e3cac3403e7372538224e3bf16857dcc62c45a8971e03796f54a", "cifar10"),
    "nmnist_subset.npz": ("a42249cb91bee82473d808ff2a0f56686d2a32519f628e1cb4d2e50b016b5b11", "nmnist"),
    "fsdd.npz": ("b17f633b5cf949a1a51cd873ecfb1c0374c4de3e703a86fbc0a19f9310f05a6c", "fsdd-spikes"),
}


@dataclass
class Pack:
    path: Path
    sha256: str
    archive: np.lib.npyio.NpzFile
    meta: dict
    kind: str  # images, events or audio

    @property
    def dataset(self) -> str | None:
        """The dataset whose raw data the pack holds, where known."""
        return self.meta.get("dataset") or KNOWN_PACKS.get(self.path.name, (None, None))[1]


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _kind(files: list[str]) -> str | None:
    if "x_train" in files or "train_jpeg" in files:
        return "images"
    if "train_events" in files:
        return "events"
    if "audio" in files:
        return "audio"
    return None


def open_pack(path: Path, hint: str) -> Pack:
    """Open and verify the pack at ``path``; ``hint`` ends the missing-pack error (how to get it)."""
    if not path.is_file():
        raise DataError(f"pack {path.name} not found in {path.parent}: {hint}")
    digest = sha256_file(path)
    expected, origin = KNOWN_PACKS.get(path.name, (None, None))[0], "published"
    if expected is None and _sidecar(path).is_file():
        expected, origin = _sidecar(path).read_text().split()[0], str(_sidecar(path))
    if expected is not None and digest != expected:
        raise DataError(f"pack {path} is corrupt: sha256 {digest}, expected {expected} ({origin})")
    try:
        archive = np.load(path, allow_pickle=False)
        meta = json.loads(str(archive["meta"])) if "meta" in archive.files else {}
    except Exception as err:  # numpy and zipfile raise several types for a damaged file
        raise DataError(f"pack {path} cannot be read: {err}") from None
    kind = _kind(archive.files)
    if kind is None:
        raise DataError(f"pack {path} is in no known format (arrays {archive.files}); see tfsnn.data.packs")
    return Pack(path, digest, archive, meta, kind)


def write_pack(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> str:
    """Write a compressed pack and its ``.sha256`` atomically; returns the sha256."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays, meta=np.array(json.dumps({"format": PACK_FORMAT, **meta})))
        digest = sha256_file(tmp)
        with atomic_path(_sidecar(path)) as side:
            side.write_text(f"{digest}  {path.name}\n")
    return digest
