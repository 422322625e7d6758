"""Datasets by name, from the real downloads (torchvision) or from offline packs, with provenance.

Sources:

- ``download``: torchvision's dataset classes under ``root`` (config ``data.root`` or the
  environment variable ``TFSNN_DATA``, default ``./data``), downloaded when ``download`` is on.
- ``pack``: a ``numpy.savez_compressed`` pack in ``pack_dir`` (config ``data.pack_dir`` or the
  environment variable ``TFSNN_PACKS``), in the format of ``shared/data/README.md``. Known packs
  are checked against their sha256.

Every :class:`Datasets` carries a provenance dict (dataset, source, pack file and sha256,
subset sizes) that goes into every result row.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["DATASETS", "Datasets", "load", "make_loader", "balanced_subset", "DataError"]


class DataError(RuntimeError):
    """A dataset that cannot be loaded: missing, corrupt, or asked for wrongly."""


@dataclass(frozen=True)
class DatasetInfo:
    num_classes: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pack: str | None  # file name of its offline pack, if one exists
    torchvision_class: str


DATASETS = {
    "mnist": DatasetInfo(10, 1, (0.1307,), (0.3081,), "mnist.npz", "MNIST"),
    "cifar10": DatasetInfo(
        10, 3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "cifar10_jpeg.npz", "CIFAR10"
    ),
    "cifar100": DatasetInfo(
        100, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), None, "CIFAR100"
    ),
}

KNOWN_PACK_SHA256 = {
    "mnist.npz": "094b831e432331f1f6d6829ab9bfff4551410a81e1f816c9cce482d3e9b3ba57",
    "cifar10_jpeg.npz": "ccf8228f69c4e3cac3403e7372538224e3bf16857dcc62c45a8971e03796f54a",
    "nmnist_subset.npz": "a42249cb91bee82473d808ff2a0f56686d2a32519f628e1cb4d2e50b016b5b11",
    "fsdd.npz": "b17f633b5cf949a1a51cd873ecfb1c0374c4de3e703a86fbc0a19f9310f05a6c",
}


class ImageTensorDataset(Dataset):
    """uint8 images ``[N, C, H, W]`` and labels; items are normalized float tensors.

    With ``augment``: random crop with 4-pixel zero padding and horizontal flip (the standard
    CIFAR recipe), drawn from the global torch RNG (seeded per epoch by the trainer).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean, std, augment: bool = False):
        self.images, self.labels, self.augment = images, labels, augment
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self.images[i].float().div_(255).sub_(self.mean).div_(self.std)
        if self.augment:
            h, w = x.shape[-2:]
            top, left = torch.randint(0, 9, (2,)).tolist()
            x = torch.nn.functional.pad(x, (4, 4, 4, 4))[:, top : top + h, left : left + w]
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
        return x, int(self.labels[i])


