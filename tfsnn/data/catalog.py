"""The datasets of the paper by name: where each comes from, its raw train and test
recordings from a download or a pack, and ``tfsnn data pack``.

======================  ==========  ==================================  ============================
name                    kind        download (under data.root)          shared pack
======================  ==========  ==================================  ============================
mnist, seqmnist         image       torchvision MNIST                   mnist.npz
cifar10                 image       torchvision CIFAR10                 cifar10_jpeg.npz
cifar100                image       torchvision CIFAR100                (make one)
imagenet                image       torchvision ImageNet (manual)       (make one)
nmnist                  dvs         tonic NMNIST                        nmnist_subset.npz
cifar10dvs              dvs         tonic CIFAR10DVS (9:1 split)        (make one)
ncaltech101             dvs         tonic NCALTECH101 (9:1 split)       (make one)
shd, ssc                spikes      tonic SHD, SSC                      (make one)
fsdd-spikes             audio       FSDD v1.0.10 release archive        fsdd.npz
======================  ==========  ==================================  ============================

Sets without an official test split (CIFAR10-DVS, N-Caltech101) are split 9:1 in every class
with a seeded shuffle; a pack stores the split it was made with. SSC's validation split is not
used. A pack of a dataset serves every dataset made from the same raw data (mnist, seqmnist).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tfsnn.data import audio, events, images
from tfsnn.data.core import DataError, Recordings, balanced_subset, data_root, pack_folder, split_per_class
from tfsnn.data.events import FrameAugment
from tfsnn.data.packs import open_pack, write_pack

__all__ = ["DatasetInfo", "DATASETS", "dataset_info", "read_splits", "take_subsets", "make_pack"]

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What the code needs to know of a dataset.

    ``kind``: ``image``, ``sequence`` (pixels in time), ``dvs`` (camera events to frames),
    ``spikes`` (700 channels to ``[T, 70]``) or ``audio`` (raw audio, through the cochlea, to
    spikes). ``raw``: the dataset whose raw data it reads (packs are shared by it).
    ``read(root, split, download)``: its recordings from a download. ``augment``: what
    ``data.augment`` turns on (a policy name for images, a :class:`FrameAugment` for frames).
    """

    title: str
    kind: str
    num_classes: int
    in_channels: int
    raw: str
    pack: str | None
    read: Callable[[Path, str, bool], Recordings]
    split: str = "official"  # or "9:1"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    image_size: int | None = None
    augment: object = None
    time_bins: int | None = None
    frame_size: int | None = None
    duration: float | None = None


_MNIST = partial(images.read_torchvision, "MNIST",
                 expected="MNIST/raw/ with the four idx files (train-images-idx3-ubyte, ...)")
