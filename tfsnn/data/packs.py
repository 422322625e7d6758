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
and have a ``<file>.sha256`` beside them (``sha256sum`` lines ``<sha256>  <file>``). A pack is
checked against the published sha256 of the shared packs, or against its ``.sha256`` file; its
labels and the lengths of its arrays are checked when it is read (:func:`labels_of`,
:func:`spans_of`), before any training.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfsnn.data.core import DataError, sha256_file
from tfsnn.io import atomic_path

__all__ = ["PACK_FORMAT", "KNOWN_PACKS", "Pack", "open_pack", "write_pack", "labels_of", "count_of", "spans_of"]

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


def _listed(side: Path) -> list[str]:
    """The digests that the ``.sha256`` file ``side`` lists (none when it is absent)."""
    if not side.is_file():
        return []
    try:
        lines = [line.split() for line in side.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"checksum file {side} cannot be read: {err}") from None
    digests = [words[0].lower() for words in lines]
    if not digests or not all(re.fullmatch("[0-9a-f]{64}", d) for d in digests):
        name = side.name.removesuffix(".sha256")
        raise DataError(f"checksum file {side} is empty or malformed: it must hold lines '<sha256 in 64 hex "
                        f"digits>  {name}' (rewrite it with `sha256sum {name} > {side.name}`, or delete it)")
    return digests


def _kind(files: list[str]) -> str | None:
    if "x_train" in files or "train_jpeg" in files:
        return "images"
    if "train_events" in files:
        return "events"
    if "audio" in files:
        return "audio"
    return None


def open_pack(path: Path, hint: str) -> Pack:
    """Open and verify the pack at ``path``; ``hint`` ends the missing-pack error (how to get it).
    A pack passes when its sha256 is the published one or one of those its ``.sha256`` lists."""
    if not path.is_file():
        raise DataError(f"pack {path.name} not found in {path.parent}: {hint}")
    if path.name in KNOWN_PACKS:
        expected, origin = [KNOWN_PACKS[path.name][0]], "published"
    else:
        expected, origin = _listed(_sidecar(path)), str(_sidecar(path))
    digest = sha256_file(path)
    if expected and digest not in expected:
        raise DataError(f"pack {path} is corrupt: sha256 {digest}, expected {' or '.join(expected)} ({origin})")
    try:
        archive = np.load(path, allow_pickle=False)
        meta = json.loads(str(archive["meta"])) if "meta" in archive.files else {}
    except Exception as err:  # numpy and zipfile raise several types for a damaged file
        raise DataError(f"pack {path} cannot be read: {err}") from None
    kind = _kind(archive.files)
    if kind is None:
        raise DataError(f"pack {path} is in no known format (arrays {archive.files}); see tfsnn.data.packs")
    return Pack(path, digest, archive, meta, kind)


def labels_of(labels: np.ndarray, name: str, num_classes: int) -> np.ndarray:
    """The labels array ``name`` as int64, checked to be in ``[0, num_classes)``."""
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{name} must be a 1-d array of integer labels, found {labels.dtype} of shape {labels.shape}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        raise DataError(f"{name} holds label {labels[bad[0]]} (item {bad[0]}); labels must be 0..{num_classes - 1} "
                        f"({num_classes} classes)")
    return labels.astype(np.int64)


def count_of(name: str, found: int, labels: str, count: int) -> None:
    """Array ``name`` (``found`` items) must hold one item per label of array ``labels``."""
    if found != count:
        raise DataError(f"{name} holds {found} items but {labels} holds {count} labels; there must be one per label")


def spans_of(offsets: np.ndarray, name: str, size: int, data: str, count: int) -> np.ndarray:
    """``[start, stop)`` of each of ``count`` items in the concatenated array ``data`` (``size``
    long), from its offsets array ``name``."""
    if offsets.ndim != 1 or len(offsets) != count + 1:
        raise DataError(f"{name} holds {len(offsets)} offsets, expected {count + 1} (one more than the {count} labels)")
    falls = np.flatnonzero(np.diff(offsets) < 0)
    if offsets[0] != 0 or offsets[-1] != size or len(falls):
        found = f"it falls after item {falls[0]}" if len(falls) else f"it runs from {offsets[0]} to {offsets[-1]}"
        raise DataError(f"{name} must rise from 0 to {size} (the length of {data}) and never fall; {found}")
    return np.stack([offsets[:-1], offsets[1:]], axis=1)


def _write_sidecar(side: Path, digests: list[str], name: str) -> None:
    with atomic_path(side) as tmp:
        tmp.write_text("".join(f"{d}  {name}\n" for d in dict.fromkeys(digests)))


def write_pack(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> str:
    """Write a compressed pack and its ``.sha256``; returns the sha256.

    Two files cannot be replaced in one atomic step, so a ``.sha256`` may list several digests
    (a pack that matches any of them is intact) and a pack is replaced in three atomic steps:
    the ``.sha256`` first lists the new digest beside those it already lists, then the pack is
    replaced, then the ``.sha256`` lists the new digest alone. An interruption between any two
    steps leaves a pack that its ``.sha256`` accepts. A missing or broken ``.sha256`` guards
    nothing: it is removed before the pack is replaced (the pack reads unchecked meanwhile).
    """
    side = _sidecar(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays, meta=np.array(json.dumps({"format": PACK_FORMAT, **meta})))
        digest = sha256_file(tmp)
        try:
            guarding = _listed(side)
        except DataError:
            guarding = []
        if guarding:
            _write_sidecar(side, [*guarding, digest], path.name)
        else:
            side.unlink(missing_ok=True)
    _write_sidecar(side, [digest], path.name)
    return digest
