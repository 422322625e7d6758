"""Static images: MNIST, CIFAR-10/100 and ImageNet (torchvision), their packs, the standard
pipelines of A.2, and sequential MNIST (A.12).

- CIFAR: normalization by the training set's channel mean and std; ``augment`` is a random
  32x32 crop of the image padded by 4 black pixels and a horizontal flip; ``autoaugment`` adds
  AutoAugment's CIFAR-10 policy (Cubuk et al. 2018) after them; ``cutout`` masks one square of
  that side (DeVries & Taylor 2017) before normalization, as the authors' code does.
- ImageNet: training ``augment`` is RandomResizedCrop(224) and a flip; otherwise (and for
  testing) Resize(256) and CenterCrop(224); ImageNet normalization.
- Sequential MNIST: the normalized MNIST image read row by row, ``pixels_per_step`` pixels a
  step: frames ``[784 / pixels_per_step, pixels_per_step]``.

Augmentations draw from torch's global RNG (seeded per epoch by the trainer; per worker by the
DataLoader).
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tfsnn.data.core import DataError, Recordings
from tfsnn.data.packs import count_of, labels_of, spans_of

__all__ = [
    "read_torchvision",
    "read_imagenet",
    "images_from_pack",
    "images_to_pack",
    "image_transform",
    "ScaleNormalize",
    "ImageDataset",
    "PixelSequences",
    "Cutout",
]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _same(item):
    return item


def _slice_bytes(blob: np.ndarray, span) -> bytes:
    return blob[span[0] : span[1]].tobytes()


def _file_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def decode(encoded: bytes):
    """An encoded image file as an RGB PIL image."""
    from PIL import Image

    return Image.open(io.BytesIO(encoded)).convert("RGB")


def read_torchvision(cls_name: str, folder: Path, split: str, download: bool, expected: str) -> Recordings:
    """MNIST, CIFAR10 or CIFAR100 through torchvision's own class and files."""
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    try:
        ds = cls(str(folder), train=split == "train", download=download)
    except RuntimeError as err:
        raise DataError(
            f"{cls_name} not found under {folder} ({err}). Set data.download: true to fetch it, or put "
            f"{expected} there (data.root or TFSNN_DATA names the folder)"
        ) from None
    except OSError as err:  # network errors while downloading
        raise DataError(f"{cls_name} could not be downloaded into {folder}: {err}") from None
    images = np.asarray(ds.data)
    images = images[..., None] if images.ndim == 3 else images
    identity = f"download:torchvision.{cls_name}:{folder.resolve()}:{split}"
    return Recordings("images", np.asarray(ds.targets, dtype=np.int64), images, _same, identity)


def read_imagenet(root: Path, split: str, download: bool, expected: str) -> Recordings:
    """ImageNet (ILSVRC2012) in ``<root>/imagenet`` through torchvision's ImageNet class:
    ``train``, and ``val`` as the test set. It cannot be downloaded automatically."""
    import torchvision

    folder = root / "imagenet"
    try:
        ds = torchvision.datasets.ImageNet(str(folder), split="train" if split == "train" else "val")
    except (RuntimeError, FileNotFoundError) as err:
        raise DataError(
            f"ImageNet not found under {folder} ({err}). It cannot be downloaded automatically: get "
            f"{expected} from image-net.org and put them there (data.root or TFSNN_DATA names its parent)"
        ) from None
    paths = [p for p, _ in ds.samples]
    labels = np.array([c for _, c in ds.samples], dtype=np.int64)
    return Recordings("jpeg", labels, paths, _file_bytes, f"download:torchvision.ImageNet:{folder.resolve()}:{split}")


def images_from_pack(archive, split: str, identity: str, num_classes: int) -> Recordings:
    """Images of a pack: raw ``x_{split}``/``y_{split}`` (mnist.npz) or JPEG files
    ``{split}_jpeg``/``{split}_offsets``/``{split}_labels`` (cifar10_jpeg.npz); labels and
    lengths checked."""
    if f"x_{split}" in archive.files:
        images = archive[f"x_{split}"]
        labels = labels_of(archive[f"y_{split}"], f"y_{split}", num_classes)
        count_of(f"x_{split}", len(images), f"y_{split}", len(labels))
        images = images[..., None] if images.ndim == 3 else images
        return Recordings("images", labels, images, _same, identity)
    labels = labels_of(archive[f"{split}_labels"], f"{split}_labels", num_classes)
    blob = archive[f"{split}_jpeg"]
    spans = spans_of(archive[f"{split}_offsets"], f"{split}_offsets", len(blob), f"{split}_jpeg", len(labels))
    return Recordings("jpeg", labels, spans, partial(_slice_bytes, blob), identity)


