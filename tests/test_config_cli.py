"""Config validation, the CLI end to end on real MNIST, and clear errors with nothing written."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from tfsnn.cli import main
from tfsnn.config import ConfigError, config_hash, load_config, validate_config
from tfsnn.io import read_records
from tfsnn.stack import fingerprint, stack_id, stack_text


def base_config(pack_dir, **sections):
    config = {
        "seed": 0,
        "scale": "test",
        "data": {"name": "mnist", "source": "pack", "pack_dir": str(pack_dir), "train_size": 64, "test_size": 30},
        "model": {"name": "resnet19", "width": 0.0625},
        "method": {"name": "mtt", "t_min": 1, "t_max": 3, "samples": 2},
        "train": {"epochs": 1, "batch_size": 32, "calibrate_batches": 1},
        "eval": {"T": [1, 3]},
    }
    for key, value in sections.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return config


def write(tmp_path, config, name="config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("change, message", [
    ({"model": {"name": "resnet20"}}, "model.name: unknown architecture 'resnet20'"),
    ({"method": {"name": "foo"}}, "method.name: unknown method 'foo'"),
    ({"method": {"samples": 0}}, "method.samples must be >= 1"),
    ({"method": {"t_min": 5}}, r"t_min \(5\) must be <= t_max \(3\)"),
    ({"method": {"t_min": 0}}, "method.t_min: Input should be greater than or equal to 1, got 0"),
    ({"method": {"t_max": "6"}}, "method.t_max: Input should be a valid integer, got '6'"),
    ({"method": {"t_max": 6.0}}, "method.t_max: Input should be a valid integer, got 6.0"),
    ({"method": {"monotone": "yes"}}, "method.monotone: Input should be a valid boolean"),
    ({"eval": {"T": []}}, "eval.T: List should have at least 1 item"),
    ({"train": {"epochs": 0}}, "train.epochs"),
    ({"train": {"lrr": 0.1}}, "train.lrr: Extra inputs are not permitted"),
    ({"data": {"name": "imagenet1k"}}, "data.name: unknown dataset"),
    ({"model": {"granularity": 0}}, "model.granularity"),
    ({"eval": {"T": [0]}}, "eval.T.0"),
])
def test_bad_config_names_the_field(pack_dir, change, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(base_config(pack_dir, **change))


class Unannotated:
    """A method from outside the package whose options carry no annotations."""

    def __init__(self, t_max=6, lamb=0.5, tag=None):
        pass


def test_options_without_annotations_take_their_defaults_type():
    from tfsnn.options import check_options

    assert check_options(Unannotated.__init__, {"t_max": 3, "lamb": 1, "tag": "x"}, "method.{}", "mine", skip=1) == \
        {"t_max": 3, "lamb": 1.0, "tag": "x"}  # an int is a valid float; no default type: anything
    with pytest.raises(ValueError, match=r"method.t_max: Input should be a valid integer, got 6.5"):
        check_options(Unannotated.__init__, {"t_max": 6.5}, "method.{}", "mine", skip=1)
    with pytest.raises(ValueError, match=r"method.lamb: Input should be a valid number, got 'high'"):
        check_options(Unannotated.__init__, {"lamb": "high"}, "method.{}", "mine", skip=1)
    with pytest.raises(ValueError, match=r"method.tmax: not an option of 'mine'; its options are \['t_max', 'lamb', 't"):
        check_options(Unannotated.__init__, {"tmax": 3}, "method.{}", "mine", skip=1)


def test_a_checkpoint_config_may_not_import_a_module_unless_trusted(pack_dir, tmp_path, monkeypatch):
    import sys

    (tmp_path / "planted.py").write_text("raise SystemExit('planted module ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = base_config(pack_dir, method={"name": "planted:Method"})
    with pytest.raises(ConfigError, match="'planted:Method' names a module to import"):
        validate_config(config, trusted_methods=set())
    assert "planted" not in sys.modules
    with pytest.raises(SystemExit, match="planted module ran"):  # trusted: imported (the user's own config)
        validate_config(config, trusted_methods={"planted:Method"})


def test_config_hash_is_stable_and_sensitive(pack_dir):
    a = validate_config(base_config(pack_dir))
    assert config_hash(a) == config_hash(validate_config(base_config(pack_dir)))
    assert config_hash(a) != config_hash(validate_config(base_config(pack_dir, seed=1)))


def test_malformed_yaml_and_overrides(tmp_path, pack_dir):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    path = write(tmp_path, base_config(pack_dir))
    assert load_config(path, ["train.epochs=4", "method.samples=1"]).train.epochs == 4
    with pytest.raises(ConfigError, match="must look like"):
        load_config(path, ["train.epochs"])
    # YAML is read safely: a python tag is an error, never executed
    evil = tmp_path / "evil.yaml"
    evil.write_text("seed: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


@pytest.mark.parametrize("change", [{"model": {"name": "resnet20"}}, {"method": {"samples": 0}},
                                    {"data": {"pack_dir": "/nonexistent"}}])
def test_cli_train_bad_input_writes_nothing(tmp_path, pack_dir, capsys, change):
    out = tmp_path / "run"
    code = main(["train", "--config", str(write(tmp_path, base_config(pack_dir, **change))), "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "error" in capsys.readouterr().err


def test_cli_train_then_evaluate(tmp_path, pack_dir, capsys):
    out = tmp_path / "run"
    config = write(tmp_path, base_config(pack_dir))
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "mtt resnet19 on mnist (pack:mnist.npz:sha256=094b831e432331f1)" in printed
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics[metrics.metric == "test_acc"]["T"]) == {1, 3}
    assert (metrics.scale == "test").all() and (metrics.dataset == "mnist").all()
    # beside it, the stack it ran on, which every row names too
    stack = json.loads((out / "environment.json").read_text())
    assert stack == fingerprint() and (metrics["stack"] == stack_text(stack)).all()
    assert (metrics.stack_id == stack_id(stack)).all()

    csv = tmp_path / "eval.csv"
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--T", "2",
                 "--configs", "3-2-1-1-2-3-1-2", "--out", str(csv)]) == 0
    rows = pd.read_csv(csv)
    assert rows.config.tolist() == ["2-2-2-2-2-2-2-2", "3-2-1-1-2-3-1-2"]
    assert rows.bn_calibrated.tolist() == [False, True]
    assert rows.samples.tolist() == [30, 30] and rows.checkpoint_epoch.tolist() == [1, 1]

    # what each test item got, beside the rows: the same accuracies, and items named by their
    # position in the pack's test split (its labels there are the targets)
    records = tmp_path / "eval.npz"
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--T", "2",
                 "--configs", "3-2-1-1-2-3-1-2", "--out", str(csv), "--records", str(records)]) == 0
    arrays, provenance = read_records(records)
    assert arrays["config"].tolist() == rows.config.tolist() and arrays["bn_calibrated"].tolist() == [False, True]
    assert arrays["predicted"].shape == (2, 30)
    correct = (arrays["predicted"] == arrays["target"]).mean(axis=1) * 100
    assert correct == pytest.approx(pd.read_csv(csv).accuracy.tolist())
    item = arrays["item"]
    assert len(set(item)) == 30 and (np.diff(item) > 0).all()  # a class-balanced subset of the 10,000
    with np.load(pack_dir / "mnist.npz") as pack:
        assert (pack["y_test"][item] == arrays["target"]).all()
    assert provenance["config_hash"] == str(rows.config_hash[0]) and provenance["stack_id"] == rows.stack_id[0]

    # a configuration of the wrong length: clear error, no CSV
    bad_csv = tmp_path / "bad.csv"
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--configs", "3-2",
                 "--out", str(bad_csv)]) == 2
    assert "has 2 stages, the model has 8" in capsys.readouterr().err and not bad_csv.exists()


def test_cli_evaluate_rejects_bad_checkpoints(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    for path in (junk, tmp_path / "missing.pt"):
        assert main(["evaluate", "--checkpoint", str(path), "--out", str(tmp_path / "x.csv")]) == 2
        assert "checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_checkpoint_with_code_is_refused(tmp_path, capsys):
    import torch

    class Payload:
        def __reduce__(self):
            return (print, ("executed!",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "tfsnn-checkpoint/1", "x": Payload()}, path)
    assert main(["evaluate", "--checkpoint", str(path), "--out", str(tmp_path / "x.csv")]) == 2
    captured = capsys.readouterr()
    assert "executed!" not in captured.out and "cannot be loaded safely" in captured.err


def test_atomic_writes_get_a_normal_file_mode(tmp_path):
    import os

    from tfsnn.io import write_csv

    write_csv(pd.DataFrame({"a": [1]}), tmp_path / "x.csv")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.csv").stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list(tmp_path.glob(".*.tmp"))
