"""Data loading speed: CIFAR-10 images per second through the pack loader with augmentation,
N-MNIST epoch time with and without the frames cache, and the cochlea front end's speed.

    OMP_NUM_THREADS=1 python benchmarks/data_loading.py [--pack-dir ../shared/data] [--workers 0 1]

Run it with the packs of shared/data; it writes nothing but a temporary frames cache.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tfsnn.data import Cochlea, load, make_loader

REPO = Path(__file__).resolve().parent.parent


def epoch_seconds(dataset, batch_size: int, workers: int) -> float:
    start = time.perf_counter()
    for _ in make_loader(dataset, batch_size, True, torch.Generator().manual_seed(0), workers):
        pass
    return time.perf_counter() - start


def cifar(pack_dir: Path, items: int, workers: list[int]) -> None:
    for options, label in (({"augment": True}, "crop+flip"),
                           ({"augment": True, "autoaugment": True, "cutout": 16}, "crop+flip+AutoAugment+Cutout")):
        start = time.perf_counter()
        data = load("cifar10", "pack", pack_dir=pack_dir, train_size=items, test_size=1000, **options)
        decode = time.perf_counter() - start
        for w in workers:
            seconds = epoch_seconds(data.train, 256, w)
            print(f"cifar10 pack, {label}, {w} workers: {items / seconds:,.0f} images/s "
                  f"({items} images; load() took {decode:.2f}s: pack check, JPEG decoding, imports)")


def write_nmnist_files(pack_dir: Path, root: Path) -> None:
    """The pack's recordings as N-MNIST's original files, in tonic's layout under ``root``."""
    sys.path.insert(0, str(REPO / "tests"))
    from real_formats import write_nmnist_bin

    with np.load(pack_dir / "nmnist_subset.npz") as pack:
        for split, folder in (("train", "Train"), ("test", "Test")):
            events, offsets, labels = pack[f"{split}_events"], pack[f"{split}_offsets"], pack[f"{split}_labels"]
            for i, label in enumerate(labels):
                path = root / "NMNIST" / folder / str(label) / f"{i:05d}.bin"
                write_nmnist_bin(path, events[offsets[i] : offsets[i + 1]])


def nmnist(pack_dir: Path, workers: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_nmnist_files(pack_dir, Path(tmp) / "root")
        sources = {"pack": dict(source="pack", pack_dir=pack_dir),
                   "original .bin files": dict(source="download", root=Path(tmp) / "root", download=False)}
        for label, source in sources.items():
            for size in (None, 48):
                cache = Path(tmp) / f"cache-{len(label)}-{size}"
                start = time.perf_counter()
                cached = load("nmnist", **source, frame_size=size, cache_dir=cache)
                build = time.perf_counter() - start
                uncached = load("nmnist", **source, frame_size=size, cache=False)
                frames = "x".join(map(str, cached.train[0][0].shape))
                print(f"nmnist from the {label}, frames {frames}: cache built in {build:.2f}s "
                      f"({len(cached.train) + len(cached.test)} recordings)")
                for w in workers:
                    print(f"  epoch of {len(cached.train)} recordings, {w} workers: "
                          f"{epoch_seconds(cached.train, 64, w):.2f}s with the cache, "
                          f"{epoch_seconds(uncached.train, 64, w):.2f}s without")


def cochlea(pack_dir: Path, count: int) -> None:
    with np.load(pack_dir / "fsdd.npz") as pack:
        audio, offsets, rate = pack["audio"], pack["offsets"], int(pack["sample_rate"])
    front = Cochlea()
    picks = np.linspace(0, len(offsets) - 2, count).astype(int)
    start = time.perf_counter()
    seconds = sum(front(audio[offsets[i] : offsets[i + 1]], rate) is not None and (offsets[i + 1] - offsets[i]) / rate
                  for i in picks)
    elapsed = time.perf_counter() - start
    print(f"cochlea front end: {count / elapsed:.1f} FSDD recordings/s ({seconds / elapsed:.1f}x real time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--cifar-items", type=int, default=10000)
    parser.add_argument("--fsdd-items", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pack_dir = Path(args.pack_dir)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s) in the main process")
    cifar(pack_dir, args.cifar_items, args.workers)
    nmnist(pack_dir, args.workers)
    cochlea(pack_dir, args.fsdd_items)


if __name__ == "__main__":
    main()