def images_to_pack(splits: dict[str, Recordings]) -> dict[str, np.ndarray]:
    """Arrays of a pack holding ``splits`` (raw images stay raw, encoded files stay encoded)."""
    arrays = {}
    for split, rec in splits.items():
        if rec.kind == "images":
            images = np.stack([rec[i] for i in range(len(rec))])
            arrays[f"x_{split}"] = images[..., 0] if images.shape[-1] == 1 else images
            arrays[f"y_{split}"] = rec.labels
        else:
            files = [np.frombuffer(rec[i], dtype=np.uint8) for i in range(len(rec))]
            arrays[f"{split}_jpeg"] = np.concatenate(files)
            arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum([len(f) for f in files])]).astype(np.int64)
            arrays[f"{split}_labels"] = rec.labels
    return arrays


def decode_all(rec: Recordings) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` of same-sized images (JPEG files decoded)."""
    if rec.kind == "images":
        images = rec.items
    else:
        images = np.stack([np.asarray(decode(rec[i])) for i in range(len(rec))])
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


class Cutout:
    """Zero one ``length x length`` square at a uniformly drawn centre, clipped at the border
    (DeVries & Taylor 2017), on ``[C, H, W]``."""

    def __init__(self, length: int):
        self.length = length

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        cy, cx = torch.randint(0, h, ()).item(), torch.randint(0, w, ()).item()
        half = self.length // 2
        x = x.clone()
        x[..., max(cy - half, 0) : cy + self.length - half, max(cx - half, 0) : cx + self.length - half] = 0
        return x


class ScaleNormalize:
    """uint8 ``[C, H, W]`` to float32 in [0, 1], then ``(x - mean) / std`` per channel: torchvision
    v2's ``ToDtype(torch.float32, scale=True)`` and ``Normalize(mean, std)`` op for op (the same
    bits), without importing torchvision (about 2 s of every job that only tests)."""

    def __init__(self, mean, std):
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float32).mul_(1.0 / 255).sub(self.mean).div_(self.std)

    def __repr__(self) -> str:
        return f"ScaleNormalize(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()})"


def image_transform(policy: str | None, mean, std, augment: bool, autoaugment: bool = False, cutout: int = 0):
    """The pipeline from a uint8 ``[C, H, W]`` tensor (or PIL image) to a normalized float tensor.

    ``policy`` is the dataset's augmentation: ``crop-flip`` (CIFAR), ``imagenet`` or None. A
    tensor pipeline without augmentation (a test set's, but ImageNet's) is :class:`ScaleNormalize`.
    """
    if policy != "imagenet" and not (augment or autoaugment or cutout):
        return ScaleNormalize(mean, std)
    from torchvision.transforms import v2

    steps: list = []
    if policy == "imagenet":
        if augment:
            steps += [v2.RandomResizedCrop(224), v2.RandomHorizontalFlip()]
        else:
            steps += [v2.Resize(256), v2.CenterCrop(224)]
    elif augment:
        steps += [v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()]
    if autoaugment:
        steps.append(v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10))
    steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if cutout:
        steps.append(Cutout(cutout))
    steps += [v2.Normalize(mean, std), v2.ToPureTensor()]
    return v2.Compose(steps)


class ImageDataset(Dataset):
    """Images and labels through ``transform``: uint8 ``[N, C, H, W]`` held in memory, or
    :class:`Recordings` of encoded files decoded on access (ImageNet)."""

    def __init__(self, images: torch.Tensor | Recordings, labels: np.ndarray, transform, provenance: dict):
        self.images, self.labels, self.transform = images, labels, transform
        self.provenance = provenance

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = decode(self.images[i]) if isinstance(self.images, Recordings) else self.images[i]
        return self.transform(image), int(self.labels[i])


class PixelSequences(Dataset):
    """Sequential MNIST: each image of ``images`` read row by row, ``pixels_per_step`` pixels a
    step; items are frames ``[T, pixels_per_step]`` (``time_major``: the loader stacks them to
    ``[T, B, pixels_per_step]``)."""

    time_major = True

    def __init__(self, images: ImageDataset, pixels_per_step: int):
        self.images, self.pixels_per_step = images, pixels_per_step
        self.provenance = images.provenance

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x, y = self.images[i]
        return x.reshape(-1, self.pixels_per_step), y
