"""Event data: real N-MNIST files through tonic's reader, an N-Caltech101 layout and its 9:1
split, SHD-format HDF5, frames, the first-t-frames rule, augmentation, and the frames cache."""

import os
import shutil
import socket
import time

import numpy as np
import pytest
import torch
from real_formats import write_nmnist_bin, write_shd_h5

from tfsnn.data import DataError, load, make_loader
from tfsnn.data import events as ev
from tfsnn.data.audio import Cochlea, spike_recordings
from tfsnn.data.cache import STALE_HOURS, cached
from tfsnn.data.catalog import read_splits, take_subsets
from tfsnn.models import build


@pytest.fixture(scope="module")
def nmnist(pack_dir):
    with np.load(pack_dir / "nmnist_subset.npz") as pack:
        return {k: pack[k] for k in pack.files}


def recording(pack, split, i):
    o = pack[f"{split}_offsets"]
    return pack[f"{split}_events"][o[i] : o[i + 1]]


def test_nmnist_bin_files_through_tonic(tmp_path, nmnist):
    counts = {"train": 60, "test": 30}
    for split, folder in (("train", "Train"), ("test", "Test")):
        for i in range(counts[split]):
            label = nmnist[f"{split}_labels"][i]
            write_nmnist_bin(tmp_path / "NMNIST" / folder / str(label) / f"{i:05d}.bin", recording(nmnist, split, i))
    raw, provenance = read_splits("nmnist", root=tmp_path, download=False)
    assert provenance["data_source"] == "download:tonic.NMNIST" and len(raw["train"]) == 60
    order = np.argsort([f"{lab}/{i:05d}" for i, lab in enumerate(nmnist["train_labels"][:60])])
    for k in (0, 17, 59):
        events, original = raw["train"][k], recording(nmnist, "train", order[k])
        assert events.dtype == ev.EVENT_DTYPE and raw["train"].labels[k] == nmnist["train_labels"][order[k]]
        for field in "xytp":
            assert np.array_equal(events[field], original[field].astype(events[field].dtype))
    data = load("nmnist", root=tmp_path, download=False, cache_dir=tmp_path / "cache")
    assert (len(data.train), len(data.test), data.in_channels) == (60, 30, 2)
    x, y = data.test[0]
    assert x.shape == (10, 2, 34, 34) and x.dtype == torch.float32 and y == sorted(nmnist["test_labels"][:30])[0]
    assert x.sum() == len(recording(nmnist, "test", int(np.argsort(nmnist["test_labels"][:30], kind="stable")[0])))


def test_nmnist_pack_frames_and_first_t_frames_rule(tmp_path, pack_dir, nmnist):
    data = load("nmnist", "pack", pack_dir=pack_dir, train_size=40, cache_dir=tmp_path)
    assert len(data.test) == 100
    assert data.provenance["data_preprocessing"].startswith("DvsFrames(sensor_size=(34, 34, 2)")
    x, _ = data.test[5]
    events = recording(nmnist, "test", 5)
    assert x.sum() == len(events)  # every event lands in exactly one frame
    t = events["t"].astype(np.int64)
    cut = t.min() + (t.max() + 1 - t.min()) * 3 // 10  # end of the third of ten equal time bins
    assert x[:3].sum() == (t < cut).sum()
    frames, labels = next(iter(make_loader(data.train, 8, True, torch.Generator().manual_seed(0))))
    assert frames.shape == (10, 8, 2, 34, 34) and labels.shape == (8,)  # [T, B, ...]
    model = build("resnet18", 10, 2, width=0.0625)
    assert torch.equal(model.encode(frames, 3), frames[:3])  # stage 1 takes the FIRST t_1 frames


def test_dvs_frames_resize_and_spike_binning():
    events = ev.as_events([0, 127, 5], [0, 127, 9], [0, 500, 999], [0, 1, 1])
    frames = ev.DvsFrames((128, 128, 2), 2, 48)(events)
    assert frames.shape == (2, 2, 48, 48) and frames[0, 1].sum() == 0 and frames[1, 1].sum() > 0
    spikes = ev.as_events([0, 9, 10, 699], 0, [0, 10, 500_000, 999_999], 0)
    binned = ev.SpikeFrames(700, 4, 1.0)(np.concatenate([spikes, ev.as_events([3], 0, [1_000_000], 0)]))
    assert binned.shape == (4, 70) and binned.sum() == 4  # the spike at t = duration is dropped
    assert binned[0, 0] == 2 and binned[2, 1] == 1 and binned[3, 69] == 1