_CIFAR10 = dict(mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616), image_size=32, augment="crop-flip")
_CIFAR100 = dict(mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762), image_size=32, augment="crop-flip")
_TRAIN_FLAG = {"train": {"train": True}, "test": {"train": False}}

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("MNIST", "image", 10, 1, "mnist", "mnist.npz", _MNIST,
                         mean=(0.1307,), std=(0.3081,), image_size=28),
    "seqmnist": DatasetInfo("sequential MNIST", "sequence", 10, 1, "mnist", "mnist.npz", _MNIST,
                            mean=(0.1307,), std=(0.3081,), image_size=28),
    "cifar10": DatasetInfo("CIFAR-10", "image", 10, 3, "cifar10", "cifar10_jpeg.npz", partial(
        images.read_torchvision, "CIFAR10", expected="cifar-10-batches-py/ (torchvision's CIFAR10 files)"), **_CIFAR10),
    "cifar100": DatasetInfo("CIFAR-100", "image", 100, 3, "cifar100", None, partial(
        images.read_torchvision, "CIFAR100", expected="cifar-100-python/ (torchvision's CIFAR100 files)"), **_CIFAR100),
    "imagenet": DatasetInfo("ImageNet", "image", 1000, 3, "imagenet", None, partial(
        images.read_imagenet, expected="ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and "
        "ILSVRC2012_devkit_t12.tar.gz"), mean=images.IMAGENET_MEAN, std=images.IMAGENET_STD, augment="imagenet"),
    "nmnist": DatasetInfo("N-MNIST", "dvs", 10, 2, "nmnist", "nmnist_subset.npz", partial(
        events.read_event_folder,
        events.EventFolder("N-MNIST", "NMNIST", {"train": "Train", "test": "Test"}, ".bin", events.read_bin,
                           (34, 34, 2), _TRAIN_FLAG, tuple("0123456789")),
        expected="NMNIST/train.zip, test.zip and their Train/<digit>/*.bin, Test/<digit>/*.bin"), time_bins=10),
    "cifar10dvs": DatasetInfo("CIFAR10-DVS", "dvs", 10, 2, "cifar10dvs", None, partial(
        events.read_event_folder,
        events.EventFolder("CIFAR10-DVS", "CIFAR10DVS", {"all": ""}, ".aedat4", events.read_aedat4,
                           (128, 128, 2), {"all": {}}, events.CIFAR10DVS_CLASSES),
        expected="CIFAR10DVS/CIFAR10DVS.zip and its <class>/*.aedat4"),
        split="9:1", augment=FrameAugment(), time_bins=10, frame_size=48),
    "ncaltech101": DatasetInfo("N-Caltech101", "dvs", 101, 2, "ncaltech101", None, partial(
        events.read_event_folder,
        events.EventFolder("N-Caltech101", "NCALTECH101", {"all": "Caltech101"}, ".bin", events.read_bin_at_origin,
                           (240, 180, 2), {"all": {}}, None, 101),
        expected="NCALTECH101/N-Caltech101-archive.zip and its Caltech101/<class>/*.bin"),
        split="9:1", augment=FrameAugment(inversion=True), time_bins=10, frame_size=48),
    "shd": DatasetInfo("SHD", "spikes", 20, 70, "shd", None, partial(
        events.read_spike_file, events.SpikeFile("SHD", "SHD", "shd_{split}.h5", _TRAIN_FLAG),
        expected="SHD/shd_train.h5.zip, shd_test.h5.zip and the .h5 files"), time_bins=100, duration=1.4),
    "ssc": DatasetInfo("SSC", "spikes", 35, 70, "ssc", None, partial(
        events.read_spike_file,
        events.SpikeFile("SSC", "SSC", "ssc_{split}.h5", {s: {"split": s} for s in SPLITS}),
        expected="SSC/ssc_train.h5.zip, ssc_test.h5.zip and the .h5 files"), time_bins=100, duration=1.0),
    "fsdd-spikes": DatasetInfo("FSDD spikes", "audio", 10, 70, "fsdd-spikes", "fsdd.npz", partial(
        audio.read_fsdd, expected="FSDD's recordings/<digit>_<speaker>_<index>.wav"), time_bins=100, duration=1.0),
}

PACK_KINDS = {"image": "images", "sequence": "images", "dvs": "events", "spikes": "events", "audio": "audio"}
FROM_PACK = {"images": images.images_from_pack, "events": events.events_from_pack, "audio": audio.audio_from_pack}
TO_PACK = {"images": images.images_to_pack, "jpeg": images.images_to_pack, "events": events.events_to_pack,
           "audio": audio.audio_to_pack}


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"data.name: unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name]


def _pack_path(name: str, info: DatasetInfo, pack_dir, pack_file) -> tuple[Path, str]:
    path = pack_folder(pack_dir) / (pack_file or info.pack or f"{info.raw}.npz")
    made = (f"make one with `tfsnn data pack --dataset {name} --out {path}` where the data can be downloaded, "
            if info.pack is None else "put the shared pack there (shared/data/README.md), ")
    hint = (made + "set data.pack_dir (or TFSNN_PACKS) to the folder and data.pack_file to the file that holds it, "
            "or use data.source: download")
    if info.pack is None and not pack_file:
        hint = f"no shared pack exists for {name}; " + hint
    return path, hint


def relative_to(path: Path, data_dir: Path) -> str:
    """What the result rows record as ``data_file``: ``path`` relative to the data directory
    ``data_dir`` (``.`` for the directory itself; the file's name when it lies elsewhere), never
    a path of the machine that ran; the pack's sha256 (``data_sha256``) says which data it was."""
    try:
        return str(path.resolve().relative_to(data_dir.resolve()))
    except ValueError:
        return path.name


