"""Methods (SDT/NMT/MTT, Algorithm 1), the trainer, determinism and resume."""

import math

import pandas as pd
import pytest
import torch

from tfsnn.io import TRAINING_STATE, CheckpointError, load_checkpoint, save_finished_checkpoint
from tfsnn.data import load
from tfsnn.models import build
from tfsnn.training import METHODS, MTT, Method, Trainer, build_method, register, train_step


def test_registry_and_defaults():
    assert {"sdt", "nmt", "mtt"} <= set(METHODS)
    mtt = build_method("mtt")
    assert (mtt.samples, mtt.t_max, mtt.sampler.t_min) == (3, 6, 1)
    assert build_method("sdt", T=4).configurations(8, torch.Generator()) == [(4,) * 8]
    nmt = build_method("nmt", samples=5).configurations(8, torch.Generator().manual_seed(0))
    assert len(nmt) == 5 and all(c.is_uniform for c in nmt)


@pytest.mark.parametrize("name, options, message", [
    ("xyz", {}, "method.name: unknown method 'xyz'"),
    ("mtt", {"s": 3}, "method.s: not an option of 'mtt'"),
    ("mtt", {"samples": 0}, "method.samples must be >= 1"),
    ("mtt", {"t_min": 4, "t_max": 2}, r"t_min \(4\) must be <= t_max \(2\)"),
    ("sdt", {"T": 0}, "method.T: Input should be greater than or equal to 1, got 0"),
    ("sdt", {"T": 6.5}, "method.T: Input should be a valid integer, got 6.5"),
    ("nmt", {"t_max": "6"}, "method.t_max: Input should be a valid integer, got '6'"),
])
def test_bad_method_options(name, options, message):
    with pytest.raises(ValueError, match=message):
        build_method(name, **options)


def test_register_refuses_a_second_class_under_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        register("mtt")(type("Other", (Method,), {}))


class CountingSGD(torch.optim.SGD):
    def __init__(self, params):
        super().__init__(params, lr=0.0)
        self.steps, self.grads = 0, None

    def step(self, closure=None):
        self.steps += 1
        self.grads = [p.grad.clone() for group in self.param_groups for p in group["params"]]
        return super().step(closure)


def test_mtt_step_sums_gradients_of_its_configurations():
    model = build("resnet18", 4, 2, width=1 / 16)
    x, y = torch.randn(6, 2, 8, 8), torch.randint(0, 4, (6,))
    method = MTT(t_min=1, t_max=4, samples=3)
    backward_calls = []
    original_loss = method.loss

    def counted_loss(*args):
        loss, out = original_loss(*args)
        loss.register_hook(lambda g: backward_calls.append(1))
        return loss, out

    method.loss = counted_loss
    optimizer = CountingSGD(model.parameters())
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    passes = train_step(model, method, optimizer, scaler, x, y, torch.Generator().manual_seed(5))
    assert optimizer.steps == 1 and len(backward_calls) == 3 and len(passes) == 3

    configs = MTT(t_min=1, t_max=4, samples=3).configurations(8, torch.Generator().manual_seed(5))
    assert [p["config"] for p in passes] == [str(c) for c in configs]
    expected = [torch.zeros_like(p) for p in model.parameters()]
    for config in configs:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x, config), y).backward()
        for acc, p in zip(expected, model.parameters()):
            acc += p.grad
    for got, want in zip(optimizer.grads, expected):
        assert torch.allclose(got, want, atol=1e-6)


@pytest.fixture(scope="module")
def mnist_tiny(pack_dir):
    return load("mnist", "pack", pack_dir=pack_dir, train_size=96, test_size=40, seed=0)


def make_trainer(data, out, epochs=2, seed=0, init_seed=0, **options):
    torch.manual_seed(init_seed)
    model = build("resnet18", 10, 1, width=1 / 16)
    options = {"calibrate_batches": 2, **options}
    return Trainer(model, MTT(t_min=1, t_max=3, samples=2), data.train, data.test, out, epochs=epochs,
                   batch_size=32, lr=0.05, eval_T=[1, 3], seed=seed, progress=False,
                   run_info={"config_hash": "test", "dataset": "mnist"}, **options)


def weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_seeded_training_is_reproducible_and_resume_matches(mnist_tiny, tmp_path):
    a = make_trainer(mnist_tiny, tmp_path / "a")
    metrics_a = a.fit()
    b = make_trainer(mnist_tiny, tmp_path / "b")
    b.fit()
    # the promise: a seeded run is bitwise reproducible on one stack (one machine, its kernels and
    # thread count); on another CPU it is the same run up to float rounding (see tfsnn diff-results)
    assert all(torch.equal(v, weights(b)[k]) for k, v in weights(a).items())

    # interrupt after epoch 1, then resume with a fresh process-like trainer (another init)
    c = make_trainer(mnist_tiny, tmp_path / "c")
    original = c.train_epoch
    c.train_epoch = lambda epoch: original(epoch) if epoch == 1 else (_ for _ in ()).throw(KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        c.fit()
    assert pd.read_csv(tmp_path / "c" / "metrics.csv").epoch.max() == 1
    resumed = make_trainer(mnist_tiny, tmp_path / "c", init_seed=123)
    metrics_c = resumed.fit()
    assert all(torch.equal(v, weights(resumed)[k]) for k, v in weights(a).items())  # bitwise too, one stack
    on_disk = pd.read_csv(tmp_path / "c" / "metrics.csv")
    assert len(on_disk) == len(metrics_a) == len(metrics_c)  # nothing lost, nothing duplicated
    assert on_disk.value.tolist() == pytest.approx(metrics_a.value.tolist())
    assert set(on_disk.metric) == {"train_loss", "train_acc", "lr", "test_acc", "test_loss"}
    assert {"schema_version", "git_commit", "torch_version", "config_hash"} <= set(on_disk.columns)


def test_resume_refuses_a_checkpoint_of_another_config(mnist_tiny, tmp_path):
    make_trainer(mnist_tiny, tmp_path, epochs=1).fit()
    other = make_trainer(mnist_tiny, tmp_path, epochs=1)
    other.run_info["config_hash"] = "different"
    with pytest.raises(RuntimeError, match="was written by config test"):
        other.fit()


def test_a_finished_checkpoint_keeps_what_evaluation_reads_and_refuses_to_resume(mnist_tiny, tmp_path):
    make_trainer(mnist_tiny, tmp_path / "run", epochs=1).fit()
    save_finished_checkpoint(tmp_path / "run" / "checkpoint.pt", tmp_path / "kept" / "checkpoint.pt")
    full, kept = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("run", "kept"))
    assert set(full) - set(kept) == set(TRAINING_STATE)
    assert all(torch.equal(v, kept["model"][k]) for k, v in full["model"].items())
    assert kept["history"] == full["history"] and kept["config_hash"] == full["config_hash"]
    assert (tmp_path / "kept" / "checkpoint.pt").stat().st_size < (tmp_path / "run" / "checkpoint.pt").stat().st_size
    # the same state, the same bytes (a committed checkpoint changes only when its weights do)
    save_finished_checkpoint(tmp_path / "run" / "checkpoint.pt", tmp_path / "again.pt")
    assert (tmp_path / "again.pt").read_bytes() == (tmp_path / "kept" / "checkpoint.pt").read_bytes()
    with pytest.raises(CheckpointError, match="without optimizer, scheduler, scaler: it evaluates but cannot resume"):
        make_trainer(mnist_tiny, tmp_path / "kept", epochs=2).fit()


def test_training_learns(mnist_tiny, tmp_path):
    trainer = make_trainer(mnist_tiny, tmp_path, epochs=3)
    metrics = trainer.fit()
    loss = metrics[metrics.metric == "train_loss"].value.tolist()
    assert loss[-1] < loss[0]


class FixedOutputs(torch.nn.Module):
    """Stands in for a TFSNN: per-step outputs given by hand."""

    num_stages = 1

    def __init__(self, steps):
        super().__init__()
        self.steps = torch.nn.Parameter(steps)

    def forward_steps(self, x, t):
        return self.steps

    def forward(self, x, t):
        return self.steps.mean(0)