def test_flip_shift_and_inversion_keep_event_counts():
    torch.manual_seed(1)
    x = torch.poisson(torch.full((10, 2, 48, 48), 0.3))
    changed = 0
    for _ in range(20):
        y = ev.FrameAugment(inversion=True)(x)
        assert y.shape == x.shape and y.sum() == x.sum()
        assert torch.equal(y.flatten().sort().values, x.flatten().sort().values)  # events move, none is lost
        assert sorted(y.sum((1, 2, 3)).tolist()) == sorted(x.sum((1, 2, 3)).tolist())
        changed += not torch.equal(x, y)
    assert changed >= 15
    inverted = ev.FrameAugment(flip=False, shift=0, inversion=True)
    outs = {tuple(inverted(x)[0, 0, 0, :3].tolist()) for _ in range(20)}
    assert tuple(x[-1, 1, 0, :3].tolist()) in outs  # last frame first, polarities swapped


def test_frames_cache_hit_and_rebuild(tmp_path, pack_dir, monkeypatch):
    calls = []
    binning = ev.DvsFrames.__call__
    monkeypatch.setattr(ev.DvsFrames, "__call__", lambda self, e: calls.append(1) or binning(self, e))
    options = dict(pack_dir=pack_dir, train_size=30, test_size=None, cache_dir=tmp_path)
    data = load("nmnist", "pack", **options)
    assert len(calls) == 30 + 100
    for _ in range(2):  # epochs read the cache, never the events
        for _batch in make_loader(data.train, 10, True, torch.Generator().manual_seed(0)):
            pass
    assert len(calls) == 130
    again = load("nmnist", "pack", **options)
    assert len(calls) == 130 and torch.equal(again.train[3][0], data.train[3][0])
    fewer = load("nmnist", "pack", **options, time_bins=5)
    assert len(calls) == 260 and fewer.train[3][0].shape == (5, 2, 34, 34)
    assert torch.equal(fewer.train[3][0].sum(0), data.train[3][0].sum(0))
    assert len(list(tmp_path.glob("nmnist-train-*"))) == 2
    other_subset = load("nmnist", "pack", **{**options, "train_size": 20})
    assert len(calls) == 260 + 20 + 0 and len(other_subset.train) == 20  # test split: cached already
    uncached = load("nmnist", "pack", **options, cache=False)
    uncached.train[0]
    assert len(calls) == 281


def test_cache_survives_an_interrupted_write(tmp_path):
    def interrupted(tmp):
        np.save(tmp / "frames.npy", np.zeros(3))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached(tmp_path, "x", {"a": 1}, interrupted)
    assert list(tmp_path.iterdir()) == []  # no entry, no leftovers

    arrays = cached(tmp_path, "x", {"a": 1}, lambda tmp: np.save(tmp / "frames.npy", np.arange(4)))
    entry = next(tmp_path.glob("x-*"))
    assert arrays["frames"].tolist() == [0, 1, 2, 3]
    (entry / "frames.npy").unlink()  # damaged: built again
    stale = tmp_path / f".tmp-{entry.name}-{socket.gethostname()}-{2**22 + 12345}"  # left by a killed process
    stale.mkdir()
    arrays = cached(tmp_path, "x", {"a": 1}, lambda tmp: np.save(tmp / "frames.npy", np.arange(5)))
    assert arrays["frames"].tolist() == [0, 1, 2, 3, 4] and not stale.exists()


def test_cache_keeps_builds_of_other_hosts_until_they_are_old(tmp_path):
    def build(tmp):
        np.save(tmp / "frames.npy", np.arange(3))

    cached(tmp_path, "x", {"a": 1}, build)
    entry = next(tmp_path.glob("x-*"))
    shutil.rmtree(entry)  # built again below, which sweeps the leftovers
    dead = 2**22 + 12345  # above any pid_max: no such process here
    mine = tmp_path / f".tmp-{entry.name}-{socket.gethostname()}-{dead}"
    other = tmp_path / f".tmp-{entry.name}-node-7.cluster-{dead}"  # may be building right now
    old = tmp_path / f".tmp-{entry.name}-node-8.cluster-{dead}"
    for folder in (mine, other, old):
        folder.mkdir()
    (old / "frames.npy").touch()
    long_ago = time.time() - (STALE_HOURS + 1) * 3600
    for path in (old / "frames.npy", old):
        os.utime(path, (long_ago, long_ago))
    assert cached(tmp_path, "x", {"a": 1}, build)["frames"].tolist() == [0, 1, 2]
    assert other.is_dir() and not mine.exists() and not old.exists()