def read_splits(
    name: str,
    source: str = "download",
    *,
    root: str | os.PathLike | None = None,
    pack_dir: str | os.PathLike | None = None,
    pack_file: str | None = None,
    download: bool = True,
    seed: int = 0,
) -> tuple[dict[str, Recordings], dict]:
    """The raw train and test recordings of dataset ``name`` and their provenance."""
    info = dataset_info(name)
    if source == "pack":
        path, hint = _pack_path(name, info, pack_dir, pack_file)
        pack = open_pack(path, hint)
        if pack.dataset is not None and DATASETS.get(pack.dataset, info).raw != info.raw:
            raise DataError(f"pack {path} holds {pack.dataset}, not {name}")
        if pack.kind != PACK_KINDS[info.kind]:
            raise DataError(f"pack {path} holds {pack.kind}; {name} needs a pack of {PACK_KINDS[info.kind]}")
        try:
            splits = {s: FROM_PACK[pack.kind](pack.archive, s, f"pack:{pack.sha256}:{s}", info.num_classes)
                      for s in SPLITS}
        except DataError as err:  # labels or lengths that do not fit
            raise DataError(f"pack {path} for {name}: {err}") from None
        except Exception as err:  # a damaged member, or arrays missing
            raise DataError(f"pack {path} is damaged or incomplete: {err!r}") from None
        provenance = {
            "data_source": f"pack:{path.name}:sha256={pack.sha256[:16]}",
            "data_file": relative_to(path, pack_folder(pack_dir)),
            "data_sha256": pack.sha256,
            "data_split": pack.meta.get("split", "official"),
            "data_origin": pack.meta.get("made_from", "shared pack" if info.pack == path.name else "unknown"),
        }
    elif source == "download":
        folder = data_root(root)
        if info.split == "9:1":
            everything = info.read(folder, "all", download)
            train, test = split_per_class(everything.labels, 0.9, seed)
            splits = {"train": everything.select(train), "test": everything.select(test)}
            split = f"seeded 9:1 per class (seed {seed})"
        else:
            splits = {s: info.read(folder, s, download) for s in SPLITS}
            split = "official"
        provenance = {
            "data_source": ":".join(splits["train"].identity.split(":")[:2]),
            "data_file": relative_to(folder, folder),
            "data_sha256": "",
            "data_split": split,
            "data_origin": "download",
        }
    else:
        raise DataError(f"data.source: unknown source {source!r}; choose 'download' or 'pack'")
    return splits, provenance


def take_subsets(
    splits: dict[str, Recordings], train_size: int | None, test_size: int | None, seed: int
) -> tuple[dict[str, Recordings], str]:
    """Seeded class-balanced subsets of the given sizes (None: the whole split)."""
    sizes = {"train": train_size, "test": test_size}
    out = {s: rec if sizes[s] is None else rec.select(balanced_subset(rec.labels, sizes[s], seed))
           for s, rec in splits.items()}
    subset = "full" if train_size is None and test_size is None else f"class-balanced (seed {seed})"
    return out, subset


def make_pack(
    name: str,
    out: str | os.PathLike,
    source: str = "download",
    *,
    root=None,
    pack_dir=None,
    pack_file=None,
    download: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> dict:
    """Write a pack of dataset ``name`` (its raw recordings, seeded class-balanced subsets of
    the given sizes) to ``out``; returns what was written."""
    splits, provenance = read_splits(name, source, root=root, pack_dir=pack_dir, pack_file=pack_file,
                                     download=download, seed=seed)
    splits, subset = take_subsets(splits, train_size, test_size, seed)
    kinds = {rec.kind for rec in splits.values()}
    if len(kinds) != 1:
        raise DataError(f"{name}: train and test are stored differently ({sorted(kinds)})")
    meta = {
        "dataset": dataset_info(name).raw,
        "made_from": provenance["data_source"],
        "made_from_sha256": provenance["data_sha256"],
        "split": provenance["data_split"],
        "subset": subset,
        "seed": seed,
        "train_size": len(splits["train"]),
        "test_size": len(splits["test"]),
    }
    digest = write_pack(Path(out), TO_PACK[kinds.pop()](splits), meta)
    return {"path": str(out), "sha256": digest, **meta}
