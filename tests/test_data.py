"""Loading the real packs, subsets, provenance and the errors for missing or corrupt data."""

import shutil

import numpy as np
import pytest
import torch

from tfsnn.data import DataError, balanced_subset, load


def test_mnist_pack(pack_dir):
    data = load("mnist", "pack", pack_dir=pack_dir, train_size=100, test_size=50, seed=1)
    x, y = data.train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and isinstance(y, int)
    assert len(data.train) == 100 and len(data.test) == 50
    labels = [data.train[i][1] for i in range(100)]
    assert np.bincount(labels).tolist() == [10] * 10
    assert data.provenance["data_source"].startswith("pack:mnist.npz:sha256=094b831e")
    full = np.load(pack_dir / "mnist.npz")
    i = int(balanced_subset(full["y_train"], 100, 1)[0])
    expected = (torch.from_numpy(full["x_train"][i]).float() / 255 - 0.1307) / 0.3081
    assert torch.allclose(x[0], expected)


def test_cifar10_pack_decodes_jpeg(pack_dir):
    data = load("cifar10", "pack", pack_dir=pack_dir, train_size=20, test_size=10, augment=True)
    x, y = data.train[3]
    assert x.shape == (3, 32, 32) and 0 <= y < 10 and data.in_channels == 3


def test_balanced_subset_is_seeded():
    labels = np.repeat(np.arange(4), 25)
    a = balanced_subset(labels, 10, 0)
    assert np.array_equal(a, balanced_subset(labels, 10, 0)) and not np.array_equal(a, balanced_subset(labels, 10, 1))
    assert np.bincount(labels[a]).tolist() == [3, 3, 2, 2]
    with pytest.raises(DataError):
        balanced_subset(labels, 101, 0)


def test_missing_and_corrupt_packs(tmp_path, pack_dir):
    with pytest.raises(DataError, match=f"pack mnist.npz not found in {tmp_path}"):
        load("mnist", "pack", pack_dir=tmp_path)
    shutil.copy(pack_dir / "mnist.npz", tmp_path / "mnist.npz")
    with open(tmp_path / "mnist.npz", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(DataError, match="corrupt: sha256"):
        load("mnist", "pack", pack_dir=tmp_path)


def test_missing_download_names_dataset_and_path(tmp_path):
    with pytest.raises(DataError, match=rf"MNIST not found under {tmp_path}.*data.download: true"):
        load("mnist", "download", root=tmp_path, download=False)
    with pytest.raises(DataError, match="no offline pack exists for cifar100"):
        load("cifar100", "pack", pack_dir=tmp_path)