def test_ncaltech101_layout_and_nine_to_one_split(tmp_path, nmnist):
    for c in range(101):
        for k in range(10):
            events = recording(nmnist, "train", (c * 10 + k) % 1000)[:60].copy()
            events["x"] += 40  # tonic's reader moves every recording to the origin
            write_nmnist_bin(tmp_path / "NCALTECH101" / "Caltech101" / f"class{c:03d}" / f"image_{k:04d}.bin", events)
    options = dict(root=tmp_path, download=False, cache_dir=tmp_path / "cache")
    data = load("ncaltech101", **options, augment=True)
    assert (len(data.train), len(data.test), data.num_classes) == (909, 101, 101)
    assert data.provenance["data_split"] == "seeded 9:1 per class (seed 0)"
    test_labels = [data.test[i][1] for i in range(101)]
    assert sorted(test_labels) == list(range(101))  # one test recording of each class
    x, _ = data.test[0]
    assert x.shape == (10, 2, 48, 48) and data.train.augment.inversion and data.test.augment is None
    same = load("ncaltech101", **options)
    assert torch.equal(same.test[7][0], data.test[7][0]) and data.test.provenance == same.test.provenance
    files = {seed: read_splits("ncaltech101", root=tmp_path, download=False, seed=seed)[0]["test"].items for seed in (0, 3)}
    assert len(set(files[0]) & set(files[3])) < 101 and len(set(files[3])) == 101


def test_shd_format_file_of_fsdd_spikes(tmp_path, pack_dir):
    raw, _ = read_splits("fsdd-spikes", "pack", pack_dir=pack_dir)
    raw, _ = take_subsets(raw, 20, 10, 0)
    for split, rec in raw.items():
        spikes = spike_recordings(rec, Cochlea())
        write_shd_h5(tmp_path / "SHD" / f"shd_{split}.h5", [spikes[i] for i in range(len(spikes))], rec.labels,
                     [str(d) for d in range(10)])
    shd = load("shd", root=tmp_path, download=False, duration=1.0, cache_dir=tmp_path / "cache")
    fsdd = load("fsdd-spikes", "pack", pack_dir=pack_dir, train_size=20, test_size=10, cache_dir=tmp_path / "cache")
    assert (len(shd.train), len(shd.test), shd.in_channels, shd.num_classes) == (20, 10, 70, 20)
    assert shd.provenance["data_source"] == "download:tonic.SHD"
    for i in (0, 9):
        x, y = shd.test[i]
        assert x.shape == (100, 70) and x.dtype == torch.float32 and y == fsdd.test[i][1]
        assert torch.equal(x, fsdd.test[i][0])
    batch, _ = next(iter(make_loader(shd.train, 4, True, torch.Generator().manual_seed(0))))
    assert batch.shape == (100, 4, 70)  # [T, B, channels]


def test_missing_event_data_names_dataset_path_and_files(tmp_path):
    with pytest.raises(DataError, match=rf"N-MNIST not found under {tmp_path / 'NMNIST' / 'Train'}: set "
                                        r"data.download: true .* or put NMNIST/train.zip"):
        load("nmnist", root=tmp_path, download=False)
    with pytest.raises(DataError, match=rf"SSC not found under {tmp_path / 'SSC'}.*ssc_train.h5.zip"):
        load("ssc", root=tmp_path, download=False)
    with pytest.raises(DataError, match=rf"CIFAR10-DVS not found under {tmp_path / 'CIFAR10DVS'}"):
        load("cifar10dvs", root=tmp_path, download=False)
    with pytest.raises(DataError, match="pack cifar10dvs.npz not found.*no shared pack exists for cifar10dvs"):
        load("cifar10dvs", "pack", pack_dir=tmp_path)