def test_tet_loss_by_hand():
    from tfsnn.training import TET

    steps = torch.tensor([[[2.0, 0.0]], [[0.0, 1.0]]])  # T=2, B=1, 2 classes
    targets = torch.tensor([0])
    lamb, phi = 0.25, 1.0
    loss, output = TET(T=2, lamb=lamb, phi=phi).loss(FixedOutputs(steps), None, targets, (2,))
    ce_1 = math.log(1 + math.exp(-2.0))  # -log softmax([2, 0])[0], exact (float64)
    ce_2 = math.log(1 + math.exp(1.0))  # -log softmax([0, 1])[0]
    mse = ((2.0 - 1) ** 2 + (0.0 - 1) ** 2 + (0.0 - 1) ** 2 + (1.0 - 1) ** 2) / 4
    # the loss is float32: its log-softmax of logits of size ~1 is within a few float32 ulps (1.2e-7)
    # of them, whatever the CPU's exp and log kernels
    assert loss.item() == pytest.approx((1 - lamb) * (ce_1 + ce_2) / 2 + lamb * mse, abs=1e-6)
    assert torch.allclose(output, steps.mean(0))
    with pytest.raises(ValueError, match="method.lamb"):
        build_method("mtt-tet", lamb=1.5)


def test_mtt_tet_samples_like_mtt_and_trains(mnist_tiny, tmp_path):
    a = build_method("mtt-tet", t_max=4).configurations(8, torch.Generator().manual_seed(1))
    b = build_method("mtt", t_max=4).configurations(8, torch.Generator().manual_seed(1))
    assert a == b
    model = build("resnet18", 10, 1, width=1 / 16)
    x, y = next(iter(torch.utils.data.DataLoader(mnist_tiny.train, batch_size=16)))
    passes = train_step(model, build_method("mtt-tet", t_max=3, samples=2), torch.optim.SGD(model.parameters(), lr=0.1),
                        torch.amp.GradScaler("cpu", enabled=False), x, y, torch.Generator())
    assert len(passes) == 2 and all(p["loss"] > 0 for p in passes)


PLUGIN = '''
from tfsnn.temporal import StageSampler
from tfsnn.training import Method


class EveryOther(Method):
    """Two passes per batch at per-stage configurations drawn from {1..t_max}."""

    def __init__(self, t_max: int = 4):
        super().__init__(StageSampler(1, t_max), 2, t_max)
'''


