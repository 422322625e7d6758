"""The entry point: train and test datasets by name and options (:func:`load`), and their
loaders (:func:`make_loader`)."""

from __future__ import annotations

import os

import torch
from torch.utils.data import DataLoader, Dataset

from tfsnn.data.audio import Cochlea, spike_recordings
from tfsnn.data.catalog import DatasetInfo, dataset_info, read_splits, take_subsets
from tfsnn.data.core import DataError, Datasets, Recordings, cache_folder
from tfsnn.data.events import DvsFrames, FrameDataset, SpikeFrames, frames_of
from tfsnn.data.images import ImageDataset, PixelSequences, decode_all, image_transform

__all__ = ["load", "make_loader", "default_workers"]

FRAME_KINDS = ("dvs", "spikes", "audio")
COCHLEA = Cochlea()  # the front end of fsdd-spikes (parameters in tfsnn.data.audio)


def _check_options(name: str, info: DatasetInfo, *, augment, autoaugment, cutout, time_bins, frame_size,
                   duration, pixels_per_step) -> None:
    """Options that do not apply to dataset ``name`` are errors, never ignored."""
    problems = {
        "augment": augment and info.augment is None and f"{name} has no augmentation (the paper uses none)",
        "autoaugment": autoaugment and info.augment != "crop-flip" and f"AutoAugment is for CIFAR (A.2), not {name}",
        "cutout": cutout and info.augment != "crop-flip" and f"Cutout is for CIFAR (A.2), not {name}",
        "time_bins": time_bins is not None and info.kind not in FRAME_KINDS and f"{name} has no events to bin",
        "frame_size": frame_size is not None and info.kind != "dvs" and f"{name} is not a DVS dataset",
        "duration": duration is not None and info.kind not in ("spikes", "audio") and f"{name} is not an audio dataset",
        "pixels_per_step": pixels_per_step != 1 and info.kind != "sequence" and f"{name} is not seqmnist",
    }
    for field, problem in problems.items():
        if problem:
            raise DataError(f"data.{field}: {problem}")


def _images(info: DatasetInfo, rec: Recordings, train: bool, augment, autoaugment, cutout, provenance):
    pixels = rec if info.image_size is None else decode_all(rec)
    if info.image_size is not None and tuple(pixels.shape[1:]) != (info.in_channels, info.image_size, info.image_size):
        raise DataError(f"{info.title} images are {tuple(pixels.shape[1:])}, expected "
                        f"{(info.in_channels, info.image_size, info.image_size)}")
    transform = image_transform(info.augment, info.mean, info.std, augment and train, autoaugment and train,
                                cutout if train else 0)
    return ImageDataset(pixels, rec.labels, transform, provenance)


def load(
    name: str,
    source: str = "download",
    *,
    root: str | os.PathLike | None = None,
    pack_dir: str | os.PathLike | None = None,
    pack_file: str | None = None,
    download: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    augment: bool = False,
    autoaugment: bool = False,
    cutout: int = 0,
    time_bins: int | None = None,
    frame_size: int | None = None,
    duration: float | None = None,
    pixels_per_step: int = 1,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    num_workers: int | None = 0,
) -> Datasets:
    """Train and test sets of dataset ``name`` (see :mod:`tfsnn.data.catalog`).

    ``source``: ``download`` (torchvision / tonic / FSDD files under ``root``, fetched when
    ``download`` is on) or ``pack`` (``pack_file`` in ``pack_dir``; default: the dataset's
    shared pack). ``seed`` draws the 9:1 split and the class-balanced subsets of
    ``train_size`` / ``test_size`` items. ``augment`` (training set only) is the dataset's
    augmentation of A.2; ``autoaugment`` and ``cutout`` (side in pixels) add CIFAR's.
    Event and audio sets: ``time_bins`` frames (default 10 for DVS, 100 for audio),
    ``frame_size`` (DVS side, default 48 for CIFAR10-DVS and N-Caltech101, the sensor's for
    N-MNIST), ``duration`` (seconds of audio binned); frames are cached in ``cache_dir`` unless
    ``cache`` is off, built with ``num_workers`` processes (None: :func:`default_workers`).
    """
    info = dataset_info(name)
    _check_options(name, info, augment=augment, autoaugment=autoaugment, cutout=cutout, time_bins=time_bins,
                   frame_size=frame_size, duration=duration, pixels_per_step=pixels_per_step)
    splits, provenance = read_splits(name, source, root=root, pack_dir=pack_dir, pack_file=pack_file,
                                     download=download, seed=seed)
    splits, subset = take_subsets(splits, train_size, test_size, seed)
    provenance = {"dataset": name, **provenance, "data_subset": subset}
    in_channels, built = info.in_channels, {}
    for split, rec in splits.items():
        train = split == "train"
        own = {**provenance, "split": split, "size": len(rec)}
        if info.kind == "image":
            built[split] = _images(info, rec, train, augment, autoaugment, cutout, own)
            preprocessing = f"normalized by mean {info.mean} std {info.std}"
        elif info.kind == "sequence":
            pixels = info.image_size * info.image_size
            if pixels % pixels_per_step:
                raise DataError(f"data.pixels_per_step: {pixels_per_step} does not divide the {pixels} pixels")
            built[split] = PixelSequences(_images(info, rec, False, False, False, 0, own), pixels_per_step)
            in_channels = pixels_per_step
            preprocessing = f"{pixels // pixels_per_step} steps of {pixels_per_step} pixels"
        else:
            preprocessing = ""
            if info.kind == "audio":
                rec, preprocessing = spike_recordings(rec, COCHLEA), f"{COCHLEA!r} -> "
            steps = time_bins or info.time_bins
            if info.kind == "dvs":
                to_frames = DvsFrames(tuple(rec.info["sensor_size"]), steps, frame_size or info.frame_size)
            else:
                to_frames = SpikeFrames(rec.info["sensor_size"][0], steps, duration or info.duration)
            workers = default_workers() if num_workers is None else num_workers
            frames = frames_of(rec, to_frames, cache_folder(cache_dir) if cache else None, f"{name}-{split}", workers)
            built[split] = FrameDataset(frames, rec.labels, info.augment if augment and train else None, own,
                                        rec.identity)
            in_channels, preprocessing = to_frames.channels, preprocessing + repr(to_frames)
    provenance.update(data_preprocessing=preprocessing, train_size=len(splits["train"]), test_size=len(splits["test"]))
    for dataset in built.values():
        dataset.provenance["data_preprocessing"] = preprocessing
    return Datasets(built["train"], built["test"], info.num_classes, in_channels, provenance, splits["test"].positions)


def default_workers() -> int:
    """DataLoader processes: none without a GPU (the CPU trains; a small machine has no cores
    to spare), else half the cores this process may use, at most 8."""
    if not torch.cuda.is_available():
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(8, max(1, cores // 2))


def _time_major(batch):
    """Collate frames ``[T, ...]`` into ``[T, B, ...]`` (the models' layout)."""
    frames, labels = zip(*batch)
    return torch.stack(frames, 1), torch.tensor(labels)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    generator: torch.Generator | None = None,
    num_workers: int | None = None,
) -> DataLoader:
    """A loader: shuffled with ``generator`` and dropping the last partial batch when
    training. Frame datasets (``time_major``) come as ``[T, B, ...]``. Worker processes
    (``num_workers``, None: :func:`default_workers`) are seeded from ``generator``."""
    workers = default_workers() if num_workers is None else num_workers
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        drop_last=train,
        generator=generator,
        num_workers=workers,
        collate_fn=_time_major if getattr(dataset, "time_major", False) else None,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )

