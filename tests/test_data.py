"""Images: the real packs and real-format files through torchvision, subsets, provenance,
augmentation, sequential MNIST, and the errors for missing, corrupt or misused data."""

import shutil

import numpy as np
import pytest
import torch
from real_formats import write_imagenet, write_mnist_raw

from tfsnn.config import validate_config
from tfsnn.data import DataError, balanced_subset, load, make_loader, split_per_class
from tfsnn.data.images import Cutout, ScaleNormalize, image_transform


def test_mnist_pack(pack_dir):
    data = load("mnist", "pack", pack_dir=pack_dir, train_size=100, test_size=50, seed=1)
    x, y = data.train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and isinstance(y, int)
    assert len(data.train) == 100 and len(data.test) == 50
    labels = [data.train[i][1] for i in range(100)]
    assert np.bincount(labels).tolist() == [10] * 10
    assert data.provenance["data_source"].startswith("pack:mnist.npz:sha256=094b831e")
    assert data.provenance["data_sha256"].startswith("094b831e") and data.provenance["train_size"] == 100
    assert data.train.provenance["split"] == "train" and data.test.provenance["size"] == 50
    full = np.load(pack_dir / "mnist.npz")
    i = int(balanced_subset(full["y_train"], 100, 1)[0])
    expected = (torch.from_numpy(full["x_train"][i]).float() / 255 - 0.1307) / 0.3081
    assert torch.allclose(x[0], expected)


def test_mnist_idx_files_through_torchvision(tmp_path, pack_dir):
    full = np.load(pack_dir / "mnist.npz")
    splits = {"train": (full["x_train"][:300], full["y_train"][:300]),
              "test": (full["x_test"][:120], full["y_test"][:120])}
    write_mnist_raw(tmp_path, splits)
    data = load("mnist", root=tmp_path, download=False)
    assert (len(data.train), len(data.test)) == (300, 120)
    assert data.provenance["data_source"] == "download:torchvision.MNIST"
    for split, dataset in (("train", data.train), ("test", data.test)):
        x, y = dataset[7]
        images, labels = splits[split]
        assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == int(labels[7])
        assert torch.allclose(x[0], (torch.from_numpy(images[7]).float() / 255 - 0.1307) / 0.3081)


def test_cifar10_pack_decodes_jpeg_and_augments(pack_dir):
    data = load("cifar10", "pack", pack_dir=pack_dir, train_size=20, test_size=10, augment=True, autoaugment=True,
                cutout=16)
    x, y = data.train[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= y < 10 and data.in_channels == 3
    plain = load("cifar10", "pack", pack_dir=pack_dir, train_size=20, test_size=10)
    assert torch.equal(plain.test[0][0], data.test[0][0])  # the test set is never augmented
    batch, labels = next(iter(make_loader(data.train, 8, True, torch.Generator().manual_seed(0))))
    assert batch.shape == (8, 3, 32, 32) and labels.dtype == torch.int64


def test_cutout_masks_one_square():
    out = Cutout(8)(torch.ones(3, 32, 32))
    zeros = (out == 0).all(0)
    rows, cols = zeros.any(1).sum().item(), zeros.any(0).sum().item()
    assert 1 <= rows <= 8 and 1 <= cols <= 8 and zeros.sum() == rows * cols


def test_a_test_set_pipeline_is_torchvisions_to_the_bit_without_torchvision():
    # ScaleNormalize stands for v2's ToImage, ToDtype(float32, scale=True) and Normalize, which a
    # test set without augmentation needs, so that a job that only tests does not import torchvision
    from torchvision.transforms import v2

    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    images[0] = 0
    images[1] = 255
    theirs = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std),
                         v2.ToPureTensor()])
    ours = image_transform("crop-flip", mean, std, augment=False)
    assert isinstance(ours, ScaleNormalize)
    for image in images:
        assert torch.equal(ours(image), theirs(image)) and type(ours(image)) is torch.Tensor
    white = ((1.0 - torch.tensor(mean)) / torch.tensor(std)).view(3, 1, 1)
    assert torch.equal(ours(images[1]), white.expand(3, 32, 32))
    # augmentation, and ImageNet's resizing, still go through torchvision
    assert not isinstance(image_transform("crop-flip", mean, std, augment=True), ScaleNormalize)
    assert not isinstance(image_transform("imagenet", mean, std, augment=False), ScaleNormalize)


def test_sequential_mnist_pixels_per_step(pack_dir):
    data = load("seqmnist", "pack", pack_dir=pack_dir, train_size=20, test_size=10, pixels_per_step=28)
    image = load("mnist", "pack", pack_dir=pack_dir, train_size=20, test_size=10).train[0][0]
    x, _ = data.train[0]
    assert x.shape == (28, 28) and torch.equal(x, image[0]) and data.in_channels == 28
    batch, _ = next(iter(make_loader(data.train, 4, True, torch.Generator().manual_seed(0))))
    assert batch.shape == (28, 4, 28)  # [T, B, pixels per step]
    assert load("seqmnist", "pack", pack_dir=pack_dir, train_size=20, test_size=10).train[0][0].shape == (784, 1)
    with pytest.raises(DataError, match="data.pixels_per_step: 5 does not divide"):
        load("seqmnist", "pack", pack_dir=pack_dir, train_size=20, test_size=10, pixels_per_step=5)


