"""``tfsnn data pack``: packs of every kind written, verified and read back, and corrupt or
mismatched packs rejected with a clear error."""

import json
import os
import shutil

import numpy as np
import pytest
import torch

from tfsnn.cli import main
from tfsnn.data import DataError, load, make_pack, read_splits
from tfsnn.data.events import EVENT_DTYPE
from tfsnn.data.packs import write_pack


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


def _images(**changes):
    blank = np.zeros((10, 28, 28), np.uint8)
    return {"x_train": blank, "y_train": np.arange(10), "x_test": blank, "y_test": np.arange(10), **changes}


def _split_arrays(data: str, blob: np.ndarray, **changes):
    arrays = {f"{s}_{k}": v for s in ("train", "test")
              for k, v in ((data, blob), ("offsets", np.arange(0, 31, 3)), ("labels", np.arange(10)))}
    return {**arrays, **changes}


def _jpeg(**changes):
    return _split_arrays("jpeg", np.zeros(30, np.uint8), **changes)


def _events(**changes):
    return _split_arrays("events", np.zeros(30, EVENT_DTYPE), sensor_size=np.array([34, 34, 2]), **changes)


def _audio(**changes):
    return {"audio": np.zeros(30, np.int16), "offsets": np.arange(0, 31, 3), "labels": np.arange(10),
            "sample_rate": np.array(8000), "is_test": np.arange(10) % 2 == 0, **changes}


SMALL_PACKS = {"mnist": _images, "cifar10": _jpeg, "nmnist": _events, "fsdd-spikes": _audio}


@pytest.mark.parametrize("name, changes, message", [
    ("mnist", {"y_train": np.array([0, 1, 2, 10, 4, 5, 6, 7, 8, 9])},
     r"y_train holds label 10 \(item 3\); labels must be 0..9 \(10 classes\)"),
    ("mnist", {"y_test": np.arange(10) - 1}, r"y_test holds label -1 \(item 0\)"),
    ("mnist", {"y_train": np.arange(10) / 2}, "y_train must be a 1-d array of integer labels, found float64"),
    ("mnist", {"x_train": np.zeros((11, 28, 28), np.uint8)}, "x_train holds 11 items but y_train holds 10 labels"),
    ("cifar10", {"train_offsets": np.arange(0, 30, 3)}, r"train_offsets holds 10 offsets, expected 11 \(one more"),
    ("cifar10", {"test_labels": np.full(10, 10)}, r"test_labels holds label 10"),
    ("nmnist", {"train_offsets": np.append(np.arange(0, 30, 3), 31)},
     r"train_offsets must rise from 0 to 30 \(the length of train_events\) and never fall; it runs from 0 to 31"),
    ("nmnist", {"test_labels": np.arange(9)}, "test_offsets holds 11 offsets, expected 10"),
    ("fsdd-spikes", {"is_test": np.ones(9, bool)}, "is_test holds 9 items but labels holds 10 labels"),
    ("fsdd-spikes", {"offsets": np.array([0, 3, 6, 9, 12, 15, 18, 21, 27, 24, 30])}, "offsets .* it falls after item 8"),
])
def test_bad_labels_and_lengths_are_named_when_the_pack_is_read(tmp_path, name, changes, message):
    np.savez_compressed(tmp_path / "p.npz", **SMALL_PACKS[name]())
    assert len(read_splits(name, "pack", pack_dir=tmp_path, pack_file="p.npz")[0]["test"]) in (5, 10)  # well formed
    np.savez_compressed(tmp_path / "p.npz", **SMALL_PACKS[name](**changes))
    with pytest.raises(DataError, match=rf"^pack {tmp_path}/p.npz for {name}: {message}"):
        read_splits(name, "pack", pack_dir=tmp_path, pack_file="p.npz")


@pytest.mark.parametrize("text", ["", "\n", "abc  p.npz\n", "\xff"])
def test_empty_or_malformed_sidecar_is_named(tmp_path, text):
    np.savez_compressed(tmp_path / "p.npz", **_images())
    (tmp_path / "p.npz.sha256").write_text(text, encoding="latin-1")
    with pytest.raises(DataError, match=rf"checksum file {tmp_path}/p.npz.sha256 (is empty or malformed|cannot be)"):
        read_splits("mnist", "pack", pack_dir=tmp_path, pack_file="p.npz")


def test_an_interrupted_repack_never_reads_as_corrupt(tmp_path, monkeypatch):
    path, real = tmp_path / "p.npz", os.replace
    for step in range(3):  # the .sha256 gains the new digest, the pack is replaced, the .sha256 is rewritten
        write_pack(path, _images(), {"dataset": "mnist"})
        calls = []

        def interrupted(src, dst, calls=calls, step=step):
            calls.append(dst)
            if len(calls) > step:
                raise KeyboardInterrupt
            real(src, dst)

        monkeypatch.setattr(os, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            write_pack(path, _images(y_train=np.arange(10)[::-1].copy()), {"dataset": "mnist"})
        monkeypatch.undo()
        splits, _ = read_splits("mnist", "pack", pack_dir=tmp_path, pack_file="p.npz")  # old or new, never corrupt
        assert splits["train"].labels[0] in (0, 9) and sorted(p.name for p in tmp_path.iterdir()) == [
            "p.npz", "p.npz.sha256"]
    digest = write_pack(path, _images(), {"dataset": "mnist"})
    assert (tmp_path / "p.npz.sha256").read_text() == f"{digest}  p.npz\n"


def test_provenance_names_the_pack_relative_to_the_data_directory(tmp_path, pack_dir):
    """The result rows (and the committed reference CSVs) record which data ran without the
    running machine's paths: the pack's file relative to pack_dir and its sha256. Before,
    data_file was the absolute path (/work/shared/data/mnist.npz)."""
    data = load("mnist", "pack", pack_dir=pack_dir, train_size=20, test_size=10)
    assert data.provenance["data_file"] == "mnist.npz"
    assert len(data.provenance["data_sha256"]) == 64
    assert data.provenance["data_source"] == f"pack:mnist.npz:sha256={data.provenance['data_sha256'][:16]}"
    nested = tmp_path / "packs" / "v1"
    nested.mkdir(parents=True)
    shutil.copy(pack_dir / "mnist.npz", nested / "mine.npz")
    _, provenance = read_splits("mnist", "pack", pack_dir=tmp_path / "packs", pack_file="v1/mine.npz")
    assert provenance["data_file"] == os.path.join("v1", "mine.npz")
    _, elsewhere = read_splits("mnist", "pack", pack_dir=tmp_path, pack_file=str(nested / "mine.npz"))
    assert elsewhere["data_file"] in ("mine.npz", os.path.join("packs", "v1", "mine.npz"))
    assert not os.path.isabs(elsewhere["data_file"])