@dataclass
class Datasets:
    train: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    provenance: dict = field(default_factory=dict)


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded class-balanced subset of ``size`` items (remainder to the
    lowest classes)."""
    classes = np.unique(labels)
    if size > len(labels):
        raise DataError(f"subset of {size} asked from {len(labels)} items")
    rng = np.random.default_rng(seed)
    per_class = [size // len(classes) + (i < size % len(classes)) for i in range(len(classes))]
    picks = []
    for c, n in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if n > len(members):
            raise DataError(f"class {c} has {len(members)} items, a balanced subset of {size} needs {n}")
        picks.append(rng.choice(members, n, replace=False))
    return np.sort(np.concatenate(picks))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_pack(path: Path):
    if not path.is_file():
        raise DataError(
            f"pack {path.name} not found in {path.parent}: put the pack there (see shared/data/README.md), "
            "set data.pack_dir or TFSNN_PACKS to the folder that holds it, or use data.source=download"
        )
    digest = sha256(path)
    expected = KNOWN_PACK_SHA256.get(path.name)
    if expected is not None and digest != expected:
        raise DataError(f"pack {path} is corrupt: sha256 {digest}, expected {expected}")
    try:
        return np.load(path, allow_pickle=False), digest
    except Exception as err:  # numpy raises several types for a damaged zip
        raise DataError(f"pack {path} cannot be read: {err}") from None


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, indices: np.ndarray) -> np.ndarray:
    from PIL import Image

    images = [
        np.asarray(Image.open(io.BytesIO(blob[offsets[i] : offsets[i + 1]].tobytes())).convert("RGB"))
        for i in indices
    ]
    return np.stack(images)


def _pack_split(name: str, archive, split: str, indices: np.ndarray | None):
    if name == "mnist":
        labels = archive[f"y_{split}"]
        indices = np.arange(len(labels)) if indices is None else indices
        return archive[f"x_{split}"][indices][:, None], labels[indices]
    labels = archive[f"{split}_labels"]
    indices = np.arange(len(labels)) if indices is None else indices
    images = _decode_jpegs(archive[f"{split}_jpeg"], archive[f"{split}_offsets"], indices)
    return images.transpose(0, 3, 1, 2), labels[indices]


def _torchvision_split(info: DatasetInfo, root: Path, train: bool, download: bool):
    import torchvision

    cls = getattr(torchvision.datasets, info.torchvision_class)
    try:
        ds = cls(str(root), train=train, download=download)
    except RuntimeError as err:
        raise DataError(
            f"{info.torchvision_class} not found under {root} ({err}). Set data.download: true to "
            f"fetch it, or place torchvision's {info.torchvision_class} files there "
            "(data.root or TFSNN_DATA names the folder)"
        ) from None
    images = np.asarray(ds.data)
    images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return images, np.asarray(ds.targets)


def load(
    name: str,
    source: str = "download",
    root: str | os.PathLike | None = None,
    pack_dir: str | os.PathLike | None = None,
    download: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
    augment: bool = False,
    seed: int = 0,
) -> Datasets:
    """Train and test sets of dataset ``name``, optionally class-balanced subsets of them."""
    if name not in DATASETS:
        raise DataError(f"data.name: unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    info = DATASETS[name]
    provenance = {"dataset": name}
    splits = {}
    if source == "pack":
        if info.pack is None:
            raise DataError(f"data.source: no offline pack exists for {name}; use data.source=download")
        folder = Path(pack_dir or os.environ.get("TFSNN_PACKS", "data/packs"))
        archive, digest = _open_pack(folder / info.pack)
        with archive:
            for split, size in (("train", train_size), ("test", test_size)):
                labels = archive[f"y_{split}" if name == "mnist" else f"{split}_labels"]
                indices = None if size is None else balanced_subset(labels, size, seed)
                splits[split] = _pack_split(name, archive, split, indices)
        provenance["data_source"] = f"pack:{info.pack}:sha256={digest[:16]}"
    elif source == "download":
        folder = Path(root or os.environ.get("TFSNN_DATA", "data"))
        for split, size in (("train", train_size), ("test", test_size)):
            images, labels = _torchvision_split(info, folder, split == "train", download)
            if size is not None:
                keep = balanced_subset(labels, size, seed)
                images, labels = images[keep], labels[keep]
            splits[split] = images, labels
        provenance["data_source"] = f"download:torchvision.{info.torchvision_class}"
    else:
        raise DataError(f"data.source: unknown source {source!r}; choose 'download' or 'pack'")

    def dataset(split: str, aug: bool) -> ImageTensorDataset:
        images, labels = splits[split]
        return ImageTensorDataset(
            torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)),
            info.mean, info.std, aug,
        )

    provenance["train_size"] = len(splits["train"][1])
    provenance["test_size"] = len(splits["test"][1])
    return Datasets(dataset("train", augment), dataset("test", False), info.num_classes, info.in_channels, provenance)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
) -> DataLoader:
    """A loader: shuffled with ``generator`` and dropping the last partial batch when training."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        drop_last=train,
        generator=generator,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
