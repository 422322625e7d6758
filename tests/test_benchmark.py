"""benchmarks/step_time.py: what it measures and what it refuses (the DAG's smoke run times it)."""

import importlib.util
import sys

import pandas as pd
import pytest
import torch

from conftest import REPO

spec = importlib.util.spec_from_file_location("step_time", REPO / "benchmarks" / "step_time.py")
step_time = importlib.util.module_from_spec(spec)
spec.loader.exec_module(step_time)


def test_ann_floor_is_the_network_with_relu_on_folded_time():
    cpu = torch.device("cpu")
    ann, snn = step_time.make("resnet18-narrow", "ann", cpu), step_time.make("resnet18-narrow", "fused", cpu)
    assert [p.shape for p in ann.parameters()] == [p.shape for p in snn.parameters()]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = ann(x, 3)
    assert out.shape == (2, 10)
    # ReLU networks see the same image at every step: the output does not depend on T
    with torch.no_grad():
        assert torch.allclose(ann(x, 1), out, atol=1e-5)


def test_saved_memory_grows_with_T_and_the_lif_keeps_little_more_than_relu():
    cpu = torch.device("cpu")
    stepper = step_time.Stepper(cpu, "fp32")
    x, y = step_time._inputs(2, cpu)
    per_step = {}
    for impl in ("ann", "fused"):
        model = step_time.make("resnet18-narrow", impl, cpu)
        sizes = [stepper.saved_mb(model, x, y, t) for t in (1, 2, 3)]  # weights and input, + activations * T
        assert sizes[2] - sizes[1] == pytest.approx(sizes[1] - sizes[0])
        per_step[impl] = sizes[1] - sizes[0]
    # the LIF saves v (float) where ReLU saves its output, and spike convs keep int8 inputs
    assert 1.0 < per_step["fused"] / per_step["ann"] < 1.2


def test_one_run_writes_rows_with_provenance(tmp_path):
    out = tmp_path / "step_time.csv"
    step_time.main(["--device", "cpu", "--nets", "resnet18-narrow", "--T", "1", "2", "--rounds", "1",
                    "--impls", "ann", "fused", "--mtt", "fused", "--batch", "2", "--out", str(out)])
    frame = pd.read_csv(out)
    ratios = frame[frame["metric"] == "over_ann_time"]
    assert set(zip(ratios["impl"], ratios["T"])) == {(i, t) for i in ("ann", "fused") for t in (1.0, 2.0)}
    assert (ratios[ratios["impl"] == "ann"]["value"] == 1.0).all()
    steps = frame[frame["metric"] == "step_s"].set_index(["impl", "T"])["value"]
    rates = frame[frame["metric"] == "images_per_s"].set_index(["impl", "T"])["value"]
    assert ((2 / steps) - rates).abs().max() < 1e-9
    assert set(frame["device"]) == {"cpu"} and set(frame["precision"]) == {"fp32"}
    assert {"git_commit", "torch_version", "schema_version"} <= set(frame.columns)


def test_refuses_what_cannot_run_here(tmp_path, capsys):
    out = str(tmp_path / "x.csv")
    with pytest.raises(SystemExit):
        step_time.main(["--device", "cpu", "--impls", "triton", "--out", out])  # the Triton kernels need CUDA
    assert "not runnable on cpu" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            step_time.main(["--device", "cuda", "--out", out])
        assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("failure, reason", [
    ("raise ModuleNotFoundError(\"No module named 'loguru'\", name='loguru')", "No module named 'loguru'"),
    ("raise RuntimeError('built against another torch')", "built against another torch"),
])
def test_a_peer_that_cannot_be_imported_is_skipped_with_its_reason(tmp_path, monkeypatch, capsys, failure, reason):
    """SpikingJelly installed without loguru (which its logger imports) crashed the benchmark with a
    traceback: a peer whose import raises anything is left out, its reason printed in one line."""
    (tmp_path / "spikingjelly").mkdir()
    (tmp_path / "spikingjelly" / "__init__.py").write_text(failure + "\n")
    for name in [m for m in sys.modules if m.split(".")[0] == "spikingjelly"]:  # a real one, imported
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "spikingjelly" not in step_time.available(torch.device("cpu"))
    assert capsys.readouterr().err == f"skipping spikingjelly: cannot import it ({reason})\n"
    # asked for by name, it is refused (with the reason) before anything runs
    out = tmp_path / "x.csv"
    with pytest.raises(SystemExit):
        step_time.main(["--device", "cpu", "--impls", "fused", "spikingjelly", "--out", str(out)])
    err = capsys.readouterr().err
    assert f"cannot import it ({reason})" in err and "not runnable on cpu" in err and "Traceback" not in err
    assert not out.exists()


scale_spec = importlib.util.spec_from_file_location("scale_speed", REPO / "benchmarks" / "scale_speed.py")
scale_speed = importlib.util.module_from_spec(scale_spec)
sys.modules["scale_speed"] = scale_speed  # its dataclass looks its module up there
scale_spec.loader.exec_module(scale_speed)


def test_scale_speed_times_each_way_of_the_scales_own_network(tmp_path, monkeypatch):
    """benchmarks/scale_speed.py builds the small scale's network of a family in both ways (the
    new one in the scale's execution settings) and writes per-item times and a speed-up per phase,
    with provenance."""
    experiments, env = scale_speed.scale_settings()
    family = scale_speed.FAMILIES["cifar-resnet18"]
    before, after = (scale_speed.make(family, experiments[family.name], way, env) for way in scale_speed.WAYS)
    assert before.stem.conv[0].weight.is_contiguous()
    assert after.stem.conv[0].weight.is_contiguous(memory_format=torch.channels_last) == \
        (env.get("TFSNN_CHANNELS_LAST") == "1")
    assert [p.shape for p in before.parameters()] == [p.shape for p in after.parameters()]
    assert before.blocks[0].neuron1.backend == "fused"
    out = tmp_path / "speed.csv"
    scale_speed.main(["--families", "shd-fc", "--rounds", "1", "--items", "8", "--out", str(out)])
    frame = pd.read_csv(out)
    assert set(frame["phase"]) == {"train", "eval-T"} and set(frame["way"]) == {"before", "after"}
    ups = frame[frame["metric"] == "speed_up"]
    assert len(ups) == 2 and (ups["value"] > 0).all()
    assert {"git_commit", "stack", "scale"} <= set(frame.columns) and set(frame["scale"]) == {"small"}