def test_imagenet_layout_through_torchvision(tmp_path, pack_dir):
    pack = np.load(pack_dir / "cifar10_jpeg.npz")
    blob, offsets = pack["test_jpeg"], pack["test_offsets"]
    jpeg = [blob[offsets[i] : offsets[i + 1]].tobytes() for i in range(6)]
    write_imagenet(tmp_path / "imagenet", {"train": {"n01": jpeg[:2], "n02": jpeg[2:4]}, "val": {"n01": jpeg[4:5],
                                                                                                  "n02": jpeg[5:]}})
    data = load("imagenet", root=tmp_path, download=False, augment=True)
    assert (len(data.train), len(data.test)) == (4, 2) and data.num_classes == 1000
    x, y = data.train[2]
    assert x.shape == (3, 224, 224) and y == 1 and data.test[0][0].shape == (3, 224, 224)
    with pytest.raises(DataError, match=rf"ImageNet not found under {tmp_path / 'none' / 'imagenet'}.*image-net.org"):
        load("imagenet", root=tmp_path / "none", download=False)


def test_balanced_subset_is_seeded():
    labels = np.repeat(np.arange(4), 25)
    a = balanced_subset(labels, 10, 0)
    assert np.array_equal(a, balanced_subset(labels, 10, 0)) and not np.array_equal(a, balanced_subset(labels, 10, 1))
    assert np.bincount(labels[a]).tolist() == [3, 3, 2, 2]
    with pytest.raises(DataError):
        balanced_subset(labels, 101, 0)
    # N-MNIST's pack: its first 1,000 recordings hold 97 of class 0, so "1000" cannot be balanced
    with pytest.raises(DataError, match="class 0 has 24 items, a balanced subset of 100 needs 25 .*null for all 100"):
        balanced_subset(np.r_[np.zeros(24, int), np.repeat(np.arange(1, 4), 25), [1]], 100, 0)


def test_nine_to_one_split_is_seeded_and_class_balanced():
    labels = np.repeat(np.arange(5), [10, 20, 30, 10, 40])
    train, test = split_per_class(labels, 0.9, 3)
    again = split_per_class(labels, 0.9, 3)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert not np.array_equal(test, split_per_class(labels, 0.9, 4)[1])
    assert np.bincount(labels[train]).tolist() == [9, 18, 27, 9, 36]
    assert np.bincount(labels[test]).tolist() == [1, 2, 3, 1, 4]
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)


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
    with pytest.raises(DataError, match=rf"pack cifar100.npz not found in {tmp_path}: no shared pack exists for "
                                        r"cifar100; make one with `tfsnn data pack --dataset cifar100"):
        load("cifar100", "pack", pack_dir=tmp_path)


@pytest.mark.parametrize("options, message", [
    ({"time_bins": 10}, "data.time_bins: mnist has no events to bin"),
    ({"augment": True}, "data.augment: mnist has no augmentation"),
    ({"cutout": 16}, "data.cutout: Cutout is for CIFAR"),
    ({"frame_size": 48}, "data.frame_size: mnist is not a DVS dataset"),
    ({"pixels_per_step": 4}, "data.pixels_per_step: mnist is not seqmnist"),
])
def test_options_that_do_not_apply_are_errors(pack_dir, options, message):
    with pytest.raises(DataError, match=message):
        load("mnist", "pack", pack_dir=pack_dir, **options)
    with pytest.raises(DataError, match="data.name: unknown dataset 'imagenet1k'"):
        load("imagenet1k")


def test_data_config_passes_every_option(pack_dir):
    config = validate_config({
        "data": {"name": "nmnist", "source": "pack", "pack_dir": str(pack_dir), "split_seed": 3, "time_bins": 5},
        "model": {"name": "resnet18"}, "method": {"name": "sdt", "T": 5}, "train": {"epochs": 1},
    })
    options = config.data.load_options()
    assert options["seed"] == 3 and options["time_bins"] == 5 and options["num_workers"] is None
    assert "split_seed" not in options and "name" not in options


def test_test_items_are_positions_in_the_source(pack_dir):
    # a class-balanced subset keeps each item's position in the pack's split: what per-image
    # records name an image by
    from tfsnn.data.core import Recordings

    rec = Recordings("images", np.array([0, 1, 0, 1, 0, 1]), np.arange(6), lambda x: x, "toy")
    assert rec.select(np.array([1, 3, 5])).select(np.array([0, 2])).positions.tolist() == [1, 5]
    data = load("mnist", "pack", pack_dir=pack_dir, test_size=40, seed=3)
    with np.load(pack_dir / "mnist.npz") as pack:
        labels = pack["y_test"]
    assert data.test_items.tolist() == balanced_subset(labels, 40, 3).tolist()
    assert [int(data.test[k][1]) for k in range(40)] == labels[data.test_items].tolist()
