"""``tfsnn data pack``: packs of every kind written, verified and read back, and corrupt or
mismatched packs rejected with a clear error."""

import json
import shutil

import numpy as np
import pytest
import torch

from tfsnn.cli import main
from tfsnn.data import DataError, load, make_pack


def test_cli_packs_a_balanced_mnist_subset(tmp_path, pack_dir, capsys):
    out = tmp_path / "packs" / "mnist_small.npz"
    code = main(["data", "pack", "--dataset", "mnist", "--source", "pack", "--pack-dir", str(pack_dir),
                 "--train-size", "100", "--test-size", "50", "--seed", "2", "--out", str(out)])
    assert code == 0 and "100 train and 50 test" in capsys.readouterr().out
    digest = (out.parent / "mnist_small.npz.sha256").read_text().split()[0]
    with np.load(out) as pack:
        meta = json.loads(str(pack["meta"]))
        assert pack["x_train"].shape == (100, 28, 28) and np.bincount(pack["y_train"]).tolist() == [10] * 10
    assert meta["dataset"] == "mnist" and meta["made_from"].startswith("pack:mnist.npz") and meta["seed"] == 2
    mine = load("seqmnist", "pack", pack_dir=out.parent, pack_file=out.name)  # a pack serves mnist and seqmnist
    assert mine.provenance["data_sha256"] == digest and mine.provenance["data_origin"].startswith("pack:mnist.npz")
    original = load("mnist", "pack", pack_dir=pack_dir, train_size=100, test_size=50, seed=2)
    assert torch.equal(mine.train[5][0][:, 0], original.train[5][0].flatten())


def test_event_and_audio_packs_read_back_the_same(tmp_path, pack_dir):
    for name, sizes in (("nmnist", (30, 20)), ("fsdd-spikes", (20, 10))):
        out = tmp_path / f"{name}.npz"
        written = make_pack(name, out, "pack", pack_dir=pack_dir, train_size=sizes[0], test_size=sizes[1], seed=1)
        assert (written["train_size"], written["test_size"]) == sizes
        options = dict(cache_dir=tmp_path / "cache", train_size=sizes[0], test_size=sizes[1], seed=1)
        original = load(name, "pack", pack_dir=pack_dir, **options)
        again = load(name, "pack", pack_dir=tmp_path, pack_file=out.name, cache_dir=tmp_path / "cache")
        for i in (0, sizes[1] - 1):
            assert torch.equal(again.test[i][0], original.test[i][0]) and again.test[i][1] == original.test[i][1]


def test_cifar10_pack_keeps_the_jpeg_files(tmp_path, pack_dir):
    out = tmp_path / "c.npz"
    make_pack("cifar10", out, "pack", pack_dir=pack_dir, train_size=20, test_size=10)
    with np.load(out) as pack:
        assert "train_jpeg" in pack.files and len(pack["train_offsets"]) == 21
    data = load("cifar10", "pack", pack_dir=tmp_path, pack_file="c.npz")
    assert data.train[0][0].shape == (3, 32, 32) and data.provenance["data_subset"] == "full"


def test_corrupt_or_mismatched_packs_are_rejected(tmp_path, pack_dir):
    out = tmp_path / "m.npz"
    make_pack("mnist", out, "pack", pack_dir=pack_dir, train_size=20, test_size=10)
    with pytest.raises(DataError, match="pack .*m.npz holds mnist, not cifar10"):
        load("cifar10", "pack", pack_dir=tmp_path, pack_file="m.npz")
    shutil.copy(pack_dir / "mnist.npz", tmp_path / "renamed.npz")  # no meta: known by its arrays only
    with pytest.raises(DataError, match="renamed.npz holds images; nmnist needs a pack of events"):
        load("nmnist", "pack", pack_dir=tmp_path, pack_file=str(tmp_path / "renamed.npz"))
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    corrupt = r"m.npz is corrupt: sha256 [0-9a-f]{64}, expected [0-9a-f]{64} \(.*m.npz.sha256\)"
    with pytest.raises(DataError, match=corrupt):
        load("mnist", "pack", pack_dir=tmp_path, pack_file="m.npz")
    (tmp_path / "m.npz.sha256").unlink()
    out.write_bytes(out.read_bytes()[:-200])  # truncated, and no checksum to compare with
    with pytest.raises(DataError, match="m.npz cannot be read"):
        load("mnist", "pack", pack_dir=tmp_path, pack_file="m.npz")


def test_cli_pack_bad_input_writes_nothing(tmp_path, pack_dir, capsys):
    out = tmp_path / "x.npz"
    for args in (["--dataset", "imagenet1k"], ["--dataset", "mnist", "--train-size", "0"],
                 ["--dataset", "mnist", "--no-download", "--root", str(tmp_path / "none")],
                 ["--dataset", "mnist", "--source", "pack", "--pack-dir", str(pack_dir), "--train-size", "70000"]):
        assert main(["data", "pack", *args, "--out", str(out)]) == 2
        assert "tfsnn data: error:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
