"""What every dataset shares: the error type, the result of :func:`tfsnn.data.load`, seeded
class-balanced subsets and splits, file digests, and the default folders."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

__all__ = [
    "DataError",
    "Datasets",
    "Recordings",
    "balanced_subset",
    "split_per_class",
    "sha256_file",
    "digest",
    "data_root",
    "pack_folder",
    "cache_folder",
]


class DataError(RuntimeError):
    """A dataset that cannot be loaded: missing, corrupt, or asked for wrongly."""


@dataclass
class Datasets:
    """Train and test sets of one dataset; ``provenance`` goes into every result row.

    Each of ``train`` and ``test`` also carries its own ``provenance`` attribute;
    ``test_items`` is each test item's position in its source (:attr:`Recordings.positions`),
    what names an image in the per-image records of an evaluation.
    """

    train: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    provenance: dict = field(default_factory=dict)
    test_items: np.ndarray | None = None  # None: 0, 1, ... (the test set is its source)

    def __post_init__(self):
        if self.test_items is None:
            self.test_items = np.arange(len(self.test), dtype=np.int64)


@dataclass
class Recordings:
    """The raw items of one split, before any preprocessing: item ``i`` is ``reader(items[i])``.

    ``kind`` says what an item is and so how a pack stores it: ``images`` (uint8 ``[H, W, C]``),
    ``jpeg`` (encoded bytes), ``events`` (structured ``x, y, t, p``) or ``audio`` (int16).
    ``items`` is an array or list (file paths, slices of a pack, in-memory images); ``reader``
    a picklable function, so DataLoader workers can read. ``identity`` names the source and the
    selection exactly (cache keys use it); ``info`` holds what the kind needs (``sensor_size``,
    ``sample_rate``); ``positions`` each item's position among the source's recordings (a pack's
    split; a whole set that is split here), kept through :meth:`select`.
    """

    kind: str
    labels: np.ndarray
    items: Any
    reader: Callable
    identity: str
    info: dict = field(default_factory=dict)
    positions: np.ndarray | None = None  # of each item in the source's split (None: 0, 1, ...)

    def __post_init__(self):
        if self.positions is None:
            self.positions = np.arange(len(self.labels), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.reader(self.items[i])

    def select(self, indices: np.ndarray) -> Recordings:
        indices = np.asarray(indices, dtype=np.int64)
        items = self.items[indices] if isinstance(self.items, np.ndarray) else [self.items[i] for i in indices]
        return Recordings(self.kind, self.labels[indices], items, self.reader, f"{self.identity}|{digest(indices)}",
                          self.info, self.positions[indices])


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded class-balanced subset of ``size`` items (remainder to the
    lowest classes)."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if size > len(labels):
        raise DataError(f"subset of {size} asked from {len(labels)} items")
    rng = np.random.default_rng(seed)
    per_class = [size // len(classes) + (i < size % len(classes)) for i in range(len(classes))]
    picks = []
    for c, n in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if n > len(members):
            raise DataError(
                f"class {c} has {len(members)} items, a balanced subset of {size} needs {n} "
                f"(a smaller size, or null for all {len(labels)} items)"
            )
        picks.append(rng.choice(members, n, replace=False))
    return np.sort(np.concatenate(picks))


def split_per_class(labels: np.ndarray, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and test indices: each class shuffled with ``seed`` and cut at
    ``round(train_fraction * n)`` (the 9:1 split of the DVS sets, A.2)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        cut = int(round(train_fraction * len(members)))
        train.append(members[:cut])
        test.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def digest(*parts) -> str:
    """Short sha256 of ``parts`` (strings, numbers or numpy arrays), for cache keys."""
    hasher = hashlib.sha256()
    for part in parts:
        data = np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode()
        hasher.update(data)
        hasher.update(b"\0")
    return hasher.hexdigest()[:16]


def data_root(root: str | os.PathLike | None) -> Path:
    """Where downloads live: ``root``, else ``$TFSNN_DATA``, else ``./data``."""
    return Path(root or os.environ.get("TFSNN_DATA", "data"))


def pack_folder(pack_dir: str | os.PathLike | None) -> Path:
    """Where packs live: ``pack_dir``, else ``$TFSNN_PACKS``, else ``./data/packs``."""
    return Path(pack_dir or os.environ.get("TFSNN_PACKS", "data/packs"))


def cache_folder(cache_dir: str | os.PathLike | None) -> Path:
    """Where event frames are cached: ``cache_dir``, else ``$TFSNN_CACHE``, else
    ``~/.cache/tfsnn``."""
    return Path(cache_dir or os.environ.get("TFSNN_CACHE", Path.home() / ".cache" / "tfsnn"))