def test_method_from_outside_the_package(tmp_path, monkeypatch):
    (tmp_path / "my_methods.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    method = build_method("my_methods:EveryOther", t_max=3)
    assert method.samples == 2 and method.t_max == 3
    assert "my_methods:EveryOther" not in METHODS  # nothing registered behind the user's back
    with pytest.raises(ValueError, match="method.colour: not an option"):
        build_method("my_methods:EveryOther", colour=1)

    from importlib.metadata import EntryPoint

    import tfsnn.training.methods as methods

    monkeypatch.setattr(methods, "entry_points", lambda group: [
        EntryPoint("every-other", "my_methods:EveryOther", group)] if group == "tfsnn.methods" else [])
    assert type(build_method("every-other")).__name__ == "EveryOther"


@pytest.mark.parametrize("name, message", [
    ("os.path:join", "is not a subclass of tfsnn.training.Method"),
    ("no_such_module_xyz:Thing", "cannot import"),
    ("tfsnn.training:Nope", "cannot import"),
])
def test_bad_external_methods(name, message):
    with pytest.raises(ValueError, match=message):
        build_method(name)


def _bn_state(model):
    from tfsnn.bn import batchnorms

    return [{k: v.clone() for k, v in bn.state_dict().items() if k.startswith(("running", "num_batches"))}
            for bn in batchnorms(model)]


def test_uncalibrated_curve_is_a_run_that_never_calibrated(mnist_tiny, tmp_path):
    """Fig. 7C: the test accuracy "without calibration" comes from the running statistics that
    training alone gathered. Before, epoch 2 started from epoch 1's calibration, so its
    "uncalibrated" statistics had seen one."""
    with_both = make_trainer(mnist_tiny, tmp_path / "a", epochs=2, eval_uncalibrated=True)
    metrics = with_both.fit()
    never = make_trainer(mnist_tiny, tmp_path / "b", epochs=2, calibrate_batches=0)
    plain = never.fit()
    # in train mode BN normalizes with batch statistics: the weights do not depend on the calibrations
    assert all(torch.equal(v, weights(never)[k]) for k, v in weights(with_both).items()
               if "running" not in k and "num_batches" not in k)
    # the kept training statistics are the never-calibrated run's, within float tolerance
    state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    kept = {k: v for k, v in state["training_bn"].items()}
    own = never.model.state_dict()
    assert kept and set(kept) <= set(own)
    for k, v in kept.items():
        torch.testing.assert_close(v, own[k], rtol=1e-6, atol=1e-7)
    # and the checkpoint's model holds the calibrated statistics, which differ
    assert any(not torch.allclose(state["model"][k], v) for k, v in kept.items() if k.endswith("running_var"))
    for epoch in (1, 2):
        uncalibrated = metrics[(metrics.epoch == epoch) & (metrics.metric == "test_acc_uncalibrated")]
        reference = plain[(plain.epoch == epoch) & (plain.metric == "test_acc")]
        assert uncalibrated.value.tolist() == pytest.approx(reference.value.tolist(), abs=1e-9)

    # resumed after epoch 1, the uncalibrated track continues from the checkpoint's training statistics
    c = make_trainer(mnist_tiny, tmp_path / "c", epochs=2, eval_uncalibrated=True)
    original = c.train_epoch
    c.train_epoch = lambda epoch: original(epoch) if epoch == 1 else (_ for _ in ()).throw(KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        c.fit()
    resumed = make_trainer(mnist_tiny, tmp_path / "c", epochs=2, init_seed=7, eval_uncalibrated=True)
    again = resumed.fit()
    assert again.value.tolist() == pytest.approx(metrics.value.tolist(), abs=1e-9)


def test_save_epochs_keeps_the_states_along_training_without_changing_it(mnist_tiny, tmp_path):
    plain = make_trainer(mnist_tiny, tmp_path / "plain", epochs=2)
    plain.fit()
    kept = make_trainer(mnist_tiny, tmp_path / "kept", epochs=2, save_epochs=[0, 1])
    torch.manual_seed(0)
    initial = {k: v.clone() for k, v in build("resnet18", 10, 1, width=1 / 16).state_dict().items()}
    kept.fit()
    assert all(torch.equal(v, weights(plain)[k]) for k, v in weights(kept).items())  # the same run
    state = torch.load(tmp_path / "kept" / "checkpoint.pt", weights_only=True)
    assert sorted(state["snapshots"]) == ["0", "1"] and "snapshots" not in torch.load(
        tmp_path / "plain" / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(state["snapshots"]["0"][k], v) for k, v in initial.items())
    assert any(not torch.equal(state["snapshots"]["1"][k], v) for k, v in initial.items())
    assert any(not torch.equal(state["snapshots"]["1"][k], v) for k, v in state["model"].items())

    # resumed after epoch 1, the states already kept come back from the checkpoint
    c = make_trainer(mnist_tiny, tmp_path / "c", epochs=2, save_epochs=[0, 1, 2])
    original = c.train_epoch
    c.train_epoch = lambda epoch: original(epoch) if epoch == 1 else (_ for _ in ()).throw(KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        c.fit()
    resumed = make_trainer(mnist_tiny, tmp_path / "c", epochs=2, init_seed=7, save_epochs=[0, 1, 2])
    resumed.fit()
    assert sorted(resumed.snapshots) == [0, 1, 2]
    assert all(torch.equal(resumed.snapshots[0][k], v) for k, v in initial.items())
    assert all(torch.equal(resumed.snapshots[2][k], v.cpu()) for k, v in resumed.model.state_dict().items())


@pytest.mark.parametrize("save_epochs, message", [([3], "after the last one"), ([1, 1], "names an epoch twice"),
                                                   ([-1], "greater than or equal to 0")])
def test_bad_save_epochs(save_epochs, message):
    from tfsnn.config import TrainConfig

    with pytest.raises(ValueError, match=message):
        TrainConfig(epochs=2, save_epochs=save_epochs)


def test_config_hash_without_save_epochs_is_unchanged(pack_dir):
    from conftest import tiny_config

    from tfsnn.config import config_hash, validate_config

    raw = tiny_config(pack_dir)
    plain, empty = validate_config(raw), validate_config({**raw, "train": {**raw["train"], "save_epochs": []}})
    kept = validate_config({**raw, "train": {**raw["train"], "save_epochs": [0]}})
    assert config_hash(plain) == config_hash(empty) != config_hash(kept)
